/* httpd: the strict HTTP/1.1 server classifyd and batchproxy share, on
 * libevent's event loop (raw events on the sockets; heads parsed by http1).
 *
 * Every error a client can cause is answered as JSON {"detail": "..."} with
 * a status code; the server never stops serving because of one request.
 * What it does on its own, before the application sees a request:
 * - 400 for a malformed head (http1.h lists what is refused), 431 for a
 *   head larger than max_headers, 505 for another HTTP version, 501 for a
 *   method it doesn't know (CONNECT included: this is no tunnel), 417 for
 *   an Expect other than 100-continue, 413 for a Content-Length or a
 *   chunked body over max_body: each such answer closes the connection,
 *   and no body byte is read;
 * - 503 for every request once httpd_drain was called.
 * The application may refuse from the head alone too (on_head); it decides
 * 404, 405 and everything about the body.
 *
 * Requests on one connection are served in order: the next one is read
 * only once the current one is answered. */
#ifndef BP_HTTPD_H
#define BP_HTTPD_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct httpd_limits {
    size_t max_body;    /* larger bodies get a JSON 413, unread */
    size_t max_headers; /* bytes of request line + headers (431 beyond) */
    /* An idle connection (no request begun) is closed after this many
     * seconds, and so is one whose reply the client doesn't read for as
     * long. Never while a request is being served, however long. */
    int io_timeout_s;
    /* A request must arrive completely within this many seconds of its first
     * byte, or its connection is closed (slowloris). 0 means io_timeout_s.
     * The clock stops while a request is being served. */
    int request_timeout_s;
    /* Open connections at most (0: HTTPD_DEFAULT_MAX_CONNECTIONS). At the
     * limit the oldest idle connection is closed for a new one; with none
     * idle, new ones wait in the listen backlog. */
    size_t max_connections;
    /* Bytes of requests and replies held in memory across all connections
     * (0: the default, the larger of HTTPD_DEFAULT_BUFFER_BUDGET and four
     * requests of the largest size). A connection that would need more
     * stops reading until others give some back; its request clock runs. */
    size_t max_buffered;
} httpd_limits;

#define HTTPD_DEFAULT_MAX_CONNECTIONS 4096
#define HTTPD_DEFAULT_BUFFER_BUDGET ((size_t)64 << 20)

typedef struct httpd httpd;         /* a listening server */
typedef struct httpd_req httpd_req; /* one request, valid until answered */

/* What became of the client of an outstanding (unanswered) request. */
enum httpd_peer {
    /* Reset, socket error: the request is freed when the callback returns
     * and must not be answered (nor touched) any more. */
    HTTPD_PEER_GONE,
    /* End of file after the complete request: the client may still read
     * (shutdown(SHUT_WR)). The request stays valid and is still owed an
     * answer (or httpd_req_close); the connection closes after it. */
    HTTPD_PEER_HALF_CLOSED,
};

typedef void (*httpd_peer_cb)(httpd_req *req, enum httpd_peer what, void *arg);

typedef struct httpd_handlers {
    /* Optional. The head is in and accepted, no body byte read yet: return
     * true to go on, or answer (httpd_send_*) and return false to refuse
     * from the head alone; the connection then closes without reading the
     * body. The request's body is not available here. */
    bool (*on_head)(httpd_req *req, void *arg);
    /* The complete request. Answer it now or later, exactly once (or
     * httpd_req_close). */
    void (*on_request)(httpd_req *req, void *arg);
    void *arg;
    /* Optional: the server answered a request itself, with this status
     * (malformed or refused from the head, drain, timeout; see above), so
     * the application can count what never reached it. */
    void (*on_refused)(int status, void *arg);
    /* Optional: what the server is for, printed before "listening on"
     * ("admin listening on ..."), for a program with more than one. */
    const char *name;
} httpd_handlers;

/* Call first thing in main: memory handling for many short-lived buffers
 * (large freed buffers go back to the system at once). */
void httpd_global_init(void);

/* Raises the soft limit on open files to the hard one: many idle clients
 * must not run a server out of descriptors. Returns the limit in force. */
long httpd_raise_fd_limit(void);

/* Listens on spec ("HOST:PORT"; port 0 picks a free one) and serves every
 * request through h, and prints "listening on HOST:PORT" (the real port;
 * after h->name and a space when h has a name) on stderr. Returns NULL with a message in err on
 * failure. */
httpd *httpd_listen(struct event_base *base, const char *spec, const httpd_limits *lim,
                    const httpd_handlers *h, char *err, size_t errlen);

/* Drain: from now on every answer carries "Connection: close" and closes
 * its connection, and a request that still arrives gets 503 {"detail":
 * detail} (with Retry-After: 1) from the server itself. */
void httpd_drain(httpd *s, const char *detail);

/* Closes the listener and every connection; the peer callback of each
 * outstanding request is called with HTTPD_PEER_GONE first. */
void httpd_free(httpd *s);

/* --- the request --- */

/* "GET", "POST", ... (NUL-terminated). */
const char *httpd_req_method(const httpd_req *r);

/* True if the method is m (HEAD counts as "GET": it is answered as GET is,
 * without the body). */
bool httpd_req_is(const httpd_req *r, const char *m);

/* The path of the target without the query ("/classify"). */
const char *httpd_req_path(const httpd_req *r);

/* The first header of that name (case-insensitive), NUL-terminated, or
 * NULL. */
const char *httpd_req_header(const httpd_req *r, const char *name);

/* The body (decoded if it came chunked): a valid pointer even when empty.
 * Only from on_request on. */
const char *httpd_req_body(const httpd_req *r, size_t *len);

/* Adds a header to the answer (before httpd_send_*). Returns false if the
 * answer's header space is full (the header is not added). */
bool httpd_set_header(httpd_req *r, const char *name, const char *value);

/* True if the request uses `method`; otherwise answers 405 with an Allow
 * header and returns false. HEAD goes wherever GET does. */
bool httpd_require_method(httpd_req *r, const char *method);

/* Sends a JSON body (takes ownership of json, which may be NULL only on
 * out-of-memory, answered 500). The request is gone afterwards. */
void httpd_send_json(httpd_req *r, int status, char *json);

/* Sends {"detail": <formatted message>} with the given status. */
void httpd_send_error(httpd_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends a body of another content type (metrics text, HTML). */
void httpd_send_text(httpd_req *r, int status, const char *content_type, const char *body,
                     size_t len);

/* The status of the answer sent by the last httpd_send_* on the current
 * request of this connection, for logs and metrics: call it right after
 * sending (0 if none was sent). */
int httpd_req_status(const httpd_req *r);

/* Registers (or with cb NULL, removes) the callback told what becomes of
 * the client while the request is outstanding. */
void httpd_req_on_peer(httpd_req *r, httpd_peer_cb cb, void *arg);

/* True once the client has half-closed (end of file after the request). */
bool httpd_req_half_closed(const httpd_req *r);

/* Closes the connection without answering (fault injection: "drop"). The
 * request is gone afterwards; no peer callback is called. */
void httpd_req_close(httpd_req *r);

/* One pointer of the application's own, kept with the request (NULL at
 * first): what on_head learnt, for on_request. */
void httpd_req_set_data(httpd_req *r, void *data);
void *httpd_req_data(const httpd_req *r);

/* The standard reason phrase for a status code. */
const char *httpd_reason(int status);

#endif
