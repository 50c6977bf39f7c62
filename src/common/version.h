/* version: what every program prints for --version.
 *
 * The version comes from one place, project(VERSION ...) in CMakeLists.txt
 * (BP_VERSION); the git revision the build was made from is appended when
 * there is one (cmake/revision.cmake). */
#ifndef BP_VERSION_H
#define BP_VERSION_H

/* "0.1.0 (g1a2b3c4)", or "0.1.0" when built outside a git checkout. */
const char *version_string(void);

/* Prints "PROG VERSION" and a newline on standard output. */
void version_print(const char *prog);

#endif
