/* backend: HTTP client to the classification server (see backend.h). */
#include "backend.h"

#include "hclient.h"
#include "log.h"
#include "mono.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TARGET_MAX (2 * ADDR_PATH_MAX)

struct backend {
    addr_url url;
    char name[ADDR_HOST_MAX + ADDR_PATH_MAX + 16];
    char hosthdr[ADDR_HOST_MAX + 16];
    hclient *conn;  /* batches */
    hclient *probe; /* health checks and idle probes */
    struct event *probe_timer;
    double probe_every;
    double last_contact;
    char health_target[TARGET_MAX];
    char target[TARGET_MAX]; /* the request under way's, when not the URL's path */
    /* The request in flight on conn, if any. */
    backend_cb cb;
    void *cb_arg;
    /* The active check waiting for the probe connection's answer, if any. */
    backend_check_cb check_cb;
    void *check_arg;
};

/* The request target for path (see backend_request) in buf, or NULL when
 * it doesn't fit (hclient then refuses the request). */
static const char *resolve_path(const backend *b, const char *path, char *buf, size_t len)
{
    if (!path || !*path)
        return b->url.path;
    int n;
    if (path[0] == '/') {
        n = snprintf(buf, len, "%s", path);
    } else {
        size_t base = strlen(b->url.path);
        if (base > 0 && b->url.path[base - 1] == '/')
            base--;
        n = snprintf(buf, len, "%.*s/%s", (int)base, b->url.path, path);
    }
    return n >= 0 && (size_t)n < len ? buf : NULL;
}

static void on_answer(void *arg, int status, const char *body, size_t len, const char *error)
{
    backend *b = arg;
    backend_cb cb = b->cb;
    b->cb = NULL;
    if (status > 0)
        b->last_contact = mono_now();
    cb(b->cb_arg, status, body, len, error);
}

void backend_request(backend *b, const char *method, const char *path, const char *body, size_t len,
                     double timeout, backend_cb cb, void *arg)
{
    b->cb = cb;
    b->cb_arg = arg;
    const char *target = resolve_path(b, path, b->target, sizeof b->target);
    hclient_request(b->conn, method, target, body ? "application/json" : NULL, body, len, timeout,
                    on_answer, b);
}

void backend_post(backend *b, const char *body, size_t len, double timeout, backend_cb cb,
                  void *arg)
{
    backend_request(b, "POST", NULL, body, len, timeout, cb, arg);
}

static void on_probe_answer(void *arg, int status, const char *body, size_t len, const char *error)
{
    backend *b = arg;
    if (status > 0)
        b->last_contact = mono_now();
    else
        log_debug("backend %s: health probe failed: %s", b->name, error);
    backend_check_cb cb = b->check_cb;
    b->check_cb = NULL;
    if (cb)
        cb(b->check_arg, status == 200);
}

static void send_probe(backend *b, double timeout)
{
    hclient_request(b->probe, "GET", b->health_target, NULL, NULL, 0, timeout, on_probe_answer, b);
}

void backend_check(backend *b, double timeout, backend_check_cb cb, void *arg)
{
    if (b->check_cb)
        return;
    b->check_cb = cb;
    b->check_arg = arg;
    /* A probe under way answers the check: its answer is as fresh. */
    if (!hclient_busy(b->probe))
        send_probe(b, timeout);
}

bool backend_set_health_path(backend *b, const char *path)
{
    char buf[TARGET_MAX];
    const char *t = resolve_path(b, path, buf, sizeof buf);
    if (!t)
        return false;
    snprintf(b->health_target, sizeof b->health_target, "%s", t);
    return true;
}

const char *backend_hostport(const backend *b)
{
    return b->hosthdr;
}

/* Probes the health path when nothing else has shown the backend alive
 * lately, so /readyz stays true on an idle proxy with a live backend. */
static void on_probe_timer(evutil_socket_t fd, short what, void *arg)
{
    backend *b = arg;
    if (!hclient_busy(b->probe) && mono_now() - b->last_contact >= b->probe_every)
        send_probe(b, b->probe_every);
}

backend *backend_new(struct event_base *base, struct evdns_base *dns, const addr_url *url,
                     size_t max_answer, double probe_every)
{
    backend *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->url = *url;
    b->probe_every = probe_every;
    b->last_contact = -1;
    snprintf(b->health_target, sizeof b->health_target, "/healthz");
    addr_format(&url->hp, b->hosthdr, sizeof b->hosthdr);
    snprintf(b->name, sizeof b->name, "%s%s", b->hosthdr, url->path);
    char name[sizeof b->name + 32];
    snprintf(name, sizeof name, "backend %s", b->name);
    b->conn = hclient_new(base, dns, &url->hp, max_answer, name);
    snprintf(name, sizeof name, "backend %s (health probes)", b->hosthdr);
    b->probe = hclient_new(base, dns, &url->hp, max_answer, name);
    b->probe_timer = event_new(base, -1, EV_PERSIST, on_probe_timer, b);
    if (!b->conn || !b->probe || !b->probe_timer) {
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
    hclient_free(b->conn);
    hclient_free(b->probe);
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
