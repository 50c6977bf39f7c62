/* share: fair shares of the backend between clients (weighted fair queuing
 * on backend time), kept by the scheduler core.
 *
 * Tenants: each named client is a tenant; anonymous sequences (client 0)
 * are split into two tenants by length (short: up to the threshold, long:
 * beyond), the seed write-up's heuristic, so short and long anonymous
 * traffic can't crowd each other out either.
 *
 * Accounting: a batch's measured time is split among its members as in the
 * airport game (its Shapley value): sort the members' own predicted costs
 * c1 <= c2 <= ... <= cn; the first c1 of the batch is shared by all n, the
 * next c2 - c1 by the n - 1 members that need it, and so on. A sequence
 * that rides free under a longer one pays only its part of what it needs
 * itself; the longest pays for the extra it alone causes. Each tenant's
 * normalised service grows by its charge divided by its weight.
 *
 * Fairness: the backlogged tenant with the least normalised service is the
 * "anchor": the next batch should serve it. A tenant that becomes
 * backlogged again starts no lower than the least service among those
 * already backlogged, so idling banks no credit (as in start-time fair
 * queuing). Pure: no clock, no I/O. */
#ifndef BP_SHARE_H
#define BP_SHARE_H

#include "costmodel.h"

#include <stdbool.h>
#include <stddef.h>

/* Tenant indexes: 0 and 1 are the anonymous short and long classes,
 * client c > 0 is tenant c + 1. */
#define SHARE_ANON_SHORT 0
#define SHARE_ANON_LONG 1

/* The anonymous classes are our own guess at who is who (by length), not
 * clients that asked for a share, so fairness between them is looser: their
 * slack is this many times the named clients'. */
#define SHARE_ANON_SLACK 4.0

typedef struct share_tenant {
    double weight;  /* > 0, default 1 */
    double service; /* normalised: charged seconds / weight */
    double charged; /* seconds of backend time attributed */
    size_t queued;  /* sequences queued */
    double work;    /* their predicted backend seconds, each cost / max_batch */
} share_tenant;

typedef struct share_table {
    share_tenant *t;
    size_t n;
    size_t threshold; /* anonymous lengths up to this are "short" */
    double slack;     /* seconds of normalised service for named clients; see above */
} share_table;

void share_init(share_table *tab, size_t threshold);
void share_fini(share_table *tab);

/* The tenant of a sequence, growing the table as needed; -1 when out of memory. */
long share_tenant_of(share_table *tab, int client, size_t len);

/* Sets a client's weight (> 0). Returns false when out of memory. */
bool share_set_weight(share_table *tab, int client, double weight);

/* A sequence of predicted backend work `work` joins or leaves the queue. */
void share_enqueued(share_table *tab, long tenant, double work);
void share_dequeued(share_table *tab, long tenant, double work);

/* The fraction of the backend the tenant is entitled to if it were
 * backlogged now: its weight over the weights of the backlogged tenants
 * (itself included). */
double share_fraction(const share_table *tab, long tenant);

/* Charges `seconds` of backend time for a batch whose members are
 * (tenant[i], len[i]), split as described above using the cost curve. */
void share_charge(share_table *tab, const long *tenant, const size_t *len, size_t n, double seconds,
                  const cost_model *cm);

/* The tenant the next batch must serve, or -1 when any batch is fair:
 * the backlogged tenant with the least normalised service if the backlogged
 * services spread by `slack` or more. */
long share_anchor(const share_table *tab);

#endif
