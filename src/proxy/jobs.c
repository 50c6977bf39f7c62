/* jobs: distinct queued/in-flight sequences and their waiters (see jobs.h). */
#include "jobs.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

static const char *check_all(const jobs *j, bool at_rest);

/* With BP_CHECK_INVARIANTS, the structural invariants after an operation
 * (amortised, see jobs.h); the at-rest ones hold only between events. */
static void debug_check(jobs *j)
{
#ifdef BP_CHECK_INVARIANTS
    if (j->check_skip > 0) {
        j->check_skip--;
        return;
    }
    BP_INVARIANTS(check_all(j, false));
    j->check_skip = (j->table.count + j->table.nslots) / 8;
#else
    (void)j;
#endif
}

bool jobs_init(jobs *j)
{
    j->check_skip = 0;
    return htab_init(&j->table, 1024);
}

void jobs_fini(jobs *j)
{
    for (size_t i = 0; i < j->table.nslots; i++) {
        while (j->table.slots[i]) {
            job *jb = (job *)j->table.slots[i];
            jobs_destroy(j, jb);
        }
    }
    htab_fini(&j->table);
}

size_t jobs_count(const jobs *j)
{
    return j->table.count;
}

job *jobs_find(jobs *j, const char *text, size_t bytes)
{
    return (job *)htab_find(&j->table, text, bytes, htab_hash(&j->table, text, bytes));
}

job *jobs_create(jobs *j, const char *text, size_t bytes, size_t len, int client, double now)
{
    job *jb = calloc(1, sizeof *jb);
    char *copy = malloc(bytes ? bytes : 1);
    if (!jb || !copy) {
        free(jb);
        free(copy);
        return NULL;
    }
    memcpy(copy, text, bytes);
    jb->text = copy;
    jb->bytes = bytes;
    jb->len = len;
    jb->client = client;
    jb->state = JOB_QUEUED;
    jb->enqueued = now;
    jb->node.key = copy;
    jb->node.klen = bytes;
    jb->node.hash = htab_hash(&j->table, copy, bytes);
    htab_insert(&j->table, &jb->node);
    debug_check(j);
    return jb;
}

void jobs_destroy(jobs *j, job *jb)
{
    /* Waiters left would point at freed memory. */
    BP_ASSERT(!jb->waiters && jb->nwaiters == 0);
    bool was_in = htab_remove(&j->table, &jb->node);
    BP_ASSERT(was_in); /* else the job is being destroyed twice */
    free(jb->text);
    free(jb);
    debug_check(j);
}

void jobs_attach(job *jb, waiter *w)
{
    /* A waiter on two lists would corrupt both when it leaves one. */
    BP_ASSERT(!w->job);
    w->job = jb;
    w->next = NULL;
    w->prev = NULL;
    if (jb->waiters) {
        waiter *last = jb->waiters->prev; /* the head's prev is the tail */
        last->next = w;
        w->prev = last;
    } else {
        jb->waiters = w;
    }
    jb->waiters->prev = w;
    jb->nwaiters++;
}

job *jobs_detach(waiter *w)
{
    job *jb = w->job;
    if (!jb)
        return NULL;
    if (jb->waiters == w) {
        jb->waiters = w->next;
        if (jb->waiters)
            jb->waiters->prev = w->prev;
    } else {
        w->prev->next = w->next;
        if (w->next)
            w->next->prev = w->prev;
        else
            jb->waiters->prev = w->prev;
    }
    w->job = NULL;
    w->next = w->prev = NULL;
    BP_ASSERT(jb->nwaiters > 0); /* else the count wraps and the job is never orphaned */
    jb->nwaiters--;
    return jb->nwaiters == 0 && jb->state == JOB_QUEUED ? jb : NULL;
}

/* The job's waiters list: doubly linked, each naming the job, counted. */
static const char *check_waiters(const job *jb)
{
    size_t n = 0;
    const waiter *prev = NULL;
    for (const waiter *w = jb->waiters; w; w = w->next) {
        if (++n > jb->nwaiters)
            return "jobs: nwaiters is the length of the job's waiters list";
        if (w->job != jb)
            return "jobs: a waiter on a job's list names that job (it is on one list only)";
        if (prev && w->prev != prev)
            return "jobs: the waiters list is doubly linked";
        prev = w;
    }
    if (n != jb->nwaiters)
        return "jobs: nwaiters is the length of the job's waiters list";
    if (jb->waiters && jb->waiters->prev != prev)
        return "jobs: the first waiter's prev is the last waiter";
    return NULL;
}

static const char *check_job(const job *jb, bool at_rest)
{
    if (jb->node.key != jb->text || jb->node.klen != jb->bytes)
        return "jobs: a job's key in the table is its own copy of its text";
    if (jb->state != JOB_QUEUED && jb->state != JOB_INFLIGHT)
        return "jobs: a job is queued or in flight";
    if (jb->state == JOB_INFLIGHT && jb->item)
        return "jobs: an in-flight job has no scheduler item";
    if (at_rest && jb->state == JOB_QUEUED && (!jb->item || jb->nwaiters == 0))
        return "jobs: at rest, a queued job has its scheduler item and a waiter";
    return check_waiters(jb);
}

static const char *check_all(const jobs *j, bool at_rest)
{
    const char *why = htab_check(&j->table);
    for (size_t i = 0; !why && i < j->table.nslots; i++)
        for (const htab_node *n = j->table.slots[i]; n && !why; n = n->next)
            why = check_job((const job *)n, at_rest);
    return why;
}

const char *jobs_check(const jobs *j)
{
    return check_all(j, true);
}

double jobs_deadline(const job *jb)
{
    double latest = 0;
    for (const waiter *w = jb->waiters; w; w = w->next)
        if (w->deadline > latest)
            latest = w->deadline;
    return latest;
}

void jobs_resolve(jobs *j, job *jb, result *value)
{
    waiter *w;
    while ((w = jb->waiters)) {
        jobs_detach(w);
        w->ops->done(w, value);
    }
    jobs_destroy(j, jb);
}

void jobs_fail(jobs *j, job *jb, int status, const char *detail)
{
    waiter *w;
    while ((w = jb->waiters)) {
        jobs_detach(w);
        w->ops->failed(w, status, detail);
    }
    jobs_destroy(j, jb);
}

void jobs_drop(jobs *j, job *jb)
{
    waiter *w;
    while ((w = jb->waiters))
        jobs_detach(w);
    jobs_destroy(j, jb);
}
