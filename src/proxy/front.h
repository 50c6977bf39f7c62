/* front: the HTTP server side of batchproxy. It validates each request,
 * answers bad input at once, turns a good one into items (served from the
 * cache, joined to an identical queued job, or queued as a new job) and
 * gives every accepted request exactly one answer.
 *
 * Invariants (front.c keeps them):
 * - a request (preq) is on proxy.live from acceptance until front_finish,
 *   which is the only way out: it sends the one answer (or notes that the
 *   client is gone), detaches every waiter and frees the preq;
 * - `pending` counts the items not yet resolved; the request is answered
 *   200 when it reaches 0, or earlier with an error (deadline 504, backend
 *   failure 502, shutdown 503);
 * - while unanswered, the request's peer callback points at the preq, so a
 *   client that hangs up releases its items at once (a half-close is no
 *   hang-up: the answer still goes out). */
#ifndef BP_FRONT_H
#define BP_FRONT_H

#include "jobs.h"
#include "proxy.h"
#include "wire.h"

#include "httpd.h"

/* The server's head callback (arg: the proxy): the classify endpoint's
 * method and identity are checked before its body is read. */
bool front_head(httpd_req *req, void *arg);

/* The server's callback for every complete request (arg: the proxy). With
 * an admin listener, /metrics, /stats and /dashboard are not served here
 * (404): only there. */
void front_handle(httpd_req *req, void *arg);

/* The server answered a request itself (arg: the proxy): counted as the
 * anonymous client's, as nothing of the request was read to tell who. */
void front_refused(int status, void *arg);

/* Takes one sample of the metrics' history (/stats/history) with the
 * gauges of now. */
void front_sample(proxy *px);

/* The admin listener's callback (--admin-listen; arg: the proxy): the
 * operational endpoints, /healthz, /readyz, /metrics, /stats, /dashboard.
 * It keeps serving during a drain, so the drain can be watched. */
void front_handle_admin(httpd_req *req, void *arg);

/* A waiter's job got its label (the waiter is already detached). */
void front_item_done(proxy *px, waiter *w, enum wire_label label);

/* A waiter's job failed for good: its whole request fails with status. */
void front_item_failed(proxy *px, waiter *w, int status, const char *detail);

/* The deadline of the request a waiter belongs to. */
double front_waiter_deadline(const waiter *w);

/* Answers every live request with status and detail (shutdown). */
void front_abort_all(proxy *px, int status, const char *detail);

/* Detaches a waiter; a queued job left with no waiters leaves the queue. */
void front_release(proxy *px, waiter *w);

#endif
