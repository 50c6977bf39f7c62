#include "version.h"

#include "bp_revision.h" /* generated in the build directory: BP_REVISION */

#include <stdio.h>

const char *version_string(void)
{
    return BP_REVISION[0] ? BP_VERSION " (" BP_REVISION ")" : BP_VERSION;
}

void version_print(const char *prog)
{
    printf("%s %s\n", prog, version_string());
}
