/* cost: the cost-aware policy, batchproxy's default. It exploits the cost
 * model (a batch costs a + lin × L + b × L² for its longest member L, the
 * others ride free), plans a little ahead instead of taking the next batch greedily,
 * and keeps clients' shares of the backend fair.
 *
 * The decision, each time the backend is free:
 *
 * 1. Fair share (share.h). If the backlogged clients' weighted services have
 *    spread by SLACK_TAUS × τ or more (four times that between the two
 *    anonymous classes), the client furthest behind is the anchor: the
 *    batch carries as many of its items as it can (all, or all but one
 *    slot), and other clients' items only fill what is left; the longest
 *    member may be another client's, so the anchor's short items can ride
 *    free under a long batch. Within the slack, any batch is fair game.
 *    With groups (share.h), the anchor is the member of the group behind
 *    that is furthest behind inside it.
 *
 * 2. Weights. Every live item i gets w_i = 1 + (wait_i / τ)^3, where τ is the
 *    predicted cost of a batch whose longest member has AGING_REF_LEN code
 *    points (1 s with the original server's cost). A fresh item weighs 1; an
 *    item that has waited a few τ weighs far more, so the tail is pulled in
 *    without disturbing the order of the many items that waited little.
 *
 * 3. Candidates. Sort the items by length. For each item j, the candidate
 *    batch is j with the max_batch - 1 longest items no longer than j: they
 *    ride free, and similar lengths travel together.
 *
 * 4. Score. Sending candidate B first costs C(B) × (W + Φ): every weighted
 *    item waits C(B), W being their total weight and Φ = PHANTOM_WEIGHT the
 *    weight of the items that will arrive meanwhile and queue behind. The
 *    rest is then costed as if it were served shortest first in contiguous
 *    groups of at most max_batch, the grouping chosen by dynamic programming
 *    to minimise the same weighted sum (a group's cost is paid by every
 *    item after it, plus Φ). The candidate with the lowest total goes.
 *    Without Φ this is Smith's rule (weight over cost) with a look-ahead
 *    that sees which items would be left stranded in expensive batches; Φ
 *    makes wasted backend time count, which matters near capacity.
 *
 * 5. No starvation. An item that has waited STARVE_TAUS × τ goes next
 *    whatever the scores say, with the longest items that fit under it (the
 *    oldest of the anchor's items, when there is an anchor). Bound, for the
 *    items of a client that gets its turn: STARVE_TAUS × τ after it was
 *    queued, plus the batch in flight, plus one batch for each older item of
 *    the same client that is starving too.
 *
 * 6. Several backends. Batch costs (steps 4 and 5's sizes) are predicted
 *    with the curve of the backend being filled; τ uses the pooled curve,
 *    so aging and the starvation bound don't depend on which backend asks.
 *    A candidate is kept off this backend when another backend, busy now,
 *    is predicted to free up and finish it in under DEFER_RATIO of the time
 *    it would take here (a long batch on a slow backend while a fast one is
 *    about to free up); the best remaining candidate goes instead, and if
 *    none remains this backend waits until that backend's predicted end.
 *    Bounded: only for candidates whose oldest item, by then, will have
 *    waited less than DEFER_MAX_TAUS × τ (so the starvation rule above is
 *    never delayed by it), only until a predicted end still in the future
 *    (an overdue backend makes no one wait), and never for a starving item.
 *    With identical backends it never fires (waiting can't be faster).
 *
 * 7. Cost bound. Only items whose own batch cost on the backend being
 *    filled is within max_batch_cost are considered (sched_item_fits), and
 *    a candidate is kept for another backend only if it fits there too;
 *    steps 4-6 see the queue without the others. Every batch then fits, as
 *    a batch costs what its longest member costs.
 *
 * The planning looks at no more than MAX_PLAN items: the oldest of each
 * backlogged client, the anchor's oldest, the oldest overall and the
 * shortest, which is where every decision is made (old items carry weight,
 * short ones are cheap); the cost is O(MAX_PLAN² × max_batch) per batch. The
 * constants were chosen with schedsim on the workloads in bench/workloads
 * and the seed profile (see the README). */
#include "sched_impl.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define AGING_REF_LEN 22
#define AGING_POWER 3
#define PHANTOM_WEIGHT 0.75
#define STARVE_TAUS 8.0
#define MAX_PLAN 32
#define SLACK_TAUS 0.5
#define DEFER_RATIO 0.5
#define DEFER_MAX_TAUS (STARVE_TAUS / 2)

typedef struct cost_state {
    unsigned stamp; /* marks the items picked for this round's plan */
    size_t n;
    sched_item *v[MAX_PLAN]; /* the plan's items, by length, then age */
    double w[MAX_PLAN];      /* their weights */
    double c[MAX_PLAN];      /* the cost of a batch whose longest member is v[i] */
    /* DP scratch: kept[] indexes v; suffix[k] = Φ + weight of kept[k..];
     * best[k] = cost of serving kept[k..]. all_suffix and all_best are the
     * same over the whole plan (every item kept), computed once a pick. */
    size_t kept[MAX_PLAN];
    double suffix[MAX_PLAN + 1], best[MAX_PLAN + 1];
    double all_suffix[MAX_PLAN + 1], all_best[MAX_PLAN + 1];
} cost_state;

static int cost_policy_init(sched *s)
{
    s->pstate = calloc(1, sizeof(cost_state));
    s->share.slack = SLACK_TAUS * cost_predict(&s->cost, AGING_REF_LEN);
    return s->pstate ? 0 : -1;
}

static void cost_policy_fini(sched *s)
{
    free(s->pstate);
}

static void cost_policy_add(sched *s, sched_item *it)
{
    it->pclass = 0;
}

static void cost_policy_remove(sched *s, sched_item *it) {}

static double tau(const sched *s)
{
    return cost_predict(&s->cost, AGING_REF_LEN);
}

/* Predicted on the backend being filled. */
static double batch_cost(const sched *s, const sched_item *longest)
{
    return cost_predict(&s->bk[s->filling].cost, longest->e.len);
}

/* When a candidate whose longest member has `len` code points and whose
 * oldest member was queued at `oldest` belongs on another backend (see
 * step 6): that backend's predicted end, else 0. */
static double better_elsewhere(const sched *s, size_t len, double oldest, double now)
{
    double here = cost_predict(&s->bk[s->filling].cost, len), until = 0;
    for (size_t k = 0; k < s->nbk; k++) {
        const sched_backend *b = &s->bk[k];
        if (k == s->filling || !b->up || !b->busy || b->free_at <= now ||
            !sched_cost_fits(s, k, len))
            continue;
        double there = b->free_at - now + cost_predict(&b->cost, len);
        if (there < DEFER_RATIO * here && b->free_at - oldest < DEFER_MAX_TAUS * tau(s) &&
            (until == 0 || b->free_at < until))
            until = b->free_at;
    }
    return until;
}

static bool before(const sched_item *a, const sched_item *b)
{
    return a->e.len != b->e.len ? a->e.len < b->e.len : a->e.enqueued < b->e.enqueued;
}

/* Sorts the plan by length, then age: insertion sort, as the plan is at
 * most MAX_PLAN items and this runs for every batch. */
static void sort_plan(cost_state *st)
{
    for (size_t i = 1; i < st->n; i++) {
        sched_item *it = st->v[i];
        size_t j = i;
        for (; j > 0 && before(it, st->v[j - 1]); j--)
            st->v[j] = st->v[j - 1];
        st->v[j] = it;
    }
}

static void take(cost_state *st, sched_item *it)
{
    if (st->n < MAX_PLAN && it->pclass != (int)st->stamp) {
        it->pclass = (int)st->stamp;
        st->v[st->n++] = it;
    }
}

/* Fills st->v with up to MAX_PLAN live items: the oldest of each tenant
 * (so every backlogged client is seen), the anchor tenant's oldest (up to
 * a quarter), the oldest overall (up to half), then the shortest (oldest
 * first within a length) until full. */
static void gather(sched *s, cost_state *st, double now, long anchor)
{
    st->n = 0;
    st->stamp = st->stamp == INT32_MAX ? 1 : st->stamp + 1;
    size_t backlogged = 0;
    for (size_t t = 0; t < s->share.n; t++)
        backlogged += s->share.t[t].queued > 0 && !s->share.t[t].is_group;
    if (backlogged > 1) {
        /* One pass over the arrivals takes each tenant's first live item;
         * the per-tenant stamp is the tenant's queued count trick-free:
         * remember the tenants already seen in a small bitmap. */
        uint64_t seen[MAX_PLAN] = {0};
        size_t taken = 0;
        for (slink *l = s->arrivals.next;
             l != &s->arrivals && taken < backlogged && st->n < MAX_PLAN / 4; l = l->next) {
            sched_item *it = SLINK_ITEM(l, arrival);
            size_t word = (size_t)it->tenant / 64 % MAX_PLAN;
            uint64_t bit = (uint64_t)1 << ((size_t)it->tenant % 64);
            if (!sched_item_fits(s, it, now) || (seen[word] & bit))
                continue;
            seen[word] |= bit;
            take(st, it);
            taken++;
        }
    }
    for (slink *l = s->arrivals.next; l != &s->arrivals && st->n < MAX_PLAN / 2; l = l->next) {
        sched_item *it = SLINK_ITEM(l, arrival);
        if (it->tenant == anchor && sched_item_fits(s, it, now))
            take(st, it);
    }
    for (slink *l = s->arrivals.next; l != &s->arrivals && st->n < MAX_PLAN * 3 / 4; l = l->next) {
        sched_item *it = SLINK_ITEM(l, arrival);
        if (sched_item_fits(s, it, now))
            take(st, it);
    }
    for (size_t b = sched_next_bucket(s, 0); b != SIZE_MAX && st->n < MAX_PLAN;
         b = sched_next_bucket(s, b + 1))
        for (slink *l = s->buckets[b].next; l != &s->buckets[b] && st->n < MAX_PLAN; l = l->next) {
            sched_item *it = SLINK_ITEM(l, blink);
            if (sched_item_fits(s, it, now))
                take(st, it);
        }
    sort_plan(st);
}

/* The DP below over kept[0..m), from position `from` down: positions from
 * `from` to m already hold their suffix and best. */
static double plan_dp(const sched *s, cost_state *st, size_t m, size_t from)
{
    for (size_t k = from; k-- > 0;) {
        st->suffix[k] = st->suffix[k + 1] + st->w[st->kept[k]];
        double best = INFINITY;
        for (size_t e = k; e < m && e < k + s->cfg.max_batch; e++) {
            double c = st->c[st->kept[e]] * st->suffix[k] + st->best[e + 1];
            if (c < best)
                best = c;
        }
        st->best[k] = best;
    }
    return st->best[0];
}

/* The cost of serving every planned item not in the candidate (`taken`),
 * shortest first in contiguous groups of at most max_batch, the grouping
 * chosen to minimise the sum of each group's cost times the weight (Φ
 * included) of the items it delays. */
static double rest_cost(const sched *s, cost_state *st, const bool *taken)
{
    size_t m = 0;
    for (size_t i = 0; i < st->n; i++)
        if (!taken[i])
            st->kept[m++] = i;
    st->suffix[m] = PHANTOM_WEIGHT;
    st->best[m] = 0;
    return plan_dp(s, st, m, m);
}

/* The DP over the whole plan (nothing taken), kept in all_suffix/all_best. */
static void whole_plan_cost(const sched *s, cost_state *st)
{
    const bool none[MAX_PLAN] = {false};
    rest_cost(s, st, none);
    memcpy(st->all_suffix, st->suffix, (st->n + 1) * sizeof *st->suffix);
    memcpy(st->all_best, st->best, (st->n + 1) * sizeof *st->best);
}

/* rest_cost when the candidate is the block v[lo..hi] (no anchor: the
 * candidate is hi and the items just below it), the same figure bit for bit
 * with half the work: the DP runs from the end, so past the block it is the
 * whole plan's, and only the items before the block are computed again. */
static double rest_cost_block(const sched *s, cost_state *st, size_t lo, size_t hi)
{
    size_t gap = hi + 1 - lo, m = st->n - gap;
    for (size_t p = 0; p < m; p++)
        st->kept[p] = p < lo ? p : p + gap;
    for (size_t p = lo; p <= m; p++) {
        st->suffix[p] = st->all_suffix[p + gap];
        st->best[p] = st->all_best[p + gap];
    }
    return plan_dp(s, st, m, lo);
}

/* The candidate batch whose longest member is v[hi]: with no anchor, hi and
 * the longest items below it (they ride free); with an anchor tenant, its
 * items no longer than v[hi] first, then the others as riders. Fills idx
 * and returns the size. */
static size_t candidate(const sched *s, const cost_state *st, size_t hi, long anchor, size_t *idx)
{
    size_t n = 0, cap = s->cfg.max_batch;
    idx[n++] = hi;
    if (anchor >= 0)
        for (size_t i = hi; i-- > 0 && n < cap;)
            if (st->v[i]->tenant == anchor)
                idx[n++] = i;
    for (size_t i = hi; i-- > 0 && n < cap;)
        if (anchor < 0 || st->v[i]->tenant != anchor)
            idx[n++] = i;
    return n;
}

/* The starving item's batch: it, then the longest others that fit under
 * it, its own tenant's first when fair share constrains the batch. */
static void starving_batch(sched *s, sched_item *oldest, long anchor, double now, sched_pick *out)
{
    out->it[out->n++] = oldest;
    for (int pass = anchor >= 0 ? 0 : 1; pass < 2; pass++)
        for (size_t b = oldest->bucket + 1; b-- > 0 && out->n < s->cfg.max_batch;)
            for (slink *l = s->buckets[b].next; l != &s->buckets[b] && out->n < s->cfg.max_batch;
                 l = l->next) {
                sched_item *it = SLINK_ITEM(l, blink);
                bool own = it->tenant == anchor;
                if (it != oldest && sched_item_fits(s, it, now) &&
                    (pass == 0 ? own : !own || anchor < 0))
                    out->it[out->n++] = it;
            }
}

static void cost_policy_pick(sched *s, double now, sched_pick *out)
{
    cost_state *st = s->pstate;
    double t = tau(s);
    /* Fair share: the batch must serve the tenant that is furthest behind
     * its weighted share, if the shares have spread beyond the slack. */
    s->share.slack = SLACK_TAUS * t;
    long anchor = share_anchor(&s->share);

    /* Starvation: the oldest live item (of the anchor tenant, when there
     * is one) goes next once it has waited STARVE_TAUS × τ. */
    for (slink *l = s->arrivals.next; l != &s->arrivals; l = l->next) {
        sched_item *it = SLINK_ITEM(l, arrival);
        if (!sched_item_fits(s, it, now) || (anchor >= 0 && it->tenant != anchor))
            continue;
        if (now - it->e.enqueued >= STARVE_TAUS * t) {
            starving_batch(s, it, anchor, now, out);
            return;
        }
        break; /* only the oldest can be the first to starve */
    }

    gather(s, st, now, anchor);
    bool anchored = false;
    for (size_t i = 0; i < st->n; i++)
        anchored |= st->v[i]->tenant == anchor;
    if (!anchored)
        anchor = -1; /* its items have all expired: no constraint */
    double total = PHANTOM_WEIGHT;
    for (size_t i = 0; i < st->n; i++) {
        double age = (now - st->v[i]->e.enqueued) / t;
        st->w[i] = 1 + pow(age, AGING_POWER);
        total += st->w[i];
        st->c[i] = batch_cost(s, st->v[i]);
    }
    /* An anchored batch carries as many of the anchor's items as it can
     * (all of them, or all but one slot), or fairness would leak to the
     * riders. Its longest member may be another client's, so the anchor's
     * short items can ride free under a long batch that serves both. */
    size_t anchor_items = 0;
    if (anchor >= 0)
        for (size_t i = 0; i < st->n; i++)
            anchor_items += st->v[i]->tenant == anchor;
    size_t required = anchor_items < s->cfg.max_batch - 1 ? anchor_items : s->cfg.max_batch - 1;
    if (required == 0 && anchor >= 0)
        required = 1;
    whole_plan_cost(s, st);
    double best = INFINITY;
    size_t best_idx[SCHED_MAX_BATCH], best_n = 0;
    for (size_t hi = 0; hi < st->n; hi++) {
        size_t idx[SCHED_MAX_BATCH];
        size_t n = candidate(s, st, hi, anchor, idx);
        if (anchor >= 0) {
            size_t mine = 0;
            for (size_t k = 0; k < n; k++)
                mine += st->v[idx[k]]->tenant == anchor;
            if (mine < required)
                continue;
        }
        if (s->nbk > 1) {
            double oldest = now;
            for (size_t k = 0; k < n; k++)
                oldest = fmin(oldest, st->v[idx[k]]->e.enqueued);
            double until = better_elsewhere(s, st->v[hi]->e.len, oldest, now);
            if (until > 0) {
                if (s->defer_until == 0 || until < s->defer_until)
                    s->defer_until = until;
                continue;
            }
        }
        double rest;
        if (anchor < 0) {
            rest = rest_cost_block(s, st, hi + 1 - n, hi); /* candidate() took v[hi-n+1..hi] */
        } else {
            bool taken[MAX_PLAN] = {false};
            for (size_t k = 0; k < n; k++)
                taken[idx[k]] = true;
            rest = rest_cost(s, st, taken);
        }
        double score = st->c[hi] * total + rest;
        if (score < best) {
            best = score;
            best_n = n;
            memcpy(best_idx, idx, n * sizeof *idx);
        }
    }
    if (best_n > 0)
        s->defer_until = 0; /* something goes: no wait */
    /* In plan order (by length, then age), so batches read shortest first. */
    for (size_t i = 0; i < st->n; i++)
        for (size_t k = 0; k < best_n; k++)
            if (best_idx[k] == i)
                out->it[out->n++] = st->v[i];
}

const sched_policy_ops sched_cost_ops = {"cost",
                                         cost_policy_init,
                                         cost_policy_fini,
                                         cost_policy_add,
                                         cost_policy_remove,
                                         cost_policy_pick,
                                         NULL};
