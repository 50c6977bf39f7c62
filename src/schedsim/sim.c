/* sim: the scheduler in virtual time against a backend model (see sim.h). */
#include "sim.h"

#include "htab.h"
#include "tbucket.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One distinct text: queued, in flight or done (cached). The requests
 * waiting for it are chained through next_waiter. */
typedef struct sim_text {
    htab_node node;
    enum { TEXT_QUEUED, TEXT_INFLIGHT, TEXT_DONE } state;
    sched_item *item;
    long first_waiter; /* request index, -1 for none */
} sim_text;

#define SIM_MAX_BACKENDS 64

/* The pool of backends, each running one batch at a time. */
typedef struct sim_backends {
    size_t n;
    int id[SIM_MAX_BACKENDS];            /* in the scheduler */
    size_t order[SIM_MAX_BACKENDS];      /* fastest first */
    double busy_until[SIM_MAX_BACKENDS]; /* its batch in flight completes then (-1: idle) */
    sched_batch *inflight;               /* per backend, its batch in flight */
} sim_backends;

typedef struct sim_state {
    const sim_config *cfg;
    wl_trace *trace;
    sched *s;
    htab texts;
    sim_text *pool; /* one per request at most */
    size_t npool;
    long *next_waiter; /* per request */
    size_t *waiting;   /* per text: live waiters, indexed like pool */
    /* Per workload client (trace client index): batchproxy's view of it. */
    size_t nclients;
    cfile_client *settings;
    tb *buckets;
    int *sched_id; /* the client id the scheduler sees (0: anonymous) */
    bool *pooled;  /* named but not in the clients file: in batchproxy's unlisted pool */
    tb pool_bucket;
    sim_backends be;
} sim_state;

static double backend_b(const sim_config *cfg, size_t backend)
{
    return cfg->backend_b ? cfg->backend_b[backend] : cfg->b;
}

static double backend_c(const sim_config *cfg, size_t backend)
{
    return cfg->backend_c ? cfg->backend_c[backend] : cfg->c;
}

static double batch_cost(const sim_config *cfg, size_t backend, size_t longest)
{
    double len = (double)longest;
    return cfg->a + backend_b(cfg, backend) * len + backend_c(cfg, backend) * len * len;
}

/* Backend indexes, fastest first (by a 22-character batch's cost), so a
 * free fast backend is asked before a free slow one, as batchproxy does. */
static void fastest_first(const sim_config *cfg, size_t n, size_t *order)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i;
             j > 0 && batch_cost(cfg, order[j], 22) < batch_cost(cfg, order[j - 1], 22); j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

static void answer(sim_state *st, long i, int status, double now)
{
    wl_request *r = &st->trace->reqs[i];
    r->status = status;
    r->latency = now - r->sent;
}

/* A request's own deadline, after its client's timeout. */
static double timeout_of(const sim_state *st, long i)
{
    return st->settings[st->trace->reqs[i].client].timeout;
}

/* Answers every request waiting on text x with status at now; one whose
 * own deadline passed meanwhile got its 504 then (batchproxy's timer). */
static void answer_waiters(sim_state *st, sim_text *x, int status, double now)
{
    for (long i = x->first_waiter; i >= 0; i = st->next_waiter[i]) {
        wl_request *r = &st->trace->reqs[i];
        if (r->status != WL_STATUS_NONE)
            continue;
        if (now - r->sent > timeout_of(st, i)) {
            r->status = 504;
            r->latency = timeout_of(st, i);
        } else {
            answer(st, i, status, now);
        }
    }
    x->first_waiter = -1;
}

/* The scheduler dropped an expired text: its waiters get 504 at their own
 * deadlines (the model's deadline timer). */
static void on_expired(void *owner, void *arg)
{
    sim_state *st = arg;
    sim_text *x = owner;
    for (long i = x->first_waiter; i >= 0; i = st->next_waiter[i]) {
        wl_request *r = &st->trace->reqs[i];
        if (r->status == WL_STATUS_NONE) {
            r->status = 504;
            r->latency = timeout_of(st, i);
        }
    }
    x->first_waiter = -1;
    x->state = TEXT_DONE; /* never cached: mark as absent */
    htab_remove(&st->texts, &x->node);
}

/* A request arrives at its planned time. */
static bool arrive(sim_state *st, long i)
{
    wl_request *r = &st->trace->reqs[i];
    double now = r->t;
    r->sent = now;
    r->status = WL_STATUS_NONE;
    const cfile_client *set = &st->settings[r->client];
    double timeout = set->timeout, wait;
    const tb *refused;
    if (!tb_take_both(&st->buckets[r->client], st->pooled[r->client] ? &st->pool_bucket : NULL, now,
                      &wait, &refused)) {
        answer(st, i, 429, now);
        return true;
    }
    size_t bytes = strlen(r->text);
    uint64_t h = htab_hash(&st->texts, r->text, bytes);
    sim_text *x = (sim_text *)htab_find(&st->texts, r->text, bytes, h);
    if (x && x->state == TEXT_DONE && st->cfg->cache) {
        answer(st, i, 200, now);
        return true;
    }
    if (x && x->state != TEXT_DONE) {
        st->next_waiter[i] = x->first_waiter; /* join it */
        x->first_waiter = i;
        if (x->state == TEXT_QUEUED)
            sched_extend_deadline(st->s, x->item, now + timeout);
        return true;
    }
    int client = st->sched_id[r->client];
    double retry_after;
    switch (sched_admit(st->s, client, 1, r->len, set->max_queued, timeout, &retry_after)) {
    case SCHED_ADMIT:
        break;
    case SCHED_TOO_COSTLY:
        answer(st, i, 413, now);
        return true;
    case SCHED_CLIENT_FULL:
    case SCHED_GROUP_FULL:
        answer(st, i, 429, now);
        return true;
    case SCHED_QUEUE_FULL:
    case SCHED_TOO_LATE:
        answer(st, i, 503, now);
        return true;
    }
    if (x) /* done but no cache: forget it and queue anew */
        htab_remove(&st->texts, &x->node);
    x = &st->pool[st->npool++];
    memset(x, 0, sizeof *x);
    x->node.key = r->text;
    x->node.klen = bytes;
    x->node.hash = h;
    x->first_waiter = i;
    st->next_waiter[i] = -1;
    x->item = sched_enqueue(st->s, x, r->len, client, now, now + timeout);
    if (!x->item) { /* queue full: refused at once, like batchproxy's 503 */
        answer(st, i, 503, now);
        st->npool--;
        return true;
    }
    x->state = TEXT_QUEUED;
    htab_insert(&st->texts, &x->node);
    return true;
}

/* Gives each workload client batchproxy's view of it: anonymous (id=no)
 * or named (the scheduler sees index + 1), its settings from the clients
 * file or the defaults, its weight, and a full token bucket. With a clients
 * file, the named clients not in it share the unlisted pool, as in
 * batchproxy (clients.h): the scheduler's group nclients + 1, with the
 * file's [_unlisted] weight, queue limit and rate. */
static bool setup_clients(sim_state *st, const wl_client *clients, char *err, size_t errlen)
{
    size_t n = st->nclients ? st->nclients : 1;
    st->settings = calloc(n, sizeof *st->settings);
    st->buckets = calloc(n, sizeof *st->buckets);
    st->sched_id = calloc(n, sizeof *st->sched_id);
    st->pooled = calloc(n, sizeof *st->pooled);
    if (!st->settings || !st->buckets || !st->sched_id || !st->pooled) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    cfile_client defaults = st->cfg->client_defaults;
    if (!(defaults.weight > 0)) /* not set: unlimited, as without admission */
        defaults = (cfile_client){.weight = 1, .burst = 1, .max_queued = SIZE_MAX};
    defaults.timeout = st->cfg->timeout;
    const cfile *file = st->cfg->clients;
    int pool = (int)st->nclients + 1;
    if (file) {
        tb_init(&st->pool_bucket, file->unlisted.rate, file->unlisted.burst, 0);
        sched_set_weight(st->s, pool, file->unlisted.weight);
        sched_set_group_limit(st->s, pool, file->unlisted.max_queued);
    }
    for (size_t c = 0; c < st->nclients; c++) {
        bool named = clients && clients[c].send_id;
        const cfile_client *listed = named && file ? cfile_find(file, clients[c].name) : NULL;
        st->settings[c] = listed ? *listed : defaults;
        st->sched_id[c] = named ? (int)c + 1 : 0;
        st->pooled[c] = named && file && !listed;
        if (st->pooled[c]) {
            st->settings[c].timeout = file->unlisted.timeout;
            sched_set_group(st->s, st->sched_id[c], pool);
        }
        tb_init(&st->buckets[c], st->settings[c].rate, st->settings[c].burst, 0);
        if (named)
            sched_set_weight(st->s, st->sched_id[c], st->settings[c].weight);
    }
    return true;
}

/* Adds the pool's backends to the scheduler, each idle. */
static bool setup_backends(sim_state *st, char *err, size_t errlen)
{
    const sim_config *cfg = st->cfg;
    sim_backends *be = &st->be;
    be->n = cfg->backends ? cfg->backends : 1;
    if (be->n > SIM_MAX_BACKENDS) {
        snprintf(err, errlen, "at most %d backends", SIM_MAX_BACKENDS);
        return false;
    }
    be->id[0] = 0; /* a new scheduler has one backend */
    for (size_t k = 1; k < be->n; k++)
        if ((be->id[k] = sched_add_backend(st->s)) < 0) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
    /* Each backend's curve starts from its true one, as the pooled prior
     * does for a pool of equals (see main.c): a run of one seed is too
     * short to be judged on learning a backend's speed from a wrong prior. */
    if (cfg->backend_b || cfg->backend_c)
        for (size_t k = 0; k < be->n; k++)
            sched_backend_prior(st->s, be->id[k], cfg->a, backend_b(cfg, k), backend_c(cfg, k));
    fastest_first(cfg, be->n, be->order);
    be->inflight = calloc(be->n, sizeof *be->inflight);
    if (!be->inflight) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    for (size_t k = 0; k < be->n; k++)
        be->busy_until[k] = -1;
    return true;
}

/* Builds the scheduler, the clients and the backends for a run. */
static bool setup(sim_state *st, const wl_client *clients, char *err, size_t errlen)
{
    wl_trace *trace = st->trace;
    st->s = sched_new(&st->cfg->sched, err, errlen);
    st->pool = malloc((trace->n ? trace->n : 1) * sizeof *st->pool);
    st->next_waiter = malloc((trace->n ? trace->n : 1) * sizeof *st->next_waiter);
    if (!st->s || !st->pool || !st->next_waiter || !htab_init(&st->texts, trace->n)) {
        if (st->s)
            snprintf(err, errlen, "out of memory");
        return false;
    }
    for (size_t i = 0; i < trace->n; i++) {
        trace->reqs[i].status = WL_STATUS_NONE;
        if (trace->reqs[i].client + 1 > st->nclients)
            st->nclients = trace->reqs[i].client + 1;
    }
    return setup_clients(st, clients, err, errlen) && setup_backends(st, err, errlen);
}

static void free_state(sim_state *st)
{
    free(st->settings);
    free(st->buckets);
    free(st->sched_id);
    free(st->pooled);
    free(st->be.inflight);
    sched_free(st->s);
    htab_fini(&st->texts);
    free(st->pool);
    free(st->next_waiter);
}

/* The time of the next event: the arrival of trace request `next`, a
 * batch's completion, or the policy's chosen wake-up. */
static double next_event(const sim_state *st, size_t next, double wake)
{
    double t_arr = next < st->trace->n ? st->trace->reqs[next].t : INFINITY;
    double t_done = INFINITY;
    for (size_t k = 0; k < st->be.n; k++)
        if (st->be.busy_until[k] >= 0)
            t_done = fmin(t_done, st->be.busy_until[k]);
    return fmin(t_arr, fmin(t_done, wake));
}

/* Answers the members of every batch done by now; its backend is idle. */
static void complete_batches(sim_state *st, double now)
{
    sim_backends *be = &st->be;
    for (size_t b = 0; b < be->n; b++) {
        if (be->busy_until[b] < 0 || be->busy_until[b] > now)
            continue;
        sched_batch *inflight = &be->inflight[b];
        double took = batch_cost(st->cfg, b, inflight->longest);
        for (size_t k = 0; k < inflight->n; k++) {
            sim_text *x = inflight->e[k].owner;
            answer_waiters(st, x, 200, now);
            x->state = TEXT_DONE;
            if (!st->cfg->cache)
                htab_remove(&st->texts, &x->node);
        }
        sched_done(st->s, be->id[b], inflight, now, took, true);
        be->busy_until[b] = -1;
    }
}

/* Asks the scheduler for a batch for each idle backend, fastest first.
 * Returns whether any backend is busy; *wake is the earliest time a policy
 * chose to wait for (INFINITY: none). */
static bool dispatch(sim_state *st, double now, double *wake)
{
    sim_backends *be = &st->be;
    bool any_busy = false;
    *wake = INFINITY;
    for (size_t o = 0; o < be->n; o++) {
        size_t b = be->order[o];
        if (be->busy_until[b] >= 0)
            continue;
        double w = INFINITY;
        sched_batch *inflight = &be->inflight[b];
        switch (sched_next(st->s, be->id[b], now, inflight, &w)) {
        case SCHED_SEND:
            for (size_t k = 0; k < inflight->n; k++)
                ((sim_text *)inflight->e[k].owner)->state = TEXT_INFLIGHT;
            be->busy_until[b] = now + batch_cost(st->cfg, b, inflight->longest);
            any_busy = true;
            break;
        case SCHED_WAIT:
            *wake = fmin(*wake, w > now ? w : now + 1e-9);
            break;
        case SCHED_IDLE:
            break;
        }
    }
    for (size_t b = 0; b < be->n; b++)
        any_busy |= be->busy_until[b] >= 0;
    return any_busy;
}

bool sim_run(const sim_config *cfg, wl_trace *trace, const wl_client *clients, char *err,
             size_t errlen)
{
    sim_state st = {.cfg = cfg, .trace = trace};
    bool ok = setup(&st, clients, err, errlen);
    size_t next = 0;        /* next arrival */
    double now = 0;         /* virtual time */
    double wake = INFINITY; /* the policy's chosen wait */
    while (ok) {
        /* The next event: an arrival, a batch's completion, or a wake-up. */
        double t = next_event(&st, next, wake);
        if (t == INFINITY)
            break;
        now = t > now ? t : now;
        complete_batches(&st, now);
        while (ok && next < trace->n && trace->reqs[next].t <= now)
            ok = arrive(&st, (long)next++);
        if (!ok) {
            snprintf(err, errlen, "out of memory");
            break;
        }
        sched_expire(st.s, now, on_expired, &st);
        bool any_busy = dispatch(&st, now, &wake);
        /* Deadlines of queued items pass even when nothing else happens. */
        if (!any_busy && wake == INFINITY && next >= trace->n && sched_queued(st.s) > 0)
            wake = now + cfg->timeout;
    }
    /* Whatever is left unanswered (it can't be: every path answers) is a timeout. */
    for (size_t i = 0; ok && i < trace->n; i++)
        if (trace->reqs[i].status == WL_STATUS_NONE)
            answer(&st, (long)i, WL_STATUS_TIMEOUT, now);
    free_state(&st);
    return ok;
}

/* --- the lower bound --- */

/* Min-heap of remaining work, for the SRPT relaxation below. */
typedef struct heap {
    double *v;
    size_t n;
} heap;

static void heap_push(heap *h, double x)
{
    size_t i = h->n++;
    h->v[i] = x;
    while (i > 0 && h->v[(i - 1) / 2] > h->v[i]) {
        double t = h->v[i];
        h->v[i] = h->v[(i - 1) / 2];
        h->v[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static double heap_pop(heap *h)
{
    double top = h->v[0];
    h->v[0] = h->v[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->v[l] < h->v[m])
            m = l;
        if (r < h->n && h->v[r] < h->v[m])
            m = r;
        if (m == i)
            break;
        double t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
    return top;
}

/* Two bounds hold for every schedule, so their maximum does too:
 *
 * 1. Own cost: a request can't be answered sooner than its own batch takes,
 *    a + b × L + c × L², L its own length.
 *
 * 2. Capacity: a batch that serves a request of length L costs at least
 *    a + b × L + c × L² and serves at most max_batch requests, so charge
 *    each request w = (a + b × L + c × L²) / max_batch of backend time. Any real
 *    schedule gives every request at least its w of time on a single
 *    machine after it arrives, so relaxing to a single machine that may
 *    split work arbitrarily (preemption) and serve it alone can only lower
 *    the sum of completion times; for that relaxation, shortest remaining
 *    work first (SRPT) is optimal (Schrage 1968). Its mean latency is
 *    therefore a lower bound. It ignores that batching ties requests
 *    together, which is why real policies sit above it.
 *
 * Both count distinct texts as if each needed the backend (no cache), so on
 * traces with repeats the bound is not a bound; use distinct texts. */
double sim_lower_bound(const wl_trace *trace, double a, double b, double c, size_t max_batch)
{
    size_t n = trace->n;
    if (n == 0)
        return 0;
    double own = 0;
    for (size_t i = 0; i < n; i++) {
        double len = (double)trace->reqs[i].len;
        own += a + b * len + c * len * len;
    }
    own /= (double)n;

    /* SRPT on works w_i with release times t_i. The heap holds remaining
     * works; completion time minus release is accumulated via the identity
     * sum(C_i - r_i) = integral over time of the number of jobs present. */
    heap h = {malloc(n * sizeof(double)), 0};
    if (!h.v)
        return own;
    double now = trace->reqs[0].t, area = 0;
    size_t i = 0;
    while (i < n || h.n) {
        if (h.n == 0) {
            now = trace->reqs[i].t;
        }
        while (i < n && trace->reqs[i].t <= now) {
            double len = (double)trace->reqs[i].len;
            heap_push(&h, (a + b * len + c * len * len) / (double)max_batch);
            i++;
        }
        double next_arr = i < n ? trace->reqs[i].t : INFINITY;
        double w = heap_pop(&h);
        double dt = fmin(w, next_arr - now);
        area += dt * (double)(h.n + 1);
        now += dt;
        if (w - dt > 1e-15)
            heap_push(&h, w - dt);
    }
    free(h.v);
    double srpt = area / (double)n;
    return srpt > own ? srpt : own;
}
