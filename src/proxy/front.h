/* front: the HTTP server side of batchproxy. It validates each request,
 * answers bad input at once, turns a good one into items (served from the
 * cache, joined to an identical queued job, or queued as a new job) and
 * gives every accepted request exactly one answer.
 *
 * Invariants (front.c keeps them):
 * - a request (preq) is on front.live from acceptance until finish(),
 *   which is the only way out: it sends the one answer (or notes that the
 *   client is gone), detaches every waiter and frees the preq;
 * - `pending` counts the items not yet resolved; the request is answered
 *   200 when it reaches 0, or earlier with an error (deadline 504, backend
 *   failure 502, shutdown 503); its waiters carry its deadline and front's
 *   callbacks (jobs.h), through which the dispatcher resolves them;
 * - while unanswered, the request's peer callback points at the preq, so a
 *   client that hangs up releases its items at once (a half-close is no
 *   hang-up: the answer still goes out). */
#ifndef BP_FRONT_H
#define BP_FRONT_H

#include "cache.h"
#include "clients.h"
#include "disp.h"
#include "httpd.h"
#include "jobs.h"
#include "metrics.h"
#include "sched.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct front_config {
    size_t max_request_sequences;
    size_t max_length;            /* code points (or bytes) of one sequence */
    bool count_bytes;             /* a sequence's length counts bytes (--length-unit) */
    double max_batch_cost;        /* the cost bound, for 413's detail */
    size_t max_queue;             /* the scheduler's capacity, a gauge */
    double default_deadline;      /* --timeout, a gauge */
    double history_interval;      /* seconds between the history's samples */
    const char *backend_protocol; /* its name, for /stats */
    /* The operational endpoints but /healthz, /readyz and /openapi.json
     * are served by the admin listener only (--admin-listen). */
    bool admin_apart;
} front_config;

struct preq;

/* The front and what it works with (borrowed; set by its owner before the
 * first request). */
typedef struct front {
    front_config cfg;
    struct event_base *base;
    sched *queue;
    jobs *work;
    cache *answers;
    clients *callers;
    metrics *meter;
    disp *pool;
    /* Called when the last live request is answered while draining. */
    void (*on_drained)(void *arg);
    void *drained_arg;
    bool draining;     /* new requests get 503; see front_drain */
    struct preq *live; /* every request accepted and not yet answered */
    size_t nlive;
} front;

/* The server's head callback (arg: the front): the classify endpoint's
 * method and identity are checked before its body is read. */
bool front_head(httpd_req *req, void *arg);

/* The server's callback for every complete request (arg: the front). With
 * an admin listener, /metrics, /stats, /stats/history and /dashboard are
 * not served here (404): only there. */
void front_handle(httpd_req *req, void *arg);

/* The server answered a request itself (arg: the front): counted as the
 * anonymous client's, as nothing of the request was read to tell who. */
void front_refused(int status, void *arg);

/* Takes one sample of the metrics' history (/stats/history) with the
 * gauges of now. */
void front_sample(front *f);

/* The admin listener's callback (--admin-listen; arg: the front): the
 * operational endpoints, /healthz, /readyz, /metrics, /stats,
 * /stats/history, /dashboard, /openapi.json. It keeps serving during a
 * drain, so the drain can be watched. */
void front_handle_admin(httpd_req *req, void *arg);

/* Stops taking requests (503) and /readyz says so; on_drained is called
 * once the live ones are answered (at once when there are none). */
void front_drain(front *f);

/* Answers every live request with status and detail (shutdown). */
void front_abort_all(front *f, int status, const char *detail);

#endif
