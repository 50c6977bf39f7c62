/* metrics: the proxy's counters and histograms, served as Prometheus text
 * (/metrics) and as a JSON snapshot (/stats).
 *
 * Clients are counted by the ids clients.h gives them (0 is the anonymous
 * client "-"), each added here with its name when it gets its id; at most
 * METRICS_MAX_CLIENTS of them.
 *
 * Exposition: /metrics and /stats give their own series (or entry) to at
 * most `shown` clients (metrics_set_exposition): clients listed in the
 * clients file first, then the busiest by requests answered (ties: the one
 * that already has a series, then the older); an incumbent keeps its place
 * until a challenger has answered an eighth more requests than it, so equal
 * clients don't swap places at every scrape. The other clients are summed
 * under METRICS_REST, a name no client can have ('(' is not allowed in a
 * client name). Who is shown is decided when a page is rendered.
 *
 * A shown client's series carries its true totals, so a client that drops
 * out and comes back continues where it would have been. In /metrics, the
 * METRICS_REST series counts what clients did while they had no series of
 * their own (a client that gets one takes nothing away from it), so every
 * series only grows and rate() is right for each, and sum(rate()) over
 * clients is the total rate; only the sum of raw counters over clients can
 * exceed the total, by what promoted clients had done before. In /stats,
 * a snapshot, the METRICS_REST entry is the exact sum of the clients not
 * shown, so the entries add up to the totals; it can shrink when a client
 * gets an entry of its own.
 *
 * Rendered pages are kept for `cache_seconds`: scrapers asking more often
 * get the same bytes, and the proxy renders each page at most once per
 * interval. */
#ifndef BP_METRICS_H
#define BP_METRICS_H

#include "hist.h"

#include <event2/buffer.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_CLIENTS 1024
/* The name of the sum of the clients without series of their own. */
#define METRICS_REST "(rest)"
#define METRICS_SHOWN_DEFAULT 50
#define METRICS_CACHE_DEFAULT 1.0 /* seconds */
/* /stats lists this many of the latest batch attempts ("recent_batches"),
 * so the dashboard can plot observed batch times against the cost curve. */
#define METRICS_RECENT_BATCHES 200
/* The history (/stats/history): the last METRICS_HISTORY samples, one per
 * --history-interval-ms (1 s: 10 minutes), of what the dashboard draws, so
 * a page opened now shows the minutes before it at once. A sample holds
 * the queue and in-flight gauges, the backends' busy seconds (the first
 * METRICS_HISTORY_BACKENDS), the answers by status, refusals by reason,
 * attempts by outcome and retries (all clients), and the cumulative
 * latency buckets of all clients and of the METRICS_HISTORY_CLIENTS
 * busiest (at most --metrics-clients; listed clients first), with their
 * requests and backend seconds. Counts are kept modulo 2^32 (differences
 * over a window are exact below 2^32). Fixed size: 1912 bytes a sample on
 * x86-64, 1.1 MiB for the ring, allocated at the first sample. */
#define METRICS_HISTORY 600
#define METRICS_HISTORY_CLIENTS 8
#define METRICS_HISTORY_BACKENDS 8

/* Outcomes of one attempt to send a batch to the backend. */
enum metrics_attempt {
    ATTEMPT_OK,
    ATTEMPT_BUSY,         /* 429 */
    ATTEMPT_SERVER_ERROR, /* 5xx */
    ATTEMPT_REJECTED,     /* other 4xx */
    ATTEMPT_BAD_ANSWER,   /* 200 with a body that doesn't parse, or an answer the
                           * client refused (malformed, too large, bytes after it) */
    ATTEMPT_NO_ANSWER,    /* refused, reset, closed, timeout */
    ATTEMPT_KINDS
};

typedef struct metrics metrics;
/* The outcome's name in /metrics and /stats ("ok", "busy_429"...). */
const char *metrics_attempt_name(enum metrics_attempt kind);

/* Why a request was refused before it was queued. */
enum metrics_refusal {
    REFUSED_UNAUTHORIZED, /* 401 */
    REFUSED_RATE_LIMIT,   /* 429: the client's token bucket is empty */
    REFUSED_CLIENT_QUEUE, /* 429: the client has its maximum queued */
    REFUSED_QUEUE_FULL,   /* 503: the proxy's queue is full */
    REFUSED_DEADLINE,     /* 503: its deadline can't be met */
    REFUSED_TOO_COSTLY,   /* 413: a sequence would take longer than a backend attempt may */
    REFUSED_KINDS
};

/* A client's use of the backend right now, asked of the scheduler. */
typedef void (*metrics_usage_fn)(void *arg, int client, double *seconds, size_t *queued,
                                 double *weight);

typedef struct metrics_gauges {
    size_t queue_depth, inflight_requests, jobs, cache_entries;
    /* The limits alerting rules compare with: --max-queue, and the default
     * request deadline (--timeout) in seconds. */
    size_t queue_capacity;
    double default_deadline;
    double backend_last_contact_age; /* seconds, -1 if never */
    double cost_a, cost_lin, cost_b; /* the learned cost curve a + lin × L + b × L² */
    unsigned long long cost_observations;
    const char *policy;
    const char *backend_protocol; /* --backend-protocol */
    metrics_usage_fn usage;       /* per client: backend seconds, queued, weight */
    void *usage_arg;
} metrics_gauges;

metrics *metrics_new(size_t max_batch, double now);
void metrics_free(metrics *m);
/* How many clients get series of their own (0..METRICS_MAX_CLIENTS; by
 * default METRICS_SHOWN_DEFAULT), and how long a rendered page is reused
 * (0: never; by default METRICS_CACHE_DEFAULT). */
void metrics_set_exposition(metrics *m, size_t shown, double cache_seconds);

/* Counts for client id under name (copied); ids are added in order from 0
 * (false otherwise, or when out of memory). `listed`: the name is in the
 * clients file (see above). The counting functions below count an id never
 * added as client 0's. */
bool metrics_client_add(metrics *m, int id, const char *name, bool listed);
/* Whether a client is listed in the clients file (it changes on reload);
 * listed clients are shown first. */
void metrics_client_listed(metrics *m, int id, bool listed);

/* One answered request: its status and total latency. */
void metrics_request(metrics *m, int client, int status, double seconds);
/* One sequence served by the backend: its queue wait and its batch's time. */
void metrics_sequence(metrics *m, int client, double queue_wait, double backend_seconds);
/* One attempt to send a batch, successful or not; also kept, with the time
 * it ended, among the recent batches. */
void metrics_attempt(metrics *m, enum metrics_attempt kind, size_t size, size_t longest,
                     double seconds);
void metrics_retry(metrics *m);
/* A request passed admission control / was refused before queueing. */
void metrics_admitted(metrics *m, int client);
void metrics_refused(metrics *m, int client, enum metrics_refusal why);
void metrics_cache_hit(metrics *m);
void metrics_coalesced(metrics *m);

/* Per backend of the pool, by "host:port" (a backend removed and added
 * again keeps its counters). At most METRICS_MAX_BACKENDS names; later
 * ones get -1, which the functions below ignore. */
#define METRICS_MAX_BACKENDS 128
int metrics_backend_id(metrics *m, const char *hostport);
/* One attempt on the backend: its outcome and duration (busy time). */
void metrics_backend_attempt(metrics *m, int id, bool ok, double seconds);
void metrics_backend_ejected(metrics *m, int id);
/* Its state ("up", "ejected", "leaving", "removed") and learned curve. */
void metrics_backend_state(metrics *m, int id, const char *state, double cost_a, double cost_lin,
                           double cost_b);

/* Render a page now (and decide who is shown). */
void metrics_prometheus(metrics *m, const metrics_gauges *g, struct evbuffer *out);
/* A malloc'd JSON text. */
char *metrics_stats_json(metrics *m, const metrics_gauges *g, double now);

/* Takes one sample of the history (the caller's timer calls it every
 * interval; `interval` is only reported). False when out of memory. */
bool metrics_sample(metrics *m, const metrics_gauges *g, double now, double interval);
/* The history as a malloc'd JSON text: {"interval_seconds", "capacity",
 * "latency_bucket_bounds", "samples": [oldest first]}. */
char *metrics_history_json(const metrics *m);

enum metrics_page {
    METRICS_PAGE_PROMETHEUS,
    METRICS_PAGE_STATS,
    METRICS_PAGE_HISTORY,
    METRICS_PAGES
};
/* The page as rendered at most cache_seconds before `now` (rendered now if
 * older); owned by m, valid until the next call. NULL when out of memory.
 * g is only read when the page is rendered. */
const char *metrics_page(metrics *m, enum metrics_page which, const metrics_gauges *g, double now,
                         size_t *len);

#endif
