/* sched: the pure scheduler core: the queue, its invariants (sched_impl.h),
 * and the policy-independent part of the decision (see scheduler.h). */
#include "sched_impl.h"

#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The default policy comes first. */
static const sched_policy_ops *const policies[] = {&sched_cost_ops, &sched_priority_ops,
                                                   &sched_fifo_ops, &sched_sjf_ops};
static const char *policy_names[] = {"cost", "priority", "fifo", "sjf", NULL};

const char *const *sched_policy_names(void)
{
    return policy_names;
}

sched_config sched_config_default(void)
{
    return (sched_config){.policy = policy_names[0],
                          .max_batch = 5,
                          .max_wait = 0,
                          .max_queue = 10000,
                          .max_length = 1000,
                          .priority_threshold = 12,
                          .prior_a = 0.001,
                          .prior_lin = 0,
                          .prior_b = 0.002};
}

static int add_backend(sched *s);

/* With BP_CHECK_INVARIANTS, runs sched_check after an operation that
 * changes the scheduler, and aborts if it fails. Amortised: once (queued +
 * tenants / 8) / 8 operations have passed since the last check (after
 * every operation while the queue and the table are small), so a long
 * queue costs a few steps per operation (the unit tests check after every
 * operation instead). */
static void debug_check(sched *s)
{
#ifdef BP_CHECK_INVARIANTS
    if (s->check_skip > 0) {
        s->check_skip--;
        return;
    }
    BP_INVARIANTS(sched_check(s));
    s->check_skip = (s->queued + s->share.n / 8) / 8;
#else
    (void)s;
#endif
}

sched *sched_new(const sched_config *cfg, char *err, size_t errlen)
{
    const sched_policy_ops *ops = NULL;
    for (size_t i = 0; i < sizeof policies / sizeof *policies; i++)
        if (strcmp(cfg->policy, policies[i]->name) == 0)
            ops = policies[i];
    if (!ops) {
        snprintf(err, errlen, "unknown policy '%s'", cfg->policy);
        return NULL;
    }
    if (cfg->max_batch < 1 || cfg->max_batch > SCHED_MAX_BATCH) {
        snprintf(err, errlen, "max batch must be 1..%d", SCHED_MAX_BATCH);
        return NULL;
    }
    if (cfg->max_length < 1 || cfg->max_length > 10000000) {
        snprintf(err, errlen, "max length must be 1..10000000");
        return NULL;
    }
    if (!(cfg->prior_a >= 0 && cfg->prior_lin >= 0 && cfg->prior_b >= 0 &&
          isfinite(cfg->prior_a + cfg->prior_lin + cfg->prior_b))) {
        snprintf(err, errlen, "the cost prior must be finite and >= 0");
        return NULL;
    }
    sched *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    s->cfg = *cfg;
    s->ops = ops;
    cost_init(&s->cost, cfg->prior_a, cfg->prior_lin, cfg->prior_b);
    share_init(&s->share, cfg->priority_threshold);
    slink_init(&s->arrivals);
    size_t nb = cfg->max_length + 1;
    s->buckets = malloc(nb * sizeof *s->buckets);
    s->nonempty = calloc((nb + 63) / 64, sizeof *s->nonempty);
    if (!s->buckets || !s->nonempty)
        goto oom;
    for (size_t i = 0; i < nb; i++)
        slink_init(&s->buckets[i]);
    if (add_backend(s) != 0 || ops->init(s) != 0)
        goto oom;
    return s;
oom:
    if (s) {
        share_fini(&s->share);
        free(s->bk);
        free(s->buckets);
        free(s->nonempty);
        free(s);
    }
    snprintf(err, errlen, "out of memory");
    return NULL;
}

/* Takes an item off every list (policy first, see the invariants) and frees it. */
static void unlink_item(sched *s, sched_item *it)
{
    BP_ASSERT(s->queued > 0); /* else the item is not queued: freeing it again corrupts the heap */
    s->ops->remove(s, it);
    share_dequeued(&s->share, it->tenant, it->work);
    slink_remove(&it->arrival);
    slink_remove(&it->blink);
    if (slink_empty(&s->buckets[it->bucket]))
        s->nonempty[it->bucket / 64] &= ~((uint64_t)1 << (it->bucket % 64));
    s->queued--;
    free(it);
}

void sched_free(sched *s)
{
    if (!s)
        return;
    while (!slink_empty(&s->arrivals))
        unlink_item(s, SLINK_ITEM(s->arrivals.next, arrival));
    s->ops->fini(s);
    share_fini(&s->share);
    free(s->bk);
    free(s->buckets);
    free(s->nonempty);
    free(s);
}

static int add_backend(sched *s)
{
    if (s->nbk == s->capbk) {
        size_t cap = s->capbk ? 2 * s->capbk : 4;
        sched_backend *bk = realloc(s->bk, cap * sizeof *bk);
        if (!bk)
            return -1;
        s->bk = bk;
        s->capbk = cap;
    }
    sched_backend *b = &s->bk[s->nbk];
    memset(b, 0, sizeof *b);
    cost_init(&b->cost, s->cfg.prior_a, s->cfg.prior_lin, s->cfg.prior_b);
    b->up = true;
    return (int)s->nbk++;
}

int sched_add_backend(sched *s)
{
    int id = add_backend(s);
    debug_check(s);
    return id;
}

static sched_backend *backend_of(const sched *s, int id)
{
    return id >= 0 && (size_t)id < s->nbk ? &s->bk[id] : NULL;
}

void sched_backend_prior(sched *s, int backend, double a, double lin, double b)
{
    sched_backend *bk = backend_of(s, backend);
    if (bk)
        cost_init(&bk->cost, a, lin, b);
}

void sched_backend_set_up(sched *s, int backend, bool up)
{
    sched_backend *b = backend_of(s, backend);
    if (b)
        b->up = up;
}

size_t sched_backends(const sched *s)
{
    return s->nbk;
}

/* Backends up, at least 1: the drain estimates divide the work among them. */
static double backends_up(const sched *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nbk; i++)
        n += s->bk[i].up;
    return n ? (double)n : 1.0;
}

const char *sched_policy(const sched *s)
{
    return s->ops->name;
}

sched_item *sched_enqueue(sched *s, void *owner, size_t len, int client, double now,
                          double deadline)
{
    if (s->queued >= s->cfg.max_queue)
        return NULL;
    long tenant = share_tenant_of(&s->share, client, len);
    sched_item *it = tenant >= 0 ? calloc(1, sizeof *it) : NULL;
    if (!it)
        return NULL;
    /* A group's queued and work are its members' sums: an item of its own
     * would break them for good. */
    BP_ASSERT(!s->share.t[tenant].is_group);
    it->tenant = tenant;
    it->work = cost_predict(&s->cost, len) / (double)s->cfg.max_batch;
    share_enqueued(&s->share, tenant, it->work);
    it->e = (sched_entry){
        .owner = owner, .len = len, .client = client, .enqueued = now, .deadline = deadline};
    it->bucket = len < s->cfg.max_length ? len : s->cfg.max_length;
    slink_init(&it->plink);
    slink_push_back(&s->arrivals, &it->arrival);
    slink_push_back(&s->buckets[it->bucket], &it->blink);
    s->nonempty[it->bucket / 64] |= (uint64_t)1 << (it->bucket % 64);
    s->queued++;
    s->ops->add(s, it);
    debug_check(s);
    return it;
}

void sched_cancel(sched *s, sched_item *it)
{
    unlink_item(s, it);
    debug_check(s);
}

void sched_extend_deadline(sched *s, sched_item *it, double deadline)
{
    if (deadline > it->e.deadline)
        it->e.deadline = deadline;
}

size_t sched_next_bucket(const sched *s, size_t from)
{
    size_t nb = s->cfg.max_length + 1;
    for (size_t w = from / 64; w * 64 < nb; w++) {
        uint64_t bits = s->nonempty[w];
        if (w == from / 64)
            bits &= ~(uint64_t)0 << (from % 64);
        if (bits)
            return w * 64 + (size_t)__builtin_ctzll(bits);
    }
    return SIZE_MAX;
}

void sched_fill_from(const sched *s, slink *head, size_t link_off, double now, sched_pick *out)
{
    for (slink *l = head->next; l != head && out->n < s->cfg.max_batch; l = l->next) {
        sched_item *it = (sched_item *)((char *)l - link_off);
        if (sched_item_fits(s, it, now))
            out->it[out->n++] = it;
    }
}

/* The oldest enqueue time among the live items, or -1 if there are none. */
static double oldest_live(const sched *s, double now)
{
    for (slink *l = s->arrivals.next; l != &s->arrivals; l = l->next) {
        sched_item *it = SLINK_ITEM(l, arrival);
        if (sched_item_live(it, now))
            return it->e.enqueued;
    }
    return -1;
}

static enum sched_verdict next_batch(sched *s, int backend, double now, sched_batch *out,
                                     double *wake)
{
    out->n = 0;
    out->longest = 0;
    sched_backend *bk = backend_of(s, backend);
    if (s->queued == 0 || !bk)
        return SCHED_IDLE;
    sched_pick pick = {0};
    s->filling = (size_t)backend;
    s->defer_until = 0;
    s->ops->pick(s, now, &pick);
    /* The cost bound holds whatever the policy proposed: a member that
     * doesn't fit on this backend stays queued. */
    size_t fit = 0;
    for (size_t i = 0; i < pick.n; i++)
        if (sched_item_fits(s, pick.it[i], now))
            pick.it[fit++] = pick.it[i];
    pick.n = fit;
    if (pick.n == 0) {
        if (s->defer_until > now) {
            *wake = s->defer_until;
            return SCHED_WAIT;
        }
        return SCHED_IDLE;
    }

    /* A partial batch may be held for up to max_wait after the oldest
     * waiting item arrived, in the hope that more arrive to fill it. The
     * wait is bounded by that item's age, so nothing is held longer. */
    if (pick.n < s->cfg.max_batch && s->cfg.max_wait > 0) {
        double until = oldest_live(s, now) + s->cfg.max_wait;
        if (until > now) {
            *wake = until;
            return SCHED_WAIT;
        }
    }

    for (size_t i = 0; i < pick.n; i++) {
        sched_item *it = pick.it[i];
        out->e[i] = it->e;
        if (it->e.len > out->longest)
            out->longest = it->e.len;
        unlink_item(s, it);
    }
    out->n = pick.n;
    bk->busy = true;
    bk->free_at = now + cost_predict(&bk->cost, out->longest);
    return SCHED_SEND;
}

enum sched_verdict sched_next(sched *s, int backend, double now, sched_batch *out, double *wake)
{
    enum sched_verdict v = next_batch(s, backend, now, out, wake);
    debug_check(s);
    return v;
}

void sched_done(sched *s, int backend, const sched_batch *b, double now, double seconds, bool ok)
{
    BP_ASSERT(b->n <= SCHED_MAX_BATCH); /* indexes the arrays below */
    sched_backend *bk = backend_of(s, backend);
    if (bk)
        bk->busy = false;
    if (!ok)
        return;
    BP_ASSERT(seconds >= 0); /* charged to clients: a negative or NaN time corrupts every share */
    if (bk)
        cost_observe(&bk->cost, b->longest, seconds);
    cost_observe(&s->cost, b->longest, seconds);
    long tenant[SCHED_MAX_BATCH];
    size_t len[SCHED_MAX_BATCH];
    for (size_t i = 0; i < b->n; i++) {
        tenant[i] = share_tenant_of(&s->share, b->e[i].client, b->e[i].len);
        len[i] = b->e[i].len;
        if (tenant[i] < 0)
            return; /* out of memory: skip the accounting, not the batch */
    }
    share_charge(&s->share, tenant, len, b->n, seconds, &s->cost);
    debug_check(s);
}

double sched_drain_time(sched *s, int client, size_t len)
{
    long t = share_tenant_of(&s->share, client, len);
    if (t < 0)
        return 0;
    return s->share.t[t].work / share_fraction(&s->share, t) / backends_up(s);
}

double sched_estimate(sched *s, int client, size_t len)
{
    return cost_predict(&s->cost, len) + sched_drain_time(s, client, len);
}

bool sched_batch_fits(const sched *s, int backend, size_t longest)
{
    return backend_of(s, backend) && sched_cost_fits(s, (size_t)backend, longest);
}

double sched_best_cost(const sched *s, size_t len)
{
    double best = INFINITY;
    for (size_t i = 0; i < s->nbk; i++)
        if (s->bk[i].up)
            best = fmin(best, cost_predict(&s->bk[i].cost, len));
    return best < INFINITY ? best : cost_predict(&s->cost, len);
}

double sched_own_time(sched *s, size_t n, size_t longest)
{
    /* Its own first batch, then the rest of its sequences' share of
     * batches. */
    double batch = cost_predict(&s->cost, longest);
    return batch + (double)(n ? n - 1 : 0) * batch / (double)s->cfg.max_batch;
}

enum sched_admission sched_admit(sched *s, int client, size_t n, size_t longest, size_t client_max,
                                 double budget, double *retry_after)
{
    if (s->cfg.max_batch_cost > 0 && sched_best_cost(s, longest) > s->cfg.max_batch_cost) {
        *retry_after = -1;
        return SCHED_TOO_COSTLY;
    }
    double seconds;
    size_t queued;
    sched_client_usage(s, client, &seconds, &queued);
    if (queued + n > client_max) {
        *retry_after = sched_drain_time(s, client, longest);
        return SCHED_CLIENT_FULL;
    }
    long t = client > 0 ? share_tenant_of(&s->share, client, 0) : -1;
    long g = t >= 0 ? s->share.t[t].group : -1;
    if (g >= 0 && s->share.t[g].queued + n > s->share.t[g].limit) {
        *retry_after = s->share.t[g].work / share_fraction(&s->share, g) / backends_up(s);
        return SCHED_GROUP_FULL;
    }
    if (s->queued + n > s->cfg.max_queue) {
        double work = 0;
        for (size_t i = 0; i < s->share.n; i++)
            if (!s->share.t[i].is_group) /* its members count already */
                work += s->share.t[i].work;
        *retry_after = work / backends_up(s);
        return SCHED_QUEUE_FULL;
    }
    if (sched_drain_time(s, client, longest) + sched_own_time(s, n, longest) > budget) {
        *retry_after = sched_drain_time(s, client, longest);
        return SCHED_TOO_LATE;
    }
    return SCHED_ADMIT;
}

bool sched_set_weight(sched *s, int client, double weight)
{
    bool ok = share_set_weight(&s->share, client, weight);
    debug_check(s);
    return ok;
}

bool sched_set_group(sched *s, int client, int group)
{
    bool ok = share_set_group(&s->share, client, group);
    debug_check(s);
    return ok;
}

bool sched_set_group_limit(sched *s, int group, size_t max_queued)
{
    long g = group > 0 ? share_tenant_of(&s->share, group, 0) : -1;
    if (g < 0)
        return false;
    s->share.t[g].limit = max_queued;
    return true;
}

void sched_client_usage(const sched *s, int client, double *seconds, size_t *queued)
{
    *seconds = 0;
    *queued = 0;
    /* Client c > 0 is tenant c + 1 (share.h); client 0 both anonymous ones. */
    size_t first = client > 0 ? (size_t)client + 1 : SHARE_ANON_SHORT;
    size_t last = client > 0 ? first : SHARE_ANON_LONG;
    for (size_t i = first; i <= last && i < s->share.n; i++) {
        *seconds += s->share.t[i].charged;
        *queued += s->share.t[i].queued;
    }
}

const cost_model *sched_costs(const sched *s, int backend)
{
    const sched_backend *b = backend_of(s, backend);
    return b ? &b->cost : &s->cost;
}

void sched_expire(sched *s, double now, void (*expired)(void *owner, void *arg), void *arg)
{
    slink *l = s->arrivals.next;
    while (l != &s->arrivals) {
        sched_item *it = SLINK_ITEM(l, arrival);
        l = l->next;
        if (!sched_item_live(it, now)) {
            void *owner = it->e.owner;
            unlink_item(s, it);
            expired(owner, arg);
        }
    }
    debug_check(s);
}

size_t sched_queued(const sched *s)
{
    return s->queued;
}

size_t sched_capacity(const sched *s)
{
    return s->cfg.max_queue;
}

/* --- sched_check: the invariants of sched_impl.h, share.h, costmodel.h --- */

size_t slink_length(const slink *head, size_t max)
{
    size_t n = 0;
    for (const slink *l = head;; l = l->next) {
        if (!l->next || l->next->prev != l)
            return SIZE_MAX;
        if (l->next == head)
            return n;
        if (++n > max)
            return SIZE_MAX;
    }
}

static bool bucket_marked(const sched *s, size_t b)
{
    return (s->nonempty[b / 64] >> (b % 64)) & 1;
}

/* One queued item's own invariants. */
static const char *check_item(const sched *s, const sched_item *it)
{
    size_t bucket = it->e.len < s->cfg.max_length ? it->e.len : s->cfg.max_length;
    if (it->bucket != bucket)
        return "sched: an item's bucket is min(len, max_length)";
    const slink *b = &it->blink;
    if (b->next == b || b->next->prev != b || b->prev->next != b || !bucket_marked(s, bucket))
        return "sched: every queued item is on a bucket list, its bucket marked non-empty";
    /* share_tenant_of, without growing the table. */
    long t = it->e.client > 0
                 ? (long)it->e.client + 1
                 : (it->e.len <= s->share.threshold ? SHARE_ANON_SHORT : SHARE_ANON_LONG);
    if (it->tenant != t || (size_t)t >= s->share.n)
        return "sched: an item's tenant is its client's (the anonymous class by length for 0)";
    if (s->share.t[t].is_group)
        return "sched: no item is queued for a group";
    if (!(it->work >= 0) || !isfinite(it->work))
        return "sched: an item's predicted work is finite and >= 0";
    return NULL;
}

/* The arrivals list and its items; sums each tenant's items into
 * queued_of and work_of when they are given. */
static const char *check_arrivals(const sched *s, size_t *queued_of, double *work_of)
{
    if (slink_length(&s->arrivals, s->queued) != s->queued)
        return "sched: the arrivals list is well linked and holds the `queued` items";
    double last = -INFINITY;
    for (const slink *l = s->arrivals.next; l != &s->arrivals; l = l->next) {
        const sched_item *it = SLINK_ITEM(l, arrival);
        const char *why = check_item(s, it);
        if (why)
            return why;
        if (it->e.enqueued < last)
            return "sched: the arrivals list is in order of enqueue time";
        last = it->e.enqueued;
        if (queued_of) {
            queued_of[it->tenant]++;
            work_of[it->tenant] += it->work;
        }
    }
    return NULL;
}

/* The buckets marked in `nonempty` (the items check that theirs is). */
static const char *check_buckets(const sched *s)
{
    size_t nb = s->cfg.max_length + 1, total = 0;
    for (size_t w = 0; w * 64 < nb; w++) {
        uint64_t bits = s->nonempty[w];
        if (w == (nb - 1) / 64 && nb % 64 && bits >> (nb % 64))
            return "sched: no bit of nonempty is set beyond the last bucket";
        for (; bits; bits &= bits - 1) {
            size_t b = w * 64 + (size_t)__builtin_ctzll(bits);
            size_t n = slink_length(&s->buckets[b], s->queued - total);
            if (n == 0 || n == SIZE_MAX)
                return "sched: a bucket marked non-empty is a well-linked list of queued items";
            double last = -INFINITY;
            for (const slink *l = s->buckets[b].next; l != &s->buckets[b]; l = l->next) {
                const sched_item *it = SLINK_ITEM(l, blink);
                if (it->bucket != b)
                    return "sched: an item is on the bucket of its clamped length";
                if (it->e.enqueued < last)
                    return "sched: a bucket is in order of enqueue time";
                last = it->e.enqueued;
            }
            total += n;
        }
    }
    return total == s->queued ? NULL : "sched: the buckets hold the `queued` items in all";
}

/* share.h's invariants, and each tenant's queued and work against its items. */
static const char *check_tenants(const sched *s)
{
    const char *why = share_check(&s->share);
    if (why)
        return why;
    size_t n = s->share.n;
    size_t *queued_of = n ? calloc(n, sizeof *queued_of) : NULL;
    double *work_of = n ? calloc(n, sizeof *work_of) : NULL;
    bool sums = queued_of && work_of;
    why = check_arrivals(s, sums ? queued_of : NULL, sums ? work_of : NULL);
    for (size_t i = 0; sums && !why && i < n; i++) {
        const share_tenant *t = &s->share.t[i];
        if (t->is_group)
            continue;
        if (t->queued != queued_of[i])
            why = "sched: a tenant's queued counts its queued items";
        else if (fabs(t->work - work_of[i]) > 1e-6 * (1 + work_of[i]))
            why = "sched: a tenant's work is the sum of its queued items' work";
    }
    free(queued_of);
    free(work_of);
    return why;
}

static const char *check_backends(const sched *s)
{
    if (s->nbk < 1 || s->nbk > s->capbk || !s->bk)
        return "sched: the backend array holds nbk >= 1 backends, within its capacity";
    if (s->filling >= s->nbk)
        return "sched: the backend being filled is one of them";
    const char *why = cost_check(&s->cost);
    for (size_t i = 0; !why && i < s->nbk; i++) {
        why = cost_check(&s->bk[i].cost);
        if (!why && s->bk[i].busy && !isfinite(s->bk[i].free_at))
            why = "sched: a busy backend's predicted end is finite";
    }
    return why;
}

const char *sched_check(const sched *s)
{
    if (s->cfg.max_batch < 1 || s->cfg.max_batch > SCHED_MAX_BATCH || s->cfg.max_length < 1)
        return "sched: the config's sizes are within what sched_new accepts";
    if (s->queued > s->cfg.max_queue)
        return "sched: at most max_queue items are queued";
    const char *why = check_backends(s);
    if (!why)
        why = check_buckets(s);
    if (!why)
        why = check_tenants(s);
    if (!why && s->ops->check)
        why = s->ops->check(s);
    return why;
}
