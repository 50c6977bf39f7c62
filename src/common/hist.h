/* hist: fixed-bucket histograms (for Prometheus) with quantile estimates.
 *
 * A histogram counts observations into buckets with given upper bounds (the
 * last bucket is +Inf). Quantiles are interpolated inside a bucket, so they
 * are estimates; exact percentiles (loadgen's report) come from keeping
 * every sample instead. */
#ifndef BP_HIST_H
#define BP_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_MAX_BUCKETS 64

typedef struct hist {
    const double *bounds; /* nbounds ascending upper bounds; static storage */
    size_t nbounds;
    uint64_t counts[HIST_MAX_BUCKETS + 1]; /* counts[nbounds] is the +Inf bucket */
    uint64_t n;
    double sum, min, max; /* min and max: of the observations (n > 0) */
} hist;

/* Latency bounds in seconds: 100 us to ~105 s, a factor sqrt(2) apart. */
#define HIST_LATENCY_NBOUNDS 41
extern const double hist_latency_bounds[HIST_LATENCY_NBOUNDS];
extern const size_t hist_latency_nbounds;

void hist_init(hist *h, const double *bounds, size_t nbounds);
void hist_add(hist *h, double v);
/* The q-quantile (0..1) estimated by linear interpolation in its bucket,
 * never outside the observed [min, max]; 0 if empty. */
double hist_quantile(const hist *h, double q);

#endif
