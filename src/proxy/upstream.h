/* upstream: the proxy's connections to one backend (a classification
 * server of the pool): one kept-alive connection for batches, and a second
 * one for health probes, both strict HTTP/1.1 clients (hclient.h: hard
 * deadlines, bounded answers, no byte accepted while no answer is due).
 *
 * It is a transport only: it sends what it is given and reports what came
 * back. Deciding whether to retry is the dispatcher's job. At most one batch
 * request is outstanding at a time (the dispatcher guarantees it). One
 * upstream per backend of the pool. */
#ifndef BP_UPSTREAM_H
#define BP_UPSTREAM_H

#include "addr.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct upstream upstream;

/* The outcome of one request. status is the HTTP status, or 0 when no
 * complete, clean answer came (then error names why: refused, reset, timed
 * out, malformed, too large, bytes after the answer, ...). body is
 * NUL-terminated (body[len] == '\0'); body and error are valid until the
 * callback returns. */
typedef void (*upstream_cb)(void *arg, int status, const char *body, size_t len, const char *error);

/* probe_every: seconds between health probes while no other contact was
 * made (0 disables probing). dns (borrowed; may be NULL, then lookups
 * block the loop) resolves a host name each time a connection is made. */
upstream *upstream_new(struct event_base *base, struct evdns_base *dns, const addr_url *url,
                       size_t max_answer, double probe_every);
void upstream_free(upstream *u);

/* Sends METHOD path on the batch connection, with body (JSON; NULL for
 * none). path: NULL or "" is the URL's path; one starting with '/' replaces
 * it; any other is relative to it ("infer" on http://h/v2/models/m is
 * /v2/models/m/infer). timeout: seconds from now (connecting included) to
 * the whole answer, a hard deadline. cb is called exactly once, from the
 * event loop (never from inside this call). */
void upstream_request(upstream *u, const char *method, const char *path, const char *body,
                      size_t len, double timeout, upstream_cb cb, void *arg);

/* Monotonic time of the last answer of any kind from the backend (a 429 or
 * 500 still shows it is reachable), or -1 if none yet. */
double upstream_last_contact(const upstream *u);

/* Monotonic time of the last 200, to a batch or to the health path, or -1
 * if none yet: the backend is up and serving (/readyz). */
double upstream_last_healthy(const upstream *u);

/* "HOST:PORT/PATH", for logs. */
const char *upstream_name(const upstream *u);

/* "HOST:PORT", for metrics labels. */
const char *upstream_hostport(const upstream *u);

/* An active health check: GET /healthz (or the health path) on the probe
 * connection now, or the answer of the idle probe under way; cb gets
 * ok = true for a 200, from the event loop, unless the backend is freed
 * first (then never). One check at a time: a call while one is in flight is
 * ignored. timeout is a hard deadline, as for requests. */
typedef void (*upstream_check_cb)(void *arg, bool ok);
void upstream_check(upstream *u, double timeout, upstream_check_cb cb, void *arg);

/* The path health checks and idle probes GET, as upstream_request's path
 * ("/healthz" until set). False when the result is too long. */
bool upstream_set_health_path(upstream *u, const char *path);

#endif
