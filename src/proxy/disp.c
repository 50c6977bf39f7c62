/* disp: the dispatcher between the scheduler and the backend (see disp.h). */
#include "disp.h"

#include "front.h"
#include "mono.h"
#include "wire.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct disp {
    proxy *px;
    struct event *kick;  /* deferred "look for work" */
    struct event *wake;  /* the policy's deliberate wait */
    struct event *retry; /* backoff before the next attempt */
    uint64_t rng;        /* xorshift state for jitter */
    /* The outstanding batch, if busy. */
    bool busy;
    size_t n;
    job *batch[SCHED_MAX_BATCH];
    sched_batch sb; /* as the scheduler chose it, for sched_done */
    int attempt;    /* attempts made so far */
    double attempt_started;
    char last_error[256];
};

static void set_timer(struct event *ev, double seconds)
{
    if (seconds < 0)
        seconds = 0;
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - floor(seconds)) * 1e6)};
    evtimer_add(ev, &tv);
}

static double uniform01(disp *d)
{
    d->rng ^= d->rng << 13;
    d->rng ^= d->rng >> 7;
    d->rng ^= d->rng << 17;
    return (double)(d->rng >> 11) / 9007199254740992.0;
}

/* The latest deadline among a job's live waiters (0 if it has none). */
static double job_deadline(const job *jb);

static void send_attempt(disp *d);

static void on_kick(evutil_socket_t fd, short what, void *arg);

/* The outstanding batch is over: the next one may leave at once. */
static void batch_over(disp *d, bool ok)
{
    double now = mono_now();
    sched_done(d->px->sched, &d->sb, now, now - d->attempt_started, ok);
    d->busy = false;
    d->n = 0;
    on_kick(-1, 0, d);
}

/* Hands each job's label to its waiters, caches it, and destroys the jobs. */
static void resolve(proxy *px, job *const *jobs_done, size_t n, const enum wire_label *labels,
                    double seconds)
{
    double now = mono_now();
    for (size_t i = 0; i < n; i++) {
        job *jb = jobs_done[i];
        cache_put(&px->cache, jb->text, jb->bytes, labels[i], now);
        metrics_sequence(px->metrics, jb->client, jb->sent - jb->enqueued, seconds);
        waiter *w;
        while ((w = jb->waiters)) {
            jobs_detach(w);
            front_item_done(px, w, labels[i]);
        }
        jobs_destroy(&px->jobs, jb);
    }
}

static void fail_all(disp *d, int status, const char *detail)
{
    proxy *px = d->px;
    for (size_t i = 0; i < d->n; i++) {
        job *jb = d->batch[i];
        waiter *w;
        while ((w = jb->waiters)) {
            jobs_detach(w);
            front_item_failed(px, w, status, detail);
        }
        jobs_destroy(&px->jobs, jb);
    }
}

static void on_backend(void *arg, int status, const char *body, size_t len, const char *error)
{
    disp *d = arg;
    proxy *px = d->px;
    double seconds = mono_now() - d->attempt_started;
    enum wire_label labels[SCHED_MAX_BATCH];
    char why[200];
    enum metrics_attempt kind;

    if (status == 200 && wire_parse_results(body, len, d->n, labels, why, sizeof why)) {
        metrics_attempt(px->metrics, ATTEMPT_OK, d->n, d->sb.longest, seconds);
        log_debug("batch size=%zu longest=%zu attempt=%d status=200 time=%.4fs", d->n,
                  d->sb.longest, d->attempt, seconds);
        /* The backend is free now: let the next batch leave before the
         * answers are written, so it never waits on our client I/O. */
        job *finished[SCHED_MAX_BATCH];
        size_t n = d->n;
        memcpy(finished, d->batch, n * sizeof *finished);
        batch_over(d, true);
        resolve(px, finished, n, labels, seconds);
        return;
    }
    if (status == 200) {
        kind = ATTEMPT_BAD_ANSWER;
    } else if (status == 429) {
        kind = ATTEMPT_BUSY;
        snprintf(why, sizeof why, "backend answered 429 (busy)");
    } else if (status >= 500) {
        kind = ATTEMPT_SERVER_ERROR;
        snprintf(why, sizeof why, "backend answered %d", status);
    } else if (status > 0) {
        kind = ATTEMPT_REJECTED;
        snprintf(why, sizeof why, "backend rejected the batch with %d: %.120s", status, body);
    } else {
        kind = ATTEMPT_NO_ANSWER;
        snprintf(why, sizeof why, "backend %s: %s", backend_name(px->backend), error);
    }
    metrics_attempt(px->metrics, kind, d->n, d->sb.longest, seconds);
    snprintf(d->last_error, sizeof d->last_error, "%s", why);
    log_warn("batch size=%zu longest=%zu attempt=%d failed after %.4fs: %s", d->n, d->sb.longest,
             d->attempt, seconds, why);

    /* A 4xx other than 429 means the backend refuses this input: sending it
     * again would get the same answer. */
    if (kind == ATTEMPT_REJECTED || d->attempt > px->cfg.retries) {
        char detail[320];
        snprintf(detail, sizeof detail, "backend failed after %d attempt%s: %s", d->attempt,
                 d->attempt == 1 ? "" : "s", d->last_error);
        fail_all(d, 502, detail);
        batch_over(d, false);
        return;
    }
    /* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]. */
    double ceiling = px->cfg.backoff_base * pow(2, d->attempt - 1);
    if (ceiling > px->cfg.backoff_cap)
        ceiling = px->cfg.backoff_cap;
    metrics_retry(px->metrics);
    set_timer(d->retry, ceiling * uniform01(d));
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    send_attempt(arg);
}

static double job_deadline(const job *jb)
{
    double latest = 0;
    for (const waiter *w = jb->waiters; w; w = w->next) {
        double dl = front_waiter_deadline(w);
        if (dl > latest)
            latest = dl;
    }
    return latest;
}

/* Sends the outstanding batch again (or for the first time), without the
 * jobs nobody waits for any more or whose every waiter's deadline passed:
 * nothing goes to the backend for a request after its deadline. */
static void send_attempt(disp *d)
{
    proxy *px = d->px;
    double now = mono_now(), latest = 0;
    size_t kept = 0;
    for (size_t i = 0; i < d->n; i++) {
        job *jb = d->batch[i];
        double dl = job_deadline(jb);
        if (dl <= now) {
            /* Its waiters' deadline timers answer them; the job is ours to drop. */
            waiter *w;
            while ((w = jb->waiters))
                jobs_detach(w);
            jobs_destroy(&px->jobs, jb);
            continue;
        }
        if (dl > latest)
            latest = dl;
        d->batch[kept++] = jb;
    }
    d->n = kept;
    if (d->n == 0) {
        batch_over(d, false);
        return;
    }

    const wire_text *texts[SCHED_MAX_BATCH];
    wire_text tx[SCHED_MAX_BATCH];
    d->sb.longest = 0;
    for (size_t i = 0; i < d->n; i++) {
        tx[i] = (wire_text){
            .s = d->batch[i]->text, .bytes = d->batch[i]->bytes, .len = d->batch[i]->len};
        texts[i] = &tx[i];
        if (tx[i].len > d->sb.longest)
            d->sb.longest = tx[i].len;
    }
    char *body = wire_sequences_json(texts, d->n);
    if (!body) {
        fail_all(d, 502, "out of memory building the batch");
        batch_over(d, false);
        return;
    }
    double timeout = latest - now;
    if (timeout > px->cfg.backend_timeout)
        timeout = px->cfg.backend_timeout;
    d->attempt++;
    d->attempt_started = now;
    backend_post(px->backend, body, strlen(body), timeout, on_backend, d);
    free(body);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    disp *d = arg;
    proxy *px = d->px;
    if (d->busy)
        return;
    double now = mono_now(), wake = 0;
    switch (sched_next(px->sched, now, &d->sb, &wake)) {
    case SCHED_IDLE:
        evtimer_del(d->wake);
        return;
    case SCHED_WAIT:
        set_timer(d->wake, wake - now);
        return;
    case SCHED_SEND:
        break;
    }
    evtimer_del(d->wake);
    d->busy = true;
    d->attempt = 0;
    d->n = d->sb.n;
    for (size_t i = 0; i < d->n; i++) {
        job *jb = d->sb.e[i].owner;
        jb->state = JOB_INFLIGHT;
        jb->item = NULL;
        jb->sent = now;
        d->batch[i] = jb;
    }
    send_attempt(d);
}

void disp_kick(disp *d)
{
    if (!d->busy)
        event_active(d->kick, EV_TIMEOUT, 0);
}

bool disp_idle(const disp *d)
{
    return !d->busy;
}

disp *disp_new(proxy *px)
{
    disp *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->px = px;
    d->rng = (uint64_t)(mono_wall() * 1e6) | 1;
    d->kick = event_new(px->base, -1, 0, on_kick, d);
    d->wake = evtimer_new(px->base, on_kick, d);
    d->retry = evtimer_new(px->base, on_retry, d);
    if (!d->kick || !d->wake || !d->retry) {
        disp_free(d);
        return NULL;
    }
    return d;
}

void disp_free(disp *d)
{
    if (!d)
        return;
    if (d->kick)
        event_free(d->kick);
    if (d->wake)
        event_free(d->wake);
    if (d->retry)
        event_free(d->retry);
    free(d);
}
