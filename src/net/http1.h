/* http1: a strict parser for HTTP/1.x message heads and chunked bodies
 * (RFC 9112), shared by the HTTP server (httpd) and the proxy's backend
 * client. Pure: no I/O, no allocation, no clock; it reads a buffer the
 * caller holds and points into it.
 *
 * Strict on purpose: every peer may be hostile, and a lenient parser is
 * how a body gets smuggled past the framing. A head is refused when:
 * - a line ends in a bare LF, or holds a NUL or another control byte
 *   (HTAB is allowed in field values);
 * - a field line starts with whitespace (obsolete line folding) or has
 *   whitespace before its colon, or its name is not a token;
 * - Content-Length appears twice (even with the same value), or is not a
 *   plain decimal number, or is too large for 64 bits;
 * - Transfer-Encoding is anything but exactly one "chunked" (case
 *   insensitive), or comes with Content-Length, or in an HTTP/1.0 message;
 * - Host appears twice (requests);
 * - the version is not HTTP/1.0 or HTTP/1.1 (505 for a request).
 *
 * Invariants: every http1_str points into the buffer given to the parse
 * call and is valid as long as that buffer is; nothing is NUL-terminated. */
#ifndef BP_HTTP1_H
#define BP_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP1_MAX_HEADERS 64

typedef struct http1_str {
    const char *p;
    size_t n;
} http1_str;

typedef struct http1_field {
    http1_str name, value; /* value without surrounding whitespace */
} http1_field;

enum http1_framing {
    HTTP1_BODY_NONE,       /* no body (or Content-Length: 0) */
    HTTP1_BODY_LENGTH,     /* content_length bytes */
    HTTP1_BODY_CHUNKED,    /* Transfer-Encoding: chunked */
    HTTP1_BODY_UNTIL_CLOSE /* a response without either: up to the close */
};

typedef struct http1_head {
    http1_str method, target; /* requests */
    int status;               /* responses */
    http1_str reason;         /* responses */
    int minor;                /* HTTP/1.<minor> */
    size_t nfields;
    http1_field fields[HTTP1_MAX_HEADERS];
    enum http1_framing framing;
    uint64_t content_length; /* HTTP1_BODY_LENGTH */
    bool keep_alive;         /* the version's default, as Connection changes it */
    bool expect_continue;    /* Expect: 100-continue */
    bool expect_other;       /* an Expect this parser doesn't know (417) */
    size_t head_len;         /* bytes of the head, the blank line included */
} http1_head;

enum http1_result { HTTP1_OK, HTTP1_INCOMPLETE, HTTP1_ERROR };

/* The offset just past the blank line that ends a head starting at buf,
 * or 0 when it hasn't arrived. `from` is where the previous call stopped
 * looking (0 the first time; the returned scan position is kept in *from),
 * so that a head trickled a byte at a time is scanned once overall. */
size_t http1_head_end(const char *buf, size_t len, size_t *from);

/* Parses the request head at buf (len bytes: at least the whole head, as
 * http1_head_end found it). On HTTP1_ERROR, *status is the status to answer
 * (400, 431, 501 or 505) and err says why. */
enum http1_result http1_parse_request(const char *buf, size_t len, http1_head *h, int *status,
                                      char *err, size_t errlen);

/* Parses a response head. head_request: the request was HEAD (no body
 * whatever the fields say); 1xx, 204 and 304 have none either. */
enum http1_result http1_parse_response(const char *buf, size_t len, bool head_request,
                                       http1_head *h, char *err, size_t errlen);

/* The first field named `name` (case-insensitive), or NULL. */
const http1_str *http1_field_get(const http1_head *h, const char *name);

/* Copies s into buf as a C string (cut to len - 1 bytes). Returns buf. */
char *http1_str_copy(http1_str s, char *buf, size_t len);

/* True when s equals the C string t, case-insensitively. */
bool http1_str_eq(http1_str s, const char *t);

/* A chunked body, checked incrementally as its bytes arrive and decoded
 * once complete. Chunk extensions are skipped; trailer lines are checked
 * for control bytes and dropped. */
typedef struct http1_chunked {
    size_t pos;     /* bytes of the input scanned so far */
    uint64_t size;  /* decoded bytes so far */
    uint64_t left;  /* data bytes left in the current chunk */
    int state;      /* private */
    size_t linelen; /* bytes of the current size or trailer line */
} http1_chunked;

void http1_chunked_init(http1_chunked *c);

/* Scans buf[c->pos, len) (buf is the whole body so far, from its first
 * byte). HTTP1_OK: the body ends at c->pos (what follows belongs to the
 * next message) and holds c->size data bytes. HTTP1_ERROR: malformed, or
 * more than max data bytes (err says which). */
enum http1_result http1_chunked_scan(http1_chunked *c, const char *buf, size_t len, uint64_t max,
                                     char *err, size_t errlen);

/* Copies the data of a complete chunked body (as http1_chunked_scan
 * accepted it: len = c->pos) into out, which holds c->size bytes; out may
 * be buf itself (decoding only moves bytes towards the front). */
void http1_chunked_decode(const char *buf, size_t len, char *out);

#endif
