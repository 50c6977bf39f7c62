/* front: batchproxy's HTTP server side (see front.h for the invariants). */
#include "front.h"

#include "dashboard.h"
#include "hdr.h"
#include "log.h"
#include "mono.h"
#include "openapi.h"
#include "wire.h"

#include <event2/buffer.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRONT_MAX_TIMEOUT_MS 3600000L

typedef struct preq {
    front *f;
    httpd_req *req; /* NULL once the client is gone */
    int client;
    bool single;
    size_t n, pending;
    double arrived, deadline;
    struct event *timer;      /* the deadline */
    result **results;         /* n; each a reference of the request's own once resolved */
    waiter *w;                /* n waiters; w[i].job is set while item i is unresolved */
    struct preq *prev, *next; /* on f->live */
} preq;

/* Detaches a waiter; a queued job left with no waiters leaves the queue. */
static void release(front *f, waiter *w)
{
    job *orphan = jobs_detach(w);
    if (orphan) {
        sched_cancel(f->queue, orphan->item);
        jobs_destroy(f->work, orphan);
    }
}

/* The only way a request leaves: one answer (or none if the client is
 * gone), every waiter released, everything freed. Takes ownership of json. */
static void finish(preq *r, int status, char *json, int retry_after)
{
    front *f = r->f;
    for (size_t i = 0; i < r->n; i++)
        release(f, &r->w[i]);
    if (r->req) {
        httpd_req_on_peer(r->req, NULL, NULL);
        if (retry_after > 0) {
            char v[16];
            snprintf(v, sizeof v, "%d", retry_after);
            httpd_set_header(r->req, "Retry-After", v);
        }
        httpd_send_json(r->req, status, json);
    } else {
        free(json);
        status = 499;
    }
    metrics_request(f->meter, r->client, status, mono_now() - r->arrived);

    if (r->prev)
        r->prev->next = r->next;
    else
        f->live = r->next;
    if (r->next)
        r->next->prev = r->prev;
    f->nlive--;
    event_free(r->timer);
    for (size_t i = 0; i < r->n; i++)
        result_unref(r->results[i]);
    free(r->results);
    free(r->w);
    free(r);
    if (f->draining && f->nlive == 0)
        f->on_drained(f->drained_arg);
}

static void finish_error(preq *r, int status, int retry_after, const char *detail)
{
    finish(r, status, wire_error_json(detail), retry_after);
}

static void finish_ok(preq *r)
{
    wire_value few[SCHED_MAX_BATCH] = {{0}};
    wire_value *v = r->n <= SCHED_MAX_BATCH ? few : malloc(r->n * sizeof *v);
    if (!v) {
        finish_error(r, 500, 0, "out of memory building the answer");
        return;
    }
    for (size_t i = 0; i < r->n; i++)
        v[i] = result_value(r->results[i]);
    char *json = wire_values_json(v, r->n, r->single);
    if (v != few)
        free(v);
    if (!json) {
        finish_error(r, 500, 0, "out of memory building the answer");
        return;
    }
    finish(r, 200, json, 0);
}

/* An item's job got its result. */
static void item_done(waiter *w, result *value)
{
    preq *r = w->owner;
    r->results[w->idx] = result_ref(value);
    if (--r->pending == 0)
        finish_ok(r);
}

/* An item's job failed for good: the whole request fails with status. */
static void item_failed(waiter *w, int status, const char *detail)
{
    finish_error(w->owner, status, 0, detail);
}

static const waiter_ops item_ops = {.done = item_done, .failed = item_failed};

void front_abort_all(front *f, int status, const char *detail)
{
    while (f->live)
        finish_error(f->live, status, 0, detail);
}

void front_drain(front *f)
{
    f->draining = true;
    if (f->nlive == 0)
        f->on_drained(f->drained_arg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    preq *r = arg;
    char detail[128];
    snprintf(detail, sizeof detail, "deadline of %.0f ms passed before the backend answered",
             (r->deadline - r->arrived) * 1000);
    finish_error(r, 504, 0, detail);
}

/* The client hung up before its answer: its request leaves at once (the
 * server frees the request when this returns). A half-close is no
 * hang-up: the client may still read, and gets its answer. */
static void on_peer(httpd_req *req, enum httpd_peer what, void *arg)
{
    preq *r = arg;
    if (what != HTTPD_PEER_GONE)
        return;
    r->req = NULL;
    finish(r, 499, NULL, 0);
}

/* --- the classify endpoint --- */

/* Resolves item i from the cache or an existing job, or queues a new job.
 * Returns false only when a new job can't be queued (queue full, memory). */
static bool place_item(preq *r, size_t i, const wire_text *t, double now)
{
    front *f = r->f;
    result *hit = cache_get(f->answers, t->s, t->bytes, now);
    if (hit) {
        metrics_cache_hit(f->meter);
        r->results[i] = result_ref(hit);
        r->pending--;
        return true;
    }
    r->w[i] = (waiter){.ops = &item_ops, .owner = r, .idx = i, .deadline = r->deadline};
    job *jb = jobs_find(f->work, t->s, t->bytes);
    if (jb) {
        metrics_coalesced(f->meter);
        if (jb->state == JOB_QUEUED)
            sched_extend_deadline(f->queue, jb->item, r->deadline);
        jobs_attach(jb, &r->w[i]);
        return true;
    }
    jb = jobs_create(f->work, t->s, t->bytes, t->len, r->client, now);
    if (!jb)
        return false;
    jb->item = sched_enqueue(f->queue, jb, t->len, r->client, now, r->deadline);
    if (!jb->item) {
        jobs_destroy(f->work, jb);
        return false;
    }
    jobs_attach(jb, &r->w[i]);
    return true;
}

/* Sequences of the request that would need a new queue slot (an upper
 * bound: duplicates inside the request are counted each time), and the
 * longest of them. */
static size_t slots_needed(front *f, const wire_request *w, double now, size_t *longest)
{
    size_t need = 0;
    *longest = 0;
    for (size_t i = 0; i < w->n; i++) {
        const wire_text *t = &w->items[i];
        if (!jobs_find(f->work, t->s, t->bytes) &&
            !(f->answers->capacity && cache_get(f->answers, t->s, t->bytes, now))) {
            need++;
            if (t->len > *longest)
                *longest = t->len;
        }
    }
    return need;
}

/* Answers a refusal before queueing: status, Retry-After (whole seconds,
 * at least 1) and a detail; counts it for the client. */
static void refuse(front *f, httpd_req *req, int client, enum metrics_refusal why, int status,
                   double retry_after, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void refuse(front *f, httpd_req *req, int client, enum metrics_refusal why, int status,
                   double retry_after, const char *fmt, ...)
{
    char detail[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (retry_after >= 0) {
        double ra = ceil(retry_after);
        char v[24];
        snprintf(v, sizeof v, "%.0f", ra < 1 ? 1 : ra > 3600 ? 3600 : ra);
        httpd_set_header(req, "Retry-After", v);
    }
    metrics_refused(f->meter, client, why);
    httpd_send_error(req, status, "%s", detail);
}

/* Admission control for the sequences that need a new queue slot. Returns
 * true to go on; false after answering the refusal. A sequence whose own
 * batch is predicted to take longer than an attempt may (--backend-timeout)
 * on every backend up gets 413: the scheduler would never send it, and
 * sent, it would keep the backend busy long after the attempt gave up. */
static bool admit(front *f, httpd_req *req, int client, const client_state *cs, size_t need,
                  size_t longest, double budget)
{
    if (need == 0)
        return true;
    double ra = 0;
    switch (sched_admit(f->queue, client, need, longest, cs->cfg.max_queued, budget, &ra)) {
    case SCHED_ADMIT:
        return true;
    case SCHED_TOO_COSTLY: /* the sequence itself: no Retry-After */
        refuse(f, req, client, REFUSED_TOO_COSTLY, 413, -1,
               "a sequence of %zu %s is predicted to take %.3f s on the fastest backend, "
               "over the limit of %.3f s for one backend attempt",
               longest, f->cfg.count_bytes ? "bytes" : "code points",
               sched_best_cost(f->queue, longest), f->cfg.max_batch_cost);
        return false;
    case SCHED_CLIENT_FULL:
        refuse(f, req, client, REFUSED_CLIENT_QUEUE, 429, ra,
               "too many sequences queued for this client (limit %zu)", cs->cfg.max_queued);
        return false;
    case SCHED_GROUP_FULL:
        refuse(f, req, client, REFUSED_CLIENT_QUEUE, 429, ra,
               "too many sequences queued by the clients not in the clients file, together "
               "(limit %zu)",
               f->callers->pool.cfg.max_queued);
        return false;
    case SCHED_QUEUE_FULL:
        refuse(f, req, client, REFUSED_QUEUE_FULL, 503, ra,
               "queue is full (%zu sequences waiting, limit %zu)", sched_queued(f->queue),
               sched_capacity(f->queue));
        return false;
    case SCHED_TOO_LATE: {
        double ahead = sched_drain_time(f->queue, client, longest);
        double own = sched_own_time(f->queue, need, longest);
        const char *plural = need == 1 ? "" : "s";
        if (own >= budget) /* hopeless whatever the queue: no Retry-After */
            refuse(f, req, client, REFUSED_DEADLINE, 503, -1,
                   "the deadline of %.0f ms can't be met: this request's own work (%zu sequence%s) "
                   "takes about %.0f ms on the backend",
                   budget * 1000, need, plural, own * 1000);
        else
            refuse(f, req, client, REFUSED_DEADLINE, 503, ra,
                   "the deadline of %.0f ms can't be met: its own work (%zu sequence%s) takes "
                   "about %.0f ms, after about %.0f ms of work queued ahead at this client's share",
                   budget * 1000, need, plural, own * 1000, ahead * 1000);
        return false;
    }
    }
    return false;
}

/* The classify endpoint's checks that need only the head: method and
 * identity. A refusal here is sent before the body is read (the server
 * then closes the connection), so an unauthenticated client can't make us
 * buffer anything. The client id travels in the request's data. */
static bool classify_head(front *f, httpd_req *req)
{
    double now = mono_now();
    int status;
    const char *why;
    if (!httpd_require_method(req, "POST"))
        goto refused;
    int client = clients_identify(f->callers, httpd_req_header(req, "Authorization"),
                                  httpd_req_header(req, "X-Client-Id"), &status, &why);
    if (client < 0) {
        if (status == 401) {
            httpd_set_header(req, "WWW-Authenticate", "Bearer");
            metrics_refused(f->meter, 0, REFUSED_UNAUTHORIZED);
        }
        httpd_send_error(req, status, "%s", why);
        goto refused;
    }
    httpd_req_set_data(req, (void *)(intptr_t)client);
    return true;
refused:
    metrics_request(f->meter, 0, httpd_req_status(req), mono_now() - now);
    return false;
}

/* The checks between the head and the body: the client's state and rate
 * limit, its deadline (X-Timeout-Ms, else the client's default) and a
 * drain. Returns false after answering the refusal. */
static bool classify_precheck(front *f, httpd_req *req, int client, double now, client_state **cs,
                              long *timeout_ms)
{
    if (!(*cs = clients_get(f->callers, client, f->queue, now))) {
        httpd_send_error(req, 500, "out of memory");
        return false;
    }
    double wait;
    const cfile_client *by;
    if (!clients_take(f->callers, *cs, now, &wait, &by)) {
        refuse(f, req, client, REFUSED_RATE_LIMIT, 429, wait,
               "rate limit exceeded: %g requests/s with bursts of %g%s", by->rate, by->burst,
               by == &f->callers->pool.cfg ? ", shared by the clients not in the clients file"
                                           : "");
        return false;
    }
    *timeout_ms = (long)((*cs)->cfg.timeout * 1000);
    const char *tms = httpd_req_header(req, "X-Timeout-Ms");
    if (tms && !hdr_parse_timeout_ms(tms, FRONT_MAX_TIMEOUT_MS, timeout_ms)) {
        httpd_send_error(req, 400, "X-Timeout-Ms must be a whole number of milliseconds in 1..%ld",
                         FRONT_MAX_TIMEOUT_MS);
        return false;
    }
    if (f->draining) { /* the server refuses new heads; this one came before */
        httpd_set_header(req, "Retry-After", "1");
        httpd_send_error(req, 503, "proxy is shutting down");
        return false;
    }
    return true;
}

/* A new live request for the n items of an admitted request, or NULL when
 * out of memory. Its items are placed by the caller. */
static preq *preq_new(front *f, httpd_req *req, int client, const wire_request *w, double now,
                      double timeout)
{
    preq *r = calloc(1, sizeof *r);
    if (r) {
        r->results = calloc(w->n, sizeof *r->results);
        r->w = calloc(w->n, sizeof *r->w);
        r->timer = evtimer_new(f->base, on_deadline, r);
    }
    if (!r || !r->results || !r->w || !r->timer) {
        if (r) {
            free(r->results);
            free(r->w);
            if (r->timer)
                event_free(r->timer);
            free(r);
        }
        return NULL;
    }
    r->f = f;
    r->req = req;
    r->client = client;
    r->single = w->single;
    r->n = r->pending = w->n;
    r->arrived = now;
    r->deadline = now + timeout;
    r->next = f->live;
    if (f->live)
        f->live->prev = r;
    f->live = r;
    f->nlive++;
    return r;
}

/* Places every item of a new request: answered at once when the cache had
 * them all, 503 when the queue took one no more; else it waits for its
 * items, its deadline or its client hanging up. */
static void start(preq *r, const wire_request *w, long timeout_ms, double now)
{
    bool placed = true;
    for (size_t i = 0; i < w->n && placed; i++)
        placed = place_item(r, i, &w->items[i], now);
    if (!placed) {
        finish_error(r, 503, 1, "queue is full");
        return;
    }
    if (r->pending == 0) {
        finish_ok(r);
        return;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(r->timer, &tv);
    httpd_req_on_peer(r->req, on_peer, r);
    disp_kick(r->f->pool);
}

static void handle_classify(front *f, httpd_req *req)
{
    double now = mono_now();
    int client = (int)(intptr_t)httpd_req_data(req);
    client_state *cs;
    long timeout_ms;
    if (!classify_precheck(f, req, client, now, &cs, &timeout_ms))
        goto refused;

    size_t len;
    const char *body = httpd_req_body(req, &len);
    wire_limits lim = {.max_items = f->cfg.max_request_sequences,
                       .max_length = f->cfg.max_length,
                       .allow_single = true,
                       .count_bytes = f->cfg.count_bytes};
    wire_request w;
    char err[256];
    int status = wire_parse_request(body, len, &lim, &w, err, sizeof err);
    if (status) {
        httpd_send_error(req, status, "%s", err);
        goto refused;
    }
    size_t longest;
    size_t need = slots_needed(f, &w, now, &longest);
    double timeout = (double)timeout_ms / 1000.0;
    if (!admit(f, req, client, cs, need, longest, timeout)) {
        wire_request_free(&w);
        goto refused;
    }
    metrics_admitted(f->meter, client);
    preq *r = preq_new(f, req, client, &w, now, timeout);
    if (!r) {
        wire_request_free(&w);
        httpd_send_error(req, 500, "out of memory");
        goto refused;
    }
    start(r, &w, timeout_ms, now);
    wire_request_free(&w);
    return;

refused:
    metrics_request(f->meter, client, httpd_req_status(req), mono_now() - now);
}

/* --- the other endpoints --- */

static void client_usage(void *arg, int client, double *seconds, size_t *queued, double *weight)
{
    front *f = arg;
    sched_client_usage(f->queue, client, seconds, queued);
    const client_state *cs =
        client >= 0 && client < METRICS_MAX_CLIENTS ? f->callers->state[client] : NULL;
    *weight = cs ? cs->cfg.weight : f->callers->defaults.weight;
}

static metrics_gauges gauges(front *f)
{
    double last = disp_last_contact(f->pool);
    const cost_model *cm = sched_costs(f->queue, -1); /* pooled over the backends */
    return (metrics_gauges){.cost_a = cm->a,
                            .cost_lin = cm->lin,
                            .cost_b = cm->b,
                            .cost_observations = cm->seen,
                            .queue_depth = sched_queued(f->queue),
                            .queue_capacity = f->cfg.max_queue,
                            .default_deadline = f->cfg.default_deadline,
                            .inflight_requests = f->nlive,
                            .jobs = jobs_count(f->work),
                            .cache_entries = cache_size(f->answers),
                            .backend_last_contact_age = last < 0 ? -1 : mono_now() - last,
                            .policy = sched_policy(f->queue),
                            .backend_protocol = f->cfg.backend_protocol,
                            .usage = client_usage,
                            .usage_arg = f};
}

void front_sample(front *f)
{
    metrics_gauges g = gauges(f);
    if (!metrics_sample(f->meter, &g, mono_now(), f->cfg.history_interval))
        log_warn("out of memory: no history sample");
}

/* Ready when a backend answered 200 in the last few seconds, to a batch or
 * to its protocol's health path (the upstream module probes it while no
 * 200 came), and the proxy is not draining. */
#define FRONT_READY_WINDOW 5.0

static void handle_get(front *f, httpd_req *req, const char *path)
{
    if (!httpd_require_method(req, "GET"))
        return;
    if (strcmp(path, "/healthz") == 0) {
        httpd_send_json(req, 200, strdup("{\"status\":\"ok\"}"));
    } else if (strcmp(path, "/readyz") == 0) {
        double last = disp_last_healthy(f->pool);
        if (f->draining)
            httpd_send_error(req, 503, "proxy is shutting down");
        else if (last < 0 || mono_now() - last > FRONT_READY_WINDOW)
            httpd_send_error(req, 503,
                             "no healthy backend (of %zu) has answered 200 in the last %.0f s",
                             disp_pool_size(f->pool), FRONT_READY_WINDOW);
        else
            httpd_send_json(req, 200, strdup("{\"status\":\"ready\"}"));
    } else { /* /metrics, /stats or /stats/history, rendered at most once per --metrics-cache-ms */
        bool prom = strcmp(path, "/metrics") == 0;
        enum metrics_page which = prom                          ? METRICS_PAGE_PROMETHEUS
                                  : strcmp(path, "/stats") == 0 ? METRICS_PAGE_STATS
                                                                : METRICS_PAGE_HISTORY;
        metrics_gauges g = gauges(f);
        size_t len;
        const char *body = metrics_page(f->meter, which, &g, mono_now(), &len);
        if (body)
            httpd_send_text(req, 200, prom ? "text/plain; version=0.0.4" : "application/json", body,
                            len);
        else
            httpd_send_error(req, 500, "out of memory");
    }
}

bool front_head(httpd_req *req, void *arg)
{
    if (strcmp(httpd_req_path(req), "/proxy_classify") == 0)
        return classify_head(arg, req);
    return true;
}

/* The operational endpoints; false when path is none of them. */
static bool handle_operational(front *f, httpd_req *req, const char *path)
{
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
        strcmp(path, "/metrics") == 0 || strcmp(path, "/stats") == 0 ||
        strcmp(path, "/stats/history") == 0)
        handle_get(f, req, path);
    else if (strcmp(path, "/dashboard") == 0)
        dashboard_handle(req);
    else if (strcmp(path, "/openapi.json") == 0)
        openapi_handle(req);
    else
        return false;
    return true;
}

void front_handle(httpd_req *req, void *arg)
{
    front *f = arg;
    const char *path = httpd_req_path(req);
    if (strcmp(path, "/proxy_classify") == 0) {
        handle_classify(f, req);
    } else if (f->cfg.admin_apart && strcmp(path, "/healthz") != 0 &&
               strcmp(path, "/readyz") != 0 && strcmp(path, "/openapi.json") != 0) {
        /* The rest of the operational endpoints are the admin listener's;
         * the API's description is the clients' too. */
        httpd_send_error(req, 404, "no such path: %s", path);
    } else if (!handle_operational(f, req, path)) {
        httpd_send_error(req, 404, "no such path: %s", path);
    }
}

void front_refused(int status, void *arg)
{
    front *f = arg;
    metrics_request(f->meter, 0, status, 0);
}

void front_handle_admin(httpd_req *req, void *arg)
{
    const char *path = httpd_req_path(req);
    if (!handle_operational(arg, req, path))
        httpd_send_error(req, 404, "no such path: %s", path);
}
