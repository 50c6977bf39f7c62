/* proxy: building and tearing down batchproxy's modules, and its shutdown
 * sequence (see proxy.h). */
#include "proxy.h"

#include "disp.h"
#include "front.h"
#include "httpd.h"
#include "mono.h"

#include <math.h>
#include <string.h>

#define PROBE_EVERY 2.0
#define MAX_BACKEND_ANSWER (1 << 20)

static void stop_loop(proxy *px)
{
    /* A short grace lets the last answers leave their sockets. */
    struct timeval grace = {0, 100000};
    event_base_loopexit(px->base, &grace);
}

void proxy_drained(proxy *px)
{
    log_info("drained: every request answered");
    stop_loop(px);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    proxy *px = arg;
    log_warn("drain timeout: answering %zu requests with 503", px->nlive);
    front_abort_all(px, 503, "proxy shut down before the backend answered");
    stop_loop(px);
}

void proxy_shutdown(proxy *px, int sig)
{
    if (px->draining) {
        log_warn("second signal: exiting now");
        front_abort_all(px, 503, "proxy shut down before the backend answered");
        stop_loop(px);
        return;
    }
    px->draining = true;
    log_info("signal %d: draining %zu requests (up to %.1f s)", sig, px->nlive,
             px->cfg.drain_timeout);
    if (px->nlive == 0) {
        proxy_drained(px);
        return;
    }
    struct timeval tv = {
        (time_t)px->cfg.drain_timeout,
        (suseconds_t)((px->cfg.drain_timeout - floor(px->cfg.drain_timeout)) * 1e6)};
    evtimer_add(px->drain_timer, &tv);
}

/* Builds every module; on failure logs why and returns false (proxy_free
 * releases whatever was built). */
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
    return base;
}

bool proxy_init(proxy *px)
{
    char err[256];
    if (!addr_parse_url(px->cfg.backend_url, &px->backend_addr, err, sizeof err)) {
        log_error("--backend: %s", err);
        return false;
    }
    if (strcmp(px->backend_addr.path, "/") == 0)
        strcpy(px->backend_addr.path, "/classify");
    px->sched = sched_new(&px->cfg.sched, err, sizeof err);
    if (!px->sched) {
        log_error("--policy: %s (one of: cost, priority, fifo, sjf)", err);
        return false;
    }
    if (!clients_init(&px->clients, px->cfg.clients_file, &px->cfg.client_defaults, err,
                      sizeof err)) {
        log_error("--clients: %s", err);
        return false;
    }
    if (px->clients.file.n)
        log_info("clients file %s: %zu clients%s", px->cfg.clients_file, px->clients.file.n,
                 px->clients.file.keys ? ", API keys required" : "");
    double now = mono_now();
    if (!jobs_init(&px->jobs) || !cache_init(&px->cache, px->cfg.cache_size, px->cfg.cache_ttl) ||
        !(px->base = new_event_base()) ||
        !(px->metrics = metrics_new(px->cfg.sched.max_batch, now)) ||
        !(px->backend =
              backend_new(px->base, &px->backend_addr, MAX_BACKEND_ANSWER, PROBE_EVERY)) ||
        !(px->disp = disp_new(px)) ||
        !(px->drain_timer = evtimer_new(px->base, on_drain_timeout, px))) {
        log_error("out of memory");
        return false;
    }
    httpd_limits lim = {
        .max_body = px->cfg.max_body, .max_headers = 16384, .io_timeout_s = px->cfg.io_timeout};
    px->http = httpd_listen(px->base, px->cfg.listen, &lim, front_handle, px, err, sizeof err);
    if (!px->http) {
        log_error("%s", err);
        return false;
    }
    return true;
}

void proxy_reload(proxy *px)
{
    char err[300];
    if (!clients_reload(&px->clients, px->sched, mono_now(), err, sizeof err)) {
        log_error("reload: %s; keeping the settings in force", err);
        return;
    }
    log_info("reload: clients file %s: %zu clients%s", px->cfg.clients_file,
             px->clients.file.n, px->clients.file.keys ? ", API keys required" : "");
}

void proxy_free(proxy *px)
{
    if (px->http)
        evhttp_free(px->http);
    front_abort_all(px, 503, "proxy shut down");
    disp_free(px->disp);
    backend_free(px->backend);
    if (px->drain_timer)
        event_free(px->drain_timer);
    if (px->jobs.table.slots)
        jobs_fini(&px->jobs);
    if (px->cache.table.slots)
        cache_fini(&px->cache);
    clients_fini(&px->clients);
    metrics_free(px->metrics);
    sched_free(px->sched);
    if (px->base)
        event_base_free(px->base);
}
