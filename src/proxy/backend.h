/* backend: the HTTP client side: one kept-alive connection to the
 * classification server for batches, and a second one for health probes.
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
 * answer came (then error names why: refused, reset, timeout, ...). */
typedef void (*backend_cb)(void *arg, int status, const char *body, size_t len, const char *error);

/* probe_every: seconds between health probes while no other contact was
 * made (0 disables probing). dns (borrowed; may be NULL, then lookups
 * block the loop) resolves a host name each time a connection is made. */
backend *backend_new(struct event_base *base, struct evdns_base *dns, const addr_url *url,
                     size_t max_answer, double probe_every);
void backend_free(backend *b);

/* POSTs body (JSON) to the backend's URL with a timeout in seconds. cb is
 * called exactly once, from the event loop (never from inside this call). */
void backend_post(backend *b, const char *body, size_t len, double timeout, backend_cb cb,
                  void *arg);

/* Monotonic time of the last answer of any kind from the backend (a 429 or
 * 500 still shows it is reachable), or -1 if none yet. */
double backend_last_contact(const backend *b);

/* "HOST:PORT/PATH", for logs. */
const char *backend_name(const backend *b);

/* "HOST:PORT", for metrics labels. */
const char *backend_hostport(const backend *b);

/* An active health check: GET /healthz on the probe connection now; cb
 * gets ok = true for a 200, from the event loop, unless the backend is
 * freed first (then never). One check at a time: a call while one is in
 * flight is ignored. */
typedef void (*backend_check_cb)(void *arg, bool ok);
void backend_check(backend *b, double timeout, backend_check_cb cb, void *arg);

#endif
