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
 * queuing). Pure: no clock, no I/O.
 *
 * Groups (hierarchical fair share): a group is a tenant that queues nothing
 * itself and stands for its member tenants together. At the top level the
 * group competes with the other tenants as one, with its own weight; inside
 * it, the members compete among themselves the same way. So however many
 * members a group has (batchproxy's pool of client names not in the clients
 * file, which anyone can invent), the tenants outside it keep their shares.
 * Invariants: a group's queued and work are the sums of its members'; its
 * charged and service grow with every charge to a member (service by the
 * group's weight); a member's service is compared only with its siblings',
 * a top-level tenant's (groups included) only with other top-level ones'.
 * Without groups, every computation is the flat one above, step for step.
 *
 * Invariants of the table (share_check; the scheduler's sched_check adds
 * that each tenant's queued and work are its queued items' count and sum):
 * - groups are one level deep: a group is top-level, never a member, and
 *   holds no sequence of its own (share_set_group won't make a group of a
 *   tenant with its own queue; the caller enqueues nothing for a group);
 *   the anonymous tenants are never groups nor members; `groups` counts
 *   the tenants with is_group;
 * - weights are finite and > 0; charged is finite and >= 0 (a batch's
 *   seconds are >= 0); service is finite;
 * - work is finite and >= 0 up to rounding, and exactly 0 when queued is 0;
 * - slack is finite and >= 0. */
#ifndef BP_SHARE_H
#define BP_SHARE_H

#include "cost.h"

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
    long group;     /* the group tenant it belongs to, -1 for none */
    bool is_group;  /* a group: queues nothing itself (see above) */
    size_t limit;   /* a group's queue limit, for admission (default SIZE_MAX) */
} share_tenant;

typedef struct share_table {
    share_tenant *t;
    size_t n;
    size_t threshold; /* anonymous lengths up to this are "short" */
    double slack;     /* seconds of normalised service for named clients; see above */
    size_t groups;    /* tenants with is_group */
} share_table;

void share_init(share_table *tab, size_t threshold);
void share_fini(share_table *tab);

/* The tenant of a sequence, growing the table as needed; -1 when out of memory. */
long share_tenant_of(share_table *tab, int client, size_t len);

/* Sets a client's weight (> 0). Returns false when out of memory. */
bool share_set_weight(share_table *tab, int client, double weight);

/* Puts client's tenant in the group of client `group` (> 0; 0: back to
 * the top level), moving its queued work along. A client that is a group,
 * or the anonymous client, can't be a member, nor can a client with work
 * of its own queued become a group. Returns false for those or when out
 * of memory. */
bool share_set_group(share_table *tab, int client, int group);

/* A sequence of predicted backend work `work` joins or leaves the queue
 * (of its tenant and, for a member, of its group). */
void share_enqueued(share_table *tab, long tenant, double work);
void share_dequeued(share_table *tab, long tenant, double work);

/* The fraction of the backend the tenant is entitled to if it were
 * backlogged now: its weight over the weights of the backlogged tenants
 * (itself included) at its level; for a member, times its group's. */
double share_fraction(const share_table *tab, long tenant);

/* Charges `seconds` of backend time for a batch whose members are
 * (tenant[i], len[i]), split as described above using the cost curve. */
void share_charge(share_table *tab, const long *tenant, const size_t *len, size_t n, double seconds,
                  const cost_model *cm);

/* The tenant the next batch must serve, or -1 when any batch is fair:
 * the backlogged top-level tenant with the least normalised service if the
 * backlogged services spread by `slack` or more; when that is a group, its
 * member with the least service. Otherwise, when a group's members spread
 * by `slack` or more, the member with the least. Never a group itself. */
long share_anchor(const share_table *tab);

/* NULL when the table's invariants above hold, else a sentence naming the
 * one broken. O(tenants × groups). */
const char *share_check(const share_table *tab);

#endif
