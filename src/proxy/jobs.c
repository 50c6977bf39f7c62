/* jobs: distinct queued/in-flight sequences and their waiters (see jobs.h). */
#include "jobs.h"

#include <stdlib.h>
#include <string.h>

bool jobs_init(jobs *j)
{
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
    return jb;
}

void jobs_destroy(jobs *j, job *jb)
{
    htab_remove(&j->table, &jb->node);
    free(jb->text);
    free(jb);
}

void jobs_attach(job *jb, waiter *w)
{
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
    jb->nwaiters--;
    return jb->nwaiters == 0 && jb->state == JOB_QUEUED ? jb : NULL;
}

double jobs_deadline(const job *jb)
{
    double latest = 0;
    for (const waiter *w = jb->waiters; w; w = w->next)
        if (w->deadline > latest)
            latest = w->deadline;
    return latest;
}

void jobs_resolve(jobs *j, job *jb, enum wire_label label)
{
    waiter *w;
    while ((w = jb->waiters)) {
        jobs_detach(w);
        w->ops->done(w, label);
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
