/* backend: HTTP client to the classification server (see backend.h). */
#include "backend.h"

#include "log.h"
#include "mono.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct backend {
    struct event_base *base;
    struct evdns_base *dns; /* borrowed from the dispatcher; may be NULL */
    addr_url url;
    char name[ADDR_HOST_MAX + ADDR_PATH_MAX + 16];
    char hosthdr[ADDR_HOST_MAX + 16];
    size_t max_answer;
    struct evhttp_connection *conn;  /* batches */
    struct evhttp_connection *probe; /* GET /healthz */
    struct event *probe_timer;
    struct event *fail_ev; /* reports a failure to send from the loop */
    double probe_every;
    double last_contact;
    /* The request in flight on conn, if any. */
    backend_cb cb;
    void *cb_arg;
    char error[128];
    /* The active check in flight on probe, if any. */
    backend_check_cb check_cb;
    void *check_arg;
};

static const char *request_error_name(enum evhttp_request_error e)
{
    switch (e) {
    case EVREQ_HTTP_TIMEOUT:
        return "timed out";
    case EVREQ_HTTP_EOF:
        return "connection closed before an answer";
    case EVREQ_HTTP_INVALID_HEADER:
        return "malformed answer headers";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "connection refused or reset";
    case EVREQ_HTTP_REQUEST_CANCEL:
        return "cancelled";
    case EVREQ_HTTP_DATA_TOO_LONG:
        return "answer too large";
    default:
        return "connection failed";
    }
}

static void on_error(enum evhttp_request_error e, void *arg)
{
    backend *b = arg;
    snprintf(b->error, sizeof b->error, "%s", request_error_name(e));
}

static struct evhttp_connection *make_conn(backend *b)
{
    struct evhttp_connection *c =
        evhttp_connection_base_new(b->base, b->dns, b->url.hp.host, b->url.hp.port);
    if (c) {
        evhttp_connection_set_max_body_size(c, (ev_ssize_t)b->max_answer);
        evhttp_connection_set_retries(c, 0);
    }
    return c;
}

static void set_timeout(struct evhttp_connection *c, double seconds)
{
    struct timeval tv = {(time_t)seconds, (suseconds_t)((seconds - floor(seconds)) * 1e6)};
    if (tv.tv_sec == 0 && tv.tv_usec < 1000)
        tv.tv_usec = 1000;
    evhttp_connection_set_timeout_tv(c, &tv);
}

static void on_answer(struct evhttp_request *req, void *arg)
{
    backend *b = arg;
    backend_cb cb = b->cb;
    void *cb_arg = b->cb_arg;
    b->cb = NULL;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    if (status > 0) {
        b->last_contact = mono_now();
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
        cb(cb_arg, status, body, len, NULL);
    } else {
        cb(cb_arg, 0, "", 0, b->error[0] ? b->error : "connection failed");
    }
}

static void on_deferred_failure(evutil_socket_t fd, short what, void *arg)
{
    on_answer(NULL, arg);
}

/* Reports `why` through the callback on the next loop turn. */
static void defer_failure(backend *b, const char *why)
{
    snprintf(b->error, sizeof b->error, "%s", why);
    struct timeval now = {0, 0};
    evtimer_add(b->fail_ev, &now);
}

void backend_post(backend *b, const char *body, size_t len, double timeout, backend_cb cb,
                  void *arg)
{
    b->cb = cb;
    b->cb_arg = arg;
    b->error[0] = '\0';
    if (!b->conn)
        b->conn = make_conn(b);
    struct evhttp_request *req = b->conn ? evhttp_request_new(on_answer, b) : NULL;
    if (!req) {
        defer_failure(b, "out of memory");
        return;
    }
    evhttp_request_set_error_cb(req, on_error);
    set_timeout(b->conn, timeout);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", b->hosthdr);
    evhttp_add_header(h, "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    if (evhttp_make_request(b->conn, req, EVHTTP_REQ_POST, b->url.path) != 0) {
        /* evhttp has freed req; the connection may be broken: start afresh. */
        evhttp_connection_free(b->conn);
        b->conn = NULL;
        defer_failure(b, "cannot send the request");
    }
}

static void on_probe_answer(struct evhttp_request *req, void *arg)
{
    backend *b = arg;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    if (status > 0)
        b->last_contact = mono_now();
    backend_check_cb cb = b->check_cb;
    b->check_cb = NULL;
    if (cb)
        cb(b->check_arg, status == 200);
}

void backend_check(backend *b, double timeout, backend_check_cb cb, void *arg)
{
    if (b->check_cb)
        return;
    if (!b->probe)
        b->probe = make_conn(b);
    struct evhttp_request *req = b->probe ? evhttp_request_new(on_probe_answer, b) : NULL;
    if (!req)
        return;
    set_timeout(b->probe, timeout);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", b->hosthdr);
    b->check_cb = cb;
    b->check_arg = arg;
    if (evhttp_make_request(b->probe, req, EVHTTP_REQ_GET, "/healthz") != 0) {
        evhttp_connection_free(b->probe);
        b->probe = NULL;
        b->check_cb = NULL;
    }
}

const char *backend_hostport(const backend *b)
{
    return b->hosthdr;
}

/* Probes GET /healthz when nothing else has shown the backend alive lately,
 * so /readyz stays true on an idle proxy with a live backend. */
static void on_probe_timer(evutil_socket_t fd, short what, void *arg)
{
    backend *b = arg;
    if (!b->check_cb && mono_now() - b->last_contact >= b->probe_every) {
        if (!b->probe)
            b->probe = make_conn(b);
        struct evhttp_request *req = b->probe ? evhttp_request_new(on_probe_answer, b) : NULL;
        if (req) {
            set_timeout(b->probe, b->probe_every);
            evhttp_add_header(evhttp_request_get_output_headers(req), "Host", b->hosthdr);
            if (evhttp_make_request(b->probe, req, EVHTTP_REQ_GET, "/healthz") != 0) {
                evhttp_connection_free(b->probe);
                b->probe = NULL;
            }
        }
    }
}

backend *backend_new(struct event_base *base, struct evdns_base *dns, const addr_url *url,
                     size_t max_answer, double probe_every)
{
    backend *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->base = base;
    b->dns = dns;
    b->url = *url;
    b->max_answer = max_answer;
    b->probe_every = probe_every;
    b->last_contact = -1;
    addr_format(&url->hp, b->hosthdr, sizeof b->hosthdr);
    snprintf(b->name, sizeof b->name, "%s%s", b->hosthdr, url->path);
    b->fail_ev = evtimer_new(base, on_deferred_failure, b);
    b->probe_timer = event_new(base, -1, EV_PERSIST, on_probe_timer, b);
    if (!b->fail_ev || !b->probe_timer) {
        backend_free(b);
        return NULL;
    }
    if (probe_every > 0) {
        struct timeval tv = {(time_t)probe_every,
                             (suseconds_t)((probe_every - floor(probe_every)) * 1e6)};
        event_add(b->probe_timer, &tv);
        event_active(b->probe_timer, EV_TIMEOUT, 0);
    }
    return b;
}

void backend_free(backend *b)
{
    if (!b)
        return;
    if (b->conn)
        evhttp_connection_free(b->conn);
    if (b->probe)
        evhttp_connection_free(b->probe);
    if (b->fail_ev)
        event_free(b->fail_ev);
    if (b->probe_timer)
        event_free(b->probe_timer);
    free(b);
}

double backend_last_contact(const backend *b)
{
    return b->last_contact;
}

const char *backend_name(const backend *b)
{
    return b->name;
}
