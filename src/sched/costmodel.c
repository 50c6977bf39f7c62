/* cost: the backend's cost curve a + lin × L + b × L², learned online (see costmodel.h). */
#include "costmodel.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void cost_init(cost_model *m, double prior_a, double prior_lin, double prior_b)
{
    memset(m, 0, sizeof *m);
    m->prior_a = m->a = prior_a;
    m->prior_lin = m->lin = prior_lin;
    m->prior_b = m->b = prior_b;
}

/* The k-th smallest of v[0..n) (v is reordered): Hoare's selection,
 * linear on average. A refit needs only a median, and sorting the window
 * was a visible share of the proxy's CPU when batches are frequent. */
static double select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        double pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        /* Now v[lo..j] <= pivot <= v[i..hi], and j < i. */
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/* Median of v[0..n), n > 0 (v is reordered). */
static double median(double *v, size_t n)
{
    double upper = select_kth(v, n, n / 2);
    if (n % 2)
        return upper;
    /* The lower middle is the largest of the half below. */
    double lower = v[0];
    for (size_t i = 1; i < n / 2; i++)
        if (v[i] > lower)
            lower = v[i];
    return (lower + upper) / 2;
}

/* The window's points a fit uses: those with keep[i]. */
typedef struct points {
    const double *len, *y;
    const unsigned char *keep;
    size_t n;
} points;

/* A term of the curve besides the intercept: p × L + q × L². */
typedef struct term {
    double p, q;
} term;

static double term_at(term t, double len)
{
    return t.p * len + t.q * (len * len);
}

/* The kept points' times and term values, in window order, computed once
 * per fit: the subsets' fits and errors all read them. */
typedef struct design {
    size_t k;
    double y[COST_WINDOW], f[2][COST_WINDOW];
} design;

static void design_of(const points *pt, const term *t, size_t nt, design *d)
{
    d->k = 0;
    for (size_t i = 0; i < pt->n; i++)
        if (pt->keep[i]) {
            for (size_t j = 0; j < nt; j++)
                d->f[j][d->k] = term_at(t[j], pt->len[i]);
            d->y[d->k++] = pt->y[i];
        }
}

/* What least squares over the intercept and up to two terms needs. */
typedef struct moments {
    double k, my, mf[2];    /* points, mean time, mean of each term */
    double cg[2][2], cr[2]; /* centred: sum (fj - mfj)(fl - mfl), sum (fj - mfj)(y - my) */
    double rg[2][2], rr[2]; /* raw: sum fj fl, sum fj y */
    double yy;              /* sum y² */
} moments;

static void moments_of(const design *d, size_t nt, moments *mo)
{
    memset(mo, 0, sizeof *mo);
    if (d->k == 0)
        return;
    double sy = 0, sf[2] = {0, 0};
    for (size_t i = 0; i < d->k; i++) {
        for (size_t j = 0; j < nt; j++)
            sf[j] += d->f[j][i];
        sy += d->y[i];
    }
    mo->k = (double)d->k;
    mo->my = sy / mo->k;
    for (size_t j = 0; j < nt; j++)
        mo->mf[j] = sf[j] / mo->k;
    for (size_t i = 0; i < d->k; i++) {
        double y = d->y[i];
        for (size_t j = 0; j < nt; j++) {
            double fj = d->f[j][i];
            for (size_t l = 0; l < nt; l++) {
                mo->cg[j][l] += (fj - mo->mf[j]) * (d->f[l][i] - mo->mf[l]);
                mo->rg[j][l] += fj * d->f[l][i];
            }
            mo->cr[j] += (fj - mo->mf[j]) * (y - mo->my);
            mo->rr[j] += fj * y;
        }
        mo->yy += y * y;
    }
}

/* Ordinary least squares over the terms in `mask` (bit 0: the intercept,
 * bit 1 + j: term j) into coef[0] (the intercept) and coef[1 + j] (0 for
 * the terms left out); false when those terms can't be told apart on
 * these points. With the intercept, the terms are centred on their means
 * (the usual, better conditioned form). */
static bool fit_subset(const moments *mo, size_t nt, unsigned mask, double *coef)
{
    bool icept = mask & 1;
    size_t idx[2], m = 0;
    for (size_t j = 0; j < nt; j++)
        if (mask & (2u << j))
            idx[m++] = j;
    const double(*g)[2] = icept ? mo->cg : mo->rg;
    const double *r = icept ? mo->cr : mo->rr;
    memset(coef, 0, (nt + 1) * sizeof *coef);
    if (m == 1) {
        double g00 = g[idx[0]][idx[0]];
        if (!(g00 > 0))
            return false;
        coef[1 + idx[0]] = r[idx[0]] / g00;
    } else if (m == 2) {
        double g00 = g[idx[0]][idx[0]], g11 = g[idx[1]][idx[1]], g01 = g[idx[0]][idx[1]];
        double det = g00 * g11 - g01 * g01;
        /* Nearly collinear (lengths too close together for two terms):
         * a subset of one term fits as well. */
        if (!(det > 1e-12 * g00 * g11))
            return false;
        coef[1 + idx[0]] = (r[idx[0]] * g11 - r[idx[1]] * g01) / det;
        coef[1 + idx[1]] = (g00 * r[idx[1]] - g01 * r[idx[0]]) / det;
    }
    if (icept) {
        coef[0] = mo->my;
        for (size_t k = 0; k < m; k++)
            coef[0] -= coef[1 + idx[k]] * mo->mf[idx[k]];
    }
    return true;
}

static double sse(const design *d, size_t nt, const double *coef)
{
    double s = 0;
    for (size_t i = 0; i < d->k; i++) {
        double pred = coef[0];
        for (size_t j = 0; j < nt; j++)
            pred += coef[1 + j] * d->f[j][i];
        s += (d->y[i] - pred) * (d->y[i] - pred);
    }
    return s;
}

/* Non-negative least squares over the intercept and nt <= 2 terms, into
 * coef[0..nt]: every subset's ordinary fit, the best one whose coefficients
 * are all >= 0 (the optimum is one of them: the unconstrained fit on the
 * terms it doesn't set to 0). Subsets go smallest first, term 0 before
 * term 1, and a later one replaces the best only if it lowers the squared
 * error by more than 1e-12 of sum y²: a term that changes the times by
 * less than a millionth is rounding, and must not join. */
static void nnls(const points *pt, const term *t, size_t nt, double *coef)
{
    design d;
    design_of(pt, t, nt, &d);
    moments mo;
    moments_of(&d, nt, &mo);
    memset(coef, 0, (nt + 1) * sizeof *coef);
    double best = mo.yy, tol = 1e-12 * mo.yy;
    /* The subsets by size, then term 0 before term 1 (bit 0: intercept). */
    static const unsigned by_size[] = {1, 2, 4, 3, 5, 6, 7};
    for (size_t s = 0; s < sizeof by_size / sizeof *by_size; s++) {
        unsigned mask = by_size[s];
        if (mask >= 2u << nt)
            continue; /* a term beyond nt */
        double c[3];
        if (!fit_subset(&mo, nt, mask, c))
            continue;
        bool feasible = true;
        for (size_t j = 0; j <= nt; j++)
            feasible &= c[j] >= 0;
        double e = feasible ? sse(&d, nt, c) : INFINITY;
        if (e < best - tol) {
            best = e;
            memcpy(coef, c, (nt + 1) * sizeof *coef);
        }
    }
}

/* Up to 3: how many different lengths the kept points have. */
static int distinct_lengths(const points *pt)
{
    double seen[2];
    int d = 0;
    for (size_t i = 0; i < pt->n; i++) {
        if (!pt->keep[i] || (d > 0 && pt->len[i] == seen[0]) || (d > 1 && pt->len[i] == seen[1]))
            continue;
        if (d == 2)
            return 3;
        seen[d++] = pt->len[i];
    }
    return d;
}

/* The curve's shape as one term with q = 1 (or p = 1 when it has no L²):
 * the estimate's, else the prior's, else L². */
static term shape_of(const cost_model *m)
{
    double lin = m->lin, b = m->b;
    if (!(lin > 0 || b > 0)) {
        lin = m->prior_lin;
        b = m->prior_b;
    }
    if (b > 0)
        return (term){lin / b, 1};
    return lin > 0 ? (term){1, 0} : (term){0, 1};
}

/* One length L seen: the estimate's shape with `a` absorbing the
 * difference, unless that needs a negative `a`: then through the origin,
 * the shape scaled to what L took. */
static void fit_one_length(const points *pt, const cost_model *m, double *a, double *lin, double *b)
{
    double sy = 0, k = 0, len = 0;
    for (size_t i = 0; i < pt->n; i++)
        if (pt->keep[i]) {
            sy += pt->y[i];
            len = pt->len[i];
            k++;
        }
    double my = sy / k, g = m->lin * len + m->b * (len * len);
    *a = my - g;
    *lin = m->lin;
    *b = m->b;
    if (*a < 0) { /* then g > my >= 0 */
        term s = shape_of(m);
        double scale = my / term_at(s, len);
        *a = 0;
        *lin = s.p * scale;
        *b = s.q * scale;
    }
}

/* The fit over the kept points (at least one): as many terms as the
 * window can tell apart (see costmodel.h). */
static void fit(const points *pt, const cost_model *m, double *a, double *lin, double *b)
{
    int d = distinct_lengths(pt);
    if (d < 2) {
        fit_one_length(pt, m, a, lin, b);
        return;
    }
    /* Two lengths: the intercept and the shape; more: L² and L apart. */
    term t[2] = {{0, 1}, {1, 0}};
    size_t nt = 2;
    if (d == 2) {
        t[0] = shape_of(m);
        nt = 1;
    }
    double coef[3];
    nnls(pt, t, nt, coef);
    *a = coef[0];
    *lin = *b = 0;
    for (size_t j = 0; j < nt; j++) {
        *lin += coef[1 + j] * t[j].p;
        *b += coef[1 + j] * t[j].q;
    }
}

static void refit(cost_model *m)
{
    size_t n = m->n;
    unsigned char keep[COST_WINDOW];
    memset(keep, 1, n);
    points pt = {m->len, m->y, keep, n};
    double a, lin, b;
    fit(&pt, m, &a, &lin, &b);

    double res[COST_WINDOW], absdev[COST_WINDOW];
    for (size_t i = 0; i < n; i++) {
        double len = m->len[i];
        res[i] = absdev[i] = fabs(m->y[i] - (a + lin * len + b * (len * len)));
    }
    double mad = median(absdev, n);
    /* 1.4826 × MAD estimates the standard deviation of normal noise; the
     * floor keeps a perfectly regular backend from rejecting everything
     * (at least half the points are within the MAD: some are kept). */
    double limit = 3 * 1.4826 * mad + 1e-4;
    for (size_t i = 0; i < n; i++)
        keep[i] = res[i] <= limit;
    fit(&pt, m, &m->a, &m->lin, &m->b);
}

void cost_observe(cost_model *m, size_t longest, double seconds)
{
    if (!(seconds >= 0) || !isfinite(seconds))
        return;
    m->len[m->next] = (double)longest;
    m->y[m->next] = seconds;
    m->next = (m->next + 1) % COST_WINDOW;
    if (m->n < COST_WINDOW)
        m->n++;
    m->seen++;
    /* A refit takes a median and up to 2 × 7 small least-squares fits
     * over the window; once the curve has settled, every
     * COST_REFIT_EVERY-th batch is often enough and keeps the cost off
     * the hot path when batches are frequent. */
    if (m->n >= COST_MIN_FIT && (m->n < 4 * COST_MIN_FIT || m->seen % COST_REFIT_EVERY == 0))
        refit(m);
}

double cost_predict(const cost_model *m, size_t longest)
{
    double len = (double)longest;
    return m->a + m->lin * len + m->b * len * len;
}

static int finite_nonneg(double v)
{
    return v >= 0 && isfinite(v);
}

const char *cost_check(const cost_model *m)
{
    if (m->n != (m->seen < COST_WINDOW ? m->seen : COST_WINDOW) || m->next != m->seen % COST_WINDOW)
        return "cost: the window holds the last min(seen, COST_WINDOW) observations, next = seen "
               "mod COST_WINDOW";
    for (size_t i = 0; i < m->n; i++)
        if (!finite_nonneg(m->len[i]) || m->len[i] != floor(m->len[i]) || !finite_nonneg(m->y[i]))
            return "cost: every observation in the window is finite and >= 0, its length a whole "
                   "number";
    if (!finite_nonneg(m->prior_a) || !finite_nonneg(m->prior_lin) || !finite_nonneg(m->prior_b))
        return "cost: the prior is finite and >= 0";
    if (!finite_nonneg(m->a) || !finite_nonneg(m->lin) || !finite_nonneg(m->b))
        return "cost: the estimate a, lin, b is finite and >= 0";
    if (m->seen < COST_MIN_FIT &&
        (m->a != m->prior_a || m->lin != m->prior_lin || m->b != m->prior_b))
        return "cost: until COST_MIN_FIT observations, the estimate is the prior";
    return NULL;
}
