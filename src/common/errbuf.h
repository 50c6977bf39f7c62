/* errbuf: the error message a parser or a check hands back in a
 * caller's buffer (char *err, size_t errlen), the convention of this
 * code: a function that fails says why there, in words a user can act on. */
#ifndef BP_ERRBUF_H
#define BP_ERRBUF_H

#include <stdbool.h>
#include <stddef.h>

/* Writes the formatted message into err (cut to errlen - 1 bytes) and
 * returns false, so a check can end with `return errbuf_set(...)`. */
bool errbuf_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
