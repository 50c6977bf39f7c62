/* backend: the HTTP client side: one kept-alive connection to the
 * classification server for batches, and a second one for health probes,
 * both strict HTTP/1.1 clients (hclient.h: hard deadlines, bounded answers,
 * no byte accepted while no answer is due).
 *
 * It is a transport only: it sends what it is given and reports what came
 * back. Deciding whether to retry is the dispatcher's job. At most one batch
 * request is outstanding at a time (the dispatcher guarantees it). One
 * backend object per server of the pool. */
#ifndef BP_BACKEND_H
#define BP_BACKEND_H

#include "addr.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct backend backend;

/* The outcome of one request. status is the HTTP status, or 0 when no
 * complete, clean answer came (then error names why: refused, reset, timed
 * out, malformed, too large, bytes after the answer, ...). body is
 * NUL-terminated (body[len] == '\0'); body and error are valid until the
 * callback returns. */
typedef void (*backend_cb)(void *arg, int status, const char *body, size_t len, const char *error);

/* probe_every: seconds between health probes while no other contact was
 * made (0 disables probing). dns (borrowed; may be NULL, then lookups
 * block the loop) resolves a host name each time a connection is made. */
backend *backend_new(struct event_base *base, struct evdns_base *dns, const addr_url *url,
                     size_t max_answer, double probe_every);
void backend_free(backend *b);

/* Sends METHOD path on the batch connection, with body (JSON; NULL for
 * none). path: NULL or "" is the URL's path; one starting with '/' replaces
 * it; any other is relative to it ("infer" on http://h/v2/models/m is
 * /v2/models/m/infer). timeout: seconds from now (connecting included) to
 * the whole answer, a hard deadline. cb is called exactly once, from the
 * event loop (never from inside this call). */
void backend_request(backend *b, const char *method, const char *path, const char *body, size_t len,
                     double timeout, backend_cb cb, void *arg);

/* backend_request(b, "POST", NULL, body, len, ...): a batch to the URL. */
void backend_post(backend *b, const char *body, size_t len, double timeout, backend_cb cb,
                  void *arg);

/* Monotonic time of the last answer of any kind from the backend (a 429 or
 * 500 still shows it is reachable), or -1 if none yet. */
double backend_last_contact(const backend *b);

/* "HOST:PORT/PATH", for logs. */
const char *backend_name(const backend *b);

/* "HOST:PORT", for metrics labels. */
const char *backend_hostport(const backend *b);

/* An active health check: GET /healthz (or the health path) on the probe
 * connection now, or the answer of the idle probe under way; cb gets
 * ok = true for a 200, from the event loop, unless the backend is freed
 * first (then never). One check at a time: a call while one is in flight is
 * ignored. timeout is a hard deadline, as for requests. */
typedef void (*backend_check_cb)(void *arg, bool ok);
void backend_check(backend *b, double timeout, backend_check_cb cb, void *arg);

/* The path health checks and idle probes GET, as backend_request's path
 * ("/healthz" until set). False when the result is too long. */
bool backend_set_health_path(backend *b, const char *path);

#endif
