/* cli: checked parsing of command-line option values (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool cli_double(const char *prog, const char *name, const char *s, double min, double max,
                double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || isnan(v) || v < min || v > max) {
        fprintf(stderr, "%s: --%s: '%s' is not a number in [%g, %g]\n", prog, name, s, min, max);
        return false;
    }
    *out = v;
    return true;
}

bool cli_size(const char *prog, const char *name, const char *s, size_t min, size_t max,
              size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
        fprintf(stderr, "%s: --%s: '%s' is not a whole number in [%zu, %zu]\n", prog, name, s, min,
                max);
        return false;
    }
    *out = (size_t)v;
    return true;
}

bool cli_int(const char *prog, const char *name, const char *s, int min, int max, int *out)
{
    size_t v;
    if (min < 0 || !cli_size(prog, name, s, (size_t)min, (size_t)max, &v))
        return false;
    *out = (int)v;
    return true;
}

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
