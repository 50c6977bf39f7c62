/* schedsim: compares scheduling policies by running the real scheduler in
 * virtual time on loadgen's workloads, with a lower bound for reference.
 *
 * main parses the flags, plans the traces (workload.c, the same plans
 * loadgen sends for the same flags and seed), runs each policy over them
 * (sim.c) and prints loadgen's report for each, side by side. */
#include "cli.h"
#include "opt.h"
#include "plot.h"
#include "report.h"
#include "scheduler.h"
#include "offline.h"
#include "sim.h"
#include "version.h"
#include "workload.h"

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
    size_t backends; /* --backends as given, 0: not given */
    bool no_cache;
    const char *clients_file;
    cfile clients;
    size_t offline_iters; /* --offline-search: steps per seed, 0 = off */
} schedsim_config;

/* The known policy named by the n bytes at s, or NULL. */
static const char *policy_named(const char *s, size_t n)
{
    for (const char *const *p = sched_policy_names(); *p; p++)
        if (strlen(*p) == n && strncmp(*p, s, n) == 0)
            return *p;
    return NULL;
}

/* --policy LIST: comma-separated known policies, each once, or "all". */
static bool set_policies(const opt_entry *e, void *base, const char *list, opt_from from, char *why,
                         size_t whylen)
{
    schedsim_config *c = base;
    c->npolicies = 0;
    if (strcmp(list, "all") == 0) {
        for (const char *const *p = sched_policy_names(); *p; p++)
            c->policies[c->npolicies++] = *p;
        return true;
    }
    for (const char *tok = list; *tok; tok += *tok == ',') {
        size_t n = strcspn(tok, ",");
        if (n == 0)
            continue; /* empty items are skipped */
        const char *name = policy_named(tok, n);
        if (!name) {
            snprintf(why, whylen, "unknown policy '%.*s'", (int)n, tok);
            return false;
        }
        for (size_t i = 0; i < c->npolicies; i++)
            if (c->policies[i] == name) {
                snprintf(why, whylen, "'%s' is listed twice", name);
                return false;
            }
        c->policies[c->npolicies++] = name; /* distinct known names fit */
        tok += n;
    }
    if (c->npolicies == 0)
        snprintf(why, whylen, "no policy named (cost, priority, fifo, sjf or all)");
    return c->npolicies > 0;
}

/* --backend-costs c1,c2[:b2],...: one backend per entry, its c and
 * optionally its b (else NAN: --cost-linear's, once all options are read,
 * see parse_args); sets the pool's size. */
static bool set_backend_costs(const opt_entry *e, void *base, const char *list, opt_from from,
                              char *why, size_t whylen)
{
    schedsim_config *c = base;
    size_t n = 0;
    for (const char *tok = list; *tok; tok += *tok == ',') {
        size_t len = strcspn(tok, ",");
        if (len == 0)
            continue; /* empty items are skipped */
        if (n == SCHEDSIM_MAX_BACKENDS) {
            snprintf(why, whylen, "at most %d backends", SCHEDSIM_MAX_BACKENDS);
            return false;
        }
        char *v = strndup(tok, len);
        char *lin = v ? strchr(v, ':') : NULL;
        if (lin)
            *lin++ = '\0';
        c->backend_b[n] = NAN;
        bool ok = v && opt_double(v, 0, 10, &c->backend_c[n], why, whylen) &&
                  (!lin || opt_double(lin, 0, 10, &c->backend_b[n], why, whylen));
        free(v);
        if (!ok)
            return false;
        n++;
        tok += len;
    }
    if (n == 0) {
        snprintf(why, whylen, "no value");
        return false;
    }
    c->sim.backends = n;
    c->sim.backend_c = c->backend_c;
    c->sim.backend_b = c->backend_b;
    return true;
}

/* --backends N: the default is the pool's size; a size given is kept
 * apart, to be checked against --backend-costs (parse_args). */
static bool set_backends(const opt_entry *e, void *base, const char *v, opt_from from, char *why,
                         size_t whylen)
{
    schedsim_config *c = base;
    unsigned long long n;
    if (!opt_whole(v, 1, SCHEDSIM_MAX_BACKENDS, &n, why, whylen))
        return false;
    *(from == OPT_FROM_DEFAULT ? &c->sim.backends : &c->backends) = (size_t)n;
    return true;
}

/* The options; their defaults are here alone. */
static const opt_entry schedsim_opts[] = {
    {OPT_SUB(schedsim_config, src), .sub = wl_source_opts,
     .group = "Workload (the same flags, SPECs and seeds as loadgen; --seed is the first seed):"},
    {.name = "seeds",
     .type = OPT_SIZE,
     OPT_FIELD(schedsim_config, seeds),
     .lo = 1,
     .hi = 100000,
     .def = "1",
     .arg = "N",
     .help = "run seeds seed..seed+N-1 one after another and pool their requests in one report "
             "per policy"},
    {.name = "policy",
     .type = OPT_CUSTOM,
     .set = set_policies,
     .def = "all",
     .arg = "LIST",
     .help = "comma-separated policies (cost, priority, fifo, sjf), or 'all'",
     .group = "Policies and backend:"},
    {.name = "cost",
     .type = OPT_DOUBLE,
     OPT_FIELD(schedsim_config, sim.c),
     .dhi = 10,
     .def = "0.002",
     .arg = "C",
     .help = "c in a + b*L + c*L^2, seconds"},
    {.name = "cost-linear",
     .type = OPT_DOUBLE,
     OPT_FIELD(schedsim_config, sim.b),
     .dhi = 10,
     .def = "0",
     .arg = "B",
     .help = "b in a + b*L + c*L^2, seconds (default %D: quadratic)"},
    {.name = "overhead",
     .type = OPT_DOUBLE,
     OPT_FIELD(schedsim_config, sim.a),
     .dhi = 10,
     .def = "0.0005",
     .arg = "A",
     .help = "a in a + b*L + c*L^2, seconds"},
    {.name = "backends",
     .type = OPT_CUSTOM,
     .set = set_backends,
     .def = "1",
     .arg = "N",
     .help = "a pool of N identical backends, each one batch at a time"},
    {.name = "backend-costs",
     .type = OPT_CUSTOM,
     .set = set_backend_costs,
     .arg = "LIST",
     .help = "a pool of backends of different speeds: their c, or C:B for c and b (else b is "
             "--cost-linear's), comma-separated (sets --backends)"},
    {.name = "max-batch",
     .type = OPT_SIZE,
     OPT_FIELD(schedsim_config, sim.sched.max_batch),
     .lo = 1,
     .hi = SCHED_MAX_BATCH,
     .def = "5",
     .arg = "N",
     .help = "sequences per batch"},
    {.name = "max-wait-ms",
     .type = OPT_MS,
     OPT_FIELD(schedsim_config, sim.sched.max_wait),
     .dhi = 60000,
     .def = "0",
     .arg = "MS",
     .help = "the bound on a policy's deliberate wait"},
    {.name = "max-queue",
     .type = OPT_SIZE,
     OPT_FIELD(schedsim_config, sim.sched.max_queue),
     .lo = 1,
     .hi = 10000000,
     .def = "10000",
     .arg = "N",
     .help = "queued sequences before refusals"},
    {.name = "priority-threshold",
     .type = OPT_SIZE,
     OPT_FIELD(schedsim_config, sim.sched.priority_threshold),
     .hi = 10000000,
     .def = "12",
     .arg = "N",
     .help = "the priority policy's length threshold"},
    {.name = "timeout",
     .type = OPT_DOUBLE,
     OPT_FIELD(schedsim_config, sim.timeout),
     .dlo = 0.001,
     .dhi = 1e6,
     .def = "30",
     .arg = "SECONDS",
     .help = "each request's deadline"},
    {.name = "backend-timeout",
     .type = OPT_DOUBLE,
     OPT_FIELD(schedsim_config, sim.sched.max_batch_cost),
     .dhi = 1e6,
     .def = "30",
     .arg = "SECONDS",
     .help = "as batchproxy's: no batch is predicted to take longer, and a string whose own "
             "batch would is refused with 413 (default %D; 0: no bound; the search with "
             "foresight ignores it)"},
    {.name = "no-cache",
     .type = OPT_FLAG,
     OPT_FIELD(schedsim_config, no_cache),
     .help = "don't model batchproxy's result cache"},
    {.name = "clients",
     .type = OPT_STR,
     OPT_FIELD(schedsim_config, clients_file),
     .arg = "FILE",
     .help = "batchproxy's clients file: weights, rate limits, queue limits, deadlines of the "
             "named clients",
     .group = "Clients (admission and fair shares, as batchproxy):"},
    {OPT_SUB(schedsim_config, sim.client_defaults), .sub = cfile_default_opts},
    {.name = "offline-search",
     .type = OPT_SIZE,
     OPT_FIELD(schedsim_config, offline_iters),
     .hi = 1000000000,
     .def = "0",
     .arg = "N",
     .help = "also search N steps per seed for the best schedule with foresight of every "
             "arrival (simulated annealing; see src/schedsim/offline.h): what is possible at "
             "all lies between the bound and it; reported (and plotted) as one more column, "
             "'" FORESIGHT "' (default %D: none)",
     .group = "Output:"},
    {.name = "json",
     .type = OPT_FLAG,
     OPT_FIELD(schedsim_config, json),
     .help = "one JSON object: per policy the report, and the bound (with --offline-search, "
             "also '" FORESIGHT "')"},
    {.name = "plot",
     .type = OPT_STR,
     OPT_FIELD(schedsim_config, plot),
     .arg = "FILE.svg",
     .help = "also draw the latency distribution (CDF) of each policy as an SVG file: all "
             "clients, then one panel per client (successful requests)"},
    {0}};

static const opt_program schedsim_program = {
    .name = "schedsim",
    .usage = "Usage: schedsim [OPTIONS]\n"
             "Runs batchproxy's scheduler in virtual time against a model of the backend\n"
             "(one batch at a time, at most --max-batch sequences, a + b*L + c*L^2 seconds\n"
             "per batch) on loadgen's workloads, and prints loadgen's report for each policy\n"
             "side by side, with a lower bound on the mean latency (and, on request, the\n"
             "best schedule a search finds knowing every arrival in advance).\n"
             "\n",
    .table = schedsim_opts,
    .column = 25};

/* The options, then what ties several together: 0, 2 (bad) or OPT_EXIT. */
static int parse_args(int argc, char **argv, schedsim_config *c)
{
    int rc = opt_parse(&schedsim_program, c, argc, argv, NULL);
    if (rc)
        return rc;
    /* --backend-costs sets the pool's size; --backends must agree with it. */
    if (c->backends && c->sim.backend_c && c->backends != c->sim.backends) {
        fprintf(stderr, "schedsim: --backends %zu but --backend-costs lists %zu backends\n",
                c->backends, c->sim.backends);
        return 2;
    }
    if (c->backends)
        c->sim.backends = c->backends;
    for (size_t k = 0; c->sim.backend_b && k < c->sim.backends; k++)
        if (isnan(c->backend_b[k]))
            c->backend_b[k] = c->sim.b;
    c->sim.cache = !c->no_cache;
    if (c->plot && !cli_writable("schedsim", "--plot", c->plot))
        return 2;
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

/* What the runs over every seed gather: per policy (then, with
 * --offline-search, for the schedules found with foresight) the pooled
 * requests, and the bound. */
typedef struct tally {
    pooled runs[SCHEDSIM_MAX_POLICIES + 1];
    const char *labels[SCHEDSIM_MAX_POLICIES + 1];
    size_t nruns;
    wl_client *clients; /* the last seed's (every seed plans the same clients) */
    size_t nclients;
    double bound_sum, offline_sum; /* over every request */
    size_t bound_n;
    bool repeats; /* some seed's trace repeats a text */
    /* Each backend's b and c; the smallest of each (the bound's); whether
     * some b is not 0. */
    double pool_b[SCHEDSIM_MAX_BACKENDS], pool_c[SCHEDSIM_MAX_BACKENDS];
    double fastest_b, fastest_c;
    bool linear;
} tally;

static int out_of_memory(void)
{
    fprintf(stderr, "schedsim: out of memory\n");
    return 1;
}

/* Loads --clients and derives what the options imply. 0 or 2. */
static int prepare(schedsim_config *cfg, tally *t)
{
    if (cfg->clients_file) {
        char why[512];
        cfile_client defaults = cfg->sim.client_defaults;
        defaults.timeout = cfg->sim.timeout;
        if (!cfile_load(cfg->clients_file, &defaults, &cfg->clients, why, sizeof why)) {
            fprintf(stderr, "schedsim: --clients: %s\n", why);
            return 2;
        }
        cfg->sim.clients = &cfg->clients;
    }
    /* The policies learn the model's curve as batchproxy would; start them
     * from the true one so short runs aren't judged on the prior. */
    cfg->sim.sched.prior_a = cfg->sim.a;
    cfg->sim.sched.prior_lin = cfg->sim.b;
    cfg->sim.sched.prior_b = cfg->sim.c;
    memcpy(t->labels, cfg->policies, cfg->npolicies * sizeof *t->labels);
    t->nruns = cfg->npolicies;
    if (cfg->offline_iters)
        t->labels[t->nruns++] = FORESIGHT;
    size_t np = pool_size(&cfg->sim);
    for (size_t k = 0; k < np; k++) {
        t->pool_b[k] = cfg->sim.backend_b ? cfg->sim.backend_b[k] : cfg->sim.b;
        t->pool_c[k] = cfg->sim.backend_c ? cfg->sim.backend_c[k] : cfg->sim.c;
    }
    pool_fastest(t->pool_b, t->pool_c, np, &t->fastest_b, &t->fastest_c);
    t->linear = pool_linear(t->pool_b, np);
    return 0;
}

/* The bound of a seed's trace, and with --offline-search the best schedule
 * found with foresight (the trace then holds it). 0 or 1. */
static int bound_seed(const schedsim_config *cfg, uint64_t seed, wl_trace *tr, tally *t)
{
    int rep = texts_repeat(tr);
    if (rep < 0)
        return out_of_memory();
    t->repeats |= rep;
    t->bound_sum += sim_lower_bound(tr, cfg->sim.a, t->fastest_b, t->fastest_c,
                                    cfg->sim.sched.max_batch * pool_size(&cfg->sim)) *
                    (double)tr->n;
    t->bound_n += tr->n;
    if (!cfg->offline_iters)
        return 0;
    offline_config oc = {.a = cfg->sim.a,
                         .b = t->pool_b,
                         .c = t->pool_c,
                         .backends = pool_size(&cfg->sim),
                         .max_batch = cfg->sim.sched.max_batch,
                         .iters = cfg->offline_iters,
                         .seed = seed};
    double m = offline_search(tr, &oc);
    if (m < 0 || !pool_add(&t->runs[cfg->npolicies], tr))
        return out_of_memory();
    t->offline_sum += m * (double)tr->n;
    return 0;
}

/* One seed: plans its trace, takes its bound, runs every policy on it.
 * 0, 1 (out of memory) or 2 (the workload is bad). */
static int run_seed(const schedsim_config *cfg, uint64_t seed, tally *t)
{
    wl_source src = cfg->src;
    src.seed = seed;
    wl_trace tr = {0};
    free(t->clients);
    t->clients = NULL;
    t->nclients = 0;
    char err[512];
    if (!wl_plan(&src, &t->clients, &t->nclients, &tr, err, sizeof err)) {
        fprintf(stderr, "schedsim: %s\n", err);
        return 2;
    }
    int rc = bound_seed(cfg, seed, &tr, t);
    for (size_t p = 0; rc == 0 && p < cfg->npolicies; p++) {
        sim_config sc = cfg->sim;
        sc.sched.policy = cfg->policies[p];
        snprintf(err, sizeof err, "out of memory");
        if (!sim_run(&sc, &tr, t->clients, err, sizeof err) || !pool_add(&t->runs[p], &tr)) {
            fprintf(stderr, "schedsim: %s: %s\n", cfg->policies[p], err);
            rc = 1;
        }
    }
    wl_trace_free(&tr);
    return rc;
}

/* The figures of the report, over every seed. */
typedef struct summary {
    report reps[SCHEDSIM_MAX_POLICIES + 1];
    double bound, offline; /* means */
    /* The bound assumes every request is served; with refusals or failures
     * the means are over fewer requests. */
    bool all_served;
} summary;

static void print_json(const schedsim_config *cfg, const tally *t, const summary *s)
{
    json_t *root = json_object(), *pol = json_object();
    for (size_t p = 0; p < cfg->npolicies; p++)
        json_object_set_new(pol, cfg->policies[p], report_to_json(&s->reps[p]));
    json_object_set_new(root, "tool", json_string("schedsim " BP_VERSION));
    json_object_set_new(root, "seeds", json_integer((json_int_t)cfg->seeds));
    json_object_set_new(root, "policies", pol);
    json_object_set_new(root, "lower_bound_mean_s", json_real(s->bound));
    /* false: refusals, failures or repeated texts (see the text report) */
    json_object_set_new(root, "bound_comparable", json_boolean(s->all_served && !t->repeats));
    if (cfg->offline_iters) {
        json_object_set_new(root, "offline_mean_s", json_real(s->offline));
        json_object_set_new(root, FORESIGHT, report_to_json(&s->reps[cfg->npolicies]));
    }
    char *txt = json_dumps(root, JSON_INDENT(2));
    if (txt)
        printf("%s\n", txt);
    free(txt);
    json_decref(root);
}

/* How the policies compare with the bound (and the search with foresight). */
static void print_bound(const schedsim_config *cfg, const tally *t, const summary *s)
{
    const char *and_foresight = cfg->offline_iters ? " and foresight" : "";
    if (!s->all_served) {
        printf("\nlower bound on the mean latency%s: not comparable (some requests were "
               "refused or failed; means are over the served ones)\n",
               and_foresight);
        return;
    }
    if (t->repeats) {
        printf("\nlower bound on the mean latency%s: not comparable (texts repeat: the "
               "cache and coalescing serve some requests without the backend)\n",
               and_foresight);
        return;
    }
    printf("\nlower bound on the mean latency: %.4f s (see sim.c)\n", s->bound);
    for (size_t p = 0; p < cfg->npolicies; p++)
        printf("  %-10s mean %.4f s = %.2f x the bound\n", cfg->policies[p],
               s->reps[p].overall.mean, s->bound > 0 ? s->reps[p].overall.mean / s->bound : NAN);
    if (!cfg->offline_iters)
        return;
    printf("best schedule found with foresight of every arrival (%zu steps of "
           "search per seed): %.4f s\n",
           cfg->offline_iters, s->offline);
    for (size_t p = 0; p < cfg->npolicies; p++)
        printf("  %-10s mean %.4f s = %.2f x it\n", cfg->policies[p], s->reps[p].overall.mean,
               s->offline > 0 ? s->reps[p].overall.mean / s->offline : NAN);
}

static void print_text(const schedsim_config *cfg, const tally *t, const summary *s)
{
    size_t np = pool_size(&cfg->sim);
    printf("schedsim: %zu seed%s from %llu, %zu requests in all, backend %.4g%s + c * "
           "L^2 s, batches of %zu\n",
           cfg->seeds, cfg->seeds == 1 ? "" : "s", (unsigned long long)cfg->src.seed, t->bound_n,
           cfg->sim.a, t->linear ? " + b * L" : "", cfg->sim.sched.max_batch);
    printf("%s%zu backend%s, c =", np > 1 ? "pool of " : "", np, np > 1 ? "s" : "");
    for (size_t k = 0; k < np; k++)
        printf("%s %.4g", k ? "," : "", t->pool_c[k]);
    if (t->linear) {
        printf(", b =");
        for (size_t k = 0; k < np; k++)
            printf("%s %.4g", k ? "," : "", t->pool_b[k]);
    }
    printf("%s\n\n", cfg->sim.backend_c ? " (--backend-costs; slowdowns use --cost)" : "");
    report_compare(stdout, s->reps, t->labels, t->nruns);
    print_bound(cfg, t, s);
}

/* Computes each run's report over every seed, prints them and draws the
 * plot. 0 or 1. */
static int report_all(const schedsim_config *cfg, const tally *t)
{
    const char **names = malloc((t->nclients ? t->nclients : 1) * sizeof *names);
    if (!names)
        return out_of_memory();
    for (size_t i = 0; i < t->nclients; i++)
        names[i] = t->clients[i].name;
    summary s = {.all_served = true};
    size_t made = 0;
    for (; made < t->nruns; made++)
        if (!report_compute(t->runs[made].recs, t->runs[made].n, names, t->nclients, cfg->sim.c,
                            &s.reps[made]))
            break;
    int rc = made == t->nruns ? 0 : out_of_memory();
    if (rc == 0) {
        s.bound = t->bound_n ? t->bound_sum / (double)t->bound_n : 0;
        s.offline = t->bound_n ? t->offline_sum / (double)t->bound_n : 0;
        for (size_t p = 0; p < cfg->npolicies; p++)
            s.all_served &= s.reps[p].overall.errors == 0;
        if (cfg->json)
            print_json(cfg, t, &s);
        else
            print_text(cfg, t, &s);
        if (cfg->plot && !write_plot(cfg, t->runs, t->labels, t->nruns, t->clients, t->nclients,
                                     s.bound, t->linear))
            rc = 1;
    }
    for (size_t p = 0; p < made; p++)
        report_free(&s.reps[p]);
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    schedsim_config cfg = {.sim = {.sched = sched_config_default(), .client_defaults.weight = 1}};
    tally t = {0};
    int rc = parse_args(argc, argv, &cfg);
    if (rc == 0)
        rc = prepare(&cfg, &t);
    bool ran = rc == 0;
    for (size_t s = 0; rc == 0 && s < cfg.seeds; s++)
        rc = run_seed(&cfg, cfg.src.seed + s, &t);
    if (rc == 0)
        rc = report_all(&cfg, &t);
    for (size_t p = 0; p < t.nruns; p++)
        free(t.runs[p].recs);
    free(t.clients);
    cfile_free(&cfg.clients);
    opt_free(schedsim_opts, &cfg);
    if (!ran)
        return rc == OPT_EXIT ? 0 : rc;
    return cli_flush_stdout("schedsim", rc);
}
