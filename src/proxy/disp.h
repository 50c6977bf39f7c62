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
 * - a backend in px->pool is either usable, ejected (health.h; the
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
 *   bound above that is at most about --backend-timeout. */
#ifndef BP_DISP_H
#define BP_DISP_H

#include "proxy.h"

#include <stdbool.h>

typedef struct disp disp;

disp *disp_new(proxy *px);
/* Frees the dispatcher and every backend of the pool; an outstanding
 * batch's jobs stay in px->jobs. */
void disp_free(disp *d);

/* Adds a backend to px->pool (url already parsed into addr). Returns false
 * when the pool is full or out of memory. */
bool disp_add_backend(disp *d, const char *url, const addr_url *addr);

/* Marks the backend at px->pool[i] as leaving: it gets no new batch and is
 * freed once its batch in flight is over. */
void disp_retire_backend(disp *d, size_t i);

/* Takes back disp_retire_backend for the leaving backend at px->pool[i]
 * (listed again before it left): it is in use again, with its learned
 * curve and health as they were. */
void disp_keep_backend(disp *d, size_t i);

/* Looks for work on the next loop turn (requests read in the same turn
 * join the same batch at no extra wait). */
void disp_kick(disp *d);

#endif
