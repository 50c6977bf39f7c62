/* loadgen: simulated clients sending open-loop traffic to batchproxy, with a report.
 *
 * main parses the flags, plans the trace (wl.c), sends it (drv.c)
 * and prints the report (report.c); --compare only prints saved reports. */
#include "addr.h"
#include "cli.h"
#include "drv.h"
#include "log.h"
#include "opt.h"
#include "plot.h"
#include "report.h"
#include "version.h"
#include "wl.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct loadgen_config {
    const char *url;
    wl_source src; /* the workload flags */
    const char *trace;
    const char *plot;
    double timeout;
    double cost;
    bool json;
    bool dry_run;
    bool no_progress;
    bool compare;
} loadgen_config;

/* The options; their defaults are here alone. */
static const opt_entry loadgen_opts[] = {
    {.name = "url",
     .type = OPT_URL,
     OPT_FIELD(loadgen_config, url),
     .def = "http://127.0.0.1:8000/proxy_classify",
     .arg = "URL",
     .help = "endpoint (default %D); loadgen talks to nothing else",
     .group = "Target and bounds:"},
    {.name = "timeout",
     .type = OPT_DOUBLE,
     OPT_FIELD(loadgen_config, timeout),
     .dlo = 0.001,
     .dhi = 3600,
     .def = "30",
     .arg = "SECONDS",
     .help = "a request unanswered this long counts as 'timeout' (default %D); the run ends at "
             "most this long after the last planned request"},
    {OPT_SUB(loadgen_config, src), .sub = wl_source_opts, .group = "Workload:"},
    {.name = "trace",
     .type = OPT_STR,
     OPT_FIELD(loadgen_config, trace),
     .arg = "FILE",
     .help = "write one CSV row per request: client,send_s,length,status,latency_s,text",
     .group = "Output:"},
    {.name = "dry-run",
     .type = OPT_FLAG,
     OPT_FIELD(loadgen_config, dry_run),
     .help = "plan only: write the trace (to --trace or stdout), send nothing (so no --json or "
             "--plot)"},
    {.name = "json",
     .type = OPT_FLAG,
     OPT_FIELD(loadgen_config, json),
     .help = "print the report as one JSON object"},
    {.name = "plot",
     .type = OPT_STR,
     OPT_FIELD(loadgen_config, plot),
     .arg = "FILE.svg",
     .help = "also draw the latency distribution (CDF) of each client's successful requests as "
             "an SVG file"},
    {.name = "cost",
     .type = OPT_DOUBLE,
     OPT_FIELD(loadgen_config, cost),
     .dhi = 10,
     .def = "0.002",
     .arg = "SECONDS",
     .help = "c in the backend's cost c*L^2, for slowdowns"},
    {.name = "no-progress",
     .type = OPT_FLAG,
     OPT_FIELD(loadgen_config, no_progress),
     .help = "no progress line (there is none off a terminal anyway)"},
    {.name = "compare",
     .type = OPT_FLAG,
     OPT_FIELD(loadgen_config, compare),
     .help = "print the saved --json reports given as NAME=FILE arguments side by side"},
    {0}};

static const opt_program loadgen_program = {
    .name = "loadgen",
    .usage = "Usage: loadgen [OPTIONS]\n"
             "       loadgen --compare NAME=REPORT.json [NAME=REPORT.json ...]\n"
             "Simulated clients sending open-loop traffic to batchproxy: every request\n"
             "leaves at its planned time whether or not earlier ones were answered. Prints\n"
             "per-client and overall latency, errors, throughput and fairness.\n"
             "\n",
    .epilog = "SPEC: comma-separated KEY=VALUE, e.g.\n"
              "  name=A,arrival=burst:5:0.05-0.1:0.5-1.0,len=5-12,count=15,distinct=yes,id=yes\n"
              "  name=N             1-64 of [A-Za-z0-9._-], also the X-Client-Id (required)\n"
              "  arrival=burst:K:IN:BETWEEN  bursts of K, IN s apart, BETWEEN s between bursts\n"
              "  arrival=steady:GAP          one request every GAP s\n"
              "  arrival=poisson:RATE        Poisson arrivals, RATE requests/s\n"
              "                     (GAP, IN, BETWEEN: seconds, X or a uniform range X-Y)\n"
              "  len=A-B | uniform:A-B | N | fixed:N | list:A/B/C   code points\n"
              "  count=N | duration=S        stop after N requests / before S seconds (one or\n"
              "                              both; both: whichever comes first)\n"
              "  start=S            first request at S seconds (default 0)\n"
              "  distinct=yes|no    all texts distinct in the run (default yes), or drawn from\n"
              "                     a pool of " OPT_STR_OF(
                  WL_POOL) " texts per length\n"
                           "  id=yes|no          send X-Client-Id (default yes)\n"
                           "\n"
                           "Report: latency over successful requests, nearest-rank percentiles;\n"
                           "slowdown = latency / max(c*L^2, " OPT_STR_OF(
                               REPORT_COST_FLOOR) " s); Jain's fairness "
                                                  "J = (sum x)^2 / (n * sum\n"
                                                  "x^2) over the clients' mean slowdowns; errors "
                                                  "by HTTP status, 'conn' (connection\n"
                                                  "failed) and 'timeout'. Exit status: 0 after a "
                                                  "run, 1 if it could not run, 2 for\n"
                                                  "bad flags or specs. See docs/loadgen.md.\n",
    .table = loadgen_opts,
    .column = 25};

/* The options; operands only with --compare (*first is the first).
 * Returns 0, 2 (bad) or OPT_EXIT. */
static int parse_args(int argc, char **argv, loadgen_config *c, int *first)
{
    int rc = opt_parse(&loadgen_program, c, argc, argv, first);
    if (rc == 0 && !c->compare && !cli_no_operands("loadgen", argc, argv, *first))
        rc = 2;
    if (rc == 0 && c->compare && *first == argc) {
        fprintf(stderr, "loadgen: --compare needs NAME=REPORT.json arguments\n");
        rc = 2;
    }
    return rc;
}

static int compare(char **args, int n)
{
    report *runs = calloc((size_t)n, sizeof *runs);
    const char **labels = calloc((size_t)n, sizeof *labels);
    int rc = 0, loaded = 0;
    if (!runs || !labels) {
        fprintf(stderr, "loadgen: out of memory\n");
        rc = 1;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        char *eq = strchr(args[i], '=');
        const char *path = args[i];
        labels[i] = args[i];
        if (eq) {
            *eq = '\0';
            path = eq + 1;
        }
        char err[512];
        if (!report_load(path, &runs[i], err, sizeof err)) {
            fprintf(stderr, "loadgen: --compare: %s\n", err);
            rc = 1;
            goto out;
        }
        loaded++;
    }
    report_compare(stdout, runs, labels, (size_t)n);
out:
    for (int i = 0; i < loaded; i++)
        report_free(&runs[i]);
    free(runs);
    free(labels);
    return rc;
}

static bool write_trace(const char *path, const wl_trace *t, const wl_client *clients)
{
    FILE *f = path ? fopen(path, "w") : stdout;
    if (!f) {
        log_error("--trace %s: cannot create it: %s", path, strerror(errno));
        return false;
    }
    bool ok = wl_trace_write(f, t, clients, true);
    if (path && fclose(f) != 0)
        ok = false;
    if (!ok)
        log_error("--trace %s: write failed", path ? path : "(stdout)");
    return ok;
}

/* One CDF per client over its successful requests (what the report's
 * latency figures are computed over). */
static bool write_plot(const loadgen_config *c, const wl_trace *t, const wl_client *clients,
                       size_t n)
{
    plot_series *series = calloc(n ? n : 1, sizeof *series);
    double *lat = malloc((t->n ? t->n : 1) * sizeof *lat);
    bool ok = series && lat;
    if (ok) {
        /* Each client's latencies lie contiguously in lat. */
        size_t at = 0;
        for (size_t k = 0; k < n; k++) {
            series[k] = (plot_series){.name = clients[k].name, .values = lat + at};
            for (size_t i = 0; i < t->n; i++)
                if (t->reqs[i].client == k && t->reqs[i].status == 200) {
                    lat[at++] = t->reqs[i].latency;
                    series[k].n++;
                }
        }
        char sub[512], err[600];
        snprintf(sub, sizeof sub, "%zu requests to %s, seed %llu, %zu round%s; successful requests",
                 t->n, c->url, (unsigned long long)c->src.seed, c->src.rounds,
                 c->src.rounds == 1 ? "" : "s");
        plot_panel panel = {.title = "per client", .series = series, .nseries = n};
        ok = plot_cdf_file(c->plot, "loadgen: latency distribution", sub, &panel, 1, err,
                           sizeof err);
        if (!ok)
            log_error("%s", err);
    } else {
        log_error("out of memory");
    }
    free(series);
    free(lat);
    return ok;
}

static bool print_report(const loadgen_config *c, const wl_trace *t, const wl_client *clients,
                         size_t n)
{
    report_record *recs = malloc((t->n ? t->n : 1) * sizeof *recs);
    const char **names = malloc((n ? n : 1) * sizeof *names);
    report r;
    bool ok = recs && names;
    if (ok) {
        for (size_t i = 0; i < t->n; i++) {
            const wl_request *q = &t->reqs[i];
            recs[i] = (report_record){q->client, q->sent, q->len, q->status, q->latency};
        }
        for (size_t i = 0; i < n; i++)
            names[i] = clients[i].name;
        ok = report_compute(recs, t->n, names, n, c->cost, &r);
    }
    free(recs);
    free(names);
    if (!ok) {
        log_error("out of memory");
        return false;
    }
    if (c->json) {
        json_t *j = report_to_json(&r);
        if (j) {
            json_object_set_new(j, "tool", json_string("loadgen " BP_VERSION));
            json_object_set_new(j, "url", json_string(c->url));
            json_object_set_new(j, "seed", json_integer((json_int_t)c->src.seed));
            json_object_set_new(j, "rounds", json_integer((json_int_t)c->src.rounds));
            json_object_set_new(j, "timeout_s", json_real(c->timeout));
            json_object_set_new(j, "sent", json_integer((json_int_t)t->n));
        }
        char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        json_decref(j);
        if (s)
            printf("%s\n", s);
        ok = s != NULL;
        free(s);
    } else {
        printf("loadgen: %zu requests from %zu clients to %s (seed %llu, %zu round%s)\n", t->n, n,
               c->url, (unsigned long long)c->src.seed, c->src.rounds,
               c->src.rounds == 1 ? "" : "s");
        report_print(stdout, &r);
    }
    report_free(&r);
    return ok;
}

int main(int argc, char **argv)
{
    loadgen_config cfg = {0};
    log_init("loadgen", LOG_INFO);
    int first, rc = parse_args(argc, argv, &cfg, &first);
    if (rc || cfg.compare) {
        if (!rc)
            rc = cli_flush_stdout("loadgen", compare(argv + first, argc - first));
        opt_free(loadgen_opts, &cfg);
        return rc == OPT_EXIT ? 0 : rc;
    }

    if (cfg.dry_run && (cfg.plot || cfg.json)) {
        fprintf(stderr, "loadgen: --dry-run prints the plan only; --plot and --json are for a "
                        "run\n");
        opt_free(loadgen_opts, &cfg);
        return 2;
    }
    drv_config dc = {.timeout = cfg.timeout};
    char err[256];
    addr_parse_url(cfg.url, &dc.url, err, sizeof err); /* checked by the options */
    dc.progress = !cfg.no_progress && !cfg.dry_run && isatty(STDERR_FILENO);

    wl_client *clients = NULL;
    size_t nclients = 0;
    wl_trace trace = {0};
    if (!wl_plan(&cfg.src, &clients, &nclients, &trace, err, sizeof err)) {
        fprintf(stderr, "loadgen: %s\n", err);
        rc = 2;
    } else if ((cfg.trace && !cli_writable("loadgen", "--trace", cfg.trace)) ||
               (cfg.plot && !cfg.dry_run && !cli_writable("loadgen", "--plot", cfg.plot))) {
        rc = 2;
    }
    if (rc == 0 && cfg.dry_run) {
        rc = write_trace(cfg.trace, &trace, clients) ? 0 : 1;
    } else if (rc == 0) {
        signal(SIGPIPE, SIG_IGN);
        /* The report first: a file that can't be written later loses
         * only itself. */
        if (!drv_run(&dc, &trace, clients) || !print_report(&cfg, &trace, clients, nclients))
            rc = 1;
        if (rc == 0 && cfg.trace && !write_trace(cfg.trace, &trace, clients))
            rc = 1;
        if (rc == 0 && cfg.plot && !write_plot(&cfg, &trace, clients, nclients))
            rc = 1;
    }
    rc = cli_flush_stdout("loadgen", rc);
    wl_trace_free(&trace);
    free(clients);
    opt_free(loadgen_opts, &cfg);
    return rc;
}
