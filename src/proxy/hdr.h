/* hdr: validation of batchproxy's optional request headers.
 *
 * Both take untrusted network input (a NUL-terminated header value as
 * the server hands it over) and accept only the documented forms:
 *   X-Client-Id   1-64 characters of [A-Za-z0-9._-]
 *   X-Timeout-Ms  a plain decimal number of milliseconds in 1..max (no sign,
 *                 spaces, or anything after the digits) */
#ifndef BP_HDR_H
#define BP_HDR_H

#include <stdbool.h>

/* True if s is a valid X-Client-Id. */
bool hdr_valid_client_id(const char *s);

/* Parses an X-Timeout-Ms value into *ms; false (leaving *ms alone) if it is
 * not a whole number in 1..max. */
bool hdr_parse_timeout_ms(const char *s, long max, long *ms);

#endif
