/* The observability files checked by the tools that consume them, against a
 * live proxy: `promtool check metrics` on /metrics after traffic from
 * several clients (per-client series and the "(rest)" sum, histograms, two
 * backends, refusals); `promtool check rules` and `promtool test rules` on
 * deploy/prometheus; and every batchproxy_* name that the alerting rules,
 * their unit tests and the Grafana dashboard's queries use is a metric the
 * proxy exports (the dashboard's queries also parsed by promtool). Exits
 * 77 (skipped) without promtool (Debian package prometheus). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tproc.h"

#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROM_DIR BP_SOURCE_DIR "/deploy/prometheus"
#define RULES PROM_DIR "/batchproxy-alerts.yml"
#define RULES_TEST PROM_DIR "/batchproxy-alerts.test.yml"
#define GRAFANA BP_SOURCE_DIR "/deploy/grafana/batchproxy.json"

typedef struct fixture {
    tproc be[2], proxy;
    char *metrics; /* the live /metrics after the traffic */
    char dir[64];  /* scratch files */
} fixture;

/* Runs a shell command, its output into dir/out; returns its exit status
 * and prints the output when it is not the expected one. */
static int run(const fixture *f, const char *cmd, int want)
{
    char line[2048], out[96];
    snprintf(out, sizeof out, "%s/out", f->dir);
    snprintf(line, sizeof line, "%s >%s 2>&1", cmd, out);
    int rc = system(line);
    rc = rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
    if (rc != want) {
        printf("%s: exit %d (want %d)\n", cmd, rc, want);
        snprintf(line, sizeof line, "cat %s", out);
        (void)!system(line);
    }
    return rc;
}

static void classify(int port, const char *client, const char *body, int want)
{
    char headers[96];
    snprintf(headers, sizeof headers, "X-Client-Id: %s\r\n", client);
    thttp_resp r;
    assert_true(thttp_request(port, "POST", "/proxy_classify", headers, body, &r, 10));
    if (r.status != want)
        printf("%s %s: %d %s\n", client, body, r.status, r.body);
    assert_int_equal(r.status, want);
    thttp_resp_free(&r);
}

/* Two backends, a proxy showing 2 clients of its own, and traffic: five
 * clients answered 200, a bad request, a too long sequence and a rate
 * limit refusal. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    snprintf(f->dir, sizeof f->dir, "/tmp/bp-promtool-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    const char *bargs[] = {"--cost", "0", "--quiet", NULL};
    char url[2][64];
    for (int i = 0; i < 2; i++) {
        if (!tproc_start(&f->be[i], "classifyd", bargs))
            return -1;
        snprintf(url[i], sizeof url[i], "http://127.0.0.1:%d", f->be[i].port);
    }
    const char *args[] = {"--backend",
                          url[0],
                          "--backend",
                          url[1],
                          "--metrics-clients",
                          "2",
                          "--rate-limit",
                          "0.001",
                          "--rate-burst",
                          "4",
                          "--max-length",
                          "40",
                          NULL};
    if (!tproc_start(&f->proxy, "batchproxy", args))
        return -1;
    int port = f->proxy.port;
    static const char *const clients[] = {"alpha", "beta", "gamma", "delta", "eps"};
    char body[64];
    for (int c = 0; c < 5; c++)
        for (int k = 0; k <= 2 - c / 2; k++) { /* 3, 3, 2, 2, 1 requests */
            snprintf(body, sizeof body, "{\"sequence\":\"%s says %d\"}", clients[c], k);
            classify(port, clients[c], body, 200);
        }
    classify(port, "gamma", "not json", 400);
    classify(port, "delta",
             "{\"sequence\":\"" /* 41 code points */
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
             413);
    for (int k = 0; k < 4; k++)
        classify(port, "zeta", "{\"sequence\":\"z\"}", 200);
    classify(port, "zeta", "{\"sequence\":\"z\"}", 429);

    thttp_resp r;
    if (!thttp_request(port, "GET", "/metrics", NULL, NULL, &r, 10) || r.status != 200)
        return -1;
    f->metrics = r.body;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    bool clean = tproc_stop_clean(&f->proxy, 5);
    for (int i = 0; i < 2; i++)
        clean &= tproc_stop_clean(&f->be[i], 5);
    free(f->metrics);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    (void)!system(cmd);
    free(f);
    return clean ? 0 : -1;
}

/* The live page holds what the check must cover, and promtool finds
 * nothing to say about it (its lint: HELP, TYPE, counters' _total, units in
 * names, base units). */
static void test_live_metrics_pass_promtool(void **state)
{
    fixture *f = *state;
    const char *m = f->metrics;
    assert_non_null(strstr(m, "batchproxy_requests_total{client=\"(rest)\",status=\"200\"}"));
    assert_non_null(strstr(m, "batchproxy_request_duration_seconds_bucket{client=\"alpha\""));
    assert_non_null(strstr(m, "batchproxy_batch_size_bucket{le="));
    assert_non_null(strstr(m, "reason=\"rate_limit\"} 1\n"));
    assert_non_null(strstr(m, "status=\"413\"} 1\n"));
    for (int i = 0; i < 2; i++) {
        char s[96];
        snprintf(s, sizeof s, "batchproxy_backend_up{backend=\"127.0.0.1:%d\"} 1\n", f->be[i].port);
        assert_non_null(strstr(m, s));
    }
    char path[96], cmd[256];
    snprintf(path, sizeof path, "%s/metrics.txt", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(m, fp);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "promtool check metrics <%s", path);
    assert_int_equal(run(f, cmd, 0), 0);
    snprintf(path, sizeof path, "%s/out", f->dir);
    assert_false(tfile_contains(path, " ")); /* no lint message at all */
}

static void test_rules_pass_promtool(void **state)
{
    fixture *f = *state;
    assert_int_equal(run(f, "promtool check rules " RULES, 0), 0);
    assert_int_equal(run(f, "cd " PROM_DIR " && promtool test rules batchproxy-alerts.test.yml", 0),
                     0);
}

/* A name exists when /metrics declares it (# TYPE), or it is a histogram's
 * _bucket, _sum or _count. */
static bool exported(const char *metrics, const char *name)
{
    char want[160];
    snprintf(want, sizeof want, "# TYPE %s ", name);
    if (strstr(metrics, want))
        return true;
    static const char *const parts[] = {"_bucket", "_sum", "_count"};
    size_t n = strlen(name);
    for (size_t k = 0; k < 3; k++) {
        size_t pl = strlen(parts[k]);
        if (n > pl && strcmp(name + n - pl, parts[k]) == 0) {
            snprintf(want, sizeof want, "# TYPE %.*s histogram\n", (int)(n - pl), name);
            if (strstr(metrics, want))
                return true;
        }
    }
    return false;
}

/* Checks every batchproxy_* name in text; returns how many it found. */
static int check_names(const char *metrics, const char *text, const char *where)
{
    static const char prefix[] = "batchproxy_";
    int found = 0;
    for (const char *p = text; (p = strstr(p, prefix)); p++) {
        if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            continue;
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        if (!exported(metrics, name))
            printf("%s uses %s, which /metrics does not have\n", where, name);
        assert_true(exported(metrics, name));
        found++;
    }
    return found;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    static char buf[1 << 18];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    assert_true(n < sizeof buf - 1);
    buf[n] = '\0';
    return strdup(buf);
}

static void test_rules_use_exported_names(void **state)
{
    fixture *f = *state;
    char *text = slurp(RULES);
    assert_true(check_names(f->metrics, text, RULES) >= 6);
    free(text);
    text = slurp(RULES_TEST);
    assert_true(check_names(f->metrics, text, RULES_TEST) >= 6);
    free(text);
}

/* Every "expr" and "query" string of the dashboard, however deep. */
static void collect_queries(json_t *j, json_t *into)
{
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_object(j)) {
        json_object_foreach(j, key, v)
        {
            if (json_is_string(v) && (strcmp(key, "expr") == 0 || strcmp(key, "query") == 0))
                json_array_append(into, v);
            else
                collect_queries(v, into);
        }
    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) collect_queries(v, into);
    }
}

/* The dashboard's queries use exported names only, and parse as PromQL
 * (promtool checks them as recording rules, Grafana's $__rate_interval
 * given a value). */
static void test_dashboard_queries(void **state)
{
    fixture *f = *state;
    json_error_t err;
    json_t *dash = json_load_file(GRAFANA, 0, &err);
    if (!dash)
        printf("%s:%d: %s\n", GRAFANA, err.line, err.text);
    assert_non_null(dash);
    json_t *queries = json_array();
    collect_queries(dash, queries);
    char path[96], cmd[256];
    snprintf(path, sizeof path, "%s/dashboard-rules.yml", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("groups:\n  - name: dashboard\n    rules:\n", fp);
    int found = 0, exprs = 0;
    size_t i;
    json_t *q;
    json_array_foreach(queries, i, q)
    {
        const char *s = json_string_value(q);
        found += check_names(f->metrics, s, GRAFANA);
        if (strncmp(s, "label_values(", 13) == 0 || strcmp(s, "prometheus") == 0)
            continue; /* a template variable's query, not PromQL */
        char expr[2048];
        size_t o = 0;
        for (const char *p = s; *p && o < sizeof expr - 4; p++) {
            if (strncmp(p, "$__rate_interval", 16) == 0) {
                memcpy(expr + o, "5m", 2);
                o += 2;
                p += 15;
            } else {
                expr[o++] = *p;
            }
        }
        expr[o] = '\0';
        json_t *js = json_string(expr);
        char *quoted = json_dumps(js, JSON_ENCODE_ANY); /* YAML reads a JSON string */
        fprintf(fp, "      - record: dashboard:query%zu\n        expr: %s\n", i, quoted);
        free(quoted);
        json_decref(js);
        exprs++;
    }
    fclose(fp);
    json_decref(queries);
    json_decref(dash);
    assert_true(exprs >= 15);
    assert_true(found >= 20);
    snprintf(cmd, sizeof cmd, "promtool check rules %s", path);
    assert_int_equal(run(f, cmd, 0), 0);
}

int main(void)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        printf("SKIP: promtool is not installed (scripts/deps.sh check installs prometheus)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_metrics_pass_promtool),
        cmocka_unit_test(test_rules_pass_promtool),
        cmocka_unit_test(test_rules_use_exported_names),
        cmocka_unit_test(test_dashboard_queries),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
