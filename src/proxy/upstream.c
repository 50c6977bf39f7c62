/* upstream: the HTTP client side of one backend (see upstream.h). */
#include "upstream.h"

#include "hclient.h"
#include "log.h"
#include "mono.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TARGET_MAX (2 * ADDR_PATH_MAX)

struct upstream {
    addr_url url;
    char name[ADDR_HOST_MAX + ADDR_PATH_MAX + 16];
    char hosthdr[ADDR_HOST_MAX + 16];
    hclient *conn;  /* batches */
    hclient *probe; /* health checks and idle probes */
    struct event *probe_timer;
    double probe_every;
    double last_contact;
    double last_healthy; /* the last 200, to a batch or to the health path */
    char health_target[TARGET_MAX];
    char target[TARGET_MAX]; /* the request under way's, when not the URL's path */
    /* The request in flight on conn, if any. */
    upstream_cb cb;
    void *cb_arg;
    /* The active check waiting for the probe connection's answer, if any. */
    upstream_check_cb check_cb;
    void *check_arg;
};

/* The request target for path (see upstream_request) in buf, or NULL when
 * it doesn't fit (hclient then refuses the request). */
static const char *resolve_path(const upstream *u, const char *path, char *buf, size_t len)
{
    if (!path || !*path)
        return u->url.path;
    int n;
    if (path[0] == '/') {
        n = snprintf(buf, len, "%s", path);
    } else {
        size_t base = strlen(u->url.path);
        if (base > 0 && u->url.path[base - 1] == '/')
            base--;
        n = snprintf(buf, len, "%.*s/%s", (int)base, u->url.path, path);
    }
    return n >= 0 && (size_t)n < len ? buf : NULL;
}

static void on_answer(void *arg, int status, const char *body, size_t len, const char *error)
{
    upstream *u = arg;
    upstream_cb cb = u->cb;
    u->cb = NULL;
    if (status > 0)
        u->last_contact = mono_now();
    if (status == 200)
        u->last_healthy = u->last_contact;
    cb(u->cb_arg, status, body, len, error);
}

void upstream_request(upstream *u, const char *method, const char *path, const char *body,
                      size_t len, double timeout, upstream_cb cb, void *arg)
{
    u->cb = cb;
    u->cb_arg = arg;
    const char *target = resolve_path(u, path, u->target, sizeof u->target);
    hclient_request(u->conn, method, target, body ? "application/json" : NULL, body, len, timeout,
                    on_answer, u);
}

static void on_probe_answer(void *arg, int status, const char *body, size_t len, const char *error)
{
    upstream *u = arg;
    if (status > 0)
        u->last_contact = mono_now();
    else
        log_debug("backend %s: health probe failed: %s", u->name, error);
    if (status == 200)
        u->last_healthy = u->last_contact;
    upstream_check_cb cb = u->check_cb;
    u->check_cb = NULL;
    if (cb)
        cb(u->check_arg, status == 200);
}

static void send_probe(upstream *u, double timeout)
{
    hclient_request(u->probe, "GET", u->health_target, NULL, NULL, 0, timeout, on_probe_answer, u);
}

void upstream_check(upstream *u, double timeout, upstream_check_cb cb, void *arg)
{
    if (u->check_cb)
        return;
    u->check_cb = cb;
    u->check_arg = arg;
    /* A probe under way answers the check: its answer is as fresh. */
    if (!hclient_busy(u->probe))
        send_probe(u, timeout);
}

bool upstream_set_health_path(upstream *u, const char *path)
{
    char buf[TARGET_MAX];
    const char *t = resolve_path(u, path, buf, sizeof buf);
    if (!t)
        return false;
    snprintf(u->health_target, sizeof u->health_target, "%s", t);
    return true;
}

const char *upstream_hostport(const upstream *u)
{
    return u->hosthdr;
}

/* Probes the health path when nothing else has shown the backend healthy
 * lately (a 200), so /readyz stays true on an idle proxy with a live
 * backend, and turns false when the health path fails (a model not
 * ready, a wrong model URL) even while the backend answers something. */
static void on_probe_timer(evutil_socket_t fd, short what, void *arg)
{
    upstream *u = arg;
    if (!hclient_busy(u->probe) && mono_now() - u->last_healthy >= u->probe_every)
        send_probe(u, u->probe_every);
}

upstream *upstream_new(struct event_base *base, struct evdns_base *dns, const addr_url *url,
                       size_t max_answer, double probe_every)
{
    upstream *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->url = *url;
    u->probe_every = probe_every;
    u->last_contact = -1;
    u->last_healthy = -1;
    snprintf(u->health_target, sizeof u->health_target, "/healthz");
    addr_format(&url->hp, u->hosthdr, sizeof u->hosthdr);
    snprintf(u->name, sizeof u->name, "%s%s", u->hosthdr, url->path);
    char name[sizeof u->name + 32];
    snprintf(name, sizeof name, "backend %s", u->name);
    u->conn = hclient_new(base, dns, &url->hp, max_answer, name);
    snprintf(name, sizeof name, "backend %s (health probes)", u->hosthdr);
    u->probe = hclient_new(base, dns, &url->hp, max_answer, name);
    u->probe_timer = event_new(base, -1, EV_PERSIST, on_probe_timer, u);
    if (!u->conn || !u->probe || !u->probe_timer) {
        upstream_free(u);
        return NULL;
    }
    if (probe_every > 0) {
        struct timeval tv = {(time_t)probe_every,
                             (suseconds_t)((probe_every - floor(probe_every)) * 1e6)};
        event_add(u->probe_timer, &tv);
        event_active(u->probe_timer, EV_TIMEOUT, 0);
    }
    return u;
}

void upstream_free(upstream *u)
{
    if (!u)
        return;
    hclient_free(u->conn);
    hclient_free(u->probe);
    if (u->probe_timer)
        event_free(u->probe_timer);
    free(u);
}

double upstream_last_contact(const upstream *u)
{
    return u->last_contact;
}

double upstream_last_healthy(const upstream *u)
{
    return u->last_healthy;
}

const char *upstream_name(const upstream *u)
{
    return u->name;
}
