/* metrics: counters, histograms, Prometheus text and /stats (see metrics.h). */
#include "metrics.h"

#include "addr.h"
#include "mono.h"

#include <jansson.h>
#include <math.h>
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

const char *metrics_attempt_name(enum metrics_attempt kind)
{
    return (unsigned)kind < ATTEMPT_KINDS ? attempt_names[kind] : "unknown";
}

static const double length_bounds[] = {5,  10,  15,  20,  25,  30,  40,  50,
                                       75, 100, 150, 200, 300, 500, 1000};

/* Where a client's counts were in the latest page rendered (see metrics.h):
 * not yet in any (nothing answered or admitted), its own series, or the
 * rest. */
enum shown_state { SHOWN_NOT_YET, SHOWN_OWN, SHOWN_REST };

typedef struct client_metrics {
    char name[72];
    int id;
    bool listed; /* in the clients file: shown first */
    enum shown_state shown;
    uint64_t by_status[NSTATUS + 1]; /* the last one counts "other" */
    uint64_t admitted, refused[REFUSED_KINDS];
    hist total, queue_wait, backend;
} client_metrics;

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
#define NCLIENT_HISTS (sizeof client_hists / sizeof *client_hists)

/* One batch attempt, for the recent-batches ring. */
typedef struct recent_batch {
    double t; /* when it ended, seconds since the proxy started */
    double seconds;
    uint32_t size, longest;
    enum metrics_attempt kind;
} recent_batch;

/* A client's figures in a history sample (see metrics.h). */
typedef struct history_client {
    int id; /* -1: unused */
    uint32_t buckets[HIST_LATENCY_NBOUNDS + 1], requests;
    double max, share_seconds;
} history_client;

/* One sample of the history; counts modulo 2^32. */
typedef struct history_sample {
    double t; /* seconds since the proxy started */
    double busy_seconds, backend_busy[METRICS_HISTORY_BACKENDS];
    uint32_t queue_depth, inflight, nbackends;
    uint32_t by_status[NSTATUS + 1], refused[REFUSED_KINDS], attempts[ATTEMPT_KINDS], retries;
    uint32_t all_buckets[HIST_LATENCY_NBOUNDS + 1];
    double all_max;
    history_client clients[METRICS_HISTORY_CLIENTS];
} history_sample;

/* One entry of a page: a shown client, or the sum of the rest. */
typedef struct shown_client {
    const client_metrics *c;
    double seconds, weight; /* backend seconds attributed to it; its weight (rest: NAN) */
    size_t queued;
} shown_client;

/* A rendered page, kept for cache_seconds. */
typedef struct page {
    char *body;
    size_t len;
    double at;
} page;

struct metrics {
    double started;
    recent_batch recent[METRICS_RECENT_BATCHES];
    uint64_t nrecent; /* attempts ever recorded; the ring's next slot is nrecent % size */
    client_metrics *clients[METRICS_MAX_CLIENTS]; /* by client id (clients.h) */
    int nclients;
    double size_bounds[HIST_MAX_BUCKETS];
    hist batch_size, batch_longest, batch_seconds;
    uint64_t attempts[ATTEMPT_KINDS];
    uint64_t retries, cache_hits, coalesced;
    double busy_seconds;
    struct backend_metrics *backends[METRICS_MAX_BACKENDS];
    int nbackends;

    /* The history ring (NULL until the first sample): the next sample goes
     * to nhistory % METRICS_HISTORY; the last min(nhistory, size) are kept. */
    history_sample *history;
    uint64_t nhistory;
    double history_interval;

    size_t shown_max;
    double cache_seconds;
    page pages[METRICS_PAGES];
    /* Keeps /metrics' rest growing (see metrics.h): what shown clients had
     * done while in the rest, minus what clients put back into the rest had
     * done while shown. Its counts may wrap below zero: only carried plus the
     * rest's members is ever read, and that is what the rest's members did
     * while in the rest, never negative. */
    client_metrics carried;
    double carried_seconds;
    bool rest_seen; /* the rest had a member once: /metrics keeps its series */
    /* The floating-point sums /metrics last showed for the rest (histogram
     * sums, backend seconds): adding in another order may round them lower,
     * and a counter that goes down is a reset to Prometheus. */
    double rest_floor[NCLIENT_HISTS + 1];
    /* The entries of the page being rendered, and the rest's sum. */
    shown_client view[METRICS_MAX_CLIENTS + 1];
    int nview;
    client_metrics rest;
};

/* One backend of the pool (see metrics_backend_id). */
typedef struct backend_metrics {
    char name[ADDR_HOST_MAX + 16];
    char state[16];
    uint64_t ok, failed, ejections;
    double busy_seconds, cost_a, cost_lin, cost_b;
} backend_metrics;

/* Zero counts under a name. */
static void client_init(client_metrics *c, const char *name)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    hist_init(&c->total, hist_latency_bounds, hist_latency_nbounds);
    hist_init(&c->queue_wait, hist_latency_bounds, hist_latency_nbounds);
    hist_init(&c->backend, hist_latency_bounds, hist_latency_nbounds);
}

metrics *metrics_new(size_t max_batch, double now)
{
    metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->started = now;
    size_t nb = max_batch < HIST_MAX_BUCKETS ? max_batch : HIST_MAX_BUCKETS;
    for (size_t i = 0; i < nb; i++)
        m->size_bounds[i] = (double)(i + 1);
    hist_init(&m->batch_size, m->size_bounds, nb);
    hist_init(&m->batch_longest, length_bounds, sizeof length_bounds / sizeof *length_bounds);
    hist_init(&m->batch_seconds, hist_latency_bounds, hist_latency_nbounds);
    m->shown_max = METRICS_SHOWN_DEFAULT;
    m->cache_seconds = METRICS_CACHE_DEFAULT;
    client_init(&m->carried, METRICS_REST);
    client_init(&m->rest, METRICS_REST);
    m->carried.id = m->rest.id = -1;
    return m;
}

void metrics_set_exposition(metrics *m, size_t shown, double cache_seconds)
{
    m->shown_max = shown < METRICS_MAX_CLIENTS ? shown : METRICS_MAX_CLIENTS;
    m->cache_seconds = cache_seconds > 0 ? cache_seconds : 0;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nclients; i++)
        free(m->clients[i]);
    for (int i = 0; i < m->nbackends; i++)
        free(m->backends[i]);
    for (int i = 0; i < METRICS_PAGES; i++)
        free(m->pages[i].body);
    free(m->history);
    free(m);
}

bool metrics_client_add(metrics *m, int id, const char *name, bool listed)
{
    if (id != m->nclients || id >= METRICS_MAX_CLIENTS)
        return false;
    client_metrics *c = malloc(sizeof *c);
    if (!c)
        return false;
    client_init(c, name);
    c->listed = listed;
    c->id = id;
    m->clients[m->nclients++] = c;
    return true;
}

void metrics_client_listed(metrics *m, int id, bool listed)
{
    if (id >= 0 && id < m->nclients)
        m->clients[id]->listed = listed;
}

/* The counts of client id; an id never added counts as the anonymous
 * client's (NULL before any client was added: nothing is counted). */
static client_metrics *client(metrics *m, int id)
{
    if (id >= 0 && id < m->nclients)
        return m->clients[id];
    return m->nclients ? m->clients[0] : NULL;
}

/* A status's label: "200"..., or "other" for the last index. */
static void status_key(size_t index, char *key, size_t len)
{
    if (index < NSTATUS)
        snprintf(key, len, "%d", known_status[index]);
    else
        snprintf(key, len, "other");
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
    if (!c)
        return;
    c->by_status[status_index(status)]++;
    if (status == 200)
        hist_add(&c->total, seconds);
}

void metrics_sequence(metrics *m, int id, double queue_wait, double backend_seconds)
{
    client_metrics *c = client(m, id);
    if (!c)
        return;
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
    client_metrics *c = client(m, id);
    if (c)
        c->admitted++;
}

void metrics_refused(metrics *m, int id, enum metrics_refusal why)
{
    client_metrics *c = client(m, id);
    if (c)
        c->refused[why]++;
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

void metrics_backend_state(metrics *m, int id, const char *state, double cost_a, double cost_lin,
                           double cost_b)
{
    backend_metrics *b = backend_at(m, id);
    if (!b)
        return;
    snprintf(b->state, sizeof b->state, "%s", state);
    if (strcmp(state, "removed") != 0) {
        b->cost_a = cost_a;
        b->cost_lin = cost_lin;
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
         "Each backend's learned cost curve a + lin * L + b * L^2: a.",
         offsetof(backend_metrics, cost_a), false},
        {"batchproxy_backend_cost_linear_seconds", "gauge",
         "Each backend's learned cost curve a + lin * L + b * L^2: lin.",
         offsetof(backend_metrics, cost_lin), false},
        {"batchproxy_backend_cost_slope_seconds", "gauge",
         "Each backend's learned cost curve a + lin * L + b * L^2: b.",
         offsetof(backend_metrics, cost_b), false},
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
                            json_pack("{s:s,s:I,s:I,s:I,s:f,s:{s:f,s:f,s:f}}", "state", b->state,
                                      "batches", (json_int_t)(b->ok + b->failed), "failures",
                                      (json_int_t)b->failed, "ejections", (json_int_t)b->ejections,
                                      "busy_seconds", b->busy_seconds, "cost_model", "a_seconds",
                                      b->cost_a, "linear_seconds", b->cost_lin, "b_seconds",
                                      b->cost_b));
    }
    return o;
}

/* --- who is shown (see metrics.h) --- */

static hist *client_hist_at(client_metrics *c, size_t k)
{
    return (hist *)((char *)c + client_hists[k].offset);
}

static const hist *client_hist_of(const client_metrics *c, size_t k)
{
    return (const hist *)((const char *)c + client_hists[k].offset);
}

/* into += sign × h (sign ±1; counts modulo 2^64). min and max follow only
 * additions: the carried offsets' are never read. */
static void hist_fold(hist *into, const hist *h, int sign)
{
    uint64_t f = sign > 0 ? 1 : UINT64_MAX; /* × -1 modulo 2^64 */
    for (size_t i = 0; i <= h->nbounds; i++)
        into->counts[i] += f * h->counts[i];
    if (sign > 0 && h->n) {
        into->min = into->n == 0 || h->min < into->min ? h->min : into->min;
        into->max = into->n == 0 || h->max > into->max ? h->max : into->max;
    }
    into->n += f * h->n;
    into->sum += sign * h->sum;
}

/* into += sign × c, every count and histogram. */
static void client_fold(client_metrics *into, const client_metrics *c, int sign)
{
    uint64_t f = sign > 0 ? 1 : UINT64_MAX;
    for (size_t s = 0; s <= NSTATUS; s++)
        into->by_status[s] += f * c->by_status[s];
    into->admitted += f * c->admitted;
    for (int r = 0; r < REFUSED_KINDS; r++)
        into->refused[r] += f * c->refused[r];
    for (size_t k = 0; k < NCLIENT_HISTS; k++)
        hist_fold(client_hist_at(into, k), client_hist_of(c, k), sign);
}

static uint64_t answered(const client_metrics *c)
{
    uint64_t n = 0;
    for (size_t s = 0; s <= NSTATUS; s++)
        n += c->by_status[s];
    return n;
}

typedef struct candidate {
    int id;
    bool listed;
    uint64_t score;
} candidate;

/* Listed first, then the highest score, then the older client. */
static int candidate_cmp(const void *pa, const void *pb)
{
    const candidate *a = pa, *b = pb;
    if (a->listed != b->listed)
        return a->listed ? -1 : 1;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static double usage_seconds(const metrics_gauges *g, int id)
{
    double seconds = 0, weight;
    size_t queued;
    if (g->usage)
        g->usage(g->usage_arg, id, &seconds, &queued, &weight);
    return seconds;
}

/* Decides who is shown: the first shown_max candidates (clients that have
 * answered or admitted anything); every other candidate is in the rest. A
 * client moving between the two moves its totals in or out of the carried
 * offsets, so the rest's counters in /metrics carry on from where they were. */
static void choose_shown(metrics *m, const metrics_gauges *g)
{
    candidate cand[METRICS_MAX_CLIENTS];
    size_t n = 0;
    for (int i = 0; i < m->nclients; i++) {
        const client_metrics *c = m->clients[i];
        uint64_t activity = answered(c) + c->admitted;
        if (activity == 0)
            continue;
        /* An incumbent's bonus: a challenger must do an eighth more. */
        uint64_t bonus = c->shown == SHOWN_OWN ? activity / 8 + 1 : 0;
        cand[n++] = (candidate){.id = i, .listed = c->listed, .score = activity + bonus};
    }
    qsort(cand, n, sizeof *cand, candidate_cmp);
    for (size_t k = 0; k < n; k++) {
        client_metrics *c = m->clients[cand[k].id];
        enum shown_state to = k < m->shown_max ? SHOWN_OWN : SHOWN_REST;
        if (c->shown != SHOWN_NOT_YET && c->shown != to) {
            int sign = to == SHOWN_OWN ? 1 : -1; /* promoted: its past stays in the rest */
            client_fold(&m->carried, c, sign);
            m->carried_seconds += sign * usage_seconds(g, c->id);
        }
        c->shown = to;
    }
}

/* A floating-point total of the rest that must not go down (see rest_floor). */
static double rest_monotone(metrics *m, int k, double v)
{
    if (v < m->rest_floor[k])
        v = m->rest_floor[k];
    return m->rest_floor[k] = v;
}

/* Fills m->view with the shown clients (by id), then the rest's sum if it
 * has members, or, with `carried` (/metrics), once it ever had. */
static void build_view(metrics *m, const metrics_gauges *g, bool carried)
{
    choose_shown(m, g);
    client_metrics *rest = &m->rest;
    client_init(rest, METRICS_REST);
    rest->id = -1;
    double rest_seconds = carried ? m->carried_seconds : 0;
    size_t rest_queued = 0, members = 0;
    if (carried)
        client_fold(rest, &m->carried, 1);
    m->nview = 0;
    for (int i = 0; i < m->nclients; i++) {
        const client_metrics *c = m->clients[i];
        if (c->shown == SHOWN_NOT_YET)
            continue;
        shown_client e = {.c = c, .weight = NAN};
        if (g->usage)
            g->usage(g->usage_arg, i, &e.seconds, &e.queued, &e.weight);
        if (c->shown == SHOWN_OWN) {
            m->view[m->nview++] = e;
            continue;
        }
        client_fold(rest, c, 1);
        rest_seconds += e.seconds;
        rest_queued += e.queued;
        members++;
    }
    m->rest_seen |= members > 0;
    if (!members && !(carried && m->rest_seen))
        return;
    if (carried) {
        for (size_t k = 0; k < NCLIENT_HISTS; k++)
            client_hist_at(rest, k)->sum = rest_monotone(m, (int)k, client_hist_of(rest, k)->sum);
        rest_seconds = rest_monotone(m, NCLIENT_HISTS, rest_seconds);
    }
    m->view[m->nview++] =
        (shown_client){.c = rest, .seconds = rest_seconds, .queued = rest_queued, .weight = NAN};
}

/* --- Prometheus text format --- */

static void prom_header(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One series without labels, after its HELP and TYPE lines: a count, or
 * a real number (%.9g). */
static void prom_count(struct evbuffer *out, const char *name, const char *type, const char *help,
                       unsigned long long v)
{
    prom_header(out, name, type, help);
    evbuffer_add_printf(out, "%s %llu\n", name, v);
}

static void prom_real(struct evbuffer *out, const char *name, const char *type, const char *help,
                      double v)
{
    prom_header(out, name, type, help);
    evbuffer_add_printf(out, "%s %.9g\n", name, v);
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

/* Admission and fair-share figures per entry of m->view. */
static void prom_clients(const metrics *m, const metrics_gauges *g, struct evbuffer *out)
{
    prom_header(out, "batchproxy_client_admitted_total", "counter",
                "Requests that passed admission control, by client.");
    for (int i = 0; i < m->nview; i++)
        if (m->view[i].c->admitted)
            evbuffer_add_printf(out, "batchproxy_client_admitted_total{client=\"%s\"} %llu\n",
                                m->view[i].c->name, (unsigned long long)m->view[i].c->admitted);
    prom_header(out, "batchproxy_client_refused_total", "counter",
                "Requests refused before queueing, by client and reason.");
    for (int i = 0; i < m->nview; i++)
        for (int r = 0; r < REFUSED_KINDS; r++)
            if (m->view[i].c->refused[r])
                evbuffer_add_printf(
                    out, "batchproxy_client_refused_total{client=\"%s\",reason=\"%s\"} %llu\n",
                    m->view[i].c->name, refusal_names[r],
                    (unsigned long long)m->view[i].c->refused[r]);
    if (!g->usage)
        return;
    prom_header(out, "batchproxy_client_backend_seconds_total", "counter",
                "Backend time attributed to each client (its part of each batch).");
    for (int i = 0; i < m->nview; i++)
        if (m->view[i].seconds > 0)
            evbuffer_add_printf(out,
                                "batchproxy_client_backend_seconds_total{client=\"%s\"} %.6f\n",
                                m->view[i].c->name, m->view[i].seconds);
    prom_header(out, "batchproxy_client_queued", "gauge", "Sequences queued, by client.");
    for (int i = 0; i < m->nview; i++)
        if (m->view[i].queued > 0 || m->view[i].c->admitted)
            evbuffer_add_printf(out, "batchproxy_client_queued{client=\"%s\"} %zu\n",
                                m->view[i].c->name, m->view[i].queued);
}

/* The per-client series: the shown clients' and the rest's. */
static void prom_per_client(metrics *m, const metrics_gauges *g, struct evbuffer *out)
{
    build_view(m, g, true);
    prom_header(out, "batchproxy_requests_total", "counter",
                "Requests answered, by client and status (499: the client hung up first).");
    for (int i = 0; i < m->nview; i++) {
        const client_metrics *c = m->view[i].c;
        for (size_t s = 0; s <= NSTATUS; s++) {
            if (!c->by_status[s])
                continue;
            char st[16];
            status_key(s, st, sizeof st);
            evbuffer_add_printf(out,
                                "batchproxy_requests_total{client=\"%s\",status=\"%s\"} %llu\n",
                                c->name, st, (unsigned long long)c->by_status[s]);
        }
    }
    prom_clients(m, g, out);
    for (size_t k = 0; k < NCLIENT_HISTS; k++) {
        prom_header(out, client_hists[k].name, "histogram", client_hists[k].help);
        for (int i = 0; i < m->nview; i++) {
            const hist *h = client_hist_of(m->view[i].c, k);
            if (h->n == 0)
                continue;
            char labels[96];
            snprintf(labels, sizeof labels, "client=\"%s\",", m->view[i].c->name);
            prom_hist(out, client_hists[k].name, labels, h);
        }
    }
}

void metrics_prometheus(metrics *m, const metrics_gauges *g, struct evbuffer *out)
{
    prom_per_client(m, g, out);
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
    prom_count(out, "batchproxy_retries_total", "counter", "Batch retries after a failure.",
               m->retries);
    prom_count(out, "batchproxy_cache_hits_total", "counter",
               "Sequences answered from the result cache.", m->cache_hits);
    prom_count(out, "batchproxy_coalesced_total", "counter",
               "Sequences that joined an identical queued or in-flight one.", m->coalesced);
    prom_count(out, "batchproxy_queue_depth", "gauge", "Sequences waiting for the backend.",
               g->queue_depth);
    prom_count(out, "batchproxy_queue_capacity", "gauge",
               "Sequences the queue may hold (--max-queue); beyond, new requests get 503.",
               g->queue_capacity);
    prom_real(out, "batchproxy_default_deadline_seconds", "gauge",
              "Deadline of a request that sets none (--timeout); past it, the answer is 504.",
              g->default_deadline);
    prom_count(out, "batchproxy_inflight_requests", "gauge", "Requests not yet answered.",
               g->inflight_requests);
    prom_real(out, "batchproxy_cost_intercept_seconds", "gauge",
              "Learned backend cost curve a + lin * L + b * L^2: a.", g->cost_a);
    prom_real(out, "batchproxy_cost_linear_seconds", "gauge",
              "Learned backend cost curve a + lin * L + b * L^2: lin.", g->cost_lin);
    prom_real(out, "batchproxy_cost_slope_seconds", "gauge",
              "Learned backend cost curve a + lin * L + b * L^2: b.", g->cost_b);
    prom_count(out, "batchproxy_cache_entries", "gauge", "Results held in the cache.",
               g->cache_entries);
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

/* One entry of "clients" in /stats; NULL for a client with no request. */
static json_t *client_json(const shown_client *e)
{
    const client_metrics *c = e->c;
    json_t *st = json_object();
    json_int_t total = 0;
    for (size_t s = 0; s <= NSTATUS; s++) {
        if (!c->by_status[s])
            continue;
        char key[16];
        status_key(s, key, sizeof key);
        json_object_set_new(st, key, json_integer((json_int_t)c->by_status[s]));
        total += (json_int_t)c->by_status[s];
    }
    if (total == 0) {
        json_decref(st);
        return NULL;
    }
    json_t *cj =
        json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:I}", "requests", total, "by_status", st,
                  "latency_seconds", hist_json(&c->total), "queue_wait_seconds",
                  hist_json(&c->queue_wait), "backend_seconds", hist_json(&c->backend),
                  "latency_buckets", buckets_json(&c->total), "admitted", (json_int_t)c->admitted);
    json_t *refused = json_object();
    for (int r = 0; r < REFUSED_KINDS; r++)
        json_object_set_new(refused, refusal_names[r], json_integer((json_int_t)c->refused[r]));
    json_object_set_new(cj, "refused", refused);
    json_object_set_new(cj, "share_seconds", json_real(e->seconds));
    json_object_set_new(cj, "queued", json_integer((json_int_t)e->queued));
    if (!isnan(e->weight)) /* the rest has none */
        json_object_set_new(cj, "weight", json_real(e->weight));
    return cj;
}

char *metrics_stats_json(metrics *m, const metrics_gauges *g, double now)
{
    build_view(m, g, false);
    json_t *clients = json_object();
    for (int i = 0; i < m->nview; i++) {
        json_t *cj = client_json(&m->view[i]);
        if (cj)
            json_object_set_new(clients, m->view[i].c->name, cj);
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
    json_object_set_new(root, "backend_protocol", json_string(g->backend_protocol));
    json_object_set_new(root, "queue_capacity", json_integer((json_int_t)g->queue_capacity));
    json_object_set_new(root, "default_deadline_seconds", json_real(g->default_deadline));
    json_object_set_new(root, "cost_model",
                        json_pack("{s:f,s:f,s:f,s:I}", "a_seconds", g->cost_a, "linear_seconds",
                                  g->cost_lin, "b_seconds", g->cost_b, "observations",
                                  (json_int_t)g->cost_observations));
    json_object_set_new(root, "recent_batches", recent_json(m));
    json_object_set_new(root, "backends", backends_json(m));
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

/* --- the history (see metrics.h) --- */

/* The busiest clients for a sample, listed ones first (candidate_cmp),
 * into cand; returns how many (at most METRICS_HISTORY_CLIENTS and the
 * shown limit). */
static size_t history_pick(const metrics *m, candidate *cand)
{
    size_t n = 0,
           keep = METRICS_HISTORY_CLIENTS < m->shown_max ? METRICS_HISTORY_CLIENTS : m->shown_max;
    for (int i = 0; i < m->nclients; i++) {
        const client_metrics *c = m->clients[i];
        uint64_t activity = answered(c) + c->admitted;
        if (activity)
            cand[n++] = (candidate){.id = i, .listed = c->listed, .score = activity};
    }
    qsort(cand, n, sizeof *cand, candidate_cmp);
    return n < keep ? n : keep;
}

static void history_buckets(uint32_t *into, const hist *h)
{
    for (size_t b = 0; b <= HIST_LATENCY_NBOUNDS; b++)
        into[b] += (uint32_t)h->counts[b];
}

/* The all-clients figures: answers, refusals, latency buckets. */
static void history_totals(const metrics *m, history_sample *s)
{
    for (int i = 0; i < m->nclients; i++) {
        const client_metrics *c = m->clients[i];
        for (size_t k = 0; k <= NSTATUS; k++)
            s->by_status[k] += (uint32_t)c->by_status[k];
        for (int r = 0; r < REFUSED_KINDS; r++)
            s->refused[r] += (uint32_t)c->refused[r];
        history_buckets(s->all_buckets, &c->total);
        if (c->total.n && c->total.max > s->all_max)
            s->all_max = c->total.max;
    }
}

bool metrics_sample(metrics *m, const metrics_gauges *g, double now, double interval)
{
    if (!m->history && !(m->history = calloc(METRICS_HISTORY, sizeof *m->history)))
        return false;
    m->history_interval = interval;
    history_sample *s = &m->history[m->nhistory++ % METRICS_HISTORY];
    *s = (history_sample){.t = now - m->started,
                          .busy_seconds = m->busy_seconds,
                          .queue_depth = (uint32_t)g->queue_depth,
                          .inflight = (uint32_t)g->inflight_requests,
                          .retries = (uint32_t)m->retries};
    for (int i = 0; i < m->nbackends && i < METRICS_HISTORY_BACKENDS; i++)
        s->backend_busy[s->nbackends++] = m->backends[i]->busy_seconds;
    for (int k = 0; k < ATTEMPT_KINDS; k++)
        s->attempts[k] = (uint32_t)m->attempts[k];
    history_totals(m, s);
    candidate cand[METRICS_MAX_CLIENTS];
    size_t n = history_pick(m, cand);
    for (size_t k = 0; k < METRICS_HISTORY_CLIENTS; k++) {
        history_client *hc = &s->clients[k];
        hc->id = -1;
        if (k >= n)
            continue;
        const client_metrics *c = m->clients[cand[k].id];
        hc->id = cand[k].id;
        hc->requests = (uint32_t)answered(c);
        hc->max = c->total.max;
        hc->share_seconds = usage_seconds(g, cand[k].id);
        history_buckets(hc->buckets, &c->total);
    }
    return true;
}

static json_t *u32_array(const uint32_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

/* Keys of u32 counts: names[i] → v[i], zeros left out. */
static json_t *u32_object(const char *const *names, const uint32_t *v, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        if (v[i])
            json_object_set_new(o, names[i], json_integer(v[i]));
    return o;
}

static json_t *sample_json(const metrics *m, const history_sample *s)
{
    json_t *busy = json_object();
    for (uint32_t i = 0; i < s->nbackends; i++)
        json_object_set_new(busy, m->backends[i]->name, json_real(s->backend_busy[i]));
    json_t *status = json_object();
    for (size_t k = 0; k <= NSTATUS; k++) {
        char key[16];
        status_key(k, key, sizeof key);
        if (s->by_status[k])
            json_object_set_new(status, key, json_integer(s->by_status[k]));
    }
    json_t *clients = json_object();
    for (size_t k = 0; k < METRICS_HISTORY_CLIENTS && s->clients[k].id >= 0; k++) {
        const history_client *hc = &s->clients[k];
        json_object_set_new(clients, m->clients[hc->id]->name,
                            json_pack("{s:o,s:f,s:I,s:f}", "latency_buckets",
                                      u32_array(hc->buckets, HIST_LATENCY_NBOUNDS + 1), "max",
                                      hc->max, "requests", (json_int_t)hc->requests,
                                      "share_seconds", hc->share_seconds));
    }
    return json_pack(
        "{s:f,s:I,s:I,s:f,s:o,s:o,s:o,s:o,s:I,s:{s:o,s:f},s:o}", "t", s->t, "queue_depth",
        (json_int_t)s->queue_depth, "inflight_requests", (json_int_t)s->inflight,
        "backend_busy_seconds", s->busy_seconds, "busy", busy, "by_status", status, "refused",
        u32_object(refusal_names, s->refused, REFUSED_KINDS), "backend_attempts",
        u32_object(attempt_names, s->attempts, ATTEMPT_KINDS), "retries", (json_int_t)s->retries,
        "all", "latency_buckets", u32_array(s->all_buckets, HIST_LATENCY_NBOUNDS + 1), "max",
        s->all_max, "clients", clients);
}

char *metrics_history_json(const metrics *m)
{
    json_t *samples = json_array();
    uint64_t first = m->nhistory > METRICS_HISTORY ? m->nhistory - METRICS_HISTORY : 0;
    for (uint64_t k = first; k < m->nhistory; k++)
        json_array_append_new(samples, sample_json(m, &m->history[k % METRICS_HISTORY]));
    json_t *bounds = json_array();
    for (size_t i = 0; i < hist_latency_nbounds; i++)
        json_array_append_new(bounds, json_real(hist_latency_bounds[i]));
    json_t *root =
        json_pack("{s:f,s:I,s:o,s:o}", "interval_seconds", m->history_interval, "capacity",
                  (json_int_t)METRICS_HISTORY, "latency_bucket_bounds", bounds, "samples", samples);
    if (!root)
        return NULL;
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

const char *metrics_page(metrics *m, enum metrics_page which, const metrics_gauges *g, double now,
                         size_t *len)
{
    page *p = &m->pages[which];
    if (!p->body || now - p->at >= m->cache_seconds || now < p->at) {
        char *body = NULL;
        size_t n = 0;
        if (which == METRICS_PAGE_PROMETHEUS) {
            struct evbuffer *buf = evbuffer_new();
            if (buf) {
                metrics_prometheus(m, g, buf);
                n = evbuffer_get_length(buf);
                if ((body = malloc(n + 1)) && evbuffer_remove(buf, body, n) == (int)n) {
                    body[n] = '\0';
                } else {
                    free(body);
                    body = NULL;
                }
                evbuffer_free(buf);
            }
        } else if ((body = which == METRICS_PAGE_STATS ? metrics_stats_json(m, g, now)
                                                       : metrics_history_json(m))) {
            n = strlen(body);
        }
        if (!body)
            return NULL;
        free(p->body);
        *p = (page){.body = body, .len = n, .at = now};
    }
    *len = p->len;
    return p->body;
}
