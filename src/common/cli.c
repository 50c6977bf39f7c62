/* cli: operands, output and files of a program with a command line (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cli_no_operands(const char *prog, int argc, char **argv, int first)
{
    if (first >= argc)
        return true;
    fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[first]);
    return false;
}

int cli_flush_stdout(const char *prog, int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "%s: writing the output failed: %s\n", prog, strerror(errno));
        return 1;
    }
    return rc;
}

bool cli_writable(const char *prog, const char *flag, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f || fclose(f) != 0) {
        fprintf(stderr, "%s: %s %s: %s\n", prog, flag, path, strerror(errno));
        return false;
    }
    return true;
}
