/* share: fair shares of the backend between clients (see share.h). */
#include "share.h"

#include <math.h>
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
        t[i] = (share_tenant){.weight = 1};
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

/* The backlogged tenant (other than `except`) with the least normalised
 * service, and the least and most services among them; -1 if none. */
static long least_backlogged(const share_table *tab, long except, double *least, double *most)
{
    long best = -1;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < tab->n; i++) {
        const share_tenant *t = &tab->t[i];
        if (t->queued == 0 || (long)i == except)
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

void share_enqueued(share_table *tab, long tenant, double work)
{
    share_tenant *t = &tab->t[tenant];
    t->work += work;
    if (t->queued++ == 0) {
        /* Back from idle: at most `slack` behind the least backlogged service. */
        double least;
        double slack = slack_of(tab, tenant);
        if (least_backlogged(tab, tenant, &least, NULL) >= 0 && t->service < least - slack)
            t->service = least - slack;
    }
}

void share_dequeued(share_table *tab, long tenant, double work)
{
    share_tenant *t = &tab->t[tenant];
    t->queued--;
    t->work = t->queued ? t->work - work : 0; /* no rounding residue when empty */
}

double share_fraction(const share_table *tab, long tenant)
{
    double total = tab->t[tenant].weight;
    for (size_t i = 0; i < tab->n; i++)
        if (tab->t[i].queued > 0 && (long)i != tenant)
            total += tab->t[i].weight;
    return tab->t[tenant].weight / total;
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
    }
}

long share_anchor(const share_table *tab)
{
    double least, most;
    long a = least_backlogged(tab, -1, &least, &most);
    return a >= 0 && most - least >= slack_of(tab, a) ? a : -1;
}
