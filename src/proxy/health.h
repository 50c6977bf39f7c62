/* health: passive outlier detection for one backend of the pool, as Envoy
 * does it: consecutive failures eject the backend for a period that grows
 * with each ejection; once the period is over, an active check (GET
 * /healthz) must pass before it is used again.
 *
 * Pure: no clock, no I/O; the caller passes `now` and does the probing.
 *
 * Invariants:
 * - `ejected` is true from an ejection to the first passing probe at or
 *   after `until`; `failures` counts the consecutive failed attempts since
 *   the last success or re-admission;
 * - the k-th ejection in a row (k = `ejections_in_row`, from 1) lasts
 *   min(max, base × 2^(k-1)); a backend that stays healthy for `max`
 *   seconds after re-admission starts again from base. */
#ifndef BP_HEALTH_H
#define BP_HEALTH_H

#include <stdbool.h>

typedef struct health_config {
    int failures; /* consecutive failures that eject (0: never eject) */
    double base;  /* first ejection, seconds */
    double max;   /* longest ejection, seconds */
} health_config;

typedef struct health {
    health_config cfg;
    int failures;
    bool ejected;
    double until;            /* when ejected: the end of the period */
    double readmitted;       /* when it was last re-admitted (-1: never ejected) */
    int ejections_in_row;    /* see the invariants */
    unsigned long ejections; /* ever */
} health;

void health_init(health *h, const health_config *cfg);

/* A batch attempt succeeded. */
void health_success(health *h);

/* A batch attempt failed. `may_eject` is false when this backend is the
 * last one usable (as Envoy's max ejection percentage, the pool never
 * ejects everything: with every backend down, requests still fail by their
 * own retries and deadlines). Returns true if this failure ejects it. */
bool health_failure(health *h, double now, bool may_eject);

/* A probe passed (ok) or failed at now, while ejected. Returns true if the
 * backend is re-admitted by it. */
bool health_probe(health *h, double now, bool ok);

/* True if the backend may be given batches. */
bool health_usable(const health *h);

#endif
