/* share: fair shares of the backend between clients (see share.h). */
#include "share.h"

#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void share_init(share_table *tab, size_t threshold)
{
    memset(tab, 0, sizeof *tab);
    tab->threshold = threshold;
}

void share_fini(share_table *tab)
{
    free(tab->t);
    memset(tab, 0, sizeof *tab);
}

static bool grow(share_table *tab, size_t need)
{
    if (need <= tab->n)
        return true;
    size_t n = need + 16;
    share_tenant *t = realloc(tab->t, n * sizeof *t);
    if (!t)
        return false;
    for (size_t i = tab->n; i < n; i++)
        t[i] = (share_tenant){.weight = 1, .group = -1, .limit = SIZE_MAX};
    tab->t = t;
    tab->n = n;
    return true;
}

long share_tenant_of(share_table *tab, int client, size_t len)
{
    size_t i = client > 0 ? (size_t)client + 1
                          : (len <= tab->threshold ? SHARE_ANON_SHORT : SHARE_ANON_LONG);
    return grow(tab, i + 1) ? (long)i : -1;
}

bool share_set_weight(share_table *tab, int client, double weight)
{
    long i = share_tenant_of(tab, client, 0);
    if (i < 0 || !(weight > 0))
        return false;
    if (client == 0)
        tab->t[SHARE_ANON_LONG].weight = weight;
    tab->t[i].weight = weight;
    return true;
}

/* The backlogged tenant of `level` (a group's index, -1 for the top level)
 * other than `except` with the least normalised service, and the least and
 * most services among them; -1 if none. */
static long least_backlogged(const share_table *tab, long level, long except, double *least,
                             double *most)
{
    long best = -1;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < tab->n; i++) {
        const share_tenant *t = &tab->t[i];
        if (t->queued == 0 || (long)i == except || t->group != level)
            continue;
        if (t->service < lo) {
            lo = t->service;
            best = (long)i;
        }
        if (t->service > hi)
            hi = t->service;
    }
    *least = lo;
    if (most)
        *most = hi;
    return best;
}

static double slack_of(const share_table *tab, long tenant)
{
    return tenant <= SHARE_ANON_LONG ? tab->slack * SHARE_ANON_SLACK : tab->slack;
}

/* `count` sequences of predicted work `work` join tenant i (not its group). */
static void join(share_table *tab, long i, size_t count, double work)
{
    share_tenant *t = &tab->t[i];
    t->work += work;
    if (t->queued == 0) {
        /* Back from idle: at most `slack` behind the least backlogged
         * service of its level. */
        double least;
        double slack = slack_of(tab, i);
        if (least_backlogged(tab, t->group, i, &least, NULL) >= 0 && t->service < least - slack)
            t->service = least - slack;
    }
    t->queued += count;
}

static void leave(share_table *tab, long i, size_t count, double work)
{
    share_tenant *t = &tab->t[i];
    BP_ASSERT(t->queued >= count); /* a count below zero would wrap silently */
    t->queued -= count;
    t->work = t->queued ? t->work - work : 0; /* no rounding residue when empty */
}

bool share_set_group(share_table *tab, int client, int group)
{
    long m = share_tenant_of(tab, client, 0);
    long g = group > 0 ? share_tenant_of(tab, group, 0) : -1;
    if (client <= 0 || m < 0 || (group > 0 && g < 0) || g == m || tab->t[m].is_group ||
        (g >= 0 && (tab->t[g].group >= 0 || (!tab->t[g].is_group && tab->t[g].queued > 0))))
        return false;
    share_tenant *t = &tab->t[m];
    if (t->group == g)
        return true;
    size_t queued = t->queued;
    double work = t->work;
    if (queued > 0) {
        /* Moves with its queue: out of the old group's sums, and compared
         * from now on with its new level (as if back from idle there). */
        if (t->group >= 0)
            leave(tab, t->group, queued, work);
        leave(tab, m, queued, work);
    }
    t->group = g;
    if (g >= 0 && !tab->t[g].is_group) {
        tab->t[g].is_group = true;
        tab->groups++;
    }
    if (queued > 0) {
        join(tab, m, queued, work);
        if (g >= 0)
            join(tab, g, queued, work);
    }
    return true;
}

void share_enqueued(share_table *tab, long tenant, double work)
{
    join(tab, tenant, 1, work);
    if (tab->t[tenant].group >= 0)
        join(tab, tab->t[tenant].group, 1, work);
}

void share_dequeued(share_table *tab, long tenant, double work)
{
    leave(tab, tenant, 1, work);
    if (tab->t[tenant].group >= 0)
        leave(tab, tab->t[tenant].group, 1, work);
}

/* The tenant's fraction among the backlogged tenants of its own level. */
static double fraction_in_level(const share_table *tab, long tenant)
{
    long level = tab->t[tenant].group;
    double total = tab->t[tenant].weight;
    for (size_t i = 0; i < tab->n; i++)
        if (tab->t[i].queued > 0 && (long)i != tenant && tab->t[i].group == level)
            total += tab->t[i].weight;
    return tab->t[tenant].weight / total;
}

double share_fraction(const share_table *tab, long tenant)
{
    double f = fraction_in_level(tab, tenant);
    long g = tab->t[tenant].group;
    return g >= 0 ? f * fraction_in_level(tab, g) : f;
}

void share_charge(share_table *tab, const long *tenant, const size_t *len, size_t n, double seconds,
                  const cost_model *cm)
{
    if (n == 0)
        return;
    /* Own costs, sorted with their members (n is at most SCHED_MAX_BATCH:
     * insertion sort). */
    double c[64];
    size_t idx[64];
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n; i++) {
        double v = cost_predict(cm, len[i]);
        size_t k = i;
        while (k > 0 && c[k - 1] > v) {
            c[k] = c[k - 1];
            idx[k] = idx[k - 1];
            k--;
        }
        c[k] = v;
        idx[k] = i;
    }
    /* Scale the predicted costs to what the batch really took. */
    double scale = c[n - 1] > 0 ? seconds / c[n - 1] : 0;
    double acc = 0, prev = 0;
    for (size_t k = 0; k < n; k++) {
        acc += (c[k] - prev) / (double)(n - k);
        prev = c[k];
        share_tenant *t = &tab->t[tenant[idx[k]]];
        double part = c[n - 1] > 0 ? acc * scale : seconds / (double)n;
        t->charged += part;
        t->service += part / t->weight;
        if (t->group >= 0) {
            share_tenant *g = &tab->t[t->group];
            g->charged += part;
            g->service += part / g->weight;
        }
    }
}

/* The member of group g the next batch must serve: the one with the least
 * service, if `spread` (the members' services spread by slack) is not
 * asked or holds. */
static long member_anchor(const share_table *tab, long g, bool spread)
{
    double least, most;
    long a = least_backlogged(tab, g, -1, &least, &most);
    return a >= 0 && (!spread || most - least >= tab->slack) ? a : -1;
}

long share_anchor(const share_table *tab)
{
    double least, most;
    long a = least_backlogged(tab, -1, -1, &least, &most);
    if (a >= 0 && most - least >= slack_of(tab, a))
        return tab->t[a].is_group ? member_anchor(tab, a, false) : a;
    /* The top level is within its slack: fairness inside a group. */
    for (size_t i = 0; tab->groups > 0 && i < tab->n; i++) {
        long m =
            tab->t[i].is_group && tab->t[i].queued > 0 ? member_anchor(tab, (long)i, true) : -1;
        if (m >= 0)
            return m;
    }
    return -1;
}

/* The invariants of one tenant on its own (see share.h). */
static const char *check_tenant(const share_table *tab, size_t i)
{
    const share_tenant *t = &tab->t[i];
    if (!(t->weight > 0) || !isfinite(t->weight))
        return "share: a tenant's weight is finite and > 0";
    if (!(t->charged >= 0) || !isfinite(t->charged) || !isfinite(t->service))
        return "share: a tenant's charged seconds are finite and >= 0, its service finite";
    if (!isfinite(t->work) || t->work < -1e-6 || /* rounding, not a missing item */
        (t->queued == 0 && t->work != 0))
        return "share: a tenant's work is finite, >= 0, and exactly 0 when nothing is queued";
    if (t->group != -1 && (t->group < 0 || (size_t)t->group >= tab->n || t->group == (long)i ||
                           !tab->t[t->group].is_group || tab->t[t->group].group != -1))
        return "share: a member's group is a top-level group tenant of the table";
    if (t->is_group && (t->group != -1 || i <= SHARE_ANON_LONG))
        return "share: a group is top-level and not an anonymous tenant";
    if (i <= SHARE_ANON_LONG && t->group != -1)
        return "share: the anonymous tenants are never members of a group";
    return NULL;
}

/* A group's queued and work are its members' sums. */
static const char *check_group(const share_table *tab, size_t g)
{
    size_t queued = 0;
    double work = 0;
    for (size_t i = 0; i < tab->n; i++)
        if (tab->t[i].group == (long)g) {
            queued += tab->t[i].queued;
            work += tab->t[i].work;
        }
    if (tab->t[g].queued != queued)
        return "share: a group's queued is the sum of its members' (it queues nothing itself)";
    if (fabs(tab->t[g].work - work) > 1e-6 * (1 + fabs(work)))
        return "share: a group's work is the sum of its members'";
    return NULL;
}

const char *share_check(const share_table *tab)
{
    if ((tab->n > 0) != (tab->t != NULL))
        return "share: the tenant array exists iff the table has tenants";
    if (!(tab->slack >= 0) || !isfinite(tab->slack))
        return "share: the slack is finite and >= 0";
    size_t groups = 0;
    for (size_t i = 0; i < tab->n; i++) {
        const char *why = check_tenant(tab, i);
        if (!why && tab->t[i].is_group) {
            groups++;
            why = check_group(tab, i);
        }
        if (why)
            return why;
    }
    return groups == tab->groups ? NULL : "share: `groups` counts the group tenants";
}
