/* offline: simulated annealing over schedules with foresight (see offline.h). */
#include "offline.h"

#include "scheduler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A schedule: nb batches in list order; batch b holds size[b] request
 * indexes at member[b * max_batch ...]. Invariant (between moves): every
 * request is in exactly one batch, and no batch is empty, so nb <= n; a
 * move may hold n + 1 batches for a moment, which the arrays allow. */
typedef struct plan {
    size_t nb;
    size_t *size;
    size_t *member;
} plan;

typedef struct search {
    const wl_trace *t;
    const offline_config *cfg;
    double *free_at; /* per backend, scratch for eval */
    wl_rng rng;
} search;

static size_t below(search *s, size_t n)
{
    return (size_t)wl_rng_below(&s->rng, n);
}

static bool plan_alloc(plan *p, size_t n, size_t max_batch)
{
    p->nb = 0;
    p->size = malloc((n + 1) * sizeof *p->size);
    p->member = malloc((n + 1) * max_batch * sizeof *p->member);
    return p->size && p->member;
}

static void plan_free(plan *p)
{
    free(p->size);
    free(p->member);
}

static void plan_copy(plan *dst, const plan *src, size_t max_batch)
{
    dst->nb = src->nb;
    memcpy(dst->size, src->size, src->nb * sizeof *src->size);
    memcpy(dst->member, src->member, src->nb * max_batch * sizeof *src->member);
}

/* Mean latency of the plan played out by list scheduling; with `out`
 * (the trace's requests), also each request's outcome. */
static double eval(search *s, const plan *p, wl_request *out)
{
    const offline_config *cfg = s->cfg;
    const wl_request *r = s->t->reqs;
    for (size_t k = 0; k < cfg->backends; k++)
        s->free_at[k] = 0;
    double total = 0;
    for (size_t b = 0; b < p->nb; b++) {
        const size_t *m = &p->member[b * cfg->max_batch];
        double ready = 0, longest = 0;
        for (size_t i = 0; i < p->size[b]; i++) {
            ready = fmax(ready, r[m[i]].t);
            longest = fmax(longest, (double)r[m[i]].len);
        }
        size_t best = 0;
        double done = INFINITY;
        for (size_t k = 0; k < cfg->backends; k++) {
            double end = fmax(s->free_at[k], ready) + cfg->a + cfg->b[k] * longest +
                         cfg->c[k] * longest * longest;
            if (end < done) {
                done = end;
                best = k;
            }
        }
        s->free_at[best] = done;
        for (size_t i = 0; i < p->size[b]; i++) {
            total += done - r[m[i]].t;
            if (out) {
                out[m[i]].status = 200;
                out[m[i]].sent = r[m[i]].t;
                out[m[i]].latency = done - r[m[i]].t;
            }
        }
    }
    return total / (double)s->t->n;
}

/* Moves batch `from` to list position `to`, shifting those between. */
static void move_batch(plan *p, size_t from, size_t to, size_t max_batch)
{
    size_t size = p->size[from], keep[SCHED_MAX_BATCH];
    memcpy(keep, &p->member[from * max_batch], size * sizeof *keep);
    if (from < to) {
        memmove(&p->size[from], &p->size[from + 1], (to - from) * sizeof *p->size);
        memmove(&p->member[from * max_batch], &p->member[(from + 1) * max_batch],
                (to - from) * max_batch * sizeof *p->member);
    } else if (from > to) {
        memmove(&p->size[to + 1], &p->size[to], (from - to) * sizeof *p->size);
        memmove(&p->member[(to + 1) * max_batch], &p->member[to * max_batch],
                (from - to) * max_batch * sizeof *p->member);
    }
    p->size[to] = size;
    memcpy(&p->member[to * max_batch], keep, size * sizeof *keep);
}

/* One random change: a request to another batch or to a new one (empty
 * batches are removed, keeping the invariant), or a batch elsewhere in the
 * list. */
static void mutate(search *s, plan *p)
{
    size_t mb = s->cfg->max_batch;
    if (below(s, 3) == 0 || p->nb == 1) {
        size_t b = below(s, p->nb), k = below(s, p->size[b]);
        size_t *m = &p->member[b * mb];
        size_t req = m[k];
        m[k] = m[--p->size[b]];
        size_t to = below(s, p->nb + 1);
        if (to < p->nb && to != b && p->size[to] < mb) {
            p->member[to * mb + p->size[to]++] = req;
        } else { /* a batch of its own, at the end, then moved */
            p->size[p->nb] = 1;
            p->member[p->nb * mb] = req;
            p->nb++;
            move_batch(p, p->nb - 1, below(s, p->nb), mb);
        }
        for (size_t e = 0; e < p->nb; e++)
            if (p->size[e] == 0) {
                move_batch(p, e, p->nb - 1, mb);
                p->nb--;
                break;
            }
    } else {
        move_batch(p, below(s, p->nb), below(s, p->nb), mb);
    }
}

double offline_search(wl_trace *trace, const offline_config *cfg)
{
    size_t n = trace->n;
    if (n == 0)
        return 0;
    search s = {.t = trace, .cfg = cfg};
    wl_rng_seed(&s.rng, cfg->seed);
    s.free_at = malloc(cfg->backends * sizeof *s.free_at);
    plan cur = {0}, next = {0}, kept = {0}; /* kept: the best so far */
    bool ok = s.free_at && plan_alloc(&cur, n, cfg->max_batch) &&
              plan_alloc(&next, n, cfg->max_batch) && plan_alloc(&kept, n, cfg->max_batch);
    double best = -1;
    if (ok) {
        /* Start: every request alone, in arrival order. */
        for (size_t i = 0; i < n; i++) {
            cur.size[i] = 1;
            cur.member[i * cfg->max_batch] = i;
        }
        cur.nb = n;
        double f = eval(&s, &cur, NULL);
        best = f;
        plan_copy(&kept, &cur, cfg->max_batch);
        /* The temperature falls linearly from a tenth of the starting mean:
         * early on, schedules a few percent worse are often kept. */
        double t0 = 0.1 * f;
        for (size_t it = 0; it < cfg->iters; it++) {
            double temp = t0 * (1 - (double)it / (double)cfg->iters) + 1e-9;
            plan_copy(&next, &cur, cfg->max_batch);
            mutate(&s, &next);
            double g = eval(&s, &next, NULL);
            if (g <= f || wl_rng_unit(&s.rng) < exp((f - g) / temp)) {
                plan tmp = cur;
                cur = next;
                next = tmp;
                f = g;
                if (f < best) {
                    best = f;
                    plan_copy(&kept, &cur, cfg->max_batch);
                }
            }
        }
        best = eval(&s, &kept, trace->reqs);
    }
    free(s.free_at);
    plan_free(&cur);
    plan_free(&next);
    plan_free(&kept);
    return best;
}
