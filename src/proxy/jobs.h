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
 * - a job's key in the table is its own copy of its text.
 * "At once" above means before the event that detached the last waiter
 * ends: between events ("at rest"), every queued job has its item and at
 * least one waiter. While front.c sets a new job up (jobs_create, then
 * sched_enqueue, then jobs_attach) it has neither yet. */
#ifndef BP_JOBS_H
#define BP_JOBS_H

#include "htab.h"
#include "scheduler.h"

#include <stdbool.h>
#include <stddef.h>

struct preq;

typedef struct waiter {
    struct preq *req;
    size_t idx;      /* which of the request's sequences */
    struct job *job; /* NULL when not attached */
    struct waiter *prev, *next;
} waiter;

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

#endif
