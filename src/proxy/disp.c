/* disp: the dispatcher between the scheduler and the pool of backends (see disp.h). */
#include "disp.h"

#include "front.h"
#include "mono.h"
#include "utf8.h"
#include "wire.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_EVERY 2.0   /* idle probes that keep /readyz true (backend.c) */
#define CHECK_TIMEOUT 1.0 /* an active check while ejected */
#define CHECK_AGAIN 0.5   /* a failed check is tried again this much later */
#define MAX_BACKEND_ANSWER (1 << 20)
#define DETAIL_BODY_MAX 120 /* bytes of a backend's 4xx body quoted in a detail */

/* One outstanding batch. */
typedef struct dbatch {
    disp *d;
    size_t n;
    job *batch[SCHED_MAX_BATCH];
    sched_batch sb; /* as the scheduler chose it, for sched_done */
    int attempt;    /* attempts made so far */
    double attempt_started;
    char last_error[256];
    proxy_backend *on; /* the backend holding it (sent or backing off); NULL: pending */
    struct event *retry;
    struct dbatch *next; /* on the pending list */
} dbatch;

struct disp_slot {
    disp *d;
    proxy_backend *pb;
    dbatch *cur;         /* its batch, if any */
    struct event *check; /* the next active check while ejected */
};

struct disp {
    proxy *px;
    struct event *kick; /* deferred "look for work" */
    struct event *wake; /* the policy's deliberate wait */
    uint64_t rng;       /* xorshift state for jitter */
    dbatch *pending, *pending_tail;
    /* One finished batch kept for the next (its retry timer included): a
     * batch is a few KB, and allocating one per batch went through malloc's
     * slow path. Not on any list; freed with the dispatcher. */
    dbatch *spare;
    /* Resolves the backends' host names without blocking the loop, for
     * every connection they make; NULL when it couldn't be set up (lookups
     * then block; logged). Freed after the backends, whose connections
     * cancel their lookups. */
    struct evdns_base *dns;
    bool used0; /* the scheduler's backend 0 is taken */
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

static double job_deadline(const job *jb);
static void send_attempt(dbatch *bt);
static void on_retry(evutil_socket_t fd, short what, void *arg);
static void dispatch(disp *d);

/* --- the pool --- */

static bool usable(const proxy_backend *pb)
{
    return !pb->leaving && health_usable(&pb->health);
}

static bool is_free(const proxy_backend *pb)
{
    return usable(pb) && !pb->slot->cur;
}

/* Another usable backend than `except` exists (free or not). */
static bool others_usable(const proxy *px, const proxy_backend *except)
{
    for (size_t i = 0; i < px->npool; i++)
        if (px->pool[i] != except && usable(px->pool[i]))
            return true;
    return false;
}

/* The fastest free backend other than `except` (by its own cost curve), or NULL. */
static proxy_backend *fastest_free(const proxy *px, const proxy_backend *except)
{
    proxy_backend *best = NULL;
    double best_cost = INFINITY;
    for (size_t i = 0; i < px->npool; i++) {
        proxy_backend *pb = px->pool[i];
        if (pb == except || !is_free(pb))
            continue;
        double c = cost_predict(sched_costs(px->sched, pb->sid), 22);
        if (c < best_cost) {
            best = pb;
            best_cost = c;
        }
    }
    return best;
}

static void publish_state(disp *d, proxy_backend *pb)
{
    const cost_model *cm = sched_costs(d->px->sched, pb->sid);
    const char *state = pb->leaving ? "leaving" : health_usable(&pb->health) ? "up" : "ejected";
    metrics_backend_state(d->px->metrics, pb->mid, state, cm->a, cm->b);
}

static void on_check_answer(void *arg, bool ok);

static void on_check_timer(evutil_socket_t fd, short what, void *arg)
{
    struct disp_slot *sl = arg;
    backend_check(sl->pb->conn, CHECK_TIMEOUT, on_check_answer, sl);
}

/* The next active check of an ejected backend: at the end of its ejection
 * period, or CHECK_AGAIN from now when that has passed (after a failed
 * check). A check that passed a moment too early (the loop's timers run on
 * its cached clock, which may lag) goes again right at the period's end. */
static void schedule_check(struct disp_slot *sl, double now, bool passed)
{
    double again = sl->pb->health.until - now;
    bool early_pass = passed && again > 0;
    set_timer(sl->check, early_pass ? again : fmax(again, CHECK_AGAIN));
}

/* An active check while ejected: re-admit on the first pass after the
 * ejection period, else check again (schedule_check). */
static void on_check_answer(void *arg, bool ok)
{
    struct disp_slot *sl = arg;
    proxy_backend *pb = sl->pb;
    double now = mono_now();
    if (health_probe(&pb->health, now, ok)) {
        log_info("backend %s: health check passed, back in the pool", backend_name(pb->conn));
        sched_backend_set_up(sl->d->px->sched, pb->sid, !pb->leaving);
        publish_state(sl->d, pb);
        disp_kick(sl->d);
        return;
    }
    if (!health_usable(&pb->health))
        schedule_check(sl, now, ok);
}

bool disp_add_backend(disp *d, const char *url, const addr_url *addr)
{
    proxy *px = d->px;
    if (px->npool >= PROXY_MAX_BACKENDS)
        return false;
    proxy_backend *pb = calloc(1, sizeof *pb);
    struct disp_slot *sl = calloc(1, sizeof *sl);
    if (!pb || !sl)
        goto fail;
    snprintf(pb->url, sizeof pb->url, "%s", url);
    pb->addr = *addr;
    pb->slot = sl;
    sl->d = d;
    sl->pb = pb;
    health_init(&pb->health, &px->cfg.health);
    /* A new scheduler has backend 0; the first backend of the pool takes it. */
    pb->sid = d->used0 ? sched_add_backend(px->sched) : 0;
    d->used0 = true;
    if (pb->sid < 0)
        goto fail;
    pb->conn = backend_new(px->base, d->dns, addr, MAX_BACKEND_ANSWER, PROBE_EVERY);
    sl->check = evtimer_new(px->base, on_check_timer, sl);
    if (!pb->conn || !sl->check)
        goto fail;
    pb->mid = metrics_backend_id(px->metrics, backend_hostport(pb->conn));
    sched_backend_set_up(px->sched, pb->sid, true);
    px->pool[px->npool++] = pb;
    publish_state(d, pb);
    disp_kick(d);
    return true;
fail:
    if (pb) {
        if (pb->sid >= 0 && pb->sid < (int)sched_backends(px->sched))
            sched_backend_set_up(px->sched, pb->sid, false);
        backend_free(pb->conn);
    }
    if (sl && sl->check)
        event_free(sl->check);
    free(sl);
    free(pb);
    return false;
}

static void free_backend(proxy_backend *pb)
{
    backend_free(pb->conn);
    if (pb->slot->check)
        event_free(pb->slot->check);
    free(pb->slot);
    free(pb);
}

void disp_retire_backend(disp *d, size_t i)
{
    proxy_backend *pb = d->px->pool[i];
    pb->leaving = true;
    sched_backend_set_up(d->px->sched, pb->sid, false);
    evtimer_del(pb->slot->check);
    publish_state(d, pb);
    disp_kick(d); /* frees it now if it is idle */
}

void disp_keep_backend(disp *d, size_t i)
{
    proxy_backend *pb = d->px->pool[i];
    pb->leaving = false;
    sched_backend_set_up(d->px->sched, pb->sid, health_usable(&pb->health));
    if (!health_usable(&pb->health))
        schedule_check(pb->slot, mono_now(), false);
    publish_state(d, pb);
    disp_kick(d);
}

/* Frees the leaving backends that hold no batch any more. */
static void reap_leaving(disp *d)
{
    proxy *px = d->px;
    size_t kept = 0;
    for (size_t i = 0; i < px->npool; i++) {
        proxy_backend *pb = px->pool[i];
        if (pb->leaving && !pb->slot->cur) {
            log_info("backend %s left the pool", backend_name(pb->conn));
            metrics_backend_state(px->metrics, pb->mid, "removed", 0, 0);
            free_backend(pb);
            continue;
        }
        px->pool[kept++] = pb;
    }
    px->npool = kept;
}

/* --- batches --- */

static void pending_push(disp *d, dbatch *bt)
{
    bt->on = NULL;
    bt->next = NULL;
    if (d->pending_tail)
        d->pending_tail->next = bt;
    else
        d->pending = bt;
    d->pending_tail = bt;
}

/* The oldest pending batch that may go to pb within the cost bound
 * (sched_batch_fits), taken off the list; NULL if none. */
static dbatch *pending_take(disp *d, const proxy_backend *pb)
{
    for (dbatch **at = &d->pending, *prev = NULL; *at; prev = *at, at = &(*at)->next) {
        dbatch *bt = *at;
        if (!sched_batch_fits(d->px->sched, pb->sid, bt->sb.longest))
            continue;
        *at = bt->next;
        if (d->pending_tail == bt)
            d->pending_tail = prev;
        bt->next = NULL;
        return bt;
    }
    return NULL;
}

static dbatch *pending_pop(disp *d)
{
    dbatch *bt = d->pending;
    if (bt) {
        d->pending = bt->next;
        if (!d->pending)
            d->pending_tail = NULL;
        bt->next = NULL;
    }
    return bt;
}

/* The backend gives the batch up (answered, failed, moving elsewhere);
 * the scheduler learns from a success. */
static void release(disp *d, dbatch *bt, bool ok)
{
    proxy_backend *pb = bt->on;
    if (!pb)
        return;
    double now = mono_now();
    sched_done(d->px->sched, pb->sid, &bt->sb, now, now - bt->attempt_started, ok);
    pb->slot->cur = NULL;
    bt->on = NULL;
    if (ok)
        publish_state(d, pb);
}

/* Every batch owns its retry timer from batch_new to batch_destroy. */
static void batch_destroy(dbatch *bt)
{
    event_free(bt->retry);
    free(bt);
}

/* A batch is over: kept as the spare if there is none (its timer stopped). */
static void batch_free(disp *d, dbatch *bt)
{
    if (d->spare) {
        batch_destroy(bt);
        return;
    }
    evtimer_del(bt->retry);
    d->spare = bt;
}

/* A batch for the scheduler's choice sb, with its retry timer and no
 * attempt made yet (its jobs are the caller's to fill in), or NULL when out
 * of memory. */
static dbatch *batch_new(disp *d, const sched_batch *sb)
{
    dbatch *bt = d->spare;
    if (bt) {
        d->spare = NULL;
    } else {
        if (!(bt = malloc(sizeof *bt)))
            return NULL;
        if (!(bt->retry = evtimer_new(d->px->base, on_retry, bt))) {
            free(bt);
            return NULL;
        }
    }
    /* Only sb's n entries are copied: a batch is a few KB. */
    bt->d = d;
    bt->n = sb->n;
    bt->sb.n = sb->n;
    bt->sb.longest = sb->longest;
    memcpy(bt->sb.e, sb->e, sb->n * sizeof *sb->e);
    bt->attempt = 0;
    bt->attempt_started = 0;
    bt->last_error[0] = '\0';
    bt->on = NULL;
    bt->next = NULL;
    return bt;
}

/* The batch is over: its backend may take the next one at once. */
static void batch_over(disp *d, dbatch *bt, bool ok)
{
    release(d, bt, ok);
    batch_free(d, bt);
    disp_kick(d);
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

static void fail_all(disp *d, dbatch *bt, int status, const char *detail)
{
    proxy *px = d->px;
    for (size_t i = 0; i < bt->n; i++) {
        job *jb = bt->batch[i];
        waiter *w;
        while ((w = jb->waiters)) {
            jobs_detach(w);
            front_item_failed(px, w, status, detail);
        }
        jobs_destroy(&px->jobs, jb);
    }
    bt->n = 0;
}

/* Puts the batch on a backend and sends it. */
static void assign(dbatch *bt, proxy_backend *pb)
{
    bt->on = pb;
    pb->slot->cur = bt;
    send_attempt(bt);
}

/* A failed attempt on pb: count it towards ejection. */
static void note_failure(disp *d, proxy_backend *pb)
{
    proxy *px = d->px;
    double now = mono_now();
    if (!health_failure(&pb->health, now, others_usable(px, pb)))
        return;
    double period = pb->health.until - now;
    log_warn("backend %s ejected for %.1f s after %d consecutive failures", backend_name(pb->conn),
             period, pb->health.failures);
    sched_backend_set_up(px->sched, pb->sid, false);
    metrics_backend_ejected(px->metrics, pb->mid);
    publish_state(d, pb);
    set_timer(pb->slot->check, period);
}

static void on_backend(void *arg, int status, const char *body, size_t len, const char *error)
{
    dbatch *bt = arg;
    disp *d = bt->d;
    proxy *px = d->px;
    proxy_backend *pb = bt->on;
    double seconds = mono_now() - bt->attempt_started;
    enum wire_label labels[SCHED_MAX_BATCH];
    char why[200];
    enum metrics_attempt kind;

    if (status == 200 && wire_parse_results(body, len, bt->n, labels, why, sizeof why)) {
        metrics_attempt(px->metrics, ATTEMPT_OK, bt->n, bt->sb.longest, seconds);
        metrics_backend_attempt(px->metrics, pb->mid, true, seconds);
        health_success(&pb->health);
        log_fields(LOG_DEBUG,
                   LOG_FIELDS(LOG_INT("size", bt->n), LOG_INT("longest", bt->sb.longest),
                              LOG_STR("backend", backend_hostport(pb->conn)),
                              LOG_INT("attempt", bt->attempt), LOG_INT("status", 200),
                              LOG_REAL("seconds", seconds)),
                   "batch size=%zu longest=%zu backend=%s attempt=%d status=200 time=%.4fs", bt->n,
                   bt->sb.longest, backend_hostport(pb->conn), bt->attempt, seconds);
        /* The backend is free now: the next batch leaves before the
         * answers are even built, so the backend never waits on our client
         * work (the round trip is what bounds throughput). */
        job *finished[SCHED_MAX_BATCH];
        size_t n = bt->n;
        memcpy(finished, bt->batch, n * sizeof *finished);
        release(d, bt, true);
        batch_free(d, bt);
        dispatch(d);
        resolve(px, finished, n, labels, seconds);
        return;
    }
    if (status == 200) {
        kind = ATTEMPT_BAD_ANSWER;
        /* jansson's message may quote the answer's bytes (controls too). */
        utf8_printable(why, sizeof why, why, strlen(why));
    } else if (status == 429) {
        kind = ATTEMPT_BUSY;
        snprintf(why, sizeof why, "backend %s answered 429 (busy)", backend_hostport(pb->conn));
    } else if (status >= 500) {
        kind = ATTEMPT_SERVER_ERROR;
        snprintf(why, sizeof why, "backend %s answered %d", backend_hostport(pb->conn), status);
    } else if (status > 0) {
        kind = ATTEMPT_REJECTED;
        /* The body is the backend's bytes, not a C string: at most
         * DETAIL_BODY_MAX of them, printable, reach the client and the log. */
        int k = snprintf(why, sizeof why, "backend rejected the batch with %d: ", status);
        size_t room = sizeof why - (size_t)k;
        utf8_printable(why + k, room < DETAIL_BODY_MAX + 1 ? room : DETAIL_BODY_MAX + 1, body, len);
    } else {
        kind = ATTEMPT_NO_ANSWER;
        snprintf(why, sizeof why, "backend %s: %s", backend_name(pb->conn), error);
    }
    metrics_attempt(px->metrics, kind, bt->n, bt->sb.longest, seconds);
    metrics_backend_attempt(px->metrics, pb->mid, false, seconds);
    snprintf(bt->last_error, sizeof bt->last_error, "%s", why);
    log_fields(LOG_WARN,
               LOG_FIELDS(LOG_INT("size", bt->n), LOG_INT("longest", bt->sb.longest),
                          LOG_STR("backend", backend_hostport(pb->conn)),
                          LOG_INT("attempt", bt->attempt), LOG_INT("status", status),
                          LOG_STR("outcome", metrics_attempt_name(kind)),
                          LOG_REAL("seconds", seconds), LOG_STR("error", why)),
               "batch size=%zu longest=%zu attempt=%d failed after %.4fs: %s", bt->n,
               bt->sb.longest, bt->attempt, seconds, why);

    /* A 4xx other than 429 means the backend refuses this input: sending it
     * again would get the same answer (and says nothing about its health). */
    if (kind == ATTEMPT_REJECTED || bt->attempt > px->cfg.retries) {
        if (kind != ATTEMPT_REJECTED)
            note_failure(d, pb);
        char detail[320];
        snprintf(detail, sizeof detail, "backend failed after %d attempt%s: %s", bt->attempt,
                 bt->attempt == 1 ? "" : "s", bt->last_error);
        fail_all(d, bt, 502, detail);
        batch_over(d, bt, false);
        return;
    }
    note_failure(d, pb);
    metrics_retry(px->metrics);
    /* Another backend free now: retry there at once. */
    proxy_backend *other = fastest_free(px, pb);
    if (other) {
        release(d, bt, false);
        assign(bt, other);
        disp_kick(d);
        return;
    }
    if (!usable(pb)) {
        /* Ejected or leaving: the next backend to free up takes it. */
        release(d, bt, false);
        pending_push(d, bt);
        disp_kick(d);
        return;
    }
    /* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]. The
     * backend stays reserved for this batch meanwhile (a 429 says it is
     * still busy: new work would meet the same). */
    double ceiling = px->cfg.backoff_base * pow(2, bt->attempt - 1);
    if (ceiling > px->cfg.backoff_cap)
        ceiling = px->cfg.backoff_cap;
    set_timer(bt->retry, ceiling * uniform01(d));
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    dbatch *bt = arg;
    disp *d = bt->d;
    proxy_backend *pb = bt->on;
    if (!pb || !usable(pb)) {
        release(d, bt, false);
        pending_push(d, bt);
        disp_kick(d);
        return;
    }
    send_attempt(bt);
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

/* A batch that its backend can't take within the cost bound (a retry moved
 * it to a slower backend than the one it was made for): it waits on the
 * pending list for a usable backend where it fits, or fails if there is
 * none. It is never sent where it would outlast its attempt. */
static void move_elsewhere(disp *d, dbatch *bt)
{
    proxy *px = d->px;
    bool somewhere = false;
    for (size_t i = 0; i < px->npool; i++)
        somewhere |=
            usable(px->pool[i]) && sched_batch_fits(px->sched, px->pool[i]->sid, bt->sb.longest);
    release(d, bt, false);
    if (somewhere) {
        pending_push(d, bt);
        disp_kick(d);
        return;
    }
    char detail[200];
    snprintf(detail, sizeof detail,
             "no usable backend is predicted to take the batch within the limit of %.3f s for "
             "one backend attempt",
             px->cfg.sched.max_batch_cost);
    fail_all(d, bt, 502, detail);
    batch_over(d, bt, false);
}

/* Sends the batch to its backend again (or for the first time), without
 * the jobs nobody waits for any more or whose every waiter's deadline
 * passed: nothing goes to a backend for a request after its deadline, and
 * a batch left with no member is over without being sent. Nor does a
 * batch go to a backend whose curve predicts it to outlast the attempt. */
static void send_attempt(dbatch *bt)
{
    disp *d = bt->d;
    proxy *px = d->px;
    double now = mono_now();
    size_t kept = 0;
    for (size_t i = 0; i < bt->n; i++) {
        job *jb = bt->batch[i];
        double dl = job_deadline(jb);
        if (dl <= now) {
            /* Its waiters' deadline timers answer them; the job is ours to drop. */
            waiter *w;
            while ((w = jb->waiters))
                jobs_detach(w);
            jobs_destroy(&px->jobs, jb);
            continue;
        }
        bt->batch[kept++] = jb;
    }
    bt->n = kept;
    if (bt->n == 0) {
        batch_over(d, bt, false);
        return;
    }

    const wire_text *texts[SCHED_MAX_BATCH];
    wire_text tx[SCHED_MAX_BATCH];
    bt->sb.longest = 0;
    for (size_t i = 0; i < bt->n; i++) {
        tx[i] = (wire_text){
            .s = bt->batch[i]->text, .bytes = bt->batch[i]->bytes, .len = bt->batch[i]->len};
        texts[i] = &tx[i];
        if (tx[i].len > bt->sb.longest)
            bt->sb.longest = tx[i].len;
    }
    if (!sched_batch_fits(px->sched, bt->on->sid, bt->sb.longest)) {
        move_elsewhere(d, bt);
        return;
    }
    char *body = wire_sequences_json(texts, bt->n);
    if (!body) {
        fail_all(d, bt, 502, "out of memory building the batch");
        batch_over(d, bt, false);
        return;
    }
    /* The attempt may outlive its members (their waiters get 504 from
     * their own timers, or hung up): the backend keeps working on a batch
     * whose connection we close, so the slot stays taken until it answers
     * or the attempt times out, or a new batch would meet 429s. That wait
     * is bounded by --backend-timeout, as no batch predicted to take
     * longer is sent. The answer still fills the cache and any joiner
     * with a later deadline. */
    bt->attempt++;
    bt->attempt_started = now;
    backend_post(bt->on->conn, body, strlen(body), px->cfg.backend_timeout, on_backend, bt);
    free(body);
}

/* A new batch from the scheduler's choice for pb. */
static void start_batch(disp *d, proxy_backend *pb, const sched_batch *sb, double now)
{
    proxy *px = d->px;
    dbatch *bt = batch_new(d, sb);
    if (!bt) {
        for (size_t i = 0; i < sb->n; i++) {
            job *jb = sb->e[i].owner;
            jb->state = JOB_INFLIGHT;
            jb->item = NULL;
        }
        dbatch tmp = {.d = d, .n = sb->n};
        for (size_t i = 0; i < sb->n; i++)
            tmp.batch[i] = sb->e[i].owner;
        fail_all(d, &tmp, 502, "out of memory starting a batch");
        double t = mono_now();
        sched_done(px->sched, pb->sid, sb, t, 0, false);
        return;
    }
    for (size_t i = 0; i < bt->n; i++) {
        job *jb = sb->e[i].owner;
        jb->state = JOB_INFLIGHT;
        jb->item = NULL;
        jb->sent = now;
        bt->batch[i] = jb;
    }
    assign(bt, pb);
}

static int by_speed_px_cmp(const proxy *px, const proxy_backend *a, const proxy_backend *b)
{
    double ca = cost_predict(sched_costs(px->sched, a->sid), 22);
    double cb = cost_predict(sched_costs(px->sched, b->sid), 22);
    return (ca > cb) - (ca < cb);
}

/* Gives every free backend its next batch (or pending retry), and sets
 * the wake-up timer the policy asked for. */
static void dispatch(disp *d)
{
    proxy *px = d->px;
    reap_leaving(d);
    double now = mono_now(), wake_at = INFINITY;
    evtimer_del(d->wake);
    /* The free backends, fastest first (by their own curves): the cost
     * policy may keep long work off a slow one for a faster one. */
    proxy_backend *fr[PROXY_MAX_BACKENDS];
    size_t nf = 0;
    for (size_t i = 0; i < px->npool; i++) {
        if (!is_free(px->pool[i]))
            continue;
        size_t j = nf++;
        for (; j > 0 && by_speed_px_cmp(px, px->pool[i], fr[j - 1]) < 0; j--)
            fr[j] = fr[j - 1];
        fr[j] = px->pool[i];
    }
    for (size_t k = 0; k < nf; k++) {
        proxy_backend *pb = fr[k];
        dbatch *bt = pending_take(d, pb);
        if (bt) {
            assign(bt, pb);
            continue;
        }
        if (sched_queued(px->sched) == 0)
            break;
        sched_batch sb;
        double wake = 0;
        switch (sched_next(px->sched, pb->sid, now, &sb, &wake)) {
        case SCHED_SEND:
            start_batch(d, pb, &sb, now);
            break;
        case SCHED_WAIT:
            wake_at = wake < wake_at ? wake : wake_at;
            break;
        case SCHED_IDLE:
            break;
        }
    }
    if (wake_at < INFINITY)
        set_timer(d->wake, wake_at - now);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    dispatch(arg);
}

void disp_kick(disp *d)
{
    event_active(d->kick, EV_TIMEOUT, 0);
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
    if (!d->kick || !d->wake) {
        disp_free(d);
        return NULL;
    }
    /* Configured from /etc/resolv.conf and /etc/hosts; it doesn't keep the
     * loop running while idle (so a drain ends). Numeric addresses never
     * reach it. */
    d->dns = evdns_base_new(px->base,
                            EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!d->dns)
        log_warn("can't set up the DNS resolver: backend host names will be looked up "
                 "blocking the loop (numeric addresses are unaffected)");
    return d;
}

void disp_free(disp *d)
{
    if (!d)
        return;
    proxy *px = d->px;
    for (size_t i = 0; i < px->npool; i++) {
        proxy_backend *pb = px->pool[i];
        if (pb->slot->cur)
            batch_destroy(pb->slot->cur);
        free_backend(pb);
    }
    px->npool = 0;
    dbatch *bt;
    while ((bt = pending_pop(d)))
        batch_destroy(bt);
    if (d->spare)
        batch_destroy(d->spare);
    if (d->kick)
        event_free(d->kick);
    if (d->wake)
        event_free(d->wake);
    if (d->dns)
        evdns_base_free(d->dns, 0);
    free(d);
}
