/* utf8: strict UTF-8 validation and code-point counting.
 *
 * "Length" everywhere in this project is what Python's len() returns on the
 * decoded string: Unicode code points, not bytes. */
#ifndef BP_UTF8_H
#define BP_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Validates s[0..n) as UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF) and counts its code points. Returns true and stores
 * the count in *len when valid; returns false (and leaves *len alone)
 * otherwise. NUL bytes are valid one-byte code points. len may be NULL. */
bool utf8_length(const char *s, size_t n, size_t *len);

/* Decodes the code point at s[*i..n) into *cp and moves *i past it; false
 * (nothing moved) when the bytes there are not valid UTF-8 by the same
 * rules. *i < n. */
bool utf8_next(const char *s, size_t n, size_t *i, uint32_t *cp);

#endif
