/* hist: fixed-bucket histograms with quantile estimates (see hist.h). */
#include "hist.h"

#include <string.h>

const double hist_latency_bounds[HIST_LATENCY_NBOUNDS] = {
    0.0001,  0.000141, 0.0002,  0.000283, 0.0004,  0.000566, 0.0008, 0.00113, 0.0016,
    0.00226, 0.0032,   0.00453, 0.0064,   0.00905, 0.0128,   0.0181, 0.0256,  0.0362,
    0.0512,  0.0724,   0.1024,  0.1448,   0.2048,  0.2896,   0.4096, 0.5793,  0.8192,
    1.1585,  1.6384,   2.3170,  3.2768,   4.6341,  6.5536,   9.2682, 13.1072, 18.5364,
    26.2144, 37.0728,  52.4288, 74.1455,  104.8576};
const size_t hist_latency_nbounds = HIST_LATENCY_NBOUNDS;

void hist_init(hist *h, const double *bounds, size_t nbounds)
{
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->nbounds = nbounds > HIST_MAX_BUCKETS ? HIST_MAX_BUCKETS : nbounds;
}

void hist_add(hist *h, double v)
{
    size_t lo = 0, hi = h->nbounds; /* first bound >= v, by bisection */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (h->bounds[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    h->counts[lo]++;
    if (h->n == 0 || v < h->min)
        h->min = v;
    if (h->n == 0 || v > h->max)
        h->max = v;
    h->n++;
    h->sum += v;
}

double hist_quantile(const hist *h, double q)
{
    if (h->n == 0)
        return 0;
    double rank = q * (double)h->n;
    uint64_t seen = 0;
    for (size_t i = 0; i <= h->nbounds; i++) {
        if (h->counts[i] == 0)
            continue;
        if ((double)(seen + h->counts[i]) >= rank) {
            double lo = i == 0 ? h->min : h->bounds[i - 1];
            double hi = i == h->nbounds ? h->max : h->bounds[i];
            if (lo < h->min)
                lo = h->min; /* nothing observed below the min */
            if (hi > h->max)
                hi = h->max; /* nor above the max */
            if (hi < lo)
                hi = lo;
            double frac = (rank - (double)seen) / (double)h->counts[i];
            return lo + (hi - lo) * frac;
        }
        seen += h->counts[i];
    }
    return h->max;
}
