/* cli: checked parsing of command-line option values.
 *
 * Each parser prints "PROG: --NAME: <why>" on stderr and returns false when
 * the value is not a number in [min, max]. */
#ifndef BP_CLI_H
#define BP_CLI_H

#include <stdbool.h>
#include <stddef.h>

bool cli_double(const char *prog, const char *name, const char *s, double min, double max,
                double *out);
bool cli_size(const char *prog, const char *name, const char *s, size_t min, size_t max,
              size_t *out);
bool cli_int(const char *prog, const char *name, const char *s, int min, int max, int *out);

/* After getopt: true if no operands are left (argv[first..argc)); otherwise
 * says which one is unexpected and returns false. */
bool cli_no_operands(const char *prog, int argc, char **argv, int first);

#endif
