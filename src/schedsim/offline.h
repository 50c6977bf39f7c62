/* offline: the best schedule a search can find for a trace when every
 * arrival is known in advance, to say how far a policy is from what is
 * possible at all.
 *
 * sim_lower_bound says no scheduler can do better than it; this says some
 * schedule does at least this well (it is one, found by simulated
 * annealing), so the optimum lies between the two. Like the bound, it
 * counts every request as needing the backend (no cache, no coalescing) and
 * ignores deadlines: compare it with policies on traces of distinct texts
 * where every request is served.
 *
 * A schedule is a list of batches of at most max_batch requests. It is
 * played out by list scheduling: each batch in turn goes to the backend on
 * which it would finish first, starting when that backend is free and its
 * last member has arrived (a batch may wait for a member: that is the
 * foresight). The search moves a request to another or a new batch, swaps
 * two batches or moves one in the list, and keeps a worse schedule with the
 * usual annealing probability, for `iters` steps from the schedule that
 * sends every request alone on arrival. Deterministic for a given seed;
 * each step costs O(requests). */
#ifndef BP_OFFLINE_H
#define BP_OFFLINE_H

#include "workload.h"

#include <stddef.h>
#include <stdint.h>

typedef struct offline_config {
    double a;         /* a batch costs a + b[k] × L + c[k] × L² on backend k */
    const double *b;  /* backends entries */
    const double *c;  /* backends entries */
    size_t backends;  /* >= 1 */
    size_t max_batch; /* 1..SCHED_MAX_BATCH */
    size_t iters;     /* search steps */
    uint64_t seed;    /* of the search's random choices */
} offline_config;

/* The mean latency (seconds) of the best schedule found for the trace's
 * requests (their t and len), or -1 when out of memory. 0 for an empty
 * trace. Writes that schedule's outcome into the trace as a simulation
 * does: every request's status 200, sent = t, latency = its batch's end -
 * t (so the report per client can be compared with the policies'). */
double offline_search(wl_trace *trace, const offline_config *cfg);

#endif
