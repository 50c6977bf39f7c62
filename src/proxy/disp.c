/* disp: the dispatcher between the scheduler and the pool of backends (see disp.h). */
#include "disp.h"

#include "upstream.h"
#include "check.h"
#include "log.h"
#include "mono.h"
#include "outcome.h"
#include "wire.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_EVERY 2.0   /* idle probes that keep /readyz true (upstream.c) */
#define CHECK_TIMEOUT 1.0 /* an active check while ejected */
#define CHECK_AGAIN 0.5   /* a failed check is tried again this much later */
#define MAX_BACKEND_ANSWER (1 << 20)

/* One outstanding batch. */
typedef struct dbatch {
    disp *d;
    size_t n;
    job *batch[SCHED_MAX_BATCH];
    sched_batch sb; /* as the scheduler chose it, for sched_done */
    int attempt;    /* attempts made so far */
    double attempt_started;
    struct backend *on; /* the backend holding it (sent or backing off); NULL: pending */
    struct event *retry;
    struct dbatch *next; /* on the pending list */
} dbatch;

/* One backend of the pool, as the dispatcher drives it: its connections
 * (upstream.h), its lane in the scheduler and its id in the metrics. */
typedef struct backend {
    disp *d;
    char url[DISP_URL_MAX]; /* canonical (addr_format_url) */
    upstream *conn;
    int lane;            /* its lane in the scheduler (sched.h) */
    int mid;             /* its id in the metrics */
    health ejection;     /* ejection state */
    bool leaving;        /* removed from the list: leaves once it holds no batch */
    dbatch *cur;         /* its batch, if any */
    struct event *check; /* the next active check while ejected */
} backend;

struct disp {
    disp_config cfg;
    struct event_base *base;
    sched *queue;
    jobs *work;
    cache *answers;
    metrics *meter;
    backend *pool[DISP_MAX_BACKENDS]; /* in use, and leaving */
    size_t npool;
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
    bool used0; /* the scheduler's lane 0 is taken */
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

static void send_attempt(dbatch *bt);
static void on_retry(evutil_socket_t fd, short what, void *arg);
static void dispatch(disp *d);

/* --- the pool --- */

static bool usable(const backend *pb)
{
    return !pb->leaving && health_usable(&pb->ejection);
}

static bool is_free(const backend *pb)
{
    return usable(pb) && !pb->cur;
}

/* Another usable backend than `except` exists (free or not). */
static bool others_usable(const disp *d, const backend *except)
{
    for (size_t i = 0; i < d->npool; i++)
        if (d->pool[i] != except && usable(d->pool[i]))
            return true;
    return false;
}

/* The fastest free backend other than `except` (by its own cost curve), or NULL. */
static backend *fastest_free(const disp *d, const backend *except)
{
    backend *best = NULL;
    double best_cost = INFINITY;
    for (size_t i = 0; i < d->npool; i++) {
        backend *pb = d->pool[i];
        if (pb == except || !is_free(pb))
            continue;
        double c = cost_predict(sched_costs(d->queue, pb->lane), 22);
        if (c < best_cost) {
            best = pb;
            best_cost = c;
        }
    }
    return best;
}

static void publish_state(disp *d, backend *pb)
{
    const cost_model *cm = sched_costs(d->queue, pb->lane);
    const char *state = pb->leaving ? "leaving" : health_usable(&pb->ejection) ? "up" : "ejected";
    metrics_backend_state(d->meter, pb->mid, state, cm->a, cm->lin, cm->b);
}

static void on_check_answer(void *arg, bool ok);

static void on_check_timer(evutil_socket_t fd, short what, void *arg)
{
    backend *pb = arg;
    upstream_check(pb->conn, CHECK_TIMEOUT, on_check_answer, pb);
}

/* The next active check of an ejected backend: at the end of its ejection
 * period, or CHECK_AGAIN from now when that has passed (after a failed
 * check). A check that passed a moment too early (the loop's timers run on
 * its cached clock, which may lag) goes again right at the period's end. */
static void schedule_check(backend *pb, double now, bool passed)
{
    double again = pb->ejection.until - now;
    bool early_pass = passed && again > 0;
    set_timer(pb->check, early_pass ? again : fmax(again, CHECK_AGAIN));
}

/* An active check while ejected: re-admit on the first pass after the
 * ejection period, else check again (schedule_check). */
static void on_check_answer(void *arg, bool ok)
{
    backend *pb = arg;
    double now = mono_now();
    if (health_probe(&pb->ejection, now, ok)) {
        log_info("backend %s: health check passed, back in the pool", upstream_name(pb->conn));
        sched_lane_set_up(pb->d->queue, pb->lane, !pb->leaving);
        publish_state(pb->d, pb);
        disp_kick(pb->d);
        return;
    }
    if (!health_usable(&pb->ejection))
        schedule_check(pb, now, ok);
}

static void free_backend(backend *pb)
{
    upstream_free(pb->conn);
    if (pb->check)
        event_free(pb->check);
    free(pb);
}

/* Adds a backend to the pool (url already parsed into addr). Returns false
 * when the pool is full or out of memory. */
static bool add_backend(disp *d, const char *url, const addr_url *addr)
{
    if (d->npool >= DISP_MAX_BACKENDS)
        return false;
    backend *pb = calloc(1, sizeof *pb);
    if (!pb)
        return false;
    snprintf(pb->url, sizeof pb->url, "%s", url);
    pb->d = d;
    health_init(&pb->ejection, &d->cfg.health);
    /* A new scheduler has lane 0; the first backend of the pool takes it. */
    pb->lane = d->used0 ? sched_add_lane(d->queue) : 0;
    d->used0 = true;
    if (pb->lane < 0)
        goto fail;
    pb->conn = upstream_new(d->base, d->dns, addr, MAX_BACKEND_ANSWER, PROBE_EVERY);
    pb->check = evtimer_new(d->base, on_check_timer, pb);
    if (!pb->conn || !pb->check)
        goto fail;
    if (!upstream_set_health_path(pb->conn, codec_health_path(d->cfg.codec))) {
        log_error("backend %s: health path '%s' makes too long a URL", url,
                  codec_health_path(d->cfg.codec));
        goto fail;
    }
    pb->mid = metrics_backend_id(d->meter, upstream_hostport(pb->conn));
    sched_lane_set_up(d->queue, pb->lane, true);
    d->pool[d->npool++] = pb;
    publish_state(d, pb);
    disp_kick(d);
    return true;
fail:
    if (pb->lane >= 0 && pb->lane < (int)sched_lanes(d->queue))
        sched_lane_set_up(d->queue, pb->lane, false);
    free_backend(pb);
    return false;
}

/* The backend gets no new batch and is freed once its batch in flight is
 * over. */
static void retire_backend(disp *d, backend *pb)
{
    pb->leaving = true;
    sched_lane_set_up(d->queue, pb->lane, false);
    evtimer_del(pb->check);
    publish_state(d, pb);
    disp_kick(d); /* frees it now if it is idle */
}

/* Takes back retire_backend for a leaving backend listed again before it
 * left: it is in use again, with its learned curve and health as they
 * were. */
static void keep_backend(disp *d, backend *pb)
{
    pb->leaving = false;
    sched_lane_set_up(d->queue, pb->lane, health_usable(&pb->ejection));
    if (!health_usable(&pb->ejection))
        schedule_check(pb, mono_now(), false);
    publish_state(d, pb);
    disp_kick(d);
}

disp_sync disp_sync_pool(disp *d, char *const urls[], const addr_url addrs[], size_t n,
                         bool announce)
{
    disp_sync r = {0};
    bool keep[DISP_MAX_BACKENDS] = {false};
    for (size_t i = 0; i < d->npool; i++) {
        backend *pb = d->pool[i];
        bool listed = false;
        for (size_t k = 0; k < n; k++)
            if (strcmp(urls[k], pb->url) == 0)
                listed = keep[k] = true;
        /* Listed again before its batch in flight ended: the same entry
         * stays (a second one would send that server a second batch). */
        if (listed && pb->leaving) {
            if (announce)
                log_info("reload: backend %s stays in the pool", pb->url);
            keep_backend(d, pb);
            r.joined++;
        } else if (!listed && !pb->leaving) {
            if (announce)
                log_info("reload: backend %s leaves the pool after its batch in flight", pb->url);
            retire_backend(d, pb);
            r.left++;
        }
    }
    for (size_t k = 0; k < n; k++) {
        if (keep[k])
            continue;
        if (add_backend(d, urls[k], &addrs[k])) {
            if (announce)
                log_info("reload: backend %s joins the pool", urls[k]);
            r.joined++;
        } else {
            if (announce)
                log_error("reload: can't add backend %s (pool full or out of memory)", urls[k]);
            r.failed++;
        }
    }
    return r;
}

size_t disp_pool_size(const disp *d)
{
    return d->npool;
}

const char *disp_pool_url(const disp *d, size_t i)
{
    return d->pool[i]->url;
}

/* The latest of `when` over the backends that may be given batches. */
static double latest(const disp *d, double (*when)(const upstream *))
{
    double last = -1;
    for (size_t i = 0; i < d->npool; i++) {
        const backend *pb = d->pool[i];
        if (!usable(pb))
            continue;
        double t = when(pb->conn);
        if (t > last)
            last = t;
    }
    return last;
}

double disp_last_contact(const disp *d)
{
    return latest(d, upstream_last_contact);
}

double disp_last_healthy(const disp *d)
{
    return latest(d, upstream_last_healthy);
}

/* Frees the leaving backends that hold no batch any more. */
static void reap_leaving(disp *d)
{
    size_t kept = 0;
    for (size_t i = 0; i < d->npool; i++) {
        backend *pb = d->pool[i];
        if (pb->leaving && !pb->cur) {
            log_info("backend %s left the pool", upstream_name(pb->conn));
            metrics_backend_state(d->meter, pb->mid, "removed", 0, 0, 0);
            free_backend(pb);
            continue;
        }
        d->pool[kept++] = pb;
    }
    d->npool = kept;
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
static dbatch *pending_take(disp *d, const backend *pb)
{
    for (dbatch **at = &d->pending, *prev = NULL; *at; prev = *at, at = &(*at)->next) {
        dbatch *bt = *at;
        if (!sched_batch_fits(d->queue, pb->lane, bt->sb.longest))
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
    backend *pb = bt->on;
    if (!pb)
        return;
    double now = mono_now();
    sched_done(d->queue, pb->lane, &bt->sb, now, now - bt->attempt_started, ok);
    pb->cur = NULL;
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
        if (!(bt->retry = evtimer_new(d->base, on_retry, bt))) {
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

/* Hands each job's result to its waiters, caches it, and destroys the jobs;
 * the outcome's references to the results are dropped. */
static void resolve(disp *d, job *const *jobs_done, size_t n, result *const *results,
                    double seconds)
{
    double now = mono_now();
    for (size_t i = 0; i < n; i++) {
        job *jb = jobs_done[i];
        cache_put(d->answers, jb->text, jb->bytes, results[i], now);
        metrics_sequence(d->meter, jb->client, jb->sent - jb->enqueued, seconds);
        jobs_resolve(d->work, jb, results[i]);
        result_unref(results[i]);
    }
}

static void fail_all(disp *d, dbatch *bt, int status, const char *detail)
{
    for (size_t i = 0; i < bt->n; i++)
        jobs_fail(d->work, bt->batch[i], status, detail);
    bt->n = 0;
}

/* A batch of several that the backend refused as a whole (a 4xx): each
 * member goes again alone (outcome.h says why), on the pending list, as a
 * batch of its own with a fresh count of attempts. */
static void split(disp *d, dbatch *bt)
{
    release(d, bt, false);
    for (size_t i = 0; i < bt->n; i++) {
        /* Its entry as the scheduler chose it: sb keeps every member the
         * batch started with (send_attempt drops from batch only). */
        job *jb = bt->batch[i];
        size_t k = 0;
        while (k < bt->sb.n && bt->sb.e[k].owner != jb)
            k++;
        BP_ASSERT(k < bt->sb.n);
        sched_batch one = {.n = 1, .longest = jb->len, .e = {bt->sb.e[k]}};
        dbatch *alone = batch_new(d, &one);
        if (!alone) {
            jobs_fail(d->work, jb, 502, "out of memory sending a refused batch's texts alone");
            continue;
        }
        alone->batch[0] = jb;
        pending_push(d, alone);
    }
    bt->n = 0;
    batch_free(d, bt);
    disp_kick(d);
}

/* Puts the batch on a backend and sends it. */
static void assign(dbatch *bt, backend *pb)
{
    bt->on = pb;
    pb->cur = bt;
    send_attempt(bt);
}

/* pb was ejected by a failed attempt: it leaves the scheduler's backends
 * and is checked again at the end of its period. */
static void eject(disp *d, backend *pb)
{
    double period = pb->ejection.until - mono_now();
    log_warn("backend %s ejected for %.1f s after %d consecutive failures", upstream_name(pb->conn),
             period, pb->ejection.failures);
    sched_lane_set_up(d->queue, pb->lane, false);
    metrics_backend_ejected(d->meter, pb->mid);
    publish_state(d, pb);
    set_timer(pb->check, period);
}

/* The batch's backend answered it: its results go to the waiters. */
static void succeeded(disp *d, dbatch *bt, const outcome *o, double seconds)
{
    backend *pb = bt->on;
    log_fields(LOG_DEBUG,
               LOG_FIELDS(LOG_INT("size", bt->n), LOG_INT("longest", bt->sb.longest),
                          LOG_STR("backend", upstream_hostport(pb->conn)),
                          LOG_INT("attempt", bt->attempt), LOG_INT("status", 200),
                          LOG_REAL("seconds", seconds)),
               "batch size=%zu longest=%zu backend=%s attempt=%d status=200 time=%.4fs", bt->n,
               bt->sb.longest, upstream_hostport(pb->conn), bt->attempt, seconds);
    /* The backend is free now: the next batch leaves before the answers are
     * even built, so the backend never waits on our client work (the round
     * trip is what bounds throughput). */
    job *finished[SCHED_MAX_BATCH];
    size_t n = bt->n;
    memcpy(finished, bt->batch, n * sizeof *finished);
    release(d, bt, true);
    batch_free(d, bt);
    dispatch(d);
    resolve(d, finished, n, o->results, seconds);
}

/* A failed attempt: the batch fails or moves as decided (outcome.h). */
static void failed(disp *d, dbatch *bt, const outcome *o, int status, double seconds)
{
    backend *pb = bt->on;
    log_fields(LOG_WARN,
               LOG_FIELDS(LOG_INT("size", bt->n), LOG_INT("longest", bt->sb.longest),
                          LOG_STR("backend", upstream_hostport(pb->conn)),
                          LOG_INT("attempt", bt->attempt), LOG_INT("status", status),
                          LOG_STR("outcome", metrics_attempt_name(o->kind)),
                          LOG_REAL("seconds", seconds), LOG_STR("error", o->why)),
               "batch size=%zu longest=%zu attempt=%d failed after %.4fs: %s", bt->n,
               bt->sb.longest, bt->attempt, seconds, o->why);
    if (o->ejected)
        eject(d, pb);
    switch (o->action) {
    case OUTCOME_FAIL:
        fail_all(d, bt, o->status, o->detail);
        batch_over(d, bt, false);
        return;
    case OUTCOME_RETRY_OTHER:
        metrics_retry(d->meter);
        release(d, bt, false);
        assign(bt, fastest_free(d, pb));
        disp_kick(d);
        return;
    case OUTCOME_RETRY_PENDING:
        metrics_retry(d->meter);
        release(d, bt, false);
        pending_push(d, bt);
        disp_kick(d);
        return;
    case OUTCOME_RETRY_LATER:
        metrics_retry(d->meter);
        set_timer(bt->retry, o->delay);
        return;
    case OUTCOME_SPLIT:
        metrics_retry(d->meter);
        split(d, bt);
        return;
    case OUTCOME_RESOLVE:
        break;
    }
}

static void on_backend(void *arg, int status, const char *body, size_t len, const char *error)
{
    dbatch *bt = arg;
    disp *d = bt->d;
    backend *pb = bt->on;
    double now = mono_now(), seconds = now - bt->attempt_started;
    outcome_in in = {.codec = d->cfg.codec,
                     .status = status,
                     .body = body,
                     .len = len,
                     .error = error,
                     .n = bt->n,
                     .attempt = bt->attempt,
                     .retries = d->cfg.retries,
                     .name = upstream_name(pb->conn),
                     .hostport = upstream_hostport(pb->conn),
                     .ejection = pb->ejection,
                     .leaving = pb->leaving,
                     .others_usable = others_usable(d, pb),
                     .other_free = fastest_free(d, pb) != NULL,
                     .now = now,
                     .backoff_base = d->cfg.backoff_base,
                     .backoff_cap = d->cfg.backoff_cap,
                     .jitter = uniform01(d)};
    outcome o;
    outcome_decide(&in, &o);
    pb->ejection = o.ejection;
    metrics_attempt(d->meter, o.kind, bt->n, bt->sb.longest, seconds);
    metrics_backend_attempt(d->meter, pb->mid, o.kind == ATTEMPT_OK, seconds);
    if (o.action == OUTCOME_RESOLVE)
        succeeded(d, bt, &o, seconds);
    else
        failed(d, bt, &o, status, seconds);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    dbatch *bt = arg;
    disp *d = bt->d;
    backend *pb = bt->on;
    if (!pb || !usable(pb)) {
        release(d, bt, false);
        pending_push(d, bt);
        disp_kick(d);
        return;
    }
    send_attempt(bt);
}

/* A batch that its backend can't take within the cost bound (a retry moved
 * it to a slower backend than the one it was made for): it waits on the
 * pending list for a usable backend where it fits, or fails if there is
 * none. It is never sent where it would outlast its attempt. */
static void move_elsewhere(disp *d, dbatch *bt)
{
    bool somewhere = false;
    for (size_t i = 0; i < d->npool; i++)
        somewhere |=
            usable(d->pool[i]) && sched_batch_fits(d->queue, d->pool[i]->lane, bt->sb.longest);
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
             d->cfg.max_batch_cost);
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
    double now = mono_now();
    size_t kept = 0;
    for (size_t i = 0; i < bt->n; i++) {
        job *jb = bt->batch[i];
        if (jobs_deadline(jb) <= now) {
            /* Its waiters' deadline timers answer them; the job is ours to drop. */
            jobs_drop(d->work, jb);
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
    if (!sched_batch_fits(d->queue, bt->on->lane, bt->sb.longest)) {
        move_elsewhere(d, bt);
        return;
    }
    size_t len;
    char *body = codec_request(d->cfg.codec, texts, bt->n, &len);
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
    upstream_request(bt->on->conn, "POST", codec_batch_path(d->cfg.codec), body, len,
                     d->cfg.backend_timeout, on_backend, bt);
    free(body);
}

/* A new batch from the scheduler's choice for pb. */
static void start_batch(disp *d, backend *pb, const sched_batch *sb, double now)
{
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
        sched_done(d->queue, pb->lane, sb, t, 0, false);
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

static int by_speed_cmp(const disp *d, const backend *a, const backend *b)
{
    double ca = cost_predict(sched_costs(d->queue, a->lane), 22);
    double cb = cost_predict(sched_costs(d->queue, b->lane), 22);
    return (ca > cb) - (ca < cb);
}

/* Gives every free backend its next batch (or pending retry), and sets
 * the wake-up timer the policy asked for. */
static void dispatch(disp *d)
{
    reap_leaving(d);
    double now = mono_now(), wake_at = INFINITY;
    evtimer_del(d->wake);
    /* The free backends, fastest first (by their own curves): the cost
     * policy may keep long work off a slow one for a faster one. */
    backend *fr[DISP_MAX_BACKENDS];
    size_t nf = 0;
    for (size_t i = 0; i < d->npool; i++) {
        if (!is_free(d->pool[i]))
            continue;
        size_t j = nf++;
        for (; j > 0 && by_speed_cmp(d, d->pool[i], fr[j - 1]) < 0; j--)
            fr[j] = fr[j - 1];
        fr[j] = d->pool[i];
    }
    for (size_t k = 0; k < nf; k++) {
        backend *pb = fr[k];
        dbatch *bt = pending_take(d, pb);
        if (bt) {
            assign(bt, pb);
            continue;
        }
        if (sched_queued(d->queue) == 0)
            break;
        sched_batch sb;
        double wake = 0;
        switch (sched_next(d->queue, pb->lane, now, &sb, &wake)) {
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
    BP_INVARIANTS(disp_check(d));
}

/* --- invariants (disp.h) --- */

/* A batch's own invariants, wherever it is; NULL when they hold. */
static const char *check_batch(const disp *d, const dbatch *bt)
{
    if (bt->d != d)
        return "a batch belongs to another dispatcher";
    if (bt->n > SCHED_MAX_BATCH)
        return "a batch holds more than SCHED_MAX_BATCH jobs";
    for (size_t i = 0; i < bt->n; i++) {
        const job *jb = bt->batch[i];
        if (jb->state != JOB_INFLIGHT || jb->item)
            return "a batch's job is not JOB_INFLIGHT, or still has a scheduler item";
        if (jobs_find(d->work, jb->text, jb->bytes) != jb)
            return "a batch's job is not in the jobs table";
        for (size_t k = 0; k < i; k++)
            if (bt->batch[k] == jb)
                return "a job is twice in one batch";
    }
    return NULL;
}

/* Whether bt is held by a backend of the pool other than pb. */
static bool held_elsewhere(const disp *d, const dbatch *bt, const backend *pb)
{
    for (size_t i = 0; i < d->npool; i++)
        if (d->pool[i] != pb && d->pool[i]->cur == bt)
            return true;
    return false;
}

/* The pool's invariants; NULL when they hold. */
static const char *check_pool(const disp *d)
{
    if (d->npool > DISP_MAX_BACKENDS)
        return "the pool holds more than DISP_MAX_BACKENDS backends";
    for (size_t i = 0; i < d->npool; i++) {
        const backend *pb = d->pool[i];
        if (pb->d != d)
            return "a backend of the pool belongs to another dispatcher";
        for (size_t k = 0; k < i; k++)
            if (d->pool[k] == pb || d->pool[k]->lane == pb->lane ||
                strcmp(d->pool[k]->url, pb->url) == 0)
                return "two entries of the pool are one backend (same URL or lane)";
        if (usable(pb) && evtimer_pending(pb->check, NULL))
            return "a usable backend has a health check timer running";
        if (!pb->cur)
            continue;
        if (pb->cur->on != pb)
            return "a backend's batch names another backend as its holder";
        if (held_elsewhere(d, pb->cur, pb))
            return "a batch is held by two backends";
        if (pb->cur == d->spare)
            return "a backend holds the spare batch";
        const char *why = check_batch(d, pb->cur);
        if (why)
            return why;
    }
    return NULL;
}

const char *disp_check(const disp *d)
{
    const char *why = check_pool(d);
    if (why)
        return why;
    size_t n = 0;
    const dbatch *last = NULL;
    for (const dbatch *bt = d->pending; bt; last = bt, bt = bt->next) {
        if (++n > 1000000)
            return "the pending list has a cycle";
        if (bt->on || held_elsewhere(d, bt, NULL))
            return "a pending batch is held by a backend";
        if (bt == d->spare)
            return "the spare batch is on the pending list";
        if (evtimer_pending(bt->retry, NULL))
            return "a pending batch has its retry timer running";
        if ((why = check_batch(d, bt)))
            return why;
    }
    if (d->pending_tail != last)
        return "the pending list's tail is not its last batch";
    if (d->spare && (d->spare->next || evtimer_pending(d->spare->retry, NULL)))
        return "the spare batch is on a list or has its retry timer running";
    return NULL;
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    dispatch(arg);
}

void disp_set_retries(disp *d, int retries, double backoff_base, double backoff_cap)
{
    d->cfg.retries = retries;
    d->cfg.backoff_base = backoff_base;
    d->cfg.backoff_cap = backoff_cap;
}

void disp_kick(disp *d)
{
    event_active(d->kick, EV_TIMEOUT, 0);
}

disp *disp_new(struct event_base *base, const disp_config *cfg, sched *s, jobs *j, cache *c,
               metrics *m)
{
    disp *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cfg = *cfg;
    d->base = base;
    d->queue = s;
    d->work = j;
    d->answers = c;
    d->meter = m;
    d->rng = (uint64_t)(mono_wall() * 1e6) | 1;
    d->kick = event_new(d->base, -1, 0, on_kick, d);
    d->wake = evtimer_new(d->base, on_kick, d);
    if (!d->kick || !d->wake) {
        disp_free(d);
        return NULL;
    }
    /* Configured from /etc/resolv.conf and /etc/hosts; it doesn't keep the
     * loop running while idle (so a drain ends). Numeric addresses never
     * reach it. */
    d->dns = evdns_base_new(d->base,
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
    for (size_t i = 0; i < d->npool; i++) {
        backend *pb = d->pool[i];
        if (pb->cur)
            batch_destroy(pb->cur);
        free_backend(pb);
    }
    d->npool = 0;
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
