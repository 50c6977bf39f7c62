/* httpd: the HTTP-server plumbing classifyd and batchproxy share, on top of
 * libevent's evhttp: binding, size and time limits, JSON answers and errors.
 *
 * Every error a client can cause is answered as JSON {"detail": "..."} with
 * a status code; the server never stops serving because of one request. */
#ifndef BP_HTTPD_H
#define BP_HTTPD_H

#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct httpd_limits {
    size_t max_body;    /* larger bodies get a JSON 413 */
    size_t max_headers; /* bytes of request line + headers */
    /* An idle connection (no request begun) is closed after this many
     * seconds, and so is one whose reply the client doesn't read for as
     * long. Never while a request is being served, however long. */
    int io_timeout_s;
    /* A request must arrive completely within this many seconds of its first
     * byte, or its connection is closed (slowloris: evhttp restarts its read
     * timeout at every byte). 0 means io_timeout_s. The clock stops while a
     * request is being served. */
    int request_timeout_s;
} httpd_limits;

/* Bodies up to this multiple of max_body are read and answered with a JSON
 * 413; beyond it evhttp closes the connection with its own plain 413, so a
 * client can't make us buffer an unbounded body. */
#define HTTPD_HARD_BODY_FACTOR 8

#define HTTPD_MAX_SERVERS 8

/* Call first thing in main, before anything else of libevent's: routes
 * libevent's allocations through malloc, realloc and free. libevent's own
 * calloc then becomes malloc + memset, which glibc serves from its
 * per-thread cache, while glibc's calloc always takes the slow path, and
 * evhttp callocs about a dozen small objects per request. */
void httpd_global_init(void);

/* Creates an evhttp server bound to spec ("HOST:PORT"; port 0 picks a free
 * one), applies the limits, routes every request to cb, and prints
 * "listening on HOST:PORT" (the real port) on stderr. Returns NULL with a
 * message in err on failure. The caller frees it with evhttp_free (open
 * connections included; their state goes with them). At most
 * HTTPD_MAX_SERVERS per process, on one event-loop thread. */
struct evhttp *httpd_listen(struct event_base *base, const char *spec, const httpd_limits *lim,
                            void (*cb)(struct evhttp_request *, void *), void *arg, char *err,
                            size_t errlen);

/* The request's body as one contiguous buffer (valid until the reply).
 * Returns false after answering 413 when it is larger than max_body. */
bool httpd_body(struct evhttp_request *req, size_t max_body, const char **body, size_t *len);

/* True if the request uses `method`; otherwise answers 405 with an Allow
 * header and returns false. */
bool httpd_require_method(struct evhttp_request *req, enum evhttp_cmd_type method);

/* Sends a JSON body (takes ownership of json, which may be NULL only on
 * out-of-memory, answered 500). */
void httpd_send_json(struct evhttp_request *req, int status, char *json);

/* Sends {"detail": <formatted message>} with the given status. */
void httpd_send_error(struct evhttp_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends a body of another content type (metrics text, HTML). */
void httpd_send_text(struct evhttp_request *req, int status, const char *content_type,
                     const char *body, size_t len);

/* The standard reason phrase for a status code. */
const char *httpd_reason(int status);

/* The path part of the request URI, without query ("/classify"). Writes into
 * buf and returns it; an unparsable URI gives "". */
const char *httpd_path(struct evhttp_request *req, char *buf, size_t len);

#endif
