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

/* Copies the printable text of s[0..n) (any bytes, not a C string) into
 * dst[0..cap), NUL-terminated, for quoting untrusted text in a message or
 * a log line: every byte that is not part of a valid UTF-8 sequence, and
 * every control character (C0 with NUL, DEL, C1, and the bidirectional
 * overrides and isolates that reorder a terminal's line), becomes one '?';
 * other characters are kept whole. Stops before the first one that doesn't
 * fit, so it never cuts a character. dst may be s (the text only shrinks).
 * Returns the bytes written, NUL excluded; cap must be at least 1. */
size_t utf8_printable(char *dst, size_t cap, const char *s, size_t n);

#endif
