/* cost: the backend's cost curve, learned online: seconds per batch ≈ a + b × L²,
 * L being the batch's longest length in code points.
 *
 * Fitted by least squares over a window of the most recent successful
 * batches, refitted without the outliers (residuals beyond 3 scaled median
 * absolute deviations: a stalled connection or a noisy neighbour must not
 * bend the curve). Until the window holds enough batches of at least two
 * lengths, the prior is used; with only one length seen, only `a` is fitted
 * and `b` keeps the prior, unless `a` would be negative (a backend faster
 * than the prior's slope allows): then a = 0 and `b` is fitted, so the one
 * length seen is always predicted right. The fit is redone after each of the first
 * 4 × COST_MIN_FIT observations, then after every COST_REFIT_EVERY-th.
 * Pure: no clock, no I/O.
 *
 * Invariants (cost_check): the window holds the last min(seen, COST_WINDOW)
 * observations, `next` = seen mod COST_WINDOW; every observation is finite
 * and >= 0 (cost_observe drops the others); the prior is finite and >= 0
 * (sched_new refuses others), and so is the estimate: a fit clamps a and b
 * at 0. Predictions are therefore >= 0 and never decrease with L. */
#ifndef BP_COSTMODEL_H
#define BP_COSTMODEL_H

#include <stddef.h>
#include <stdint.h>

#define COST_WINDOW 256
#define COST_MIN_FIT 8     /* observations before the fit replaces the prior */
#define COST_REFIT_EVERY 8 /* past the first few, refit every this many observations */

typedef struct cost_model {
    double prior_a, prior_b;
    double a, b;                           /* the current estimate */
    size_t n;                              /* observations in the window */
    size_t next;                           /* ring index */
    uint64_t seen;                         /* observations ever */
    double x[COST_WINDOW], y[COST_WINDOW]; /* L², seconds */
} cost_model;

void cost_init(cost_model *m, double prior_a, double prior_b);

/* Records one successful batch whose longest member had `longest` code
 * points and which took `seconds`, and refits. */
void cost_observe(cost_model *m, size_t longest, double seconds);

/* Predicted seconds for a batch whose longest member has `longest` code points. */
double cost_predict(const cost_model *m, size_t longest);

/* NULL when the invariants above hold, else a sentence naming the one broken. */
const char *cost_check(const cost_model *m);

#endif
