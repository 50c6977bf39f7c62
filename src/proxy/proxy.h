/* proxy: batchproxy's configuration and the state its modules share.
 *
 * The path of a request: front (parse, validate, cache, coalesce into jobs)
 * -> sched (the queue, via disp) -> disp + backend (send a batch, retry) ->
 * front (each request whose items are all resolved gets its one answer).
 * Everything runs on one libevent loop; nothing polls. */
#ifndef BP_PROXY_H
#define BP_PROXY_H

#include "addr.h"
#include "backend.h"
#include "cache.h"
#include "health.h"
#include "clients.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "scheduler.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#define PROXY_MAX_BACKENDS 64

typedef struct proxy_config {
    const char *listen;
    const char *admin_listen; /* NULL: the operational endpoints are on listen */
    const char *clients_file; /* NULL: every client gets client_defaults */
    cfile_client client_defaults;
    const char *backend_url;
    /* The pool: --backend URLs (backend_url alone when there are none)
     * and the backends file's, reloaded on SIGHUP. */
    const char *backend_urls[PROXY_MAX_BACKENDS];
    size_t nbackend_urls;
    const char *backends_file;
    health_config health;
    sched_config sched;
    double timeout;         /* default request deadline, seconds */
    double backend_timeout; /* per attempt, seconds */
    int retries;
    double backoff_base, backoff_cap; /* seconds */
    size_t max_request_sequences;
    size_t cache_size;
    double cache_ttl;
    double drain_timeout;
    size_t max_body;
    int io_timeout;
    size_t max_connections;
    enum log_level log_level;
    size_t metrics_clients; /* clients with series of their own in /metrics, /stats */
    double metrics_cache;   /* seconds a rendered /metrics or /stats is reused */
    void *settings;         /* --config FILE's values (opt.h; main.c frees them) */
} proxy_config;

struct preq;
struct disp;
struct disp_slot;

/* One backend of the pool. Built and run by disp.c; px->pool lists the
 * backends in use and those leaving (removed by a reload, finishing their
 * batch in flight). */
typedef struct proxy_backend {
    char url[ADDR_HOST_MAX + ADDR_PATH_MAX + 16]; /* canonical (addr_format_url) */
    addr_url addr;
    backend *conn;
    int sid;       /* its id in the scheduler */
    int mid;       /* its id in the metrics */
    health health; /* ejection state */
    bool leaving;
    struct disp_slot *slot; /* the dispatcher's state for it */
} proxy_backend;

typedef struct proxy {
    proxy_config cfg;
    struct event_base *base;
    struct httpd *http;
    struct httpd *admin; /* --admin-listen's server, or NULL */
    sched *sched;
    jobs jobs;
    cache cache;
    clients clients;
    proxy_backend *pool[PROXY_MAX_BACKENDS];
    size_t npool;
    metrics *metrics;
    struct disp *disp;
    struct preq *live; /* every request accepted and not yet answered */
    size_t nlive;
    bool draining;
    struct event *drain_timer;
} proxy;

/* Builds every module from px->cfg and starts listening; on failure logs
 * why and returns false (proxy_free releases whatever was built). */
bool proxy_init(proxy *px);

/* Answers whatever is still live with 503 and frees every module. */
void proxy_free(proxy *px);

/* Starts the shutdown sequence (a signal arrived): stop accepting work
 * (503), let queued work finish for up to cfg.drain_timeout seconds, answer
 * what is left with 503, then end the loop. A second call ends it at once. */
void proxy_shutdown(proxy *px, int sig);

/* Re-reads the backends file (SIGHUP; called by reconf_apply): backends
 * no longer listed finish their batch in flight, then leave; new ones join.
 * On error (unreadable file, bad URL, no backend) the pool stays as it is. */
void proxy_reload_backends(proxy *px);

/* The latest contact (monotonic seconds) with any backend that may be given
 * batches (not ejected, not leaving), or -1: what /readyz looks at. */
double proxy_backends_last_contact(const proxy *px);

/* Called by front when the last live request is answered during a drain. */
void proxy_drained(proxy *px);

#endif
