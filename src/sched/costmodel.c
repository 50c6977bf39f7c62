/* cost: the backend's cost curve a + b × L², learned online (see costmodel.h). */
#include "costmodel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cost_init(cost_model *m, double prior_a, double prior_b)
{
    memset(m, 0, sizeof *m);
    m->prior_a = m->a = prior_a;
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

/* Least squares over the points with keep[i]; returns 0, or -1 when the
 * x values have no spread. Then the curve goes through their mean keeping
 * b_fixed, unless that needs a negative intercept (a backend faster than
 * that slope allows): then through the origin and the mean. A negative
 * intercept from the full fit is refitted through the origin too. */
static int fit(const double *x, const double *y, const unsigned char *keep, size_t n,
               double b_fixed, double *a, double *b)
{
    double sx = 0, sy = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        if (keep[i]) {
            sx += x[i];
            sy += y[i];
            k++;
        }
    if (k == 0)
        return -1;
    double mx = sx / k, my = sy / k, sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++)
        if (keep[i]) {
            sxx += (x[i] - mx) * (x[i] - mx);
            sxy += (x[i] - mx) * (y[i] - my);
        }
    /* Lengths differing by less than one code point carry no slope. */
    if (sxx / k < 1.0) {
        *b = b_fixed;
        *a = my - b_fixed * mx;
        if (*a < 0 && mx > 0) {
            *a = 0;
            *b = my / mx;
        }
        return -1;
    }
    *b = sxy / sxx;
    *a = my - *b * mx;
    if (*a < 0) {
        /* A slope so steep that the intercept goes negative is noise over
         * lengths close together: fit through the origin instead, so the
         * lengths measured are predicted near what they took (clamping a to
         * 0 alone would predict them several times too slow). */
        double x2 = 0, xy = 0;
        for (size_t i = 0; i < n; i++)
            if (keep[i]) {
                x2 += x[i] * x[i];
                xy += x[i] * y[i];
            }
        *a = 0;
        *b = xy / x2;
    }
    return 0;
}

static void refit(cost_model *m)
{
    size_t n = m->n;
    unsigned char keep[COST_WINDOW];
    memset(keep, 1, n);
    double a, b;
    fit(m->x, m->y, keep, n, m->b, &a, &b);

    double res[COST_WINDOW], absdev[COST_WINDOW];
    for (size_t i = 0; i < n; i++)
        res[i] = absdev[i] = fabs(m->y[i] - (a + b * m->x[i]));
    double mad = median(absdev, n);
    /* 1.4826 × MAD estimates the standard deviation of normal noise; the
     * floor keeps a perfectly regular backend from rejecting everything. */
    double limit = 3 * 1.4826 * mad + 1e-4;
    for (size_t i = 0; i < n; i++)
        keep[i] = res[i] <= limit;
    fit(m->x, m->y, keep, n, m->b, &a, &b);

    /* A negative intercept or slope is noise around zero, not physics. */
    m->a = a < 0 ? 0 : a;
    m->b = b < 0 ? 0 : b;
}

void cost_observe(cost_model *m, size_t longest, double seconds)
{
    if (!(seconds >= 0) || !isfinite(seconds))
        return;
    m->x[m->next] = (double)longest * (double)longest;
    m->y[m->next] = seconds;
    m->next = (m->next + 1) % COST_WINDOW;
    if (m->n < COST_WINDOW)
        m->n++;
    m->seen++;
    /* A refit sorts the window; once the curve has settled, every
     * COST_REFIT_EVERY-th batch is often enough and keeps the cost off
     * the hot path when batches are frequent. */
    if (m->n >= COST_MIN_FIT && (m->n < 4 * COST_MIN_FIT || m->seen % COST_REFIT_EVERY == 0))
        refit(m);
}

double cost_predict(const cost_model *m, size_t longest)
{
    return m->a + m->b * (double)longest * (double)longest;
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
        if (!finite_nonneg(m->x[i]) || !finite_nonneg(m->y[i]))
            return "cost: every observation in the window is finite and >= 0";
    if (!finite_nonneg(m->prior_a) || !finite_nonneg(m->prior_b))
        return "cost: the prior is finite and >= 0";
    if (!finite_nonneg(m->a) || !finite_nonneg(m->b))
        return "cost: the estimate a, b is finite and >= 0";
    return NULL;
}
