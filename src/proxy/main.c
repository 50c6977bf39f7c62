/* batchproxy: the batching proxy in front of a classification server.
 *
 * main parses the flags, builds the proxy (proxy.c) and runs its loop until
 * a signal has drained it (see proxy_shutdown). */
#include "cli.h"
#include "httpd.h"
#include "mono.h"
#include "proxy.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    if (sig == SIGHUP)
        proxy_reload(arg);
    else
        proxy_shutdown(arg, (int)sig);
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: batchproxy [OPTIONS]\n"
        "A batching, scheduling proxy in front of a classification server.\n"
        "Clients POST /proxy_classify {\"sequence\": \"...\"} (or {\"sequences\": [...]});\n"
        "the proxy batches them, sends one batch at a time, and answers each request.\n"
        "\n"
        "Serving:\n"
        "  --listen HOST:PORT          listen address (default 127.0.0.1:8000; port 0\n"
        "                              picks a free one, printed as 'listening on ...')\n"
        "  --backend URL               classification server (default\n"
        "                              http://127.0.0.1:8001; POSTs go to URL's path,\n"
        "                              /classify if it has none); repeat it for a pool\n"
        "                              of backends, each given one batch at a time\n"
        "  --backends-file FILE        more backends, one URL a line ('#' comments);\n"
        "                              without --backend, the pool is the file's alone;\n"
        "                              reloaded on SIGHUP (removed backends finish their\n"
        "                              batch in flight, then leave); a URL listed twice,\n"
        "                              however spelt, counts once\n"
        "  --eject-failures N          consecutive failed attempts that eject a backend\n"
        "                              of the pool (default 3; 0 never ejects)\n"
        "  --eject-base SECONDS        first ejection (default 1; doubles each time in a\n"
        "                              row); GET /healthz must pass before it is back\n"
        "  --eject-max SECONDS         longest ejection (default 30)\n"
        "  --max-body BYTES            largest request body (default 1048576)\n"
        "  --io-timeout SECONDS        client read/write timeout (default 10)\n"
        "  --max-connections N         open client connections at most (default 4096;\n"
        "                              the oldest idle one is closed for a new one,\n"
        "                              with none idle new ones wait to be accepted)\n"
        "Scheduling:\n"
        "  --policy NAME               cost | priority | fifo | sjf (default cost)\n"
        "  --max-batch N               sequences per batch (default 5, the backend's limit)\n"
        "  --max-wait-ms MS            how long a partial batch may be held to fill up\n"
        "                              (default 0: a batch leaves when the backend is free)\n"
        "  --priority-threshold N      priority: lengths up to N are high priority (default 12)\n"
        "  --max-queue N               queued sequences before new requests get 503\n"
        "                              (default 10000)\n"
        "  --max-length N              longest sequence in code points; longer get 413\n"
        "                              (default 1000)\n"
        "  --max-request-sequences N   sequences in one request (default 1000)\n"
        "Deadlines and failures:\n"
        "  --timeout SECONDS           default request deadline (default 30; a request\n"
        "                              may set its own with X-Timeout-Ms)\n"
        "  --backend-timeout SECONDS   per attempt, from sending to the whole answer\n"
        "                              (default 30); no batch predicted to take longer\n"
        "                              is sent, and a sequence whose own batch would is\n"
        "                              refused with 413\n"
        "  --cost-prior SECONDS        c of the cost curve a + c*L^2 assumed for a\n"
        "                              backend until its batches are measured (default\n"
        "                              0.002, the original server's; a = 1 ms)\n"
        "  --retries N                 retries of a failed batch (default 3)\n"
        "  --backoff-base SECONDS      first retry's backoff ceiling (default 0.05)\n"
        "  --backoff-cap SECONDS       largest backoff ceiling (default 2); each wait is\n"
        "                              uniform in [0, min(cap, base * 2^(retry-1))]\n"
        "Clients (see README, 'Clients and fairness'):\n"
        "  --clients FILE              per-client weight, rate limit, queue limit,\n"
        "                              deadline and API key (INI); reloaded on SIGHUP\n"
        "                              (a reload can't turn API keys off: that takes\n"
        "                              a restart)\n"
        "  --rate-limit RPS            default requests/s per client (default 0: none)\n"
        "  --rate-burst N              default burst above the rate (default 20)\n"
        "  --client-max-queue N        default sequences one client may have queued\n"
        "                              (default 1000; more get 429)\n"
        "Cache:\n"
        "  --cache-size N              results kept (default 10000; 0 disables)\n"
        "  --cache-ttl SECONDS         how long a result is reused (default 3600; 0: forever)\n"
        "Operations:\n"
        "  --admin-listen HOST:PORT    serve /metrics, /stats and /dashboard (and\n"
        "                              /healthz, /readyz) on this address only, apart\n"
        "                              from client traffic (default: none, everything\n"
        "                              on --listen)\n"
        "  --metrics-clients N         clients with series of their own in /metrics and\n"
        "                              /stats (default 50): those in the clients file\n"
        "                              first, then the busiest; the others are summed\n"
        "                              as client \"(rest)\"\n"
        "  --metrics-cache-ms MS       a rendered /metrics or /stats is served again for\n"
        "                              this long (default 1000; 0: render every time)\n"
        "  --drain-timeout SECONDS     on SIGINT/SIGTERM, time given to queued work\n"
        "                              (default 10)\n"
        "  --log-level LEVEL           debug | info | warn | error (default info; debug\n"
        "                              logs one line per batch)\n"
        "  --help, --version\n"
        "\n"
        "Endpoints: POST /proxy_classify, GET /healthz, /readyz, /metrics (Prometheus),\n"
        "/stats (JSON), /dashboard. Headers: X-Client-Id (1-64 of [A-Za-z0-9._-]),\n"
        "X-Timeout-Ms, Authorization: Bearer KEY (when the clients file has keys).\n"
        "Signals: SIGHUP reloads the backends file and the clients file; SIGINT/SIGTERM\n"
        "drain and exit.\n");
}

enum {
    OPT_LISTEN = 256,
    OPT_ADMIN_LISTEN,
    OPT_BACKEND,
    OPT_BACKENDS_FILE,
    OPT_EJECT_FAILURES,
    OPT_EJECT_BASE,
    OPT_EJECT_MAX,
    OPT_MAX_BODY,
    OPT_IO_TIMEOUT,
    OPT_MAX_CONNECTIONS,
    OPT_POLICY,
    OPT_MAX_BATCH,
    OPT_MAX_WAIT,
    OPT_PRIO_THRESHOLD,
    OPT_MAX_QUEUE,
    OPT_MAX_LENGTH,
    OPT_MAX_REQ_SEQ,
    OPT_TIMEOUT,
    OPT_BACKEND_TIMEOUT,
    OPT_COST_PRIOR,
    OPT_RETRIES,
    OPT_BACKOFF_BASE,
    OPT_BACKOFF_CAP,
    OPT_CACHE_SIZE,
    OPT_CACHE_TTL,
    OPT_DRAIN,
    OPT_LOG_LEVEL,
    OPT_CLIENTS,
    OPT_METRICS_CLIENTS,
    OPT_METRICS_CACHE,
    OPT_HELP,
    OPT_VERSION
};

static int parse_args(int argc, char **argv, proxy_config *c)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"admin-listen", required_argument, NULL, OPT_ADMIN_LISTEN},
        {"backend", required_argument, NULL, OPT_BACKEND},
        {"backends-file", required_argument, NULL, OPT_BACKENDS_FILE},
        {"eject-failures", required_argument, NULL, OPT_EJECT_FAILURES},
        {"eject-base", required_argument, NULL, OPT_EJECT_BASE},
        {"eject-max", required_argument, NULL, OPT_EJECT_MAX},
        {"max-body", required_argument, NULL, OPT_MAX_BODY},
        {"io-timeout", required_argument, NULL, OPT_IO_TIMEOUT},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"policy", required_argument, NULL, OPT_POLICY},
        {"max-batch", required_argument, NULL, OPT_MAX_BATCH},
        {"max-wait-ms", required_argument, NULL, OPT_MAX_WAIT},
        {"priority-threshold", required_argument, NULL, OPT_PRIO_THRESHOLD},
        {"max-queue", required_argument, NULL, OPT_MAX_QUEUE},
        {"max-length", required_argument, NULL, OPT_MAX_LENGTH},
        {"max-request-sequences", required_argument, NULL, OPT_MAX_REQ_SEQ},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"backend-timeout", required_argument, NULL, OPT_BACKEND_TIMEOUT},
        {"cost-prior", required_argument, NULL, OPT_COST_PRIOR},
        {"retries", required_argument, NULL, OPT_RETRIES},
        {"backoff-base", required_argument, NULL, OPT_BACKOFF_BASE},
        {"backoff-cap", required_argument, NULL, OPT_BACKOFF_CAP},
        {"cache-size", required_argument, NULL, OPT_CACHE_SIZE},
        {"cache-ttl", required_argument, NULL, OPT_CACHE_TTL},
        {"drain-timeout", required_argument, NULL, OPT_DRAIN},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"clients", required_argument, NULL, OPT_CLIENTS},
        {"metrics-clients", required_argument, NULL, OPT_METRICS_CLIENTS},
        {"metrics-cache-ms", required_argument, NULL, OPT_METRICS_CACHE},
        CFILE_DEFAULT_LONG_OPTIONS,
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    const char *p = "batchproxy";
    double ms;
    int c_;
    while ((c_ = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int shared = cfile_default_option(&c->client_defaults, p, c_, optarg);
        if (shared == 0)
            return 2;
        if (shared == 1)
            continue;
        bool ok = true;
        switch (c_) {
        case OPT_ADMIN_LISTEN:
            c->admin_listen = optarg;
            break;
        case OPT_LISTEN:
            c->listen = optarg;
            break;
        case OPT_BACKEND: {
            addr_url url;
            char why[200];
            if (!addr_parse_url(optarg, &url, why, sizeof why)) {
                fprintf(stderr, "%s: --backend: %s\n", p, why);
                return 2;
            }
            c->backend_url = optarg;
            if (c->nbackend_urls == PROXY_MAX_BACKENDS) {
                fprintf(stderr, "%s: --backend: at most %d\n", p, PROXY_MAX_BACKENDS);
                return 2;
            }
            c->backend_urls[c->nbackend_urls++] = optarg;
            break;
        }
        case OPT_BACKENDS_FILE:
            c->backends_file = optarg;
            break;
        case OPT_EJECT_FAILURES:
            ok = cli_int(p, "eject-failures", optarg, 0, 1000, &c->health.failures);
            break;
        case OPT_EJECT_BASE:
            ok = cli_double(p, "eject-base", optarg, 0.001, 3600, &c->health.base);
            break;
        case OPT_EJECT_MAX:
            ok = cli_double(p, "eject-max", optarg, 0.001, 86400, &c->health.max);
            break;
        case OPT_MAX_BODY:
            ok = cli_size(p, "max-body", optarg, 16, (size_t)1 << 30, &c->max_body);
            break;
        case OPT_IO_TIMEOUT:
            ok = cli_int(p, "io-timeout", optarg, 1, 3600, &c->io_timeout);
            break;
        case OPT_MAX_CONNECTIONS:
            ok = cli_size(p, "max-connections", optarg, 1, 1000000, &c->max_connections);
            break;
        case OPT_POLICY:
            c->sched.policy = optarg;
            break;
        case OPT_MAX_BATCH:
            ok = cli_size(p, "max-batch", optarg, 1, SCHED_MAX_BATCH, &c->sched.max_batch);
            break;
        case OPT_MAX_WAIT:
            ok = cli_double(p, "max-wait-ms", optarg, 0, 60000, &ms);
            c->sched.max_wait = ms / 1000;
            break;
        case OPT_PRIO_THRESHOLD:
            ok = cli_size(p, "priority-threshold", optarg, 0, 10000000,
                          &c->sched.priority_threshold);
            break;
        case OPT_MAX_QUEUE:
            ok = cli_size(p, "max-queue", optarg, 1, 10000000, &c->sched.max_queue);
            break;
        case OPT_MAX_LENGTH:
            ok = cli_size(p, "max-length", optarg, 1, 1000000, &c->sched.max_length);
            break;
        case OPT_MAX_REQ_SEQ:
            ok = cli_size(p, "max-request-sequences", optarg, 1, 100000, &c->max_request_sequences);
            break;
        case OPT_TIMEOUT:
            ok = cli_double(p, "timeout", optarg, 0.001, 3600, &c->timeout);
            break;
        case OPT_BACKEND_TIMEOUT:
            ok = cli_double(p, "backend-timeout", optarg, 0.001, 3600, &c->backend_timeout);
            break;
        case OPT_COST_PRIOR:
            ok = cli_double(p, "cost-prior", optarg, 0, 10, &c->sched.prior_b);
            break;
        case OPT_RETRIES:
            ok = cli_int(p, "retries", optarg, 0, 100, &c->retries);
            break;
        case OPT_BACKOFF_BASE:
            ok = cli_double(p, "backoff-base", optarg, 0, 60, &c->backoff_base);
            break;
        case OPT_BACKOFF_CAP:
            ok = cli_double(p, "backoff-cap", optarg, 0, 600, &c->backoff_cap);
            break;
        case OPT_CACHE_SIZE:
            ok = cli_size(p, "cache-size", optarg, 0, 100000000, &c->cache_size);
            break;
        case OPT_CACHE_TTL:
            ok = cli_double(p, "cache-ttl", optarg, 0, 1e9, &c->cache_ttl);
            break;
        case OPT_DRAIN:
            ok = cli_double(p, "drain-timeout", optarg, 0, 3600, &c->drain_timeout);
            break;
        case OPT_LOG_LEVEL:
            ok = log_level_parse(optarg, &c->log_level);
            if (!ok)
                fprintf(stderr, "%s: --log-level: '%s' is not debug, info, warn or error\n", p,
                        optarg);
            break;
        case OPT_CLIENTS:
            c->clients_file = optarg;
            break;
        case OPT_METRICS_CLIENTS:
            ok =
                cli_size(p, "metrics-clients", optarg, 0, METRICS_MAX_CLIENTS, &c->metrics_clients);
            break;
        case OPT_METRICS_CACHE:
            ok = cli_double(p, "metrics-cache-ms", optarg, 0, 3600000, &ms);
            c->metrics_cache = ms / 1000;
            break;
        case OPT_HELP:
            usage(stdout);
            exit(0);
        case OPT_VERSION:
            printf("batchproxy %s\n", BP_VERSION);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
        if (!ok)
            return 2;
    }
    if (!cli_no_operands(p, argc, argv, optind))
        return 2;
    return 0;
}

int main(int argc, char **argv)
{
    httpd_global_init();
    proxy px = {.cfg = {.listen = "127.0.0.1:8000",
                        .backend_url = "http://127.0.0.1:8001",
                        .health = {.failures = 3, .base = 1, .max = 30},
                        .sched = sched_config_default(),
                        .timeout = 30,
                        .backend_timeout = 30,
                        .retries = 3,
                        .backoff_base = 0.05,
                        .backoff_cap = 2,
                        .max_request_sequences = 1000,
                        .cache_size = 10000,
                        .cache_ttl = 3600,
                        .drain_timeout = 10,
                        .max_body = 1 << 20,
                        .io_timeout = 10,
                        .max_connections = HTTPD_DEFAULT_MAX_CONNECTIONS,
                        .client_defaults = {.weight = 1, .burst = 20, .max_queued = 1000},
                        .log_level = LOG_INFO,
                        .metrics_clients = METRICS_SHOWN_DEFAULT,
                        .metrics_cache = METRICS_CACHE_DEFAULT}};
    int rc = parse_args(argc, argv, &px.cfg);
    if (rc)
        return rc;
    px.cfg.client_defaults.timeout = px.cfg.timeout; /* the default deadline */
    /* No batch may be predicted to outlast the attempt that carries it. */
    px.cfg.sched.max_batch_cost = px.cfg.backend_timeout;
    log_init("batchproxy", px.cfg.log_level);
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
    rc = 1;
    if (proxy_init(&px)) {
        sigint = evsignal_new(px.base, SIGINT, on_signal, &px);
        sigterm = evsignal_new(px.base, SIGTERM, on_signal, &px);
        evsignal_add(sigint, NULL);
        evsignal_add(sigterm, NULL);
        sighup = evsignal_new(px.base, SIGHUP, on_signal, &px);
        evsignal_add(sighup, NULL);
        sigprocmask(SIG_SETMASK, &before, NULL);
        event_base_dispatch(px.base);
        event_free(sigint);
        event_free(sigterm);
        event_free(sighup);
        rc = 0;
    }
    proxy_free(&px);
    return rc;
}
