/* schedsim: compares scheduling policies by running the real scheduler in
 * virtual time on loadgen's workloads, with a lower bound for reference.
 *
 * main parses the flags, plans the traces (workload.c, the same plans
 * loadgen sends for the same flags and seed), runs each policy over them
 * (sim.c) and prints loadgen's report for each, side by side. */
#include "cli.h"
#include "plot.h"
#include "report.h"
#include "scheduler.h"
#include "offline.h"
#include "sim.h"
#include "workload.h"

#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEDSIM_MAX_POLICIES 16
/* The label of the schedules found with foresight (--offline-search). */
#define FORESIGHT "foresight"
#define SCHEDSIM_MAX_BACKENDS 64

typedef struct schedsim_config {
    wl_source src;
    size_t seeds;
    const char *policies[SCHEDSIM_MAX_POLICIES];
    size_t npolicies;
    sim_config sim;
    bool json;
    const char *plot;
    /* --backend-costs: each backend's c and b (NAN until resolved: --cost-linear) */
    double backend_c[SCHEDSIM_MAX_BACKENDS], backend_b[SCHEDSIM_MAX_BACKENDS];
    const char *clients_file;
    cfile clients;
    size_t offline_iters; /* --offline-search: steps per seed, 0 = off */
} schedsim_config;

static void usage(FILE *out)
{
    fprintf(out, "Usage: schedsim [OPTIONS]\n"
                 "Runs batchproxy's scheduler in virtual time against a model of the backend\n"
                 "(one batch at a time, at most --max-batch sequences, a + b*L + c*L^2 seconds\n"
                 "per batch) on loadgen's workloads, and prints loadgen's report for each policy\n"
                 "side by side, with a lower bound on the mean latency (and, on request, the\n"
                 "best schedule a search finds knowing every arrival in advance).\n"
                 "\n"
                 "Workload (the same flags, SPECs and seeds as loadgen; default --profile seed):\n"
                 "  --profile NAME         built-in clients (seed)\n"
                 "  --client SPEC          add a client (repeatable; see loadgen --help)\n"
                 "  --clients-file FILE    add clients, one SPEC per line\n"
                 "  --client-ids           every client sends X-Client-Id\n"
                 "  --replay FILE          a trace CSV instead (played once: not with --rounds)\n"
                 "  --rounds N             repeat the plan N times (default 1)\n"
                 "  --seed N               the first seed (default 1)\n"
                 "  --seeds N              run seeds seed..seed+N-1 one after another and pool\n"
                 "                         their requests in one report per policy (default 1)\n"
                 "Policies and backend:\n"
                 "  --policy LIST          comma-separated policies, or 'all' (default all)\n"
                 "  --cost C               c in a + b*L + c*L^2, seconds (default 0.002)\n"
                 "  --cost-linear B        b in a + b*L + c*L^2, seconds (default 0: quadratic)\n"
                 "  --overhead A           a in a + b*L + c*L^2, seconds (default 0.0005)\n"
                 "  --backends N           a pool of N identical backends, each one batch at\n"
                 "                         a time (default 1)\n"
                 "  --backend-costs LIST   a pool of backends of different speeds: their c, or\n"
                 "                         C:B for c and b (else b is --cost-linear's),\n"
                 "                         comma-separated (sets --backends)\n"
                 "  --max-batch N          sequences per batch (default 5)\n"
                 "  --max-wait-ms MS       the bound on a policy's deliberate wait (default 0)\n"
                 "  --max-queue N          queued sequences before refusals (default 10000)\n"
                 "  --priority-threshold N the priority policy's length threshold (default 12)\n"
                 "  --timeout SECONDS      each request's deadline (default 30)\n"
                 "  --backend-timeout SECONDS  as batchproxy's: no batch is predicted to take\n"
                 "                         longer, and a string whose own batch would is\n"
                 "                         refused with 413 (default 30; 0: no bound; the\n"
                 "                         search with foresight ignores it)\n"
                 "  --no-cache             don't model batchproxy's result cache\n"
                 "Clients (admission and fair shares, as batchproxy):\n"
                 "  --clients FILE         batchproxy's clients file: weights, rate limits,\n"
                 "                         queue limits, deadlines of the named clients\n"
                 "  --rate-limit RPS       default requests/s per client (default 0: none)\n"
                 "  --rate-burst N         default burst (default 20)\n"
                 "  --client-max-queue N   default sequences one client may queue (default 1000)\n"
                 "Output:\n"
                 "  --offline-search N     also search N steps per seed for the best schedule\n"
                 "                         with foresight of every arrival (simulated\n"
                 "                         annealing; see src/schedsim/offline.h): what is\n"
                 "                         possible at all lies between the bound and it;\n"
                 "                         reported (and plotted) as one more column,\n"
                 "                         'foresight'\n"
                 "  --json                 one JSON object: per policy the report, and the bound\n"
                 "                         (with --offline-search, also 'foresight')\n"
                 "  --plot FILE.svg        also draw the latency distribution (CDF) of each\n"
                 "                         policy as an SVG file: all clients, then one panel\n"
                 "                         per client (successful requests)\n"
                 "  --help, --version\n");
}

enum {
    OPT_SEEDS = 256,
    OPT_POLICY,
    OPT_COST,
    OPT_COST_LINEAR,
    OPT_OVERHEAD,
    OPT_BACKENDS,
    OPT_BACKEND_COSTS,
    OPT_MAX_BATCH,
    OPT_MAX_WAIT,
    OPT_MAX_QUEUE,
    OPT_PRIO_THRESHOLD,
    OPT_TIMEOUT,
    OPT_BACKEND_TIMEOUT,
    OPT_NO_CACHE,
    OPT_CLIENTS,
    OPT_JSON,
    OPT_PLOT,
    OPT_OFFLINE,
    OPT_HELP,
    OPT_VERSION
};

static bool parse_policies(schedsim_config *c, char *list)
{
    c->npolicies = 0;
    if (strcmp(list, "all") == 0) {
        for (const char *const *p = sched_policy_names(); *p; p++)
            c->policies[c->npolicies++] = *p;
        return true;
    }
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        bool known = false;
        for (const char *const *p = sched_policy_names(); *p; p++)
            known |= strcmp(*p, tok) == 0;
        if (!known) {
            fprintf(stderr, "schedsim: --policy: unknown policy '%s'\n", tok);
            return false;
        }
        for (size_t i = 0; i < c->npolicies; i++)
            if (strcmp(c->policies[i], tok) == 0) {
                fprintf(stderr, "schedsim: --policy: '%s' is listed twice\n", tok);
                return false;
            }
        c->policies[c->npolicies++] = tok; /* distinct known names fit */
    }
    if (c->npolicies == 0)
        fprintf(stderr, "schedsim: --policy: no policy named (cost, priority, fifo, sjf or all)\n");
    return c->npolicies > 0;
}

/* --backend-costs c1,c2[:b2],...: one backend per entry, its c and
 * optionally its b (else NAN: --cost-linear's, once all flags are read). */
static bool parse_backend_costs(schedsim_config *c, char *list)
{
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == SCHEDSIM_MAX_BACKENDS) {
            fprintf(stderr, "schedsim: --backend-costs: at most %d backends\n",
                    SCHEDSIM_MAX_BACKENDS);
            return false;
        }
        char *lin = strchr(tok, ':');
        if (lin)
            *lin++ = '\0';
        c->backend_b[n] = NAN;
        if (!cli_double("schedsim", "backend-costs", tok, 0, 10, &c->backend_c[n]) ||
            (lin && !cli_double("schedsim", "backend-costs", lin, 0, 10, &c->backend_b[n])))
            return false;
        n++;
    }
    if (n == 0) {
        fprintf(stderr, "schedsim: --backend-costs: no value\n");
        return false;
    }
    c->sim.backends = n;
    c->sim.backend_c = c->backend_c;
    c->sim.backend_b = c->backend_b;
    return true;
}

static int parse_args(int argc, char **argv, schedsim_config *c)
{
    static const struct option opts[] = {
        WL_SOURCE_LONG_OPTIONS,
        {"seeds", required_argument, NULL, OPT_SEEDS},
        {"policy", required_argument, NULL, OPT_POLICY},
        {"cost", required_argument, NULL, OPT_COST},
        {"cost-linear", required_argument, NULL, OPT_COST_LINEAR},
        {"overhead", required_argument, NULL, OPT_OVERHEAD},
        {"backends", required_argument, NULL, OPT_BACKENDS},
        {"backend-costs", required_argument, NULL, OPT_BACKEND_COSTS},
        {"max-batch", required_argument, NULL, OPT_MAX_BATCH},
        {"max-wait-ms", required_argument, NULL, OPT_MAX_WAIT},
        {"max-queue", required_argument, NULL, OPT_MAX_QUEUE},
        {"priority-threshold", required_argument, NULL, OPT_PRIO_THRESHOLD},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"backend-timeout", required_argument, NULL, OPT_BACKEND_TIMEOUT},
        {"no-cache", no_argument, NULL, OPT_NO_CACHE},
        {"clients", required_argument, NULL, OPT_CLIENTS},
        CFILE_DEFAULT_LONG_OPTIONS,
        {"json", no_argument, NULL, OPT_JSON},
        {"plot", required_argument, NULL, OPT_PLOT},
        {"offline-search", required_argument, NULL, OPT_OFFLINE},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    const char *p = "schedsim";
    double ms;
    size_t backends = 0; /* --backends, 0: not given */
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int shared = wl_source_option(&c->src, p, o, optarg);
        if (shared < 0)
            shared = cfile_default_option(&c->sim.client_defaults, p, o, optarg);
        if (shared == 0)
            return 2;
        if (shared == 1)
            continue;
        bool ok = true;
        switch (o) {
        case OPT_SEEDS:
            ok = cli_size(p, "seeds", optarg, 1, 100000, &c->seeds);
            break;
        case OPT_POLICY:
            ok = parse_policies(c, optarg);
            break;
        case OPT_COST:
            ok = cli_double(p, "cost", optarg, 0, 10, &c->sim.c);
            break;
        case OPT_COST_LINEAR:
            ok = cli_double(p, "cost-linear", optarg, 0, 10, &c->sim.b);
            break;
        case OPT_OVERHEAD:
            ok = cli_double(p, "overhead", optarg, 0, 10, &c->sim.a);
            break;
        case OPT_BACKENDS:
            ok = cli_size(p, "backends", optarg, 1, SCHEDSIM_MAX_BACKENDS, &backends);
            break;
        case OPT_BACKEND_COSTS:
            ok = parse_backend_costs(c, optarg);
            break;
        case OPT_MAX_BATCH:
            ok = cli_size(p, "max-batch", optarg, 1, SCHED_MAX_BATCH, &c->sim.sched.max_batch);
            break;
        case OPT_MAX_WAIT:
            ok = cli_double(p, "max-wait-ms", optarg, 0, 60000, &ms);
            c->sim.sched.max_wait = ms / 1000;
            break;
        case OPT_MAX_QUEUE:
            ok = cli_size(p, "max-queue", optarg, 1, 10000000, &c->sim.sched.max_queue);
            break;
        case OPT_PRIO_THRESHOLD:
            ok = cli_size(p, "priority-threshold", optarg, 0, 10000000,
                          &c->sim.sched.priority_threshold);
            break;
        case OPT_TIMEOUT:
            ok = cli_double(p, "timeout", optarg, 0.001, 1e6, &c->sim.timeout);
            break;
        case OPT_BACKEND_TIMEOUT:
            ok = cli_double(p, "backend-timeout", optarg, 0, 1e6, &c->sim.sched.max_batch_cost);
            break;
        case OPT_CLIENTS:
            c->clients_file = optarg;
            break;
        case OPT_NO_CACHE:
            c->sim.cache = false;
            break;
        case OPT_JSON:
            c->json = true;
            break;
        case OPT_PLOT:
            c->plot = optarg;
            break;
        case OPT_OFFLINE:
            ok = cli_size(p, "offline-search", optarg, 0, 1000000000, &c->offline_iters);
            break;
        case OPT_HELP:
            usage(stdout);
            exit(0);
        case OPT_VERSION:
            printf("schedsim %s\n", BP_VERSION);
            exit(0);
        default:
            fprintf(stderr, "%s: try --help\n", p);
            return 2;
        }
        if (!ok)
            return 2;
    }
    if (!cli_no_operands(p, argc, argv, optind))
        return 2;
    /* --backend-costs sets the pool's size; --backends must agree with it. */
    if (backends && c->sim.backend_c && backends != c->sim.backends) {
        fprintf(stderr, "%s: --backends %zu but --backend-costs lists %zu backends\n", p, backends,
                c->sim.backends);
        return 2;
    }
    if (backends)
        c->sim.backends = backends;
    for (size_t k = 0; c->sim.backend_b && k < c->sim.backends; k++)
        if (isnan(c->backend_b[k]))
            c->backend_b[k] = c->sim.b;
    return 0;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether two requests of the trace share a text (then the cache and
 * coalescing serve some without the backend, which neither the lower bound
 * nor the search with foresight model). -1 when out of memory. */
static int texts_repeat(const wl_trace *t)
{
    const char **v = malloc((t->n ? t->n : 1) * sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < t->n; i++)
        v[i] = t->reqs[i].text;
    if (t->n > 1)
        qsort(v, t->n, sizeof *v, by_text);
    int repeat = 0;
    for (size_t i = 1; i < t->n && !repeat; i++)
        repeat = strcmp(v[i - 1], v[i]) == 0;
    free(v);
    return repeat;
}

/* The runs of one policy over all seeds, pooled: each seed's requests are
 * shifted to start after the previous seed's last answer. */
typedef struct pooled {
    report_record *recs;
    size_t n;
    double offset;
} pooled;

static bool pool_add(pooled *p, const wl_trace *t)
{
    report_record *r = realloc(p->recs, (p->n + t->n + 1) * sizeof *r);
    if (!r)
        return false;
    p->recs = r;
    double end = p->offset;
    for (size_t i = 0; i < t->n; i++) {
        const wl_request *q = &t->reqs[i];
        p->recs[p->n++] =
            (report_record){q->client, p->offset + q->sent, q->len, q->status, q->latency};
        if (p->offset + q->sent + q->latency > end)
            end = p->offset + q->sent + q->latency;
    }
    p->offset = end;
    return true;
}

/* Panel 0: every client's successful requests, one series per run
 * (policies, then the schedule found with foresight); then (with several
 * clients) a panel per client, the same series. */
static bool write_plot(const schedsim_config *c, const pooled *runs, const char *const *labels,
                       size_t np, const wl_client *clients, size_t nclients, double bound,
                       bool linear)
{
    size_t npanels = nclients > 1 ? nclients + 1 : 1;
    plot_panel *panels = calloc(npanels, sizeof *panels);
    plot_series *series = calloc(npanels * np, sizeof *series);
    double **lat = calloc(np, sizeof *lat);
    bool ok = panels && series && lat;
    for (size_t p = 0; ok && p < np; p++) {
        /* Per policy: all successes, then each client's, contiguous. */
        ok = (lat[p] = malloc((2 * runs[p].n + 1) * sizeof **lat)) != NULL;
        size_t at = 0;
        for (size_t k = 0; ok && k < npanels; k++) {
            plot_series *sr = &series[k * np + p];
            *sr = (plot_series){.name = labels[p], .values = lat[p] + at};
            for (size_t i = 0; i < runs[p].n; i++) {
                const report_record *r = &runs[p].recs[i];
                if (r->status == 200 && (k == 0 || r->client == k - 1)) {
                    lat[p][at++] = r->latency;
                    sr->n++;
                }
            }
        }
    }
    char err[600];
    if (ok) {
        char sub[512], lin[64] = "";
        for (size_t k = 0; k < npanels; k++)
            panels[k] = (plot_panel){.title = k == 0 ? "all clients" : clients[k - 1].name,
                                     .series = &series[k * np],
                                     .nseries = np};
        if (linear)
            snprintf(lin, sizeof lin, " + %.4g * L", c->sim.b);
        snprintf(sub, sizeof sub,
                 "schedsim, virtual time: %zu seed%s from %llu, backend %.4g%s + %.4g * L^2 s, "
                 "batches of %zu; lower bound on the mean %.1f ms",
                 c->seeds, c->seeds == 1 ? "" : "s", (unsigned long long)c->src.seed, c->sim.a, lin,
                 c->sim.c, c->sim.sched.max_batch, bound * 1000);
        ok = plot_cdf_file(c->plot, "schedsim: latency distribution per policy", sub, panels,
                           npanels, err, sizeof err);
        if (!ok)
            fprintf(stderr, "schedsim: %s\n", err);
    } else {
        fprintf(stderr, "schedsim: out of memory\n");
    }
    for (size_t p = 0; lat && p < np; p++)
        free(lat[p]);
    free(lat);
    free(series);
    free(panels);
    return ok;
}

static size_t pool_size(const sim_config *sc)
{
    return sc->backends ? sc->backends : 1;
}

/* The bound with a pool: a single machine as fast as all of them together
 * (max_batch × N per unit of the fastest one's time) is a relaxation of N
 * machines, so sim_lower_bound with the smallest b and the smallest c
 * (each backend costs at least that at every length) and N × max_batch is
 * still a bound. */
static void pool_fastest(const double *pool_b, const double *pool_c, size_t n, double *b, double *c)
{
    *b = pool_b[0];
    *c = pool_c[0];
    for (size_t k = 1; k < n; k++) {
        *b = fmin(*b, pool_b[k]);
        *c = fmin(*c, pool_c[k]);
    }
}

/* Whether some backend's cost has a linear term (the output shows b then;
 * without one it is as before there was a b). */
static bool pool_linear(const double *pool_b, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (pool_b[k] != 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    schedsim_config cfg = {.src = {.rounds = 1, .seed = 1}, .seeds = 1};
    cfg.sim = (sim_config){.sched = sched_config_default(),
                           .a = 0.0005,
                           .c = 0.002,
                           .timeout = 30,
                           .cache = true,
                           .client_defaults = {.weight = 1, .burst = 20, .max_queued = 1000}};
    cfg.src.specs = calloc((size_t)argc + 1, sizeof *cfg.src.specs);
    if (!cfg.src.specs)
        return 1;
    cfg.sim.sched.max_batch_cost = 30; /* batchproxy's --backend-timeout */
    char all[] = "all";
    parse_policies(&cfg, all);
    int rc = parse_args(argc, argv, &cfg);
    if (!rc && cfg.plot && !cli_writable("schedsim", "--plot", cfg.plot))
        rc = 2;
    if (rc) {
        free(cfg.src.specs);
        return rc;
    }
    if (cfg.clients_file) {
        char why[512];
        cfile_client defaults = cfg.sim.client_defaults;
        defaults.timeout = cfg.sim.timeout;
        if (!cfile_load(cfg.clients_file, &defaults, &cfg.clients, why, sizeof why)) {
            fprintf(stderr, "schedsim: --clients: %s\n", why);
            free(cfg.src.specs);
            return 2;
        }
        cfg.sim.clients = &cfg.clients;
    }
    /* The policies learn the model's curve as batchproxy would; start them
     * from the true one so short runs aren't judged on the prior. */
    cfg.sim.sched.prior_a = cfg.sim.a;
    cfg.sim.sched.prior_lin = cfg.sim.b;
    cfg.sim.sched.prior_b = cfg.sim.c;

    /* One run per policy, then (with --offline-search) the schedules found
     * with foresight, reported like a policy under FORESIGHT. */
    pooled runs[SCHEDSIM_MAX_POLICIES + 1] = {0};
    const char *labels[SCHEDSIM_MAX_POLICIES + 1];
    memcpy(labels, cfg.policies, cfg.npolicies * sizeof *labels);
    size_t nruns = cfg.npolicies;
    if (cfg.offline_iters)
        labels[nruns++] = FORESIGHT;
    wl_client *clients = NULL;
    size_t nclients = 0;
    double bound_sum = 0, offline_sum = 0;
    bool repeats = false; /* some seed's trace repeats a text */
    size_t bound_n = 0;
    double pool_b[SCHEDSIM_MAX_BACKENDS], pool_c[SCHEDSIM_MAX_BACKENDS], fastest_b, fastest_c;
    for (size_t k = 0; k < pool_size(&cfg.sim); k++) {
        pool_b[k] = cfg.sim.backend_b ? cfg.sim.backend_b[k] : cfg.sim.b;
        pool_c[k] = cfg.sim.backend_c ? cfg.sim.backend_c[k] : cfg.sim.c;
    }
    pool_fastest(pool_b, pool_c, pool_size(&cfg.sim), &fastest_b, &fastest_c);
    bool linear = pool_linear(pool_b, pool_size(&cfg.sim));
    char err[512];
    rc = 1;
    for (size_t s = 0; s < cfg.seeds; s++) {
        wl_source src = cfg.src;
        src.seed = cfg.src.seed + s;
        wl_trace t = {0};
        free(clients);
        clients = NULL;
        nclients = 0;
        if (!wl_plan(&src, &clients, &nclients, &t, err, sizeof err)) {
            fprintf(stderr, "schedsim: %s\n", err);
            rc = 2;
            goto out;
        }
        int rep = texts_repeat(&t);
        if (rep < 0) {
            fprintf(stderr, "schedsim: out of memory\n");
            wl_trace_free(&t);
            goto out;
        }
        repeats |= rep;
        bound_sum += sim_lower_bound(&t, cfg.sim.a, fastest_b, fastest_c,
                                     cfg.sim.sched.max_batch * pool_size(&cfg.sim)) *
                     (double)t.n;
        bound_n += t.n;
        if (cfg.offline_iters) {
            offline_config oc = {.a = cfg.sim.a,
                                 .b = pool_b,
                                 .c = pool_c,
                                 .backends = pool_size(&cfg.sim),
                                 .max_batch = cfg.sim.sched.max_batch,
                                 .iters = cfg.offline_iters,
                                 .seed = src.seed};
            double m = offline_search(&t, &oc);
            if (m < 0) {
                fprintf(stderr, "schedsim: out of memory\n");
                wl_trace_free(&t);
                goto out;
            }
            offline_sum += m * (double)t.n;
            if (!pool_add(&runs[cfg.npolicies], &t)) {
                fprintf(stderr, "schedsim: out of memory\n");
                wl_trace_free(&t);
                goto out;
            }
        }
        for (size_t p = 0; p < cfg.npolicies; p++) {
            sim_config sc = cfg.sim;
            sc.sched.policy = cfg.policies[p];
            if (!sim_run(&sc, &t, clients, err, sizeof err) || !pool_add(&runs[p], &t)) {
                fprintf(stderr, "schedsim: %s: %s\n", cfg.policies[p], err);
                wl_trace_free(&t);
                goto out;
            }
        }
        wl_trace_free(&t);
    }

    const char **names = malloc((nclients ? nclients : 1) * sizeof *names);
    if (!names) {
        fprintf(stderr, "schedsim: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < nclients; i++)
        names[i] = clients[i].name;
    report reps[SCHEDSIM_MAX_POLICIES + 1];
    size_t made = 0;
    for (; made < nruns; made++)
        if (!report_compute(runs[made].recs, runs[made].n, names, nclients, cfg.sim.c, &reps[made]))
            break;
    double bound = bound_n ? bound_sum / (double)bound_n : 0;
    double offline = bound_n ? offline_sum / (double)bound_n : 0;
    if (made == nruns) {
        /* The bound assumes every request is served; with refusals
         * or failures the means are over fewer requests. */
        bool all_served = true;
        for (size_t p = 0; p < cfg.npolicies; p++)
            all_served &= reps[p].overall.errors == 0;
        if (cfg.json) {
            json_t *root = json_object(), *pol = json_object();
            for (size_t p = 0; p < cfg.npolicies; p++)
                json_object_set_new(pol, cfg.policies[p], report_to_json(&reps[p]));
            json_object_set_new(root, "tool", json_string("schedsim " BP_VERSION));
            json_object_set_new(root, "seeds", json_integer((json_int_t)cfg.seeds));
            json_object_set_new(root, "policies", pol);
            json_object_set_new(root, "lower_bound_mean_s", json_real(bound));
            /* false: refusals, failures or repeated texts (see the text report) */
            json_object_set_new(root, "bound_comparable", json_boolean(all_served && !repeats));
            if (cfg.offline_iters) {
                json_object_set_new(root, "offline_mean_s", json_real(offline));
                json_object_set_new(root, FORESIGHT, report_to_json(&reps[cfg.npolicies]));
            }
            char *txt = json_dumps(root, JSON_INDENT(2));
            if (txt)
                printf("%s\n", txt);
            free(txt);
            json_decref(root);
        } else {
            printf("schedsim: %zu seed%s from %llu, %zu requests in all, backend %.4g%s + c * "
                   "L^2 s, batches of %zu\n",
                   cfg.seeds, cfg.seeds == 1 ? "" : "s", (unsigned long long)cfg.src.seed, bound_n,
                   cfg.sim.a, linear ? " + b * L" : "", cfg.sim.sched.max_batch);
            printf("%s%zu backend%s, c =", pool_size(&cfg.sim) > 1 ? "pool of " : "",
                   pool_size(&cfg.sim), pool_size(&cfg.sim) > 1 ? "s" : "");
            for (size_t k = 0; k < pool_size(&cfg.sim); k++)
                printf("%s %.4g", k ? "," : "", pool_c[k]);
            if (linear) {
                printf(", b =");
                for (size_t k = 0; k < pool_size(&cfg.sim); k++)
                    printf("%s %.4g", k ? "," : "", pool_b[k]);
            }
            printf("%s\n\n", cfg.sim.backend_c ? " (--backend-costs; slowdowns use --cost)" : "");
            report_compare(stdout, reps, labels, made);
            if (!all_served) {
                printf("\nlower bound on the mean latency%s: not comparable (some requests were "
                       "refused or failed; means are over the served ones)\n",
                       cfg.offline_iters ? " and foresight" : "");
            } else if (repeats) {
                printf("\nlower bound on the mean latency%s: not comparable (texts repeat: the "
                       "cache and coalescing serve some requests without the backend)\n",
                       cfg.offline_iters ? " and foresight" : "");
            } else {
                printf("\nlower bound on the mean latency: %.4f s (see sim.c)\n", bound);
                for (size_t p = 0; p < cfg.npolicies; p++)
                    printf("  %-10s mean %.4f s = %.2f x the bound\n", cfg.policies[p],
                           reps[p].overall.mean, bound > 0 ? reps[p].overall.mean / bound : NAN);
                if (cfg.offline_iters) {
                    printf("best schedule found with foresight of every arrival (%zu steps of "
                           "search per seed): %.4f s\n",
                           cfg.offline_iters, offline);
                    for (size_t p = 0; p < cfg.npolicies; p++)
                        printf("  %-10s mean %.4f s = %.2f x it\n", cfg.policies[p],
                               reps[p].overall.mean,
                               offline > 0 ? reps[p].overall.mean / offline : NAN);
                }
            }
        }
        rc = 0;
        if (cfg.plot && !write_plot(&cfg, runs, labels, nruns, clients, nclients, bound, linear))
            rc = 1;
    } else {
        fprintf(stderr, "schedsim: out of memory\n");
    }
    for (size_t p = 0; p < made; p++)
        report_free(&reps[p]);
    free(names);
out:
    for (size_t p = 0; p < nruns; p++)
        free(runs[p].recs);
    free(clients);
    cfile_free(&cfg.clients);
    free(cfg.src.specs);
    return cli_flush_stdout("schedsim", rc);
}
