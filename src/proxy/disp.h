/* disp: the dispatcher. It drives the pool of backends: whenever a backend
 * is free and work is queued, it asks the scheduler for a batch for that
 * backend (the fastest free backend first), sends it, retries failures
 * (on another free backend at once, else on the same one after exponential
 * backoff with full jitter) within the members' deadlines, resolves the
 * jobs, and ejects backends that keep failing (health.h), probing them
 * with GET /healthz until they may come back.
 *
 * Runs on events only: disp_kick() after anything that may allow a batch to
 * leave (a request queued, a backend answered or came back); a timer the
 * policy chose (its bounded wait), the retry timers and the probe timers
 * re-enter the same path.
 *
 * Invariants:
 * - each backend has at most one batch: in flight, or backing off to be
 *   sent to it again; a batch whose backend was ejected or removed waits on
 *   the pending list for the next free backend;
 * - an outstanding batch's jobs are JOB_INFLIGHT and belong to the
 *   dispatcher, which destroys each once resolved, failed, or unwanted;
 * - a backend of the pool is either usable, ejected (health.h; the
 *   scheduler marks it down) or leaving; a leaving backend is freed once it
 *   holds no batch;
 * - a batch is sent to a backend only if that backend's learned curve
 *   predicts it within --backend-timeout (sched_batch_fits): the scheduler
 *   forms it so, and a batch moved elsewhere by a retry waits on the
 *   pending list for a backend where it fits (502 when no usable one has);
 * - every attempt first drops the jobs nobody waits for any more or whose
 *   waiters' deadlines have all passed; a batch left empty ends without
 *   being sent, freeing its backend;
 * - a batch in flight keeps its backend until the backend answers or the
 *   attempt times out, even when all its members have gone meanwhile (the
 *   backend is still working on it: a new batch would meet 429s); by the
 *   bound above that is at most about --backend-timeout.
 *
 * It owns the pool; what it works with (the scheduler, the jobs, the cache,
 * the metrics) is handed to it at creation, and it ends jobs through jobs.h
 * only (their waiters' callbacks), so it knows nothing of who waits. */
#ifndef BP_DISP_H
#define BP_DISP_H

#include "addr.h"
#include "cache.h"
#include "codec.h"
#include "health.h"
#include "jobs.h"
#include "metrics.h"
#include "sched.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#define DISP_MAX_BACKENDS 64
/* Room for a backend's canonical URL (addr_format_url). */
#define DISP_URL_MAX (ADDR_HOST_MAX + ADDR_PATH_MAX + 16)

typedef struct disp_config {
    health_config health;
    double backend_timeout; /* per attempt, seconds */
    int retries;
    double backoff_base, backoff_cap; /* seconds */
    double max_batch_cost;            /* the scheduler's cost bound, for details */
    const codec *codec;               /* the backends' protocol (borrowed) */
} disp_config;

typedef struct disp disp;

/* The dispatcher of base's loop over s, j, c and m (borrowed: they must
 * outlive it), with an empty pool; NULL when out of memory. */
disp *disp_new(struct event_base *base, const disp_config *cfg, sched *s, jobs *j, cache *c,
               metrics *m);
/* Frees the dispatcher and every backend of the pool; an outstanding
 * batch's jobs stay in the jobs table. */
void disp_free(disp *d);

/* What disp_sync_pool did. */
typedef struct disp_sync {
    size_t joined, left; /* backends that joined (or stay after all) / leave */
    size_t failed;       /* listed but not added (pool full or out of memory) */
} disp_sync;

/* Makes the pool the n backends listed (canonical URLs, parsed into addrs):
 * backends no longer listed get no new batch and leave once their batch in
 * flight is over; a leaving backend listed again before it left stays, with
 * its learned curve and health; new ones join. With announce, each change
 * is logged ("reload: ..."). */
disp_sync disp_sync_pool(disp *d, char *const urls[], const addr_url addrs[], size_t n,
                         bool announce);

/* New retry settings (SIGHUP): every failure from now on is judged by
 * them (a batch retried `retries` times already fails at its next
 * failure); a backoff already under way keeps its length. */
void disp_set_retries(disp *d, int retries, double backoff_base, double backoff_cap);

/* Backends in the pool (leaving ones included), and the URL of the i-th. */
size_t disp_pool_size(const disp *d);
const char *disp_pool_url(const disp *d, size_t i);

/* The latest contact (monotonic seconds) with any backend that may be given
 * batches (not ejected, not leaving), or -1; and the latest 200 from one,
 * to a batch or to its health path (what /readyz looks at). */
double disp_last_contact(const disp *d);
double disp_last_healthy(const disp *d);

/* Verifies the invariants above that the dispatcher's own state shows:
 * each backend holds at most one batch and that batch names it; a pending
 * batch is held by none and has no retry timer running; no batch is in two
 * places; every batch's jobs are JOB_INFLIGHT, without a scheduler item,
 * in the jobs table; the pool's backends are distinct (URL, scheduler lane
 * and metrics id), and a backend that is neither leaving nor ejected has no
 * health check timer running. Returns NULL when they hold, else a sentence
 * naming the one broken. Debug builds run it after every dispatch
 * (BP_INVARIANTS, check.h). */
const char *disp_check(const disp *d);

/* Looks for work on the next loop turn (requests read in the same turn
 * join the same batch at no extra wait). */
void disp_kick(disp *d);

#endif
