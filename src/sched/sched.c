/* sched: the pure scheduler core: the queue, its invariants (sched_impl.h),
 * and the policy-independent part of the decision (see scheduler.h). */
#include "sched_impl.h"

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
                          .prior_b = 0.002};
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
    sched *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    s->cfg = *cfg;
    s->ops = ops;
    cost_init(&s->cost, cfg->prior_a, cfg->prior_b);
    share_init(&s->share, cfg->priority_threshold);
    slink_init(&s->arrivals);
    size_t nb = cfg->max_length + 1;
    s->buckets = malloc(nb * sizeof *s->buckets);
    s->nonempty = calloc((nb + 63) / 64, sizeof *s->nonempty);
    if (!s->buckets || !s->nonempty)
        goto oom;
    for (size_t i = 0; i < nb; i++)
        slink_init(&s->buckets[i]);
    if (sched_add_backend(s) != 0 || ops->init(s) != 0)
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

int sched_add_backend(sched *s)
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
    cost_init(&b->cost, s->cfg.prior_a, s->cfg.prior_b);
    b->up = true;
    return (int)s->nbk++;
}

static sched_backend *backend_of(const sched *s, int id)
{
    return id >= 0 && (size_t)id < s->nbk ? &s->bk[id] : NULL;
}

void sched_backend_prior(sched *s, int backend, double a, double b)
{
    sched_backend *bk = backend_of(s, backend);
    if (bk)
        cost_init(&bk->cost, a, b);
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
    return it;
}

void sched_cancel(sched *s, sched_item *it)
{
    unlink_item(s, it);
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

enum sched_verdict sched_next(sched *s, int backend, double now, sched_batch *out, double *wake)
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

void sched_done(sched *s, int backend, const sched_batch *b, double now, double seconds, bool ok)
{
    sched_backend *bk = backend_of(s, backend);
    if (bk)
        bk->busy = false;
    if (!ok)
        return;
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
    return share_set_weight(&s->share, client, weight);
}

bool sched_set_group(sched *s, int client, int group)
{
    return share_set_group(&s->share, client, group);
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
}

size_t sched_queued(const sched *s)
{
    return s->queued;
}

size_t sched_capacity(const sched *s)
{
    return s->cfg.max_queue;
}
