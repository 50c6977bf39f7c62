/* cli: what programs with a command line share besides their options
 * (opt.h): operands, their output, the files they will write. */
#ifndef BP_CLI_H
#define BP_CLI_H

#include <stdbool.h>
#include <stddef.h>

/* After the options: true if no operands are left (argv[first..argc)); otherwise
 * says which one is unexpected and returns false. */
bool cli_no_operands(const char *prog, int argc, char **argv, int first);

/* For a program whose report is its standard output: flushes it and, if
 * writing failed (a full disk, a closed pipe), says so and returns 1;
 * otherwise returns rc. */
int cli_flush_stdout(const char *prog, int rc);

/* Whether `path` can be created for writing (it is created, empty), so a
 * long run doesn't end with nowhere to put its output; otherwise says why
 * ("PROG: FLAG PATH: <why>") and returns false. */
bool cli_writable(const char *prog, const char *flag, const char *path);

#endif
