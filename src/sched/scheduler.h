/* sched: the pure scheduler core. It owns the queue of sequences waiting for
 * the backend and decides which batch goes next.
 *
 * It reads no clock and no socket: every call that depends on time takes
 * `now` (seconds, any fixed origin, never going back from one call to the
 * next) as an argument. That is what lets the same code run inside
 * batchproxy's event loop and inside schedsim's virtual time.
 *
 * The caller's cycle:
 *   it = sched_enqueue(s, owner, len, client, now, deadline)  one per distinct sequence
 *   id = sched_add_backend(s)          one per further backend (a new scheduler has
 *                                      one, id 0); each learns its own cost curve
 *   sched_next(s, id, now, &batch, &wake)  whenever backend `id` is free:
 *       SCHED_SEND  send `batch` (its items have left the queue)
 *       SCHED_WAIT  the policy holds a partial batch on purpose; ask again at `wake`
 *                   (or earlier, when something is enqueued)
 *       SCHED_IDLE  nothing to send
 *   sched_done(s, id, &batch, now, seconds, ok)   when backend `id` answered
 *   sched_cancel(s, it)                       a queued sequence is no longer wanted
 *
 * Ownership: the scheduler allocates and frees its items. A handle returned
 * by sched_enqueue is valid until the item leaves the queue, through
 * sched_cancel, sched_expire or a SCHED_SEND batch; after that the caller
 * must not use it. The `owner` pointers are the caller's and are never
 * dereferenced here.
 *
 * Several backends: each has at most one batch in flight (the caller's
 * promise) and its own cost curve, learned from its own batches; a pooled
 * curve learned from every batch serves what is not about one backend (the
 * aging scale τ, fair-share charging, admission estimates). A backend that
 * is down (ejected, or removed from the pool) is marked so with
 * sched_backend_set_up, and the estimates count only the ones up. */
#ifndef BP_SCHEDULER_H
#define BP_SCHEDULER_H

#include "costmodel.h"

#include <stdbool.h>
#include <stddef.h>

#define SCHED_MAX_BATCH 64

typedef struct sched sched;
typedef struct sched_item sched_item;

typedef struct sched_config {
    const char *policy;        /* a name from sched_policy_names() */
    size_t max_batch;          /* sequences per batch, 1..SCHED_MAX_BATCH */
    double max_wait;           /* seconds a partial batch may be held to fill up (0: never) */
    size_t max_queue;          /* queued sequences; sched_enqueue fails beyond it */
    size_t max_length;         /* longest length expected; longer ones share the last bucket */
    size_t priority_threshold; /* `priority`: lengths up to this are the high class */
    /* The cost curve a + lin × L + b × L² assumed before batches are
     * measured (each >= 0). */
    double prior_a, prior_lin, prior_b;
    /* The longest a batch may be predicted to take on the backend it goes
     * to, in seconds (batchproxy: --backend-timeout); 0: no bound. See
     * sched_next and sched_admit. */
    double max_batch_cost;
} sched_config;

/* What a batch carries for each member: the caller's data, as enqueued. */
typedef struct sched_entry {
    void *owner;
    size_t len;
    int client;
    double enqueued;
    double deadline;
} sched_entry;

typedef struct sched_batch {
    size_t n;
    size_t longest; /* max len over the members: what the batch costs */
    sched_entry e[SCHED_MAX_BATCH];
} sched_batch;

enum sched_verdict { SCHED_IDLE, SCHED_WAIT, SCHED_SEND };

/* The config's defaults: the cost policy, batches of 5, no wait, 10000
 * queued, lengths up to 1000, priority threshold 12, cost prior
 * 0.002 × L² + 1 ms (the original server's), no bound on a batch's cost. */
sched_config sched_config_default(void);

/* NULL-terminated list of the policy names, the default first. */
const char *const *sched_policy_names(void);

/* A new empty scheduler, or NULL with a message in err (unknown policy,
 * bad sizes, a negative cost prior, out of memory). */
sched *sched_new(const sched_config *cfg, char *err, size_t errlen);

/* Frees the scheduler and every item still queued (not their owners). */
void sched_free(sched *s);

const char *sched_policy(const sched *s);

/* Queues one sequence of `len` code points for `client` (0 = anonymous;
 * never a group, see sched_set_group), wanted until `deadline`. Returns its
 * handle, or NULL when the queue holds
 * max_queue items already (or out of memory). */
sched_item *sched_enqueue(sched *s, void *owner, size_t len, int client, double now,
                          double deadline);

/* Removes a queued item; the handle is invalid afterwards. */
void sched_cancel(sched *s, sched_item *it);

/* Moves a queued item's deadline later, never earlier (a request with a
 * later deadline now shares it). */
void sched_extend_deadline(sched *s, sched_item *it, double deadline);

/* Adds a backend with its own cost curve, starting from the prior; returns
 * its id (ids count up from 0 and are never reused), or -1 when out of
 * memory. */
int sched_add_backend(sched *s);

/* Restarts a backend's cost curve from a prior of its own (a + lin × L +
 * b × L², each >= 0), for a caller that knows what that backend costs (the
 * simulator's model). */
void sched_backend_prior(sched *s, int backend, double a, double lin, double b);

/* Marks a backend up (the default) or down: a down backend is never asked
 * to wait for, and is not counted in the drain-time estimates. */
void sched_backend_set_up(sched *s, int backend, bool up);

size_t sched_backends(const sched *s);

/* Decides what the free backend `backend` should do at `now` (see the cycle
 * above). Items whose deadline is at or before `now` are never put in a
 * batch. With max_batch_cost set, neither is an item whose own predicted
 * cost on this backend's curve exceeds it; as a batch costs what its
 * longest member costs (a + lin × L + b × L² never decreases with L), no batch sent
 * is predicted to take longer than max_batch_cost on the backend it goes
 * to. An item too costly here waits for a backend where it fits (or its
 * deadline). SCHED_WAIT may also mean that the cost policy keeps the best
 * batches for a faster backend that is predicted to free up at `wake` (a
 * bounded wait; see policy_cost.c). Callers with several free backends
 * should ask the fastest first. An unknown id gets SCHED_IDLE. */
enum sched_verdict sched_next(sched *s, int backend, double now, sched_batch *out, double *wake);

/* Reports a batch's outcome on `backend` and its measured service time
 * (>= 0 when ok: it is charged to the members' clients); successful
 * batches teach that backend's cost curve and the pooled one. A
 * failed batch frees the backend too (the caller may send the same items
 * again elsewhere, outside the scheduler). */
void sched_done(sched *s, int backend, const sched_batch *b, double now, double seconds, bool ok);

/* Sets a client's weight for its fair share of the backend (default 1;
 * client 0 sets both anonymous classes). Only the cost policy uses
 * weights; the others are baselines that ignore them. Returns false for a
 * weight <= 0 or when out of memory. */
bool sched_set_weight(sched *s, int client, double weight);

/* Groups (hierarchical fair share, see share.h): puts `client` (> 0) in
 * the group of client `group` (> 0; 0: none), which queues nothing itself
 * and stands for its members together: the group competes with the other
 * clients as one (its weight set by sched_set_weight), and its share is
 * split fairly among its members (by their weights). Its members may also
 * have at most sched_set_group_limit's sequences queued together (default
 * unlimited). A client moved while it has work queued takes it along.
 * Return false for a bad id (0, or a group that is a member itself) or
 * when out of memory. */
bool sched_set_group(sched *s, int client, int group);
bool sched_set_group_limit(sched *s, int group, size_t max_queued);

/* Backend seconds attributed to a client so far (see share.h) and the
 * sequences it has queued; client 0 sums both anonymous classes, a group
 * its members. */
void sched_client_usage(const sched *s, int client, double *seconds, size_t *queued);

/* Seconds the client's queued work needs at its fair share of the backend:
 * each queued sequence counts its predicted batch cost / max_batch (the
 * best case, a full batch), divided by the client's fraction of the
 * backend among the clients backlogged now. An optimistic estimate: the
 * wait is at least about this long. `len` picks the anonymous class. */
double sched_drain_time(sched *s, int client, size_t len);

/* The earliest a new sequence of `len` from `client` can expect its
 * answer, in seconds from now: its own batch's cost plus the drain time. */
double sched_estimate(sched *s, int client, size_t len);

/* Whether a batch whose longest member has `longest` code points may go to
 * `backend`: predicted within max_batch_cost by its curve (always without
 * a bound). For a caller that moves a batch to another backend than the
 * one it was made for (a retry elsewhere). */
bool sched_batch_fits(const sched *s, int backend, size_t longest);

/* The predicted cost of a batch whose longest member has `len` code points
 * on the backend up now that would take it soonest, by each backend's own
 * curve (the curves sched_next checks max_batch_cost with); the pooled
 * curve when no backend is up. Before a backend has measured enough
 * batches its curve is the prior. */
double sched_best_cost(const sched *s, size_t len);

/* The backend time a request's own `n` new sequences (the longest of
 * `longest` code points) need: its first batch, then the rest's share of
 * full batches. What SCHED_TOO_LATE compares, with the drain time. */
double sched_own_time(sched *s, size_t n, size_t longest);

/* Admission control: whether `n` new sequences from `client`, the longest
 * of `longest` code points, may be queued now, the client being allowed
 * `client_max` queued sequences and needing its answer within `budget`
 * seconds. Checked in this order:
 *   SCHED_TOO_COSTLY   max_batch_cost is set and sched_best_cost(longest)
 *                      exceeds it: no backend up could be sent that
 *                      sequence (*retry_after is -1: trying again can't help
 *                      unless the backends change);
 *   SCHED_CLIENT_FULL  the client would have more than client_max queued;
 *   SCHED_GROUP_FULL   its group's members would have more than the
 *                      group's limit queued together;
 *   SCHED_QUEUE_FULL   the queue would hold more than max_queue;
 *   SCHED_TOO_LATE     sched_estimate says the answer can't come in time
 *                      (optimistic, so only hopeless requests are refused).
 * On refusal *retry_after is a suggested wait in seconds: the client's
 * drain time at its share (its group's for SCHED_GROUP_FULL), or the whole
 * queue's for SCHED_QUEUE_FULL. */
enum sched_admission {
    SCHED_ADMIT,
    SCHED_TOO_COSTLY,
    SCHED_CLIENT_FULL,
    SCHED_QUEUE_FULL,
    SCHED_TOO_LATE,
    SCHED_GROUP_FULL
};
enum sched_admission sched_admit(sched *s, int client, size_t n, size_t longest, size_t client_max,
                                 double budget, double *retry_after);

/* A backend's learned cost curve (see costmodel.h), or the pooled one for
 * a negative or unknown id. */
const cost_model *sched_costs(const sched *s, int backend);

/* Removes every item whose deadline is at or before `now`, calling
 * expired(owner, arg) for each (the handle is already invalid then). */
void sched_expire(sched *s, double now, void (*expired)(void *owner, void *arg), void *arg);

size_t sched_queued(const sched *s);
size_t sched_capacity(const sched *s);

/* Checks every invariant the scheduler keeps (sched_impl.h, share.h,
 * costmodel.h, the policy's own): NULL when they all hold, else a sentence
 * naming the one broken. O(queued + max_length + tenants × groups); it
 * reads only, and may allocate scratch (skipping the per-tenant sums when
 * it can't). The unit tests call it after every operation; builds with
 * BP_CHECK_INVARIANTS (Debug, sanitizers, fuzzing) run it inside the
 * operations that change the scheduler, amortised: after an operation, once
 * (queued + tenants / 8) / 8 operations have passed since the last check
 * (after every one while the queue is small), aborting when it fails. */
const char *sched_check(const sched *s);

#endif
