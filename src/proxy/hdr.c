/* hdr: batchproxy's request-header validation (see hdr.h). */
#include "hdr.h"

#include "cfile.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

bool hdr_valid_client_id(const char *s)
{
    return cfile_valid_name(s); /* a client id is a clients-file name */
}

bool hdr_parse_timeout_ms(const char *s, long max, long *ms)
{
    char *end;
    /* strtol alone would take leading spaces and a sign. */
    if (!isdigit((unsigned char)s[0]))
        return false;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < 1 || v > max)
        return false;
    *ms = v;
    return true;
}
