/* report: statistics of a load run and their text, JSON and side-by-side forms.
 *
 * Input is one record per request (client, send time, length, status,
 * latency), from loadgen's HTTP runs or schedsim's simulated ones; nothing
 * here knows how the requests were sent (no libevent, no clock).
 *
 * Definitions (also printed with every report):
 *   - success: HTTP 200; every other outcome is an error, counted by status
 *     ("conn" = 0 for a failed connection, "timeout" = -1 for no answer).
 *   - latency statistics are over successful requests only, in seconds;
 *     percentiles are nearest-rank: the p-th is the ceil(p/100 * n)-th
 *     smallest of the n samples (exact, no buckets).
 *   - slowdown = latency / max(c * L^2, REPORT_COST_FLOOR): the latency over
 *     the request's own cost at the backend (c = the backend's cost per
 *     squared code point, L = the request's length); the floor keeps tiny
 *     strings from blowing it up. Per client: the mean over its successes.
 *   - fairness: Jain's index J = (sum x)^2 / (n * sum x^2) over the clients'
 *     mean slowdowns x (clients without successes are left out); 1 = all
 *     clients slowed down alike, 1/n = one client takes all the slowdown.
 *   - wall time: from the run's start to the last answer (max send +
 *     latency); throughput = answered requests (any HTTP status) / wall. */
#ifndef BP_REPORT_H
#define BP_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define REPORT_COST_FLOOR 0.001
#define REPORT_NAME_MAX 64
#define REPORT_MAX_STATUSES 16
/* Statuses beyond REPORT_MAX_STATUSES distinct ones are counted here. */
#define REPORT_STATUS_OTHER (-3)

typedef struct report_record {
    size_t client;  /* index into the client names */
    double send;    /* seconds after the run's start */
    size_t len;     /* code points */
    int status;     /* HTTP status, 0 = connection failed, -1 = timeout */
    double latency; /* seconds from sending to the answer or to giving up */
} report_record;

typedef struct report_status_count {
    int status;
    size_t n;
} report_status_count;

typedef struct report_stats {
    char name[REPORT_NAME_MAX + 1];
    size_t requests, successes, errors;
    size_t answered;                               /* got an HTTP answer of any status */
    report_status_count errs[REPORT_MAX_STATUSES]; /* errors by status, ascending */
    size_t nerrs;
    /* Over successful requests; NAN when there are none. */
    double mean, p50, p95, p99, max;
    double slowdown;   /* mean slowdown */
    double throughput; /* answered / wall, per second */
} report_stats;

typedef struct report {
    double cost; /* c used for slowdowns */
    double wall; /* seconds */
    report_stats *clients;
    size_t nclients;
    report_stats overall;
    double jain;   /* NAN when no client has a success */
    size_t jain_n; /* clients that entered the index */
} report;

/* The p-th (0 < p <= 100) nearest-rank percentile of n ascending samples;
 * NAN when n is 0. */
double report_percentile(const double *sorted, size_t n, double p);

/* Jain's fairness index of x[0..n): (sum x)^2 / (n * sum x^2); NAN when n is
 * 0 or all x are 0. */
double report_jain(const double *x, size_t n);

/* max(cost * len^2, REPORT_COST_FLOOR). */
double report_own_cost(double cost, size_t len);

/* Computes the report of n records from nclients clients. Returns false
 * when out of memory. Release with report_free. */
bool report_compute(const report_record *recs, size_t n, const char *const *names, size_t nclients,
                    double cost, report *out);
void report_free(report *r);

/* Human-readable tables and the definitions above. */
void report_print(FILE *out, const report *r);

/* The report as a JSON object (see docs/loadgen.md); NULL when out of memory. */
json_t *report_to_json(const report *r);

/* Reads back an object made by report_to_json (extra members are ignored).
 * Returns false with a message in err. */
bool report_from_json(const json_t *j, report *out, char *err, size_t errlen);

/* Reads a JSON file holding such an object; "FILE#POLICY" reads one
 * policy's report from schedsim --json output. */
bool report_load(const char *path, report *out, char *err, size_t errlen);

/* Several reports side by side: one column per run (labelled), one row per
 * figure, per client (union of client names, in order of appearance) and
 * overall. */
void report_compare(FILE *out, const report *runs, const char *const *labels, size_t nruns);

/* "conn", "timeout", "other" or the number, into buf. */
const char *report_status_name(int status, char *buf, size_t len);

#endif
