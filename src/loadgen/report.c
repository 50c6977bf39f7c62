/* report: statistics of a load run and their text, JSON and side-by-side forms (see report.h). */
#include "report.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

double report_percentile(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return NAN;
    /* The epsilon keeps p * n / 100 that is a whole number in exact
     * arithmetic (95 * 100 / 100) from rounding up to the next rank. */
    double rank = ceil(p * (double)n / 100.0 - 1e-9);
    if (rank < 1)
        rank = 1;
    if (rank > (double)n)
        rank = (double)n;
    return sorted[(size_t)rank - 1];
}

double report_jain(const double *x, size_t n)
{
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        sum += x[i];
        sq += x[i] * x[i];
    }
    if (n == 0 || sq == 0)
        return NAN;
    return sum * sum / ((double)n * sq);
}

double report_own_cost(double cost, size_t len)
{
    double c = cost * (double)len * (double)len;
    return c < REPORT_COST_FLOOR ? REPORT_COST_FLOOR : c;
}

const char *report_status_name(int status, char *buf, size_t len)
{
    if (status == 0)
        snprintf(buf, len, "conn");
    else if (status == -1)
        snprintf(buf, len, "timeout");
    else if (status == REPORT_STATUS_OTHER)
        snprintf(buf, len, "other");
    else
        snprintf(buf, len, "%d", status);
    return buf;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Adds n errors of one status. */
static void count_error(report_stats *s, int status, size_t n)
{
    size_t i = 0;
    while (i < s->nerrs && s->errs[i].status < status)
        i++;
    if (i < s->nerrs && s->errs[i].status == status) {
        s->errs[i].n += n;
        return;
    }
    if (s->nerrs == REPORT_MAX_STATUSES) {
        /* Full: lump into "other", which sorts first. */
        if (s->errs[0].status != REPORT_STATUS_OTHER) {
            s->errs[0].status = REPORT_STATUS_OTHER;
        }
        s->errs[0].n += n;
        return;
    }
    memmove(&s->errs[i + 1], &s->errs[i], (s->nerrs - i) * sizeof s->errs[0]);
    s->errs[i] = (report_status_count){status, n};
    s->nerrs++;
}

/* Fills the stats of the records recs[idx[0..m)] (idx NULL: recs[0..m)).
 * lat is scratch space for m doubles. */
static void fill_stats(report_stats *s, const report_record *recs, const size_t *idx, size_t m,
                       double cost, double wall, double *lat)
{
    size_t k = 0;
    double sum = 0, slow = 0;
    for (size_t j = 0; j < m; j++) {
        const report_record *r = &recs[idx ? idx[j] : j];
        s->requests++;
        if (r->status > 0)
            s->answered++;
        if (r->status == 200) {
            s->successes++;
            lat[k++] = r->latency;
            sum += r->latency;
            slow += r->latency / report_own_cost(cost, r->len);
        } else {
            s->errors++;
            count_error(s, r->status, 1);
        }
    }
    qsort(lat, k, sizeof *lat, cmp_double);
    s->mean = k ? sum / (double)k : NAN;
    s->p50 = report_percentile(lat, k, 50);
    s->p95 = report_percentile(lat, k, 95);
    s->p99 = report_percentile(lat, k, 99);
    s->max = k ? lat[k - 1] : NAN;
    s->slowdown = k ? slow / (double)k : NAN;
    s->throughput = (double)s->answered / wall;
}

bool report_compute(const report_record *recs, size_t n, const char *const *names, size_t nclients,
                    double cost, report *out)
{
    memset(out, 0, sizeof *out);
    out->cost = cost;
    double wall = 0;
    for (size_t i = 0; i < n; i++)
        if (recs[i].send + recs[i].latency > wall)
            wall = recs[i].send + recs[i].latency;
    out->wall = wall > 1e-9 ? wall : 1e-9;
    out->clients = calloc(nclients ? nclients : 1, sizeof *out->clients);
    double *lat = malloc((n ? n : 1) * sizeof *lat);
    double *x = malloc((nclients ? nclients : 1) * sizeof *x);
    /* The records' indexes grouped by client (a counting sort): client c's
     * are idx[from[c] .. from[c + 1]), so each record is read once per
     * report, however many clients. */
    size_t *idx = malloc((n ? n : 1) * sizeof *idx);
    size_t *from = calloc(nclients + 2, sizeof *from);
    bool ok = out->clients && lat && x && idx && from;
    if (ok) {
        out->nclients = nclients;
        for (size_t i = 0; i < n; i++)
            if (recs[i].client < nclients)
                from[recs[i].client + 2]++;
        for (size_t c = 2; c < nclients + 2; c++)
            from[c] += from[c - 1];
        for (size_t i = 0; i < n; i++)
            if (recs[i].client < nclients)
                idx[from[recs[i].client + 1]++] = i;
        for (size_t c = 0; c < nclients; c++) {
            snprintf(out->clients[c].name, sizeof out->clients[c].name, "%s", names[c]);
            fill_stats(&out->clients[c], recs, idx + from[c], from[c + 1] - from[c], cost,
                       out->wall, lat);
            if (out->clients[c].successes)
                x[out->jain_n++] = out->clients[c].slowdown;
        }
        snprintf(out->overall.name, sizeof out->overall.name, "overall");
        fill_stats(&out->overall, recs, NULL, n, cost, out->wall, lat);
        out->jain = report_jain(x, out->jain_n);
    } else {
        report_free(out);
    }
    free(lat);
    free(x);
    free(idx);
    free(from);
    return ok;
}

void report_free(report *r)
{
    free(r->clients);
    r->clients = NULL;
    r->nclients = 0;
}

/* ---- text ---- */

static void print_ms(FILE *out, double s)
{
    if (isnan(s))
        fprintf(out, " %9s", "-");
    else
        fprintf(out, " %9.1f", s * 1000);
}

static void print_row(FILE *out, const report_stats *s)
{
    fprintf(out, "%-12s %8zu %8zu %8zu", s->name, s->requests, s->successes, s->errors);
    print_ms(out, s->mean);
    print_ms(out, s->p50);
    print_ms(out, s->p95);
    print_ms(out, s->p99);
    print_ms(out, s->max);
    if (isnan(s->slowdown))
        fprintf(out, " %9s\n", "-");
    else
        fprintf(out, " %9.2f\n", s->slowdown);
}

static void print_errors(FILE *out, const report_stats *s)
{
    if (!s->nerrs)
        return;
    fprintf(out, "  %s:", s->name);
    for (size_t i = 0; i < s->nerrs; i++) {
        char b[16];
        fprintf(out, " %s x%zu", report_status_name(s->errs[i].status, b, sizeof b), s->errs[i].n);
    }
    fputc('\n', out);
}

void report_print(FILE *out, const report *r)
{
    fprintf(out, "%-12s %8s %8s %8s %9s %9s %9s %9s %9s %9s\n", "client", "requests", "ok",
            "errors", "mean ms", "p50 ms", "p95 ms", "p99 ms", "max ms", "slowdown");
    for (size_t i = 0; i < r->nclients; i++)
        print_row(out, &r->clients[i]);
    print_row(out, &r->overall);
    if (r->overall.errors) {
        fprintf(out, "errors by status:\n");
        for (size_t i = 0; i < r->nclients; i++)
            print_errors(out, &r->clients[i]);
        print_errors(out, &r->overall);
    }
    fprintf(out, "wall time %.3f s, throughput %.2f answered requests/s\n", r->wall,
            r->overall.throughput);
    if (isnan(r->jain))
        fprintf(out, "fairness: Jain's index J = (sum x)^2 / (n * sum x^2): - (no successes)\n");
    else
        fprintf(out,
                "fairness: Jain's index J = (sum x)^2 / (n * sum x^2) = %.3f over n = %zu "
                "clients' mean slowdowns x\n",
                r->jain, r->jain_n);
    fprintf(out,
            "definitions: latency over successful (200) requests; percentiles nearest-rank "
            "(p-th = ceil(p/100*n)-th smallest);\n"
            "  slowdown = latency / max(c*L^2, %g s) with c = %g s, the floor keeps tiny strings "
            "from exploding it;\n"
            "  errors: HTTP status, conn = connection failed, timeout = no answer in time\n",
            REPORT_COST_FLOOR, r->cost);
}

/* ---- JSON ---- */

static json_t *num_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static json_t *stats_json(const report_stats *s)
{
    json_t *errs = json_object();
    for (size_t i = 0; i < s->nerrs; i++) {
        char b[16];
        json_object_set_new(errs, report_status_name(s->errs[i].status, b, sizeof b),
                            json_integer((json_int_t)s->errs[i].n));
    }
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:{s:o, s:o, s:o, s:o, s:o}, s:o, s:f}",
                     "name", s->name, "requests", (json_int_t)s->requests, "successes",
                     (json_int_t)s->successes, "errors", (json_int_t)s->errors, "answered",
                     (json_int_t)s->answered, "errors_by_status", errs, "latency_s", "mean",
                     num_or_null(s->mean), "p50", num_or_null(s->p50), "p95", num_or_null(s->p95),
                     "p99", num_or_null(s->p99), "max", num_or_null(s->max), "mean_slowdown",
                     num_or_null(s->slowdown), "throughput_rps", s->throughput);
}

json_t *report_to_json(const report *r)
{
    json_t *clients = json_array();
    for (size_t i = 0; i < r->nclients; i++)
        json_array_append_new(clients, stats_json(&r->clients[i]));
    return json_pack(
        "{s:f, s:f, s:f, s:o, s:o, s:{s:s, s:s, s:o, s:I}, s:{s:s, s:s, s:s, s:s}}", "cost",
        r->cost, "cost_floor_s", REPORT_COST_FLOOR, "wall_s", r->wall, "clients", clients,
        "overall", stats_json(&r->overall), "fairness", "index", "jain", "formula",
        "J = (sum x)^2 / (n * sum x^2), x = per-client mean slowdown", "jain", num_or_null(r->jain),
        "n", (json_int_t)r->jain_n, "definitions", "success", "HTTP 200", "latency",
        "seconds, successful requests only, percentiles nearest-rank", "slowdown",
        "latency / max(cost * L^2, cost_floor_s)", "throughput",
        "answered requests (any HTTP status) / wall_s");
}

static double get_num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static bool stats_from_json(const json_t *o, report_stats *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    const json_t *name = json_object_get(o, "name");
    const json_t *lat = json_object_get(o, "latency_s");
    const json_t *errs = json_object_get(o, "errors_by_status");
    if (!json_is_object(o) || !json_is_string(name) || !json_is_object(lat) ||
        !json_is_integer(json_object_get(o, "requests"))) {
        snprintf(err, errlen, "a client entry lacks name, requests or latency_s");
        return false;
    }
    snprintf(s->name, sizeof s->name, "%s", json_string_value(name));
    s->requests = (size_t)json_integer_value(json_object_get(o, "requests"));
    s->successes = (size_t)json_integer_value(json_object_get(o, "successes"));
    s->errors = (size_t)json_integer_value(json_object_get(o, "errors"));
    s->answered = (size_t)json_integer_value(json_object_get(o, "answered"));
    s->mean = get_num(lat, "mean");
    s->p50 = get_num(lat, "p50");
    s->p95 = get_num(lat, "p95");
    s->p99 = get_num(lat, "p99");
    s->max = get_num(lat, "max");
    s->slowdown = get_num(o, "mean_slowdown");
    s->throughput = get_num(o, "throughput_rps");
    const char *key;
    const json_t *v;
    if (json_is_object(errs)) {
        json_object_foreach((json_t *)errs, key, v)
        {
            int st = !strcmp(key, "conn")      ? 0
                     : !strcmp(key, "timeout") ? -1
                     : !strcmp(key, "other")   ? REPORT_STATUS_OTHER
                                               : atoi(key);
            if (!json_is_integer(v) || json_integer_value(v) < 0) {
                snprintf(err, errlen, "client '%s': errors_by_status \"%.20s\" is not a count",
                         s->name, key);
                return false;
            }
            count_error(s, st, (size_t)json_integer_value(v));
        }
    }
    return true;
}

bool report_from_json(const json_t *j, report *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_t *clients = json_object_get(j, "clients");
    if (!json_is_object(j) || !json_is_array(clients)) {
        snprintf(err, errlen, "not a loadgen report (no clients array)");
        return false;
    }
    out->cost = get_num(j, "cost");
    out->wall = get_num(j, "wall_s");
    const json_t *fair = json_object_get(j, "fairness");
    out->jain = get_num(fair, "jain");
    out->jain_n = (size_t)json_integer_value(json_object_get(fair, "n"));
    size_t n = json_array_size(clients);
    out->clients = calloc(n ? n : 1, sizeof *out->clients);
    if (!out->clients) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    out->nclients = n;
    for (size_t i = 0; i < n; i++)
        if (!stats_from_json(json_array_get(clients, i), &out->clients[i], err, errlen)) {
            report_free(out);
            return false;
        }
    if (!stats_from_json(json_object_get(j, "overall"), &out->overall, err, errlen)) {
        report_free(out);
        return false;
    }
    return true;
}

bool report_load(const char *spec, report *out, char *err, size_t errlen)
{
    /* "FILE#POLICY" picks one policy's report from schedsim --json. */
    char path[4096];
    snprintf(path, sizeof path, "%s", spec);
    char *policy = strrchr(path, '#');
    if (policy)
        *policy++ = '\0';
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        snprintf(err, errlen, "%s:%d: %s", path, je.line, je.text);
        return false;
    }
    json_t *j = policy ? json_object_get(json_object_get(root, "policies"), policy) : root;
    char why[256];
    bool ok = j != NULL;
    if (!ok)
        snprintf(why, sizeof why, "no report for policy '%s'", policy);
    else
        ok = report_from_json(j, out, why, sizeof why);
    if (!ok)
        snprintf(err, errlen, "%s: %s", path, why);
    json_decref(root);
    return ok;
}

/* ---- side by side ---- */

enum fig { F_REQ, F_OK, F_ERR, F_MEAN, F_P50, F_P95, F_P99, F_MAX, F_SLOW, F_TPUT, NFIG };
static const char *const fig_names[NFIG] = {"requests", "ok",     "errors", "mean ms",  "p50 ms",
                                            "p95 ms",   "p99 ms", "max ms", "slowdown", "req/s"};

static const report_stats *find_stats(const report *r, const char *name)
{
    if (!strcmp(name, "overall"))
        return &r->overall;
    for (size_t i = 0; i < r->nclients; i++)
        if (!strcmp(r->clients[i].name, name))
            return &r->clients[i];
    return NULL;
}

static void cell(FILE *out, int w, const report_stats *s, enum fig f)
{
    double v = NAN;
    int prec = 1;
    if (s) {
        switch (f) {
        case F_REQ:
            fprintf(out, " %*zu", w, s->requests);
            return;
        case F_OK:
            fprintf(out, " %*zu", w, s->successes);
            return;
        case F_ERR:
            fprintf(out, " %*zu", w, s->errors);
            return;
        case F_MEAN:
            v = s->mean * 1000;
            break;
        case F_P50:
            v = s->p50 * 1000;
            break;
        case F_P95:
            v = s->p95 * 1000;
            break;
        case F_P99:
            v = s->p99 * 1000;
            break;
        case F_MAX:
            v = s->max * 1000;
            break;
        case F_SLOW:
            v = s->slowdown;
            prec = 2;
            break;
        case F_TPUT:
            v = s->throughput;
            prec = 2;
            break;
        default:
            break;
        }
    }
    if (isnan(v))
        fprintf(out, " %*s", w, "-");
    else
        fprintf(out, " %*.*f", w, prec, v);
}

void report_compare(FILE *out, const report *runs, const char *const *labels, size_t nruns)
{
    int w = 10;
    for (size_t k = 0; k < nruns; k++)
        if ((int)strlen(labels[k]) > w)
            w = (int)strlen(labels[k]);
    fprintf(out, "%-24s", "");
    for (size_t k = 0; k < nruns; k++)
        fprintf(out, " %*s", w, labels[k]);
    fputc('\n', out);

    /* Union of client names in order of first appearance, then overall. */
    size_t total = 0;
    for (size_t k = 0; k < nruns; k++)
        total += runs[k].nclients;
    const char **names = calloc(total + 1, sizeof *names);
    size_t nn = 0;
    for (size_t k = 0; names && k < nruns; k++)
        for (size_t i = 0; i < runs[k].nclients; i++) {
            size_t j = 0;
            while (j < nn && strcmp(names[j], runs[k].clients[i].name))
                j++;
            if (j == nn)
                names[nn++] = runs[k].clients[i].name;
        }
    if (names)
        names[nn++] = "overall";
    for (size_t i = 0; i < nn; i++) {
        for (int f = 0; f < NFIG; f++) {
            if (f == F_TPUT && strcmp(names[i], "overall"))
                continue;
            char label[REPORT_NAME_MAX + 32];
            snprintf(label, sizeof label, "%s %s", names[i], fig_names[f]);
            fprintf(out, "%-24s", label);
            for (size_t k = 0; k < nruns; k++)
                cell(out, w, find_stats(&runs[k], names[i]), (enum fig)f);
            fputc('\n', out);
        }
    }
    fprintf(out, "%-24s", "Jain fairness");
    for (size_t k = 0; k < nruns; k++) {
        if (isnan(runs[k].jain))
            fprintf(out, " %*s", w, "-");
        else
            fprintf(out, " %*.3f", w, runs[k].jain);
    }
    fputc('\n', out);
    fprintf(out,
            "(ms over successful requests, nearest-rank percentiles; slowdown = latency / "
            "max(c*L^2, %g s);\n Jain J = (sum x)^2 / (n * sum x^2) over per-client mean "
            "slowdowns)\n",
            REPORT_COST_FLOOR);
    free(names);
}
