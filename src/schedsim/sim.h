/* sim: runs the real scheduler (src/sched) in virtual time against a model
 * of the backend, and computes a lower bound on the mean latency.
 *
 * The model mirrors batchproxy and classifyd: one batch at a time per
 * backend (a pool of one or more, each free one asks the scheduler, the
 * fastest first), at most
 * max_batch sequences, a batch costs a + b × L + c × L² seconds (L its
 * longest member); a request with a cached result is answered at once and one whose
 * text is queued or in flight joins it (coalescing); a request not served
 * by its deadline fails with 504. Clients are admitted as batchproxy does
 * (clients.h, sched_admit): a token-bucket rate limit (429), a per-client
 * queue limit (429), the global queue limit and hopeless deadlines (503),
 * a string whose own batch would take longer than sched.max_batch_cost on
 * every backend (413; batchproxy's --backend-timeout),
 * with weights, limits and deadlines from a clients file or the defaults;
 * with a clients file, the named clients not in it share the unlisted pool
 * (one weight, rate and queue limit together, from [_unlisted]), as in
 * batchproxy. Clients whose SPEC says id=no are anonymous. Time is a double
 * that only this module advances; nothing reads a clock. */
#ifndef BP_SIM_H
#define BP_SIM_H

#include "clientsfile.h"
#include "scheduler.h"
#include "workload.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct sim_config {
    sched_config sched;
    double a, b, c; /* the backend's cost: a + b × L + c × L² per batch */
    double timeout; /* each request's deadline, seconds after it is sent */
    bool cache;     /* answer repeated texts from a cache (as batchproxy does) */
    /* The pool: `backends` servers (0 counts as 1), each one batch at a
     * time; backend k costs a + backend_b[k] × L + backend_c[k] × L²
     * (backend_b NULL: all b; backend_c NULL: all c). */
    size_t backends;
    const double *backend_b, *backend_c;
    /* Per-client settings as batchproxy's --clients FILE (NULL: none) and
     * its defaults for everyone else (as batchproxy's flags; the deadline
     * is `timeout`). */
    const cfile *clients;
    cfile_client client_defaults;
} sim_config;

/* Sends every request of the trace at its planned time t through a fresh
 * scheduler, filling status, sent and latency. Returns false with a
 * message in err when the scheduler can't be built or memory runs out. */
bool sim_run(const sim_config *cfg, wl_trace *trace, const wl_client *clients, char *err,
             size_t errlen);

/* A lower bound on the mean latency that any scheduler could achieve on the
 * trace with this backend (see sim.c for the argument). */
double sim_lower_bound(const wl_trace *trace, double a, double b, double c, size_t max_batch);

#endif
