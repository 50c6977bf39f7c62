/* metrics: counters, histograms, Prometheus text and /stats (see metrics.h). */
#include "metrics.h"

#include "addr.h"
#include "htab.h"
#include "mono.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The statuses the proxy answers with; anything else counts as "other".
 * 499 is nginx's "client closed request": the client hung up first. */
static const int known_status[] = {200, 400, 401, 404, 405, 413, 429, 499, 500, 502, 503, 504};
#define NSTATUS (sizeof known_status / sizeof *known_status)

static const char *const attempt_names[ATTEMPT_KINDS] = {
    "ok", "busy_429", "server_error_5xx", "rejected_4xx", "bad_answer", "no_answer"};

static const double length_bounds[] = {5,  10,  15,  20,  25,  30,  40,  50,
                                       75, 100, 150, 200, 300, 500, 1000};

typedef struct client_metrics {
    htab_node node;
    char name[72];
    int id;
    uint64_t by_status[NSTATUS + 1]; /* the last one counts "other" */
    uint64_t admitted, refused[REFUSED_KINDS];
    hist total, queue_wait, backend;
} client_metrics;

/* One batch attempt, for the recent-batches ring. */
typedef struct recent_batch {
    double t; /* when it ended, seconds since the proxy started */
    double seconds;
    uint32_t size, longest;
    enum metrics_attempt kind;
} recent_batch;

struct metrics {
    double started;
    recent_batch recent[METRICS_RECENT_BATCHES];
    uint64_t nrecent; /* attempts ever recorded; the ring's next slot is nrecent % size */
    htab names;
    client_metrics *clients[METRICS_MAX_CLIENTS];
    int nclients;
    double size_bounds[HIST_MAX_BUCKETS];
    hist batch_size, batch_longest, batch_seconds;
    uint64_t attempts[ATTEMPT_KINDS];
    uint64_t retries, cache_hits, coalesced;
    double busy_seconds;
    struct backend_metrics *backends[METRICS_MAX_BACKENDS];
    int nbackends;
};

/* One backend of the pool (see metrics_backend_id). */
typedef struct backend_metrics {
    char name[ADDR_HOST_MAX + 16];
    char state[16];
    uint64_t ok, failed, ejections;
    double busy_seconds, cost_a, cost_b;
} backend_metrics;

static client_metrics *add_client(metrics *m, const char *name)
{
    client_metrics *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    snprintf(c->name, sizeof c->name, "%s", name);
    hist_init(&c->total, hist_latency_bounds, hist_latency_nbounds);
    hist_init(&c->queue_wait, hist_latency_bounds, hist_latency_nbounds);
    hist_init(&c->backend, hist_latency_bounds, hist_latency_nbounds);
    c->node.key = c->name;
    c->node.klen = strlen(c->name);
    c->node.hash = htab_hash(&m->names, c->name, c->node.klen);
    htab_insert(&m->names, &c->node);
    c->id = m->nclients;
    m->clients[m->nclients++] = c;
    return c;
}

metrics *metrics_new(size_t max_batch, double now)
{
    metrics *m = calloc(1, sizeof *m);
    if (!m || !htab_init(&m->names, 64)) {
        free(m);
        return NULL;
    }
    m->started = now;
    size_t nb = max_batch < HIST_MAX_BUCKETS ? max_batch : HIST_MAX_BUCKETS;
    for (size_t i = 0; i < nb; i++)
        m->size_bounds[i] = (double)(i + 1);
    hist_init(&m->batch_size, m->size_bounds, nb);
    hist_init(&m->batch_longest, length_bounds, sizeof length_bounds / sizeof *length_bounds);
    hist_init(&m->batch_seconds, hist_latency_bounds, hist_latency_nbounds);
    /* Ids 0 and 1 always exist: the anonymous client and the overflow. */
    if (!add_client(m, "-") || !add_client(m, "_other")) {
        metrics_free(m);
        return NULL;
    }
    return m;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nclients; i++)
        free(m->clients[i]);
    for (int i = 0; i < m->nbackends; i++)
        free(m->backends[i]);
    htab_fini(&m->names);
    free(m);
}

int metrics_client_find(const metrics *m, const char *name)
{
    if (!name || !*name)
        return 0;
    size_t len = strlen(name);
    const client_metrics *c =
        (const client_metrics *)htab_find(&m->names, name, len, htab_hash(&m->names, name, len));
    return c ? c->id : -1;
}

int metrics_client_id(metrics *m, const char *name, bool listed)
{
    int id = metrics_client_find(m, name);
    if (id >= 0)
        return id;
    if (m->nclients >= (listed ? METRICS_MAX_CLIENTS : METRICS_MAX_CLIENTS / 2))
        return 1;
    const client_metrics *c = add_client(m, name);
    return c ? c->id : 1;
}

const char *metrics_client_name(const metrics *m, int id)
{
    return id >= 0 && id < m->nclients ? m->clients[id]->name : "-";
}

static client_metrics *client(metrics *m, int id)
{
    return m->clients[id >= 0 && id < m->nclients ? id : 0];
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < NSTATUS; i++)
        if (known_status[i] == status)
            return i;
    return NSTATUS;
}

void metrics_request(metrics *m, int id, int status, double seconds)
{
    client_metrics *c = client(m, id);
    c->by_status[status_index(status)]++;
    if (status == 200)
        hist_add(&c->total, seconds);
}

void metrics_sequence(metrics *m, int id, double queue_wait, double backend_seconds)
{
    client_metrics *c = client(m, id);
    hist_add(&c->queue_wait, queue_wait);
    hist_add(&c->backend, backend_seconds);
}

void metrics_attempt(metrics *m, enum metrics_attempt kind, size_t size, size_t longest,
                     double seconds)
{
    m->attempts[kind]++;
    m->busy_seconds += seconds;
    /* The caller has no timestamp to hand; reading the clock here keeps the
     * dispatcher's interface unchanged and costs nothing next to a batch. */
    m->recent[m->nrecent % METRICS_RECENT_BATCHES] = (recent_batch){.t = mono_now() - m->started,
                                                                    .seconds = seconds,
                                                                    .size = (uint32_t)size,
                                                                    .longest = (uint32_t)longest,
                                                                    .kind = kind};
    m->nrecent++;
    if (kind == ATTEMPT_OK) {
        hist_add(&m->batch_size, (double)size);
        hist_add(&m->batch_longest, (double)longest);
        hist_add(&m->batch_seconds, seconds);
    }
}

void metrics_retry(metrics *m)
{
    m->retries++;
}

static const char *const refusal_names[REFUSED_KINDS] = {
    "unauthorized", "rate_limit", "client_queue_full", "queue_full", "deadline", "too_costly"};

void metrics_admitted(metrics *m, int id)
{
    client(m, id)->admitted++;
}

void metrics_refused(metrics *m, int id, enum metrics_refusal why)
{
    client(m, id)->refused[why]++;
}

void metrics_cache_hit(metrics *m)
{
    m->cache_hits++;
}

void metrics_coalesced(metrics *m)
{
    m->coalesced++;
}

/* --- per backend --- */

int metrics_backend_id(metrics *m, const char *hostport)
{
    for (int i = 0; i < m->nbackends; i++)
        if (strcmp(m->backends[i]->name, hostport) == 0)
            return i;
    if (m->nbackends >= METRICS_MAX_BACKENDS)
        return -1;
    backend_metrics *b = calloc(1, sizeof *b);
    if (!b)
        return -1;
    snprintf(b->name, sizeof b->name, "%s", hostport);
    snprintf(b->state, sizeof b->state, "up");
    m->backends[m->nbackends] = b;
    return m->nbackends++;
}

static backend_metrics *backend_at(metrics *m, int id)
{
    return id >= 0 && id < m->nbackends ? m->backends[id] : NULL;
}

void metrics_backend_attempt(metrics *m, int id, bool ok, double seconds)
{
    backend_metrics *b = backend_at(m, id);
    if (!b)
        return;
    if (ok)
        b->ok++;
    else
        b->failed++;
    b->busy_seconds += seconds;
}

void metrics_backend_ejected(metrics *m, int id)
{
    backend_metrics *b = backend_at(m, id);
    if (b)
        b->ejections++;
}

void metrics_backend_state(metrics *m, int id, const char *state, double cost_a, double cost_b)
{
    backend_metrics *b = backend_at(m, id);
    if (!b)
        return;
    snprintf(b->state, sizeof b->state, "%s", state);
    if (strcmp(state, "removed") != 0) {
        b->cost_a = cost_a;
        b->cost_b = cost_b;
    }
}

static void prom_header(struct evbuffer *out, const char *name, const char *type, const char *help);

static void prom_backends(const metrics *m, struct evbuffer *out)
{
    prom_header(out, "batchproxy_backend_batches_total", "counter",
                "Batch attempts per backend of the pool, by outcome (ok or failed).");
    for (int i = 0; i < m->nbackends; i++) {
        const backend_metrics *b = m->backends[i];
        evbuffer_add_printf(out,
                            "batchproxy_backend_batches_total{backend=\"%s\",outcome=\"ok\"} "
                            "%llu\nbatchproxy_backend_batches_total{backend=\"%s\",outcome="
                            "\"failed\"} %llu\n",
                            b->name, (unsigned long long)b->ok, b->name,
                            (unsigned long long)b->failed);
    }
    static const struct {
        const char *name, *type, *help;
        size_t off;
        bool count;
    } per[] = {
        {"batchproxy_backend_failures_total", "counter", "Failed batch attempts per backend.",
         offsetof(backend_metrics, failed), true},
        {"batchproxy_backend_ejections_total", "counter",
         "Times each backend was ejected after consecutive failures.",
         offsetof(backend_metrics, ejections), true},
        {"batchproxy_backend_seconds_total", "counter",
         "Seconds each backend spent on our batches (all attempts).",
         offsetof(backend_metrics, busy_seconds), false},
        {"batchproxy_backend_cost_intercept_seconds", "gauge",
         "Each backend's learned cost curve a + b * L^2: a.", offsetof(backend_metrics, cost_a),
         false},
        {"batchproxy_backend_cost_slope_seconds", "gauge",
         "Each backend's learned cost curve a + b * L^2: b.", offsetof(backend_metrics, cost_b),
         false},
    };
    for (size_t k = 0; k < sizeof per / sizeof *per; k++) {
        prom_header(out, per[k].name, per[k].type, per[k].help);
        for (int i = 0; i < m->nbackends; i++) {
            const char *p = (const char *)m->backends[i] + per[k].off;
            if (per[k].count)
                evbuffer_add_printf(out, "%s{backend=\"%s\"} %llu\n", per[k].name,
                                    m->backends[i]->name, (unsigned long long)*(const uint64_t *)p);
            else
                evbuffer_add_printf(out, "%s{backend=\"%s\"} %.9g\n", per[k].name,
                                    m->backends[i]->name, *(const double *)p);
        }
    }
    prom_header(out, "batchproxy_backend_up", "gauge",
                "1 if the backend may be given batches (not ejected, leaving or removed).");
    for (int i = 0; i < m->nbackends; i++)
        evbuffer_add_printf(out, "batchproxy_backend_up{backend=\"%s\"} %d\n", m->backends[i]->name,
                            strcmp(m->backends[i]->state, "up") == 0);
}

/* "backends" in /stats: an object keyed by "host:port" (the dashboard's
 * utilisation chart draws one line per key from busy_seconds). */
static json_t *backends_json(const metrics *m)
{
    json_t *o = json_object();
    for (int i = 0; i < m->nbackends; i++) {
        const backend_metrics *b = m->backends[i];
        json_object_set_new(o, b->name,
                            json_pack("{s:s,s:I,s:I,s:I,s:f,s:{s:f,s:f}}", "state", b->state,
                                      "batches", (json_int_t)(b->ok + b->failed), "failures",
                                      (json_int_t)b->failed, "ejections", (json_int_t)b->ejections,
                                      "busy_seconds", b->busy_seconds, "cost_model", "a_seconds",
                                      b->cost_a, "b_seconds", b->cost_b));
    }
    return o;
}

/* --- Prometheus text format --- */

static void prom_header(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's series; labels is "" or 'client="x",'. */
static void prom_hist(struct evbuffer *out, const char *name, const char *labels, const hist *h)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < h->nbounds; i++) {
        cum += h->counts[i];
        evbuffer_add_printf(out, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, h->bounds[i],
                            (unsigned long long)cum);
    }
    cum += h->counts[h->nbounds];
    evbuffer_add_printf(out, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
                        (unsigned long long)cum);
    /* _sum and _count take the labels without le (and without the comma). */
    size_t ll = strlen(labels);
    char l[128];
    snprintf(l, sizeof l, "{%.*s}", ll ? (int)ll - 1 : 0, labels);
    const char *lp = ll ? l : "";
    evbuffer_add_printf(out, "%s_sum%s %.9g\n%s_count%s %llu\n", name, lp, h->sum, name, lp,
                        (unsigned long long)h->n);
}

typedef struct client_hist {
    const char *name, *help;
    size_t offset; /* of the hist in client_metrics */
} client_hist;

static const client_hist client_hists[] = {
    {"batchproxy_request_duration_seconds", "Time from arrival to a 200 answer, by client.",
     offsetof(client_metrics, total)},
    {"batchproxy_queue_wait_seconds",
     "Time a sequence waited in the queue before its batch was sent, by client.",
     offsetof(client_metrics, queue_wait)},
    {"batchproxy_backend_duration_seconds",
     "Backend time of the batch that served a sequence, by client.",
     offsetof(client_metrics, backend)},
};

/* Admission and fair-share figures per client (clients that sent nothing
 * are left out). */
static void prom_clients(const metrics *m, const metrics_gauges *g, struct evbuffer *out)
{
    prom_header(out, "batchproxy_client_admitted_total", "counter",
                "Requests that passed admission control, by client.");
    for (int i = 0; i < m->nclients; i++)
        if (m->clients[i]->admitted)
            evbuffer_add_printf(out, "batchproxy_client_admitted_total{client=\"%s\"} %llu\n",
                                m->clients[i]->name, (unsigned long long)m->clients[i]->admitted);
    prom_header(out, "batchproxy_client_refused_total", "counter",
                "Requests refused before queueing, by client and reason.");
    for (int i = 0; i < m->nclients; i++)
        for (int r = 0; r < REFUSED_KINDS; r++)
            if (m->clients[i]->refused[r])
                evbuffer_add_printf(
                    out, "batchproxy_client_refused_total{client=\"%s\",reason=\"%s\"} %llu\n",
                    m->clients[i]->name, refusal_names[r],
                    (unsigned long long)m->clients[i]->refused[r]);
    if (!g->usage)
        return;
    prom_header(out, "batchproxy_client_backend_seconds_total", "counter",
                "Backend time attributed to each client (its part of each batch).");
    for (int i = 0; i < m->nclients; i++) {
        double seconds, weight;
        size_t queued;
        g->usage(g->usage_arg, i, &seconds, &queued, &weight);
        if (seconds > 0)
            evbuffer_add_printf(out,
                                "batchproxy_client_backend_seconds_total{client=\"%s\"} %.6f\n",
                                m->clients[i]->name, seconds);
    }
    prom_header(out, "batchproxy_client_queued", "gauge", "Sequences queued, by client.");
    for (int i = 0; i < m->nclients; i++) {
        double seconds, weight;
        size_t queued;
        g->usage(g->usage_arg, i, &seconds, &queued, &weight);
        if (queued > 0 || m->clients[i]->admitted)
            evbuffer_add_printf(out, "batchproxy_client_queued{client=\"%s\"} %zu\n",
                                m->clients[i]->name, queued);
    }
}

void metrics_prometheus(const metrics *m, const metrics_gauges *g, struct evbuffer *out)
{
    prom_header(out, "batchproxy_requests_total", "counter",
                "Requests answered, by client and status (499: the client hung up first).");
    for (int i = 0; i < m->nclients; i++) {
        const client_metrics *c = m->clients[i];
        for (size_t s = 0; s <= NSTATUS; s++) {
            if (!c->by_status[s])
                continue;
            char st[16];
            if (s < NSTATUS)
                snprintf(st, sizeof st, "%d", known_status[s]);
            else
                snprintf(st, sizeof st, "other");
            evbuffer_add_printf(out,
                                "batchproxy_requests_total{client=\"%s\",status=\"%s\"} %llu\n",
                                c->name, st, (unsigned long long)c->by_status[s]);
        }
    }
    prom_clients(m, g, out);
    for (size_t k = 0; k < sizeof client_hists / sizeof *client_hists; k++) {
        prom_header(out, client_hists[k].name, "histogram", client_hists[k].help);
        for (int i = 0; i < m->nclients; i++) {
            const client_metrics *c = m->clients[i];
            const hist *h = (const hist *)((const char *)c + client_hists[k].offset);
            if (h->n == 0 && i > 0)
                continue;
            char labels[96];
            snprintf(labels, sizeof labels, "client=\"%s\",", c->name);
            prom_hist(out, client_hists[k].name, labels, h);
        }
    }
    prom_header(out, "batchproxy_batch_size", "histogram", "Sequences per batch sent.");
    prom_hist(out, "batchproxy_batch_size", "", &m->batch_size);
    prom_header(out, "batchproxy_batch_longest_length", "histogram",
                "Length (code points) of each batch's longest sequence.");
    prom_hist(out, "batchproxy_batch_longest_length", "", &m->batch_longest);
    prom_header(out, "batchproxy_batch_duration_seconds", "histogram",
                "Backend time of each successful batch.");
    prom_hist(out, "batchproxy_batch_duration_seconds", "", &m->batch_seconds);

    prom_header(out, "batchproxy_backend_attempts_total", "counter",
                "Batches sent to the backend, by outcome.");
    for (int k = 0; k < ATTEMPT_KINDS; k++)
        evbuffer_add_printf(out, "batchproxy_backend_attempts_total{outcome=\"%s\"} %llu\n",
                            attempt_names[k], (unsigned long long)m->attempts[k]);
    prom_header(out, "batchproxy_backend_busy_seconds_total", "counter",
                "Seconds the backend spent on our batches (all attempts).");
    evbuffer_add_printf(out, "batchproxy_backend_busy_seconds_total %.6f\n", m->busy_seconds);
    prom_header(out, "batchproxy_retries_total", "counter", "Batch retries after a failure.");
    evbuffer_add_printf(out, "batchproxy_retries_total %llu\n", (unsigned long long)m->retries);
    prom_header(out, "batchproxy_cache_hits_total", "counter",
                "Sequences answered from the result cache.");
    evbuffer_add_printf(out, "batchproxy_cache_hits_total %llu\n",
                        (unsigned long long)m->cache_hits);
    prom_header(out, "batchproxy_coalesced_total", "counter",
                "Sequences that joined an identical queued or in-flight one.");
    evbuffer_add_printf(out, "batchproxy_coalesced_total %llu\n", (unsigned long long)m->coalesced);
    prom_header(out, "batchproxy_queue_depth", "gauge", "Sequences waiting for the backend.");
    evbuffer_add_printf(out, "batchproxy_queue_depth %zu\n", g->queue_depth);
    prom_header(out, "batchproxy_inflight_requests", "gauge", "Requests not yet answered.");
    evbuffer_add_printf(out, "batchproxy_inflight_requests %zu\n", g->inflight_requests);
    prom_header(out, "batchproxy_cost_intercept_seconds", "gauge",
                "Learned backend cost curve a + b * L^2: a.");
    evbuffer_add_printf(out, "batchproxy_cost_intercept_seconds %.9g\n", g->cost_a);
    prom_header(out, "batchproxy_cost_slope_seconds", "gauge",
                "Learned backend cost curve a + b * L^2: b.");
    evbuffer_add_printf(out, "batchproxy_cost_slope_seconds %.9g\n", g->cost_b);
    prom_header(out, "batchproxy_cache_entries", "gauge", "Results held in the cache.");
    evbuffer_add_printf(out, "batchproxy_cache_entries %zu\n", g->cache_entries);
    prom_backends(m, out);
}

/* --- /stats --- */

static json_t *hist_json(const hist *h)
{
    return json_pack("{s:I,s:f,s:f,s:f,s:f,s:f}", "count", (json_int_t)h->n, "mean",
                     h->n ? h->sum / (double)h->n : 0.0, "p50", hist_quantile(h, 0.50), "p95",
                     hist_quantile(h, 0.95), "p99", hist_quantile(h, 0.99), "max", h->max);
}

/* Per-bucket (not cumulative) counts, the +Inf bucket last: with the
 * bounds listed once in /stats, a reader can difference two snapshots and
 * estimate percentiles over just the time between them. */
static json_t *buckets_json(const hist *h)
{
    json_t *a = json_array();
    for (size_t i = 0; i <= h->nbounds; i++)
        json_array_append_new(a, json_integer((json_int_t)h->counts[i]));
    return a;
}

/* The latest batch attempts, oldest first; seq numbers every attempt since
 * start, so a poller can tell which ones it has already seen. */
static json_t *recent_json(const metrics *m)
{
    json_t *a = json_array();
    uint64_t first = m->nrecent > METRICS_RECENT_BATCHES ? m->nrecent - METRICS_RECENT_BATCHES : 0;
    for (uint64_t k = first; k < m->nrecent; k++) {
        const recent_batch *b = &m->recent[k % METRICS_RECENT_BATCHES];
        json_array_append_new(a,
                              json_pack("{s:I,s:f,s:I,s:I,s:f,s:b,s:s}", "seq", (json_int_t)k, "t",
                                        b->t, "size", (json_int_t)b->size, "longest",
                                        (json_int_t)b->longest, "seconds", b->seconds, "ok",
                                        b->kind == ATTEMPT_OK, "outcome", attempt_names[b->kind]));
    }
    return a;
}

char *metrics_stats_json(const metrics *m, const metrics_gauges *g, double now)
{
    json_t *clients = json_object();
    for (int i = 0; i < m->nclients; i++) {
        const client_metrics *c = m->clients[i];
        json_t *st = json_object();
        json_int_t total = 0;
        for (size_t s = 0; s <= NSTATUS; s++) {
            if (!c->by_status[s])
                continue;
            char key[16];
            if (s < NSTATUS)
                snprintf(key, sizeof key, "%d", known_status[s]);
            else
                snprintf(key, sizeof key, "other");
            json_object_set_new(st, key, json_integer((json_int_t)c->by_status[s]));
            total += (json_int_t)c->by_status[s];
        }
        if (total == 0) {
            json_decref(st);
            continue;
        }
        json_t *cj = json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:I}", "requests", total, "by_status", st,
                               "latency_seconds", hist_json(&c->total), "queue_wait_seconds",
                               hist_json(&c->queue_wait), "backend_seconds", hist_json(&c->backend),
                               "latency_buckets", buckets_json(&c->total), "admitted",
                               (json_int_t)c->admitted);
        json_t *refused = json_object();
        for (int r = 0; r < REFUSED_KINDS; r++)
            json_object_set_new(refused, refusal_names[r], json_integer((json_int_t)c->refused[r]));
        json_object_set_new(cj, "refused", refused);
        if (g->usage) {
            double seconds, weight;
            size_t queued;
            g->usage(g->usage_arg, i, &seconds, &queued, &weight);
            json_object_set_new(cj, "share_seconds", json_real(seconds));
            json_object_set_new(cj, "queued", json_integer((json_int_t)queued));
            json_object_set_new(cj, "weight", json_real(weight));
        }
        json_object_set_new(clients, c->name, cj);
    }
    json_t *attempts = json_object();
    for (int k = 0; k < ATTEMPT_KINDS; k++)
        json_object_set_new(attempts, attempt_names[k], json_integer((json_int_t)m->attempts[k]));
    json_t *root =
        json_pack("{s:f,s:s,s:I,s:I,s:I,s:I,s:f,s:o,s:I,s:I,s:I,s:f,s:o,s:o,s:o}", "uptime_seconds",
                  now - m->started, "policy", g->policy, "queue_depth", (json_int_t)g->queue_depth,
                  "inflight_requests", (json_int_t)g->inflight_requests, "jobs",
                  (json_int_t)g->jobs, "cache_entries", (json_int_t)g->cache_entries,
                  "backend_last_contact_age_seconds", g->backend_last_contact_age,
                  "backend_attempts", attempts, "retries", (json_int_t)m->retries, "cache_hits",
                  (json_int_t)m->cache_hits, "coalesced", (json_int_t)m->coalesced,
                  "backend_busy_seconds", m->busy_seconds, "batch_size", hist_json(&m->batch_size),
                  "batch_longest_length", hist_json(&m->batch_longest), "clients", clients);
    if (!root)
        return NULL;
    json_t *bounds = json_array();
    for (size_t i = 0; i < hist_latency_nbounds; i++)
        json_array_append_new(bounds, json_real(hist_latency_bounds[i]));
    json_object_set_new(root, "latency_bucket_bounds", bounds);
    json_object_set_new(root, "cost_model",
                        json_pack("{s:f,s:f,s:I}", "a_seconds", g->cost_a, "b_seconds", g->cost_b,
                                  "observations", (json_int_t)g->cost_observations));
    json_object_set_new(root, "recent_batches", recent_json(m));
    json_object_set_new(root, "backends", backends_json(m));
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}
