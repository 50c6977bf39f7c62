/* proxy: building and tearing down batchproxy's modules, and its shutdown
 * sequence (see proxy.h). */
#include "proxy.h"

#include "httpd.h"
#include "mono.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const proxy_length_units[] = {"codepoints", "bytes", NULL};

static void stop_loop(proxy *px)
{
    /* A short grace lets the last answers leave their sockets. */
    struct timeval grace = {0, 100000};
    event_base_loopexit(px->base, &grace);
}

/* The last live request was answered during a drain. */
static void on_drained(void *arg)
{
    log_info("drained: every request answered");
    stop_loop(arg);
}

/* Every --history-interval-ms: one sample of the dashboard's history. */
static void on_history_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    proxy *px = arg;
    front_sample(&px->api);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    proxy *px = arg;
    log_warn("drain timeout: answering %zu requests with 503", px->api.nlive);
    front_abort_all(&px->api, 503, "proxy shut down before the backend answered");
    stop_loop(px);
}

void proxy_shutdown(proxy *px, int sig)
{
    if (px->api.draining) {
        log_warn("second signal: exiting now");
        front_abort_all(&px->api, 503, "proxy shut down before the backend answered");
        stop_loop(px);
        return;
    }
    httpd_drain(px->http, "proxy is shutting down");
    log_info("signal %d: draining %zu requests (up to %.1f s)", sig, px->api.nlive,
             px->cfg.drain_timeout);
    front_drain(&px->api); /* with nothing live, the drain is over at once */
    if (px->api.nlive == 0)
        return;
    struct timeval tv = {
        (time_t)px->cfg.drain_timeout,
        (suseconds_t)((px->cfg.drain_timeout - floor(px->cfg.drain_timeout)) * 1e6)};
    evtimer_add(px->drain_timer, &tv);
}

/* --- the pool of backends --- */

/* URLs of the pool as configured now, parsed; `text` owns the strings. */
typedef struct backend_list {
    size_t n;
    char *url[PROXY_MAX_BACKENDS];
    addr_url addr[PROXY_MAX_BACKENDS];
} backend_list;

static void backend_list_free(backend_list *bl)
{
    for (size_t i = 0; i < bl->n; i++)
        free(bl->url[i]);
    bl->n = 0;
}

/* Adds one URL, kept in canonical form (addr_format_url); "/" becomes
 * the protocol's default path ("/classify"), and the path must suit the
 * protocol (an oip model's). A URL listed already, however spelt, is left out with a
 * warning: two entries for one server would send it two batches at once. */
static bool backend_list_add(backend_list *bl, const codec *proto, const char *url,
                             const char *from, char *err, size_t errlen)
{
    addr_url a;
    char why[200];
    if (!addr_parse_url(url, &a, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", from, why);
        return false;
    }
    if (!addr_resolves(a.hp.host, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", from, why);
        return false;
    }
    if (strcmp(a.path, "/") == 0 && codec_default_path(proto))
        strcpy(a.path, codec_default_path(proto));
    if (!codec_check_path(proto, url, a.path, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", from, why);
        return false;
    }
    char canon[DISP_URL_MAX];
    addr_format_url(&a, canon, sizeof canon);
    for (size_t i = 0; i < bl->n; i++) {
        if (strcmp(bl->url[i], canon) == 0) {
            log_warn("%s: '%.200s' is %s, listed already; once is enough", from, url, canon);
            return true;
        }
        if (strcasecmp(bl->addr[i].hp.host, a.hp.host) == 0 && bl->addr[i].hp.port == a.hp.port)
            log_warn("%s: %s and %s are one server: it will be sent two batches at once "
                     "(and share one series in /metrics)",
                     from, bl->url[i], canon);
    }
    if (bl->n == PROXY_MAX_BACKENDS) {
        snprintf(err, errlen, "%s: more than %d backends", from, PROXY_MAX_BACKENDS);
        return false;
    }
    if (!(bl->url[bl->n] = strdup(canon))) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    bl->addr[bl->n++] = a;
    return true;
}

/* The pool's URLs: every --backend, then the backends file's (one URL a
 * line, '#' starts a comment); the default --backend when neither is given.
 * False with a message (and an empty list) on a bad file or URL or none. */
static bool backend_list_read(const proxy *px, backend_list *bl, char *err, size_t errlen)
{
    const proxy_config *c = &px->cfg;
    bl->n = 0;
    bool ok = true;
    for (size_t i = 0; i < c->nbackend_urls && ok; i++)
        ok = backend_list_add(bl, &px->protocol, c->backend_urls[i], "--backend", err, errlen);
    if (ok && !c->backends_file && c->nbackend_urls == 0)
        ok = backend_list_add(bl, &px->protocol, c->backend_url, "--backend", err, errlen);
    if (ok && c->backends_file) {
        FILE *f = fopen(c->backends_file, "r");
        if (!f) {
            snprintf(err, errlen, "--backends-file %s: %s", c->backends_file, strerror(errno));
            ok = false;
        }
        char line[4096];
        for (int lineno = 1; ok && f && fgets(line, sizeof line, f); lineno++) {
            line[strcspn(line, "#\r\n")] = '\0';
            char *p = line + strspn(line, " \t"), *e = p + strlen(p);
            while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
                *--e = '\0';
            if (!*p)
                continue;
            char from[300];
            snprintf(from, sizeof from, "%s:%d", c->backends_file, lineno);
            ok = backend_list_add(bl, &px->protocol, p, from, err, errlen);
        }
        if (ok && f && ferror(f)) { /* a directory, say */
            snprintf(err, errlen, "--backends-file %s: %s", c->backends_file, strerror(errno));
            ok = false;
        }
        if (f)
            fclose(f);
    }
    if (ok && bl->n == 0) {
        snprintf(err, errlen, "no backend configured (--backend or --backends-file)");
        ok = false;
    }
    if (!ok)
        backend_list_free(bl);
    return ok;
}

/* The list's backends make the first pool; frees the list. */
static bool backend_list_join(proxy *px, backend_list *bl)
{
    disp_sync r = disp_sync_pool(px->pool, bl->url, bl->addr, bl->n, false);
    backend_list_free(bl);
    return r.failed == 0;
}

void proxy_reload_backends(proxy *px)
{
    if (!px->cfg.backends_file)
        return;
    char err[512];
    backend_list bl = {0};
    if (!backend_list_read(px, &bl, err, sizeof err)) {
        log_error("reload: %s; keeping the backends in use", err);
        return;
    }
    disp_sync r = disp_sync_pool(px->pool, bl.url, bl.addr, bl.n, true);
    backend_list_free(&bl);
    log_info("reload: backends file %s: %zu joined, %zu leaving", px->cfg.backends_file, r.joined,
             r.left);
}

/* With epoll, libevent's changelist folds the many enable/disable pairs a
 * request makes on its socket within one loop turn into at most one
 * epoll_ctl; that is a measurable share of the proxy's CPU at high rates. */
static struct event_base *new_event_base(void)
{
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (base && event_base_priority_init(base, 3) != 0) {
        event_base_free(base);
        base = NULL;
    }
    return base;
}

/* The front over the modules built, and its listeners; on failure logs
 * why and returns false. */
static bool start_front(proxy *px)
{
    px->api = (front){.cfg = {.max_request_sequences = px->cfg.max_request_sequences,
                              .max_length = px->cfg.sched.max_length,
                              .count_bytes = px->cfg.length_unit == PROXY_BYTES,
                              .backend_protocol = codec_protocols[px->cfg.codec.protocol],
                              .max_batch_cost = px->cfg.sched.max_batch_cost,
                              .admin_apart = px->cfg.admin_listen != NULL,
                              .max_queue = px->cfg.sched.max_queue,
                              .default_deadline = px->cfg.timeout,
                              .history_interval = px->cfg.history_interval},
                      .base = px->base,
                      .queue = px->queue,
                      .work = &px->work,
                      .answers = &px->answers,
                      .callers = &px->callers,
                      .meter = px->meter,
                      .pool = px->pool,
                      .on_drained = on_drained,
                      .drained_arg = px};
    char err[256];
    httpd_limits lim = {.max_body = px->cfg.max_body,
                        .max_headers = 16384,
                        .io_timeout_s = px->cfg.io_timeout,
                        .max_connections = px->cfg.max_connections};
    httpd_handlers h = {.on_head = front_head,
                        .on_request = front_handle,
                        .on_refused = front_refused,
                        .arg = &px->api};
    px->http = httpd_listen(px->base, px->cfg.listen, &lim, &h, err, sizeof err);
    if (!px->http) {
        log_error("%s", err);
        return false;
    }
    if (px->cfg.admin_listen) {
        httpd_handlers ah = {.on_request = front_handle_admin, .arg = &px->api, .name = "admin"};
        px->admin = httpd_listen(px->base, px->cfg.admin_listen, &lim, &ah, err, sizeof err);
        if (!px->admin) {
            log_error("--admin-listen: %s", err);
            return false;
        }
    }
    return true;
}

bool proxy_init(proxy *px)
{
    char err[256];
    backend_list bl = {0};
    if (!codec_init(&px->protocol, &px->cfg.codec, err, sizeof err)) {
        log_error("%s", err);
        return false;
    }
    if (!backend_list_read(px, &bl, err, sizeof err)) {
        log_error("%s", err);
        return false;
    }
    px->queue = sched_new(&px->cfg.sched, err, sizeof err);
    if (!px->queue) {
        log_error("--policy: %s (one of: cost, priority, fifo, sjf)", err);
        backend_list_free(&bl);
        return false;
    }
    double now = mono_now();
    if (!(px->meter = metrics_new(px->cfg.sched.max_batch, now))) {
        log_error("out of memory");
        backend_list_free(&bl);
        return false;
    }
    if (!clients_init(&px->callers, px->cfg.clients_file, &px->cfg.client_defaults, px->meter, err,
                      sizeof err)) {
        log_error("--clients: %s", err);
        backend_list_free(&bl);
        return false;
    }
    if (px->callers.file.n)
        log_info("clients file %s: %zu clients%s", px->cfg.clients_file, px->callers.file.n,
                 px->callers.file.keys ? ", API keys required" : "");
    disp_config dc = {.health = px->cfg.health,
                      .backend_timeout = px->cfg.backend_timeout,
                      .retries = px->cfg.retries,
                      .backoff_base = px->cfg.backoff_base,
                      .backoff_cap = px->cfg.backoff_cap,
                      .max_batch_cost = px->cfg.sched.max_batch_cost,
                      .codec = &px->protocol};
    if (!jobs_init(&px->work) || !cache_init(&px->answers, px->cfg.cache_size, px->cfg.cache_ttl) ||
        !(px->base = new_event_base()) ||
        !(px->pool = disp_new(px->base, &dc, px->queue, &px->work, &px->answers, px->meter)) ||
        !backend_list_join(px, &bl) ||
        !(px->drain_timer = evtimer_new(px->base, on_drain_timeout, px)) ||
        !(px->history_timer = event_new(px->base, -1, EV_PERSIST, on_history_tick, px))) {
        log_error("out of memory");
        backend_list_free(&bl);
        return false;
    }
    metrics_set_exposition(px->meter, px->cfg.metrics_clients, px->cfg.metrics_cache);
    double hi = px->cfg.history_interval;
    struct timeval every = {(time_t)hi, (suseconds_t)((hi - floor(hi)) * 1e6)};
    evtimer_add(px->history_timer, &every);
    if (!start_front(px))
        return false;
    size_t n = disp_pool_size(px->pool);
    log_info("policy %s, max batch %zu, %zu backend%s", sched_policy(px->queue),
             px->cfg.sched.max_batch, n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++)
        log_info("backend %s", disp_pool_url(px->pool, i));
    return true;
}

void proxy_free(proxy *px)
{
    httpd_free(px->admin);
    httpd_free(px->http);
    front_abort_all(&px->api, 503, "proxy shut down");
    disp_free(px->pool);
    if (px->drain_timer)
        event_free(px->drain_timer);
    if (px->history_timer)
        event_free(px->history_timer);
    if (px->work.table.slots)
        jobs_fini(&px->work);
    if (px->answers.table.slots)
        cache_fini(&px->answers);
    clients_fini(&px->callers);
    metrics_free(px->meter);
    sched_free(px->queue);
    codec_fini(&px->protocol);
    if (px->base)
        event_base_free(px->base);
}
