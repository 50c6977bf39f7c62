/* proxy: batchproxy's configuration, and building, reloading and tearing
 * down its modules.
 *
 * The path of a request: front (parse, validate, cache, coalesce into jobs)
 * -> sched (the queue) -> disp + upstream (send a batch, retry) -> the jobs'
 * waiters, through their callbacks (each request whose items are all
 * resolved gets its one answer). Everything runs on one libevent loop;
 * nothing polls.
 *
 * The modules' calls run one way: main -> proxy -> front -> (clients, jobs,
 * cache) -> disp -> (outcome, upstream, health, sched); metrics is called by the
 * others and calls none of them (scripts/check-layers.sh checks that the
 * includes have no cycle). reconf (SIGHUP's settings) sits beside proxy:
 * main calls it, it calls proxy and the modules below. */
#ifndef BP_PROXY_H
#define BP_PROXY_H

#include "cache.h"
#include "clients.h"
#include "codec.h"
#include "disp.h"
#include "front.h"
#include "health.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "sched.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#define PROXY_MAX_BACKENDS DISP_MAX_BACKENDS

/* What a text's length counts (--length-unit). */
enum proxy_length_unit { PROXY_CODEPOINTS, PROXY_BYTES };
extern const char *const proxy_length_units[]; /* "codepoints", "bytes", NULL */

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
    codec_config codec; /* the backends' protocol */
    enum proxy_length_unit length_unit;
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
    enum log_format log_format;
    size_t metrics_clients;  /* clients with series of their own in /metrics, /stats */
    double metrics_cache;    /* seconds a rendered /metrics or /stats is reused */
    double history_interval; /* seconds between samples of /stats/history */
    void *settings;          /* --config FILE's values (opt.h; main.c frees them) */
} proxy_config;

typedef struct proxy {
    proxy_config cfg;
    struct event_base *base;
    struct httpd *http;
    struct httpd *admin; /* --admin-listen's server, or NULL */
    sched *queue;        /* the queue, and which batch goes next */
    jobs work;           /* the texts queued or in flight, each with its waiters */
    cache answers;       /* recent answers by text */
    clients callers;     /* who is asking, and what each may do */
    metrics *meter;      /* what /metrics, /stats and the dashboard show */
    disp *pool;          /* the dispatcher: owns the pool of backends */
    codec protocol;      /* how batches are asked for and answers read */
    front api;           /* the HTTP API, on http (and admin) */
    struct event *drain_timer;
    struct event *history_timer; /* samples the history (metrics_sample) */
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
 * no longer listed finish their batch in flight, then leave; new ones join
 * (disp_sync_pool). On error (unreadable file, bad URL, no backend) the
 * pool stays as it is. */
void proxy_reload_backends(proxy *px);

#endif
