/* drv, the driver: sends a planned trace over HTTP on a libevent loop, open-loop (see drv.h). */
#include "drv.h"

#include "log.h"
#include "mono.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct drv drv;

/* One request on the wire. */
typedef struct drv_req {
    drv *d;
    size_t idx; /* into the trace */
    struct evhttp_connection *conn;
    struct event *timer; /* its timeout */
    double sent;         /* mono time */
} drv_req;

/* Connections kept alive between requests (as the original client's HTTP
 * library does), most recently used last. A connection goes back here after
 * an answer and is reused only while it has been idle for under
 * IDLE_REUSE_S, below the shortest idle timeout batchproxy and classifyd
 * accept (1 s): a server never closes one just as a request goes out on it
 * (with retries off, that race would show as a failed request). */
#define IDLE_MAX 256
#define IDLE_REUSE_S 0.5

typedef struct idle_conn {
    struct evhttp_connection *conn;
    double since; /* mono time it became idle */
} idle_conn;

struct drv {
    const drv_config *cfg;
    wl_trace *trace;
    const wl_client *clients;
    struct event_base *base;
    struct event *tick;     /* fires at the next planned send */
    struct event *progress; /* redraws the progress line */
    drv_req *reqs;
    double t0;
    size_t next; /* next request to send */
    size_t answered, done, inflight;
    idle_conn idle[IDLE_MAX];
    size_t nidle;
    char hostport[ADDR_HOST_MAX + 16];
};

static struct timeval tv_of(double s)
{
    if (s < 0)
        s = 0;
    return (struct timeval){(time_t)s, (suseconds_t)((s - floor(s)) * 1e6)};
}

static void maybe_finish(drv *d)
{
    if (d->next == d->trace->n && d->inflight == 0)
        event_base_loopbreak(d->base);
}

static void free_conn_later(evutil_socket_t fd, short what, void *arg)
{
    evhttp_connection_free(arg);
}

/* A connection whose answer came back: kept for reuse, or freed after the
 * callback that delivered it (it can't be freed inside). */
static void release_conn(drv *d, struct evhttp_connection *conn)
{
    if (d->nidle == IDLE_MAX) {
        event_base_once(d->base, -1, EV_TIMEOUT, free_conn_later, d->idle[0].conn, NULL);
        memmove(d->idle, d->idle + 1, (IDLE_MAX - 1) * sizeof *d->idle);
        d->nidle--;
    }
    d->idle[d->nidle++] = (idle_conn){conn, mono_now()};
}

/* The most recently idle connection still fresh enough to reuse, or a new
 * one (NULL when out of memory). Stale ones are freed on the way. */
static struct evhttp_connection *take_conn(drv *d)
{
    double now = mono_now();
    size_t fresh = 0;
    while (fresh < d->nidle && now - d->idle[fresh].since >= IDLE_REUSE_S)
        evhttp_connection_free(d->idle[fresh++].conn);
    memmove(d->idle, d->idle + fresh, (d->nidle - fresh) * sizeof *d->idle);
    d->nidle -= fresh;
    if (d->nidle > 0)
        return d->idle[--d->nidle].conn;
    const addr_url *u = &d->cfg->url;
    struct evhttp_connection *conn =
        evhttp_connection_base_new(d->base, NULL, u->hp.host, u->hp.port);
    if (conn) {
        /* Our own timer decides timeouts; libevent's must not fire first. */
        evhttp_connection_set_timeout(conn, (int)d->cfg->timeout + 5);
        evhttp_connection_set_retries(conn, 0);
    }
    return conn;
}

/* Records the outcome of request r once. */
static void finish(drv_req *r, int status)
{
    drv *d = r->d;
    wl_request *q = &d->trace->reqs[r->idx];
    q->status = status;
    q->latency = mono_now() - r->sent;
    if (status > 0)
        d->answered++;
    d->done++;
    d->inflight--;
    event_free(r->timer);
    r->timer = NULL;
}

static void on_response(struct evhttp_request *req, void *arg)
{
    drv_req *r = arg;
    if (!r->timer)
        return; /* already timed out */
    int status = req ? evhttp_request_get_response_code(req) : 0;
    finish(r, status > 0 ? status : WL_STATUS_CONN);
    if (status > 0)
        release_conn(r->d, r->conn);
    else /* failed: not reused; it can't be freed inside its own callback */
        event_base_once(r->d->base, -1, EV_TIMEOUT, free_conn_later, r->conn, NULL);
    r->conn = NULL;
    maybe_finish(r->d);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    drv_req *r = arg;
    finish(r, WL_STATUS_TIMEOUT);
    /* Freeing the connection drops its pending request without calling
     * on_response. */
    evhttp_connection_free(r->conn);
    r->conn = NULL;
    maybe_finish(r->d);
}

static bool send_one(drv *d, size_t i)
{
    drv_req *r = &d->reqs[i];
    wl_request *q = &d->trace->reqs[i];
    const wl_client *c = &d->clients[q->client];
    r->d = d;
    r->idx = i;
    r->sent = mono_now();
    q->sent = r->sent - d->t0;
    d->inflight++;
    r->timer = evtimer_new(d->base, on_timeout, r);
    if (!r->timer) {
        log_error("out of memory");
        return false;
    }
    struct timeval tv = tv_of(d->cfg->timeout);
    evtimer_add(r->timer, &tv);

    const addr_url *u = &d->cfg->url;
    r->conn = take_conn(d);
    struct evhttp_request *req = r->conn ? evhttp_request_new(on_response, r) : NULL;
    json_t *body = json_pack("{s:s%}", "sequence", q->text, strlen(q->text));
    char *json = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!req || !json) {
        free(json);
        if (req)
            evhttp_request_free(req);
        goto failed;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", d->hostport);
    evhttp_add_header(h, "Content-Type", "application/json");
    if (c->send_id)
        evhttp_add_header(h, "X-Client-Id", c->name);
    evbuffer_add(evhttp_request_get_output_buffer(req), json, strlen(json));
    free(json);
    if (evhttp_make_request(r->conn, req, EVHTTP_REQ_POST, u->path) != 0) {
        /* libevent took it off the connection's queue but did not free it. */
        evhttp_request_free(req);
        goto failed;
    }
    return true;
failed:
    /* Counted as a connection failure, never lost. */
    finish(r, WL_STATUS_CONN);
    if (r->conn)
        evhttp_connection_free(r->conn);
    r->conn = NULL;
    return true;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    drv *d = arg;
    double rel = mono_now() - d->t0;
    /* Send everything due (a timer may fire a little late; nothing is
     * skipped, only sent as soon as possible). */
    while (d->next < d->trace->n && d->trace->reqs[d->next].t <= rel + 0.0002) {
        if (!send_one(d, d->next)) {
            event_base_loopbreak(d->base);
            return;
        }
        d->next++;
    }
    if (d->next < d->trace->n) {
        struct timeval tv = tv_of(d->trace->reqs[d->next].t - rel);
        evtimer_add(d->tick, &tv);
    }
    maybe_finish(d);
}

static void draw_progress(drv *d, bool last)
{
    fprintf(stderr, "\rloadgen: sent %zu/%zu  answered %zu  in flight %zu  elapsed %.1fs\033[K",
            d->next, d->trace->n, d->answered, d->inflight, mono_now() - d->t0);
    if (last)
        fputc('\n', stderr);
    fflush(stderr);
}

static void on_progress(evutil_socket_t fd, short what, void *arg)
{
    draw_progress(arg, false);
}

bool drv_run(const drv_config *cfg, wl_trace *trace, const wl_client *clients)
{
    drv d = {.cfg = cfg, .trace = trace, .clients = clients};
    addr_format(&cfg->url.hp, d.hostport, sizeof d.hostport);
    d.base = event_base_new();
    d.reqs = calloc(trace->n ? trace->n : 1, sizeof *d.reqs);
    d.tick = d.base ? evtimer_new(d.base, on_tick, &d) : NULL;
    if (!d.base || !d.reqs || !d.tick) {
        log_error("cannot set up the event loop");
        free(d.reqs);
        if (d.tick)
            event_free(d.tick);
        if (d.base)
            event_base_free(d.base);
        return false;
    }
    if (cfg->progress) {
        d.progress = event_new(d.base, -1, EV_PERSIST, on_progress, &d);
        struct timeval tv = {0, 250000};
        evtimer_add(d.progress, &tv);
    }
    d.t0 = mono_now();
    struct timeval zero = {0, 0};
    evtimer_add(d.tick, &zero);
    if (trace->n)
        event_base_dispatch(d.base);

    /* Only a setup failure mid-run leaves requests open; close them as
     * connection failures so none is lost. */
    for (size_t i = 0; i < trace->n; i++) {
        if (i >= d.next) {
            trace->reqs[i].status = WL_STATUS_CONN;
            trace->reqs[i].sent = mono_now() - d.t0;
            trace->reqs[i].latency = 0;
        } else if (d.reqs[i].timer) {
            finish(&d.reqs[i], WL_STATUS_CONN);
            evhttp_connection_free(d.reqs[i].conn);
        }
    }
    if (d.progress) {
        draw_progress(&d, true);
        event_free(d.progress);
    }
    event_free(d.tick);
    for (size_t i = 0; i < d.nidle; i++)
        evhttp_connection_free(d.idle[i].conn);
    /* Runs the deferred connection frees. */
    event_base_loop(d.base, EVLOOP_NONBLOCK);
    event_base_free(d.base);
    free(d.reqs);
    return true;
}
