/* jobs: the table of distinct sequences that are queued or in flight, and
 * the requests waiting on each (coalescing).
 *
 * A job is one distinct text. Every request item that wants that text is a
 * waiter on its job, so identical sequences share one slot in a batch.
 *
 * Invariants:
 * - a job is in the table from creation until jobs_destroy; its text is
 *   unique in the table;
 * - state JOB_QUEUED: `item` is its live scheduler handle; a queued job with
 *   no waiters is cancelled and destroyed at once by whoever detaches the
 *   last waiter (jobs_detach tells them);
 * - state JOB_INFLIGHT: `item` is NULL; the job belongs to the dispatcher's
 *   current batch and only the dispatcher destroys it, waiters or not;
 * - a waiter is on at most one job's list, and w->job says which; the
 *   list is doubly linked through next (NULL-terminated) and prev, the
 *   first waiter's prev being the last, and nwaiters is its length;
 * - a job's key in the table is its own copy of its text;
 * - whoever ends a job with waiters tells each (jobs_resolve, jobs_fail),
 *   detached first, through its own callbacks: this module and the
 *   dispatcher know nothing of what a waiter belongs to; only a job whose
 *   waiters' deadlines have all passed is ended untold (jobs_drop), as their
 *   owners answer them at their deadlines. */
#ifndef BP_JOBS_H
#define BP_JOBS_H

#include "htab.h"
#include "result.h"
#include "sched.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct waiter waiter;

/* What a waiter's owner is told when its job ends (the waiter is detached
 * already, and may be freed by the call). */
typedef struct waiter_ops {
    /* value is the caller's: take a reference to keep it. */
    void (*done)(waiter *w, result *value);
    /* The job failed for good: no result will come. */
    void (*failed)(waiter *w, int status, const char *detail);
} waiter_ops;

struct waiter {
    const waiter_ops *ops;
    void *owner;     /* the ops' own (front: the request) */
    size_t idx;      /* which of the owner's items */
    double deadline; /* monotonic seconds: nothing is wanted for it after that */
    struct job *job; /* NULL when not attached */
    struct waiter *prev, *next;
};

enum job_state { JOB_QUEUED, JOB_INFLIGHT };

typedef struct job {
    htab_node node; /* key = text */
    char *text;     /* owned copy, `bytes` long */
    size_t bytes, len;
    int client; /* of the first request that wanted it */
    enum job_state state;
    sched_item *item; /* while JOB_QUEUED */
    waiter *waiters;  /* doubly linked, oldest first */
    size_t nwaiters;
    double enqueued, sent;
} job;

typedef struct jobs {
    htab table;
    size_t check_skip; /* BP_CHECK_INVARIANTS: operations until the next check */
} jobs;

bool jobs_init(jobs *j);
/* Destroys every job left (their waiters must be gone). */
void jobs_fini(jobs *j);
size_t jobs_count(const jobs *j);

job *jobs_find(jobs *j, const char *text, size_t bytes);
/* A new JOB_QUEUED job with a copy of text and no item yet, or NULL (out of memory). */
job *jobs_create(jobs *j, const char *text, size_t bytes, size_t len, int client, double now);
/* Takes the job out of the table and frees it; its waiters must be gone. */
void jobs_destroy(jobs *j, job *jb);

void jobs_attach(job *jb, waiter *w);
/* Takes w off its job; returns the job if that left a queued job with no
 * waiters (the caller must cancel its item and destroy it), else NULL. */
job *jobs_detach(waiter *w);

/* NULL when every invariant above holds, the table's (htab_check) included,
 * else a sentence naming the one broken. For a caller at rest; O(jobs +
 * waiters + slots). Builds with BP_CHECK_INVARIANTS run it, without the
 * at-rest part, inside jobs_create, jobs_destroy, jobs_attach and
 * jobs_detach, amortised: once (jobs + slots) / 8 of them have passed since
 * the last time. */
const char *jobs_check(const jobs *j);

/* The latest deadline of the job's waiters (0 when it has none). */
double jobs_deadline(const job *jb);

/* Ends a job: each waiter, oldest first, is detached and told its result
 * (jobs_resolve) or the failure (jobs_fail); then the job is destroyed.
 * A waiter's callback may detach other waiters of the same job. */
void jobs_resolve(jobs *j, job *jb, result *value);
void jobs_fail(jobs *j, job *jb, int status, const char *detail);
/* Ends a job without telling its waiters (detached): their own deadlines
 * answer them. */
void jobs_drop(jobs *j, job *jb);

#endif
