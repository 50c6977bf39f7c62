/* cost: the backend's cost curve, learned online: seconds per batch ≈
 * a + lin × L + b × L², L being the batch's longest length in code points.
 * A backend whose time grows with the square of the length (attention over
 * the longest member) has lin = 0; one bound by padding, linear in the
 * longest member, has b = 0; a, lin and b are never negative.
 *
 * Fitted by non-negative least squares over a window of the most recent
 * successful batches, refitted without the outliers (residuals beyond 3
 * scaled median absolute deviations: a stalled connection or a noisy
 * neighbour must not bend the curve). With three terms and at least three
 * lengths seen, every subset of the terms is fitted by ordinary least
 * squares and the best one whose coefficients are all >= 0 is kept: that
 * is the non-negative optimum, as the optimum is the unconstrained fit on
 * the terms it keeps (a term joins only if it lowers the squared error
 * beyond rounding, so exact quadratic data keeps lin = 0). A window can't
 * tell more terms apart than it has lengths: with two lengths, the curve
 * keeps its shape (the ratio lin : b; the prior's, or L², when it has
 * none) and only a and its scale are fitted; with one, only `a` is fitted,
 * unless `a` would be negative (a backend faster than the shape allows):
 * then a = 0 and the shape is scaled, so the one length seen is always
 * predicted right. Until the window holds COST_MIN_FIT batches, the prior
 * is used. The fit is redone after each of the first 4 × COST_MIN_FIT
 * observations, then after every COST_REFIT_EVERY-th. Pure: no clock, no
 * I/O.
 *
 * Invariants (cost_check): the window holds the last min(seen, COST_WINDOW)
 * observations, `next` = seen mod COST_WINDOW; every observation is finite
 * and >= 0, and its length a whole number (cost_observe drops the others);
 * the prior is finite and >= 0 (sched_new refuses others), and so is the
 * estimate; until COST_MIN_FIT observations the estimate is the prior.
 * Predictions are therefore >= 0 and never decrease with L. */
#ifndef BP_COSTMODEL_H
#define BP_COSTMODEL_H

#include <stddef.h>
#include <stdint.h>

#define COST_WINDOW 256
#define COST_MIN_FIT 8     /* observations before the fit replaces the prior */
#define COST_REFIT_EVERY 8 /* past the first few, refit every this many observations */

typedef struct cost_model {
    double prior_a, prior_lin, prior_b;
    double a, lin, b;                        /* the current estimate */
    size_t n;                                /* observations in the window */
    size_t next;                             /* ring index */
    uint64_t seen;                           /* observations ever */
    double len[COST_WINDOW], y[COST_WINDOW]; /* L, seconds */
} cost_model;

/* Starts from the prior a + lin × L + b × L² (each >= 0). */
void cost_init(cost_model *m, double prior_a, double prior_lin, double prior_b);

/* Records one successful batch whose longest member had `longest` code
 * points and which took `seconds`, and refits. */
void cost_observe(cost_model *m, size_t longest, double seconds);

/* Predicted seconds for a batch whose longest member has `longest` code points. */
double cost_predict(const cost_model *m, size_t longest);

/* NULL when the invariants above hold, else a sentence naming the one broken. */
const char *cost_check(const cost_model *m);

#endif
