/* batchproxy: the batching proxy in front of a classification server.
 *
 * main parses the flags, builds the proxy (proxy.c) and runs its loop until
 * a signal has drained it (see proxy_shutdown). */
#include "httpd.h"
#include "mono.h"
#include "opt.h"
#include "proxy.h"
#include "reconf.h"
#include "sdnotify.h"
#include "version.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The service manager (Type=notify) hears of the drain. */
static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    sdnotify_stopping();
    proxy_shutdown(arg, (int)sig);
}

/* --backend URL, repeatable: the pool. The default is backend_url alone,
 * the pool when no --backend and no backends file are given (proxy.c).
 * NULL: the command line replaces the settings file's backends. */
static bool set_backend(const opt_entry *e, void *base, const char *v, opt_from from, char *why,
                        size_t whylen)
{
    proxy_config *c = base;
    if (!v) {
        c->nbackend_urls = 0;
        return true;
    }
    addr_url url;
    if (!addr_parse_url(v, &url, why, whylen))
        return false;
    c->backend_url = v;
    if (from == OPT_FROM_DEFAULT)
        return true;
    if (c->nbackend_urls == PROXY_MAX_BACKENDS) {
        snprintf(why, whylen, "at most %d", PROXY_MAX_BACKENDS);
        return false;
    }
    c->backend_urls[c->nbackend_urls++] = v;
    return true;
}

/* The pool's URLs given in a and b are the same (a reload compares them). */
static bool same_backends(const opt_entry *e, const void *a, const void *b)
{
    const proxy_config *x = a, *y = b;
    if (x->nbackend_urls != y->nbackend_urls || strcmp(x->backend_url, y->backend_url) != 0)
        return false;
    for (size_t i = 0; i < x->nbackend_urls; i++)
        if (strcmp(x->backend_urls[i], y->backend_urls[i]) != 0)
            return false;
    return true;
}

/* --timeout: the default deadline of requests, and of clients whose
 * section of the clients file sets none. */
static bool set_timeout(const opt_entry *e, void *base, const char *v, opt_from from, char *why,
                        size_t whylen)
{
    proxy_config *c = base;
    if (!opt_double(v, e->dlo, e->dhi, &c->timeout, why, whylen))
        return false;
    c->client_defaults.timeout = c->timeout;
    return true;
}

/* --backend-timeout: the attempt's deadline, and the cost bound: no batch
 * may be predicted to outlast the attempt that carries it. */
static bool set_backend_timeout(const opt_entry *e, void *base, const char *v, opt_from from,
                                char *why, size_t whylen)
{
    proxy_config *c = base;
    if (!opt_double(v, e->dlo, e->dhi, &c->backend_timeout, why, whylen))
        return false;
    c->sched.max_batch_cost = c->backend_timeout;
    return true;
}

/* The options; their defaults are here alone. */
static const opt_entry proxy_opts[] = {
    {.name = "listen",
     .type = OPT_STR,
     OPT_FIELD(proxy_config, listen),
     .def = "127.0.0.1:8000",
     .arg = "HOST:PORT",
     .help = "listen address (default %D; port 0 picks a free one, printed as 'listening on "
             "...')",
     .group = "Serving:"},
    {.name = "backend",
     .type = OPT_CUSTOM,
     .set = set_backend,
     .same = same_backends,
     .def = "http://127.0.0.1:8001",
     .arg = "URL",
     .help = "classification server (default %D; with --backend-protocol classify, POSTs go to "
             "URL's path, /classify if it has none; see --backend-protocol for the others); "
             "repeat it for a pool of backends, each given one batch at a time",
     .flags = OPT_REPEAT},
    {.name = "backends-file",
     .type = OPT_STR,
     OPT_FIELD(proxy_config, backends_file),
     .arg = "FILE",
     .help = "more backends, one URL a line ('#' comments); without --backend, the pool is the "
             "file's alone; reloaded on SIGHUP (removed backends finish their batch in flight, "
             "then leave); a URL listed twice, however spelt, counts once",
     .flags = OPT_RELOAD},
    {.name = "eject-failures",
     .type = OPT_INT,
     OPT_FIELD(proxy_config, health.failures),
     .hi = 1000,
     .def = "3",
     .arg = "N",
     .help = "consecutive failed attempts that eject a backend of the pool (default %D; 0 never "
             "ejects)"},
    {.name = "eject-base",
     .type = OPT_DOUBLE,
     OPT_FIELD(proxy_config, health.base),
     .dlo = 0.001,
     .dhi = 3600,
     .def = "1",
     .arg = "SECONDS",
     .help = "first ejection (default %D; doubles each time in a row); a GET of the health "
             "path (--backend-health-path) must pass before it is back"},
    {.name = "eject-max",
     .type = OPT_DOUBLE,
     OPT_FIELD(proxy_config, health.max),
     .dlo = 0.001,
     .dhi = 86400,
     .def = "30",
     .arg = "SECONDS",
     .help = "longest ejection"},
    {.name = "max-body",
     .type = OPT_SIZE,
     OPT_FIELD(proxy_config, max_body),
     .lo = 16,
     .hi = 1 << 30,
     .def = "1048576",
     .arg = "BYTES",
     .help = "largest request body"},
    {.name = "io-timeout",
     .type = OPT_INT,
     OPT_FIELD(proxy_config, io_timeout),
     .lo = 1,
     .hi = 3600,
     .def = "10",
     .arg = "SECONDS",
     .help = "client read/write timeout"},
    {.name = "max-connections",
     .type = OPT_SIZE,
     OPT_FIELD(proxy_config, max_connections),
     .lo = 1,
     .hi = 1000000,
     .def = OPT_STR_OF(HTTPD_DEFAULT_MAX_CONNECTIONS),
     .arg = "N",
     .help = "open client connections at most (default %D; the oldest idle one is closed for a "
             "new one, with none idle new ones wait to be accepted)"},
    {.name = "backend-protocol",
     .type = OPT_CHOICE,
     OPT_FIELD(proxy_config, codec.protocol),
     .choices = codec_protocols,
     .def = "classify",
     .arg = "PROTOCOL",
     .help = "how batches are asked for: %C (default %D): classify POSTs {\"sequences\"} to "
             "--backend's URL; oip (the Open Inference Protocol: Triton, KServe, ...) POSTs a "
             "BYTES tensor to URL/infer, URL being the model's (http://HOST:PORT/v2/models/NAME); "
             "tei (Text Embeddings Inference) POSTs to URL/predict; json POSTs "
             "{FIELD: [...]} to URL (see docs/backends.md)",
     .group = "Backend protocol (see docs/backends.md):"},
    {.name = "oip-input",
     .type = OPT_STR,
     OPT_FIELD(proxy_config, codec.oip_input),
     .def = "text",
     .arg = "NAME",
     .help = "oip: the input tensor's name (default %D)"},
    {.name = "oip-input-shape",
     .type = OPT_CHOICE,
     OPT_FIELD(proxy_config, codec.oip_shape),
     .choices = codec_oip_shapes,
     .def = "n",
     .arg = "SHAPE",
     .help = "oip: the input tensor's shape for a batch of n texts, %C (default %D): n is "
             "[n], for a model without a batch dimension (Triton: max_batch_size 0); n,1 is "
             "[n, 1], Triton's for a model with max_batch_size > 0 and dims [1]"},
    {.name = "oip-output",
     .type = OPT_STR,
     OPT_FIELD(proxy_config, codec.oip_output),
     .arg = "NAME",
     .help = "oip: the output tensor whose data are the results, asked for by name (default: "
             "the answer's first output)"},
    {.name = "backend-request-field",
     .type = OPT_STR,
     OPT_FIELD(proxy_config, codec.request_field),
     .def = "sequences",
     .arg = "NAME",
     .help = "json: the key of the request's list of texts (default %D)"},
    {.name = "backend-results-pointer",
     .type = OPT_STR,
     OPT_FIELD(proxy_config, codec.results_pointer),
     .def = "/results",
     .arg = "POINTER",
     .help = "json: where the answer's list of results is, an RFC 6901 JSON pointer (default "
             "%D; '' for an answer that is the list)"},
    {.name = "backend-health-path",
     .type = OPT_STR,
     OPT_FIELD(proxy_config, codec.health_path),
     .arg = "PATH",
     .help = "what health checks GET, absolute or relative to --backend's URL (default: "
             "/healthz for classify and json, ready for oip (the model's readiness), health for "
             "tei)"},
    {.name = "labels",
     .type = OPT_STR,
     OPT_FIELD(proxy_config, codec.labels),
     .arg = "L1,L2,...",
     .help = "every result must be one of these strings, or the answer is malformed (default: "
             "code,not code for classify, any JSON value for the others; '' for any)"},
    {.name = "max-result-bytes",
     .type = OPT_SIZE,
     OPT_FIELD(proxy_config, codec.max_result),
     .lo = 8,
     .hi = 1 << 20,
     .def = "16384",
     .arg = "BYTES",
     .help = "one text's result, as compact JSON, may be this long (default %D); a longer "
             "one makes the answer malformed"},
    {.name = "length-unit",
     .type = OPT_CHOICE,
     OPT_FIELD(proxy_config, length_unit),
     .choices = proxy_length_units,
     .def = "codepoints",
     .arg = "UNIT",
     .help = "what a text's length L counts, for the cost model and --max-length: %C (default "
             "%D)"},
    {.name = "policy",
     .type = OPT_STR,
     OPT_FIELD(proxy_config, sched.policy),
     .def = "cost",
     .arg = "NAME",
     .help = "cost | priority | fifo | sjf",
     .group = "Scheduling:"},
    {.name = "max-batch",
     .type = OPT_SIZE,
     OPT_FIELD(proxy_config, sched.max_batch),
     .lo = 1,
     .hi = SCHED_MAX_BATCH,
     .def = "5",
     .arg = "N",
     .help = "sequences per batch (default %D, the backend's limit)"},
    {.name = "max-wait-ms",
     .type = OPT_MS,
     OPT_FIELD(proxy_config, sched.max_wait),
     .dhi = 60000,
     .def = "0",
     .arg = "MS",
     .help = "how long a partial batch may be held to fill up (default %D: a batch leaves when "
             "the backend is free)"},
    {.name = "priority-threshold",
     .type = OPT_SIZE,
     OPT_FIELD(proxy_config, sched.priority_threshold),
     .hi = 10000000,
     .def = "12",
     .arg = "N",
     .help = "priority: lengths up to N are high priority"},
    {.name = "max-queue",
     .type = OPT_SIZE,
     OPT_FIELD(proxy_config, sched.max_queue),
     .lo = 1,
     .hi = 10000000,
     .def = "10000",
     .arg = "N",
     .help = "queued sequences before new requests get 503"},
    {.name = "max-length",
     .type = OPT_SIZE,
     OPT_FIELD(proxy_config, sched.max_length),
     .lo = 1,
     .hi = 1000000,
     .def = "1000",
     .arg = "N",
     .help = "longest sequence, in --length-unit; longer get 413"},
    {.name = "max-request-sequences",
     .type = OPT_SIZE,
     OPT_FIELD(proxy_config, max_request_sequences),
     .lo = 1,
     .hi = 100000,
     .def = "1000",
     .arg = "N",
     .help = "sequences in one request"},
    {.name = "timeout",
     .type = OPT_CUSTOM,
     .set = set_timeout,
     OPT_FIELD(proxy_config, timeout),
     .dlo = 0.001,
     .dhi = 3600,
     .def = "30",
     .arg = "SECONDS",
     .help = "default request deadline (default %D; a request may set its own with "
             "X-Timeout-Ms)",
     .group = "Deadlines and failures:",
     .flags = OPT_RELOAD},
    {.name = "backend-timeout",
     .type = OPT_CUSTOM,
     .set = set_backend_timeout,
     OPT_FIELD(proxy_config, backend_timeout),
     .dlo = 0.001,
     .dhi = 3600,
     .def = "30",
     .arg = "SECONDS",
     .help = "per attempt, from sending to the whole answer (default %D); no batch predicted to "
             "take longer is sent, and a sequence whose own batch would is refused with 413"},
    {.name = "cost-prior",
     .type = OPT_DOUBLE,
     OPT_FIELD(proxy_config, sched.prior_b),
     .dhi = 10,
     .def = "0.002",
     .arg = "SECONDS",
     .help = "c of the cost curve a + c*L^2 assumed for a backend until its batches are "
             "measured (default %D, the original server's; a = 1 ms)"},
    {.name = "retries",
     .type = OPT_INT,
     OPT_FIELD(proxy_config, retries),
     .hi = 100,
     .def = "3",
     .arg = "N",
     .help = "retries of a failed batch",
     .flags = OPT_RELOAD},
    {.name = "backoff-base",
     .type = OPT_DOUBLE,
     OPT_FIELD(proxy_config, backoff_base),
     .dhi = 60,
     .def = "0.05",
     .arg = "SECONDS",
     .help = "first retry's backoff ceiling",
     .flags = OPT_RELOAD},
    {.name = "backoff-cap",
     .type = OPT_DOUBLE,
     OPT_FIELD(proxy_config, backoff_cap),
     .dhi = 600,
     .def = "2",
     .arg = "SECONDS",
     .help = "largest backoff ceiling (default %D); each wait is uniform in [0, min(cap, base * "
             "2^(retry-1))]",
     .flags = OPT_RELOAD},
    {.name = "clients",
     .type = OPT_STR,
     OPT_FIELD(proxy_config, clients_file),
     .arg = "FILE",
     .help = "per-client weight, rate limit, queue limit, deadline and API key (INI); reloaded "
             "on SIGHUP (a reload can't turn API keys off: that takes a restart)",
     .group = "Clients (see README, 'Clients and fairness'):",
     .flags = OPT_RELOAD},
    {OPT_SUB(proxy_config, client_defaults), .sub = cfile_default_opts, .flags = OPT_RELOAD},
    {.name = "cache-size",
     .type = OPT_SIZE,
     OPT_FIELD(proxy_config, cache_size),
     .hi = 100000000,
     .def = "10000",
     .arg = "N",
     .help = "results kept (default %D; 0 disables)",
     .group = "Cache:"},
    {.name = "cache-ttl",
     .type = OPT_DOUBLE,
     OPT_FIELD(proxy_config, cache_ttl),
     .dhi = 1e9,
     .def = "3600",
     .arg = "SECONDS",
     .help = "how long a result is reused (default %D; 0: forever)",
     .flags = OPT_RELOAD},
    {.name = "admin-listen",
     .type = OPT_STR,
     OPT_FIELD(proxy_config, admin_listen),
     .arg = "HOST:PORT",
     .help = "serve /metrics, /stats, /stats/history and /dashboard on this address only, "
             "apart from client traffic (/healthz, /readyz and /openapi.json on both; default: "
             "none, everything on --listen)",
     .group = "Operations:"},
    {.name = "metrics-clients",
     .type = OPT_SIZE,
     OPT_FIELD(proxy_config, metrics_clients),
     .hi = METRICS_MAX_CLIENTS,
     .def = OPT_STR_OF(METRICS_SHOWN_DEFAULT),
     .arg = "N",
     .help = "clients with series of their own in /metrics and /stats (default %D): those in "
             "the clients file first, then the busiest; the others are summed as client "
             "\"(rest)\"",
     .flags = OPT_RELOAD},
    {.name = "metrics-cache-ms",
     .type = OPT_MS,
     OPT_FIELD(proxy_config, metrics_cache),
     .dhi = 3600000,
     .def = "1000",
     .arg = "MS",
     .help = "a rendered /metrics or /stats is served again for this long (default %D; 0: "
             "render every time); so is /stats/history",
     .flags = OPT_RELOAD},
    {.name = "history-interval-ms",
     .type = OPT_MS,
     OPT_FIELD(proxy_config, history_interval),
     .dlo = 10,
     .dhi = 60000,
     .def = "1000",
     .arg = "MS",
     .help = "time between two samples of /stats/history, which keeps the last " OPT_STR_OF(
         METRICS_HISTORY) " (default %D: 10 minutes; shorter for tests)"},
    {.name = "drain-timeout",
     .type = OPT_DOUBLE,
     OPT_FIELD(proxy_config, drain_timeout),
     .dhi = 3600,
     .def = "10",
     .arg = "SECONDS",
     .help = "on SIGINT/SIGTERM, time given to queued work",
     .flags = OPT_RELOAD},
    {.name = "log-level",
     .type = OPT_CHOICE,
     OPT_FIELD(proxy_config, log_level),
     .choices = log_levels,
     .def = "info",
     .arg = "LEVEL",
     .help = "%C (default %D; debug logs one line per batch)",
     .flags = OPT_RELOAD},
    {.name = "log-format",
     .type = OPT_CHOICE,
     OPT_FIELD(proxy_config, log_format),
     .choices = log_formats,
     .def = "text",
     .arg = "FORMAT",
     .help = "%C (default %D): json writes one JSON object a line (time, level, program, "
             "message and the line's fields), for log shippers"},
    {.name = "config",
     .type = OPT_CONFIG,
     OPT_FIELD(proxy_config, settings),
     .arg = "FILE",
     .help = "read settings from FILE first: NAME = VALUE lines, NAME an option of this "
             "list without \"--\" (a flag's VALUE true or false), '#' comments; the command "
             "line overrides them (see README, 'Settings file')"},
    {0}};

static const opt_program proxy_program = {
    .name = "batchproxy",
    .usage = "Usage: batchproxy [OPTIONS]\n"
             "A batching, scheduling proxy in front of a classification server.\n"
             "Clients POST /proxy_classify {\"sequence\": \"...\"} (or {\"sequences\": [...]});\n"
             "the proxy batches them, sends one batch at a time, and answers each request.\n"
             "\n",
    .epilog = "Endpoints: POST /proxy_classify, GET /healthz, /readyz, /metrics (Prometheus),\n"
              "/stats and /stats/history (JSON), /dashboard, /openapi.json (this API\n"
              "described in OpenAPI 3.1). Headers: X-Client-Id (1-64 of [A-Za-z0-9._-]),\n"
              "X-Timeout-Ms, Authorization: Bearer KEY (when the clients file has keys).\n"
              "Signals: SIGHUP re-reads the --config file (the options marked sighup in\n"
              "--list-options take effect, a change to another one is logged as needing a\n"
              "restart), the backends file and the clients file; SIGINT/SIGTERM drain and exit.\n",
    .table = proxy_opts,
    .column = 30};

/* What no option sets; the options' defaults are in proxy_opts. */
static proxy_config base_config(void)
{
    return (proxy_config){.sched = sched_config_default(), .client_defaults.weight = 1};
}

/* What SIGHUP needs: the command line, to read the settings again as at
 * the start (the settings file, then the command line over it). */
typedef struct reloader {
    proxy *px;
    int argc;
    char **argv;
    reconf rc;
} reloader;

/* The reload is synchronous: the service manager hears READY=1 once done. */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
    reloader *r = arg;
    sdnotify_reloading();
    proxy_config fresh = base_config();
    char err[1024];
    if (opt_reparse(&proxy_program, &fresh, r->argc, r->argv, err, sizeof err))
        reconf_apply(&r->rc, r->px, proxy_opts, &fresh);
    else
        log_error("reload: %s; every setting, the backends and the clients stay as they were", err);
    opt_free(proxy_opts, &fresh);
    sdnotify_ready();
}

int main(int argc, char **argv)
{
    httpd_global_init();
    proxy px = {.cfg = base_config()};
    int rc = opt_parse(&proxy_program, &px.cfg, argc, argv, NULL);
    char err[512];
    if (rc == 0 && !proxy_check_config(&px.cfg, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", proxy_program.name, err);
        rc = 2;
    }
    if (rc) {
        opt_free(proxy_opts, &px.cfg);
        return rc == OPT_EXIT ? 0 : rc;
    }
    log_init("batchproxy", px.cfg.log_level);
    log_set_format(px.cfg.log_format);
    signal(SIGPIPE, SIG_IGN);
    httpd_raise_fd_limit();

    /* "listening on" is printed before the loop's signal events exist (the
     * loop is built with the listener): until they do, the signals wait,
     * blocked, instead of killing us (SIGHUP's default action). */
    sigset_t stop, before;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    sigprocmask(SIG_BLOCK, &stop, &before);
    struct event *sigint = NULL, *sigterm = NULL, *sighup = NULL;
    reloader rl = {.px = &px, .argc = argc, .argv = argv};
    rc = 1;
    if (proxy_init(&px)) {
        sigint = evsignal_new(px.base, SIGINT, on_stop, &px);
        sigterm = evsignal_new(px.base, SIGTERM, on_stop, &px);
        evsignal_add(sigint, NULL);
        evsignal_add(sigterm, NULL);
        sighup = evsignal_new(px.base, SIGHUP, on_reload, &rl);
        evsignal_add(sighup, NULL);
        sigprocmask(SIG_SETMASK, &before, NULL);
        sdnotify_ready(); /* listening, backends resolved, signals handled */
        event_base_dispatch(px.base);
        event_free(sigint);
        event_free(sigterm);
        event_free(sighup);
        rc = 0;
    }
    proxy_free(&px);
    reconf_free(&rl.rc);
    opt_free(proxy_opts, &px.cfg);
    return rc;
}
