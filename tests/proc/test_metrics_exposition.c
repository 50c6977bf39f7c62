/* Process-level tests of what /metrics and /stats cost: a bounded number of
 * per-client series however many client ids there are, and pages rendered
 * at most once per --metrics-cache-ms. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tproc.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The servers a test started (tproc.h); the teardown stops them. */
typedef tpair fixture;

/* classifyd answering at once, and batchproxy in front with `extra` flags. */
static void start(fixture *f, const char *const *extra)
{
    const char *bargs[] = {"--cost", "0", "--quiet", NULL};
    assert_true(tproc_start(&f->backend, "classifyd", bargs));
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", f->backend.port);
    const char *args[16] = {"--backend", url};
    int n = 2;
    for (; *extra; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    assert_true(tproc_start(&f->proxy, "batchproxy", args));
}

/* One request from client `id` (NULL: anonymous), answered 200. */
static void classify(int port, const char *id, int i)
{
    char headers[96] = "", body[64];
    if (id)
        snprintf(headers, sizeof headers, "X-Client-Id: %s\r\n", id);
    snprintf(body, sizeof body, "{\"sequence\":\"text %d\"}", i);
    thttp_resp r;
    assert_true(thttp_request(port, "POST", "/proxy_classify", headers, body, &r, 10));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

static char *get(int port, const char *path)
{
    thttp_resp r;
    assert_true(thttp_request(port, "GET", path, NULL, NULL, &r, 10));
    assert_int_equal(r.status, 200);
    return r.body; /* thttp_resp_free only frees the body */
}

/* The value of a series in Prometheus text, or -1 if it is absent. */
static double series(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; (p = strstr(p, name)); p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* Checks every client="..." label in the text is one of `allowed`, and
 * returns the sum of the batchproxy_requests_total series. */
static double check_labels(const char *text, const char *const *allowed)
{
    static const char label[] = "client=\"";
    double sum = 0;
    for (const char *p = text; (p = strstr(p, label)); p++) {
        const char *name = p + sizeof label - 1;
        size_t len = strcspn(name, "\"");
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok |= strlen(*a) == len && strncmp(*a, name, len) == 0;
        if (!ok)
            printf("unexpected client label: %.*s\n", (int)len, name);
        assert_true(ok);
        const char *line = p;
        while (line > text && line[-1] != '\n')
            line--;
        if (strncmp(line, "batchproxy_requests_total{", 26) == 0)
            sum += strtod(strchr(p, ' ') + 1, NULL);
    }
    return sum;
}

/* 5 shown of 28 client ids: the 5 busiest have series of their own, the
 * other 23 (and the anonymous client) are summed as "(rest)", in /metrics
 * and in /stats, and the sums are the requests sent. */
static void test_per_client_series_are_bounded(void **state)
{
    fixture *f = *state;
    start(f, (const char *[]){"--metrics-clients", "5", "--metrics-cache-ms", "0", NULL});
    int port = f->proxy.port, sent = 0;
    char id[32];
    for (int c = 0; c < 5; c++)
        for (int k = 0; k < 4; k++) {
            snprintf(id, sizeof id, "busy%d", c);
            classify(port, id, sent++);
        }
    for (int c = 0; c < 22; c++) {
        snprintf(id, sizeof id, "once%d", c);
        classify(port, id, sent++);
    }
    for (int k = 0; k < 3; k++)
        classify(port, NULL, sent++);

    char *text = get(port, "/metrics");
    static const char *const allowed[] = {"busy0", "busy1",  "busy2", "busy3",
                                          "busy4", "(rest)", NULL};
    assert_true(check_labels(text, allowed) == sent);
    assert_true(series(text, "batchproxy_requests_total{client=\"busy3\",status=\"200\"}") == 4);
    assert_true(series(text, "batchproxy_requests_total{client=\"(rest)\",status=\"200\"}") == 25);
    assert_true(series(text, "batchproxy_client_admitted_total{client=\"(rest)\"}") == 25);
    assert_true(series(text, "batchproxy_request_duration_seconds_count{client=\"(rest)\"}") == 25);
    free(text);

    text = get(port, "/stats");
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    json_t *clients = json_object_get(j, "clients");
    assert_int_equal(json_object_size(clients), 6);
    const char *name;
    json_t *c;
    json_int_t total = 0;
    json_object_foreach(clients, name, c)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok |= strcmp(*a, name) == 0;
        assert_true(ok);
        total += json_integer_value(json_object_get(c, "requests"));
    }
    assert_int_equal(total, sent);
    json_t *rest = json_object_get(clients, "(rest)");
    assert_int_equal(json_integer_value(json_object_get(rest, "requests")), 25);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(rest, "latency_seconds"), "count")), 25);
    json_decref(j);
    free(text);
}

/* Client A's request count in /stats, awaited until it is 2. */
typedef struct stats_wait {
    int port;
    json_int_t requests;
} stats_wait;

static bool stats_counted_two(void *arg)
{
    stats_wait *w = arg;
    char *s = get(w->port, "/stats");
    json_t *j = json_loads(s, 0, NULL);
    w->requests = json_integer_value(
        json_object_get(json_object_get(json_object_get(j, "clients"), "A"), "requests"));
    json_decref(j);
    free(s);
    return w->requests >= 2;
}

/* With --metrics-cache-ms, scrapes within the interval get the same bytes
 * (new traffic in between doesn't show), and one after it the new counts. */
static void test_scrapes_within_the_interval_are_identical(void **state)
{
    fixture *f = *state;
    /* 4 s: far longer than the few local requests between two scrapes. */
    start(f, (const char *[]){"--metrics-cache-ms", "4000", NULL});
    int port = f->proxy.port;
    classify(port, "A", 1);
    char *m1 = get(port, "/metrics"), *s1 = get(port, "/stats");
    classify(port, "A", 2);
    char *m2 = get(port, "/metrics"), *s2 = get(port, "/stats");
    assert_string_equal(m1, m2);
    assert_string_equal(s1, s2);
    assert_true(series(m2, "batchproxy_requests_total{client=\"A\",status=\"200\"}") == 1);
    free(m1);
    free(m2);
    free(s1);
    free(s2);

    const char *a = "batchproxy_requests_total{client=\"A\",status=\"200\"}";
    assert_true(thttp_await_metric(port, a, 2, 20) == 2);
    stats_wait w = {port, 0};
    tproc_wait_for(stats_counted_two, &w, 20);
    assert_int_equal(w.requests, 2);
}

/* Bad values of the new flags are refused at start, naming the flag. */
static void test_bad_metrics_flags_are_refused(void **state)
{
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/tests/logs/metrics-flags-%d.out", BP_BUILD_DIR, (int)getpid());
    snprintf(err, sizeof err, "%s/tests/logs/metrics-flags-%d.err", BP_BUILD_DIR, (int)getpid());
    const char *many[] = {"--metrics-clients", "5000", NULL};
    assert_int_equal(tproc_run("batchproxy", many, out, err, 10), 2);
    assert_true(
        tfile_contains(err, "--metrics-clients: '5000' is not a whole number in [0, 1024]"));
    const char *neg[] = {"--metrics-cache-ms", "-1", NULL};
    assert_int_equal(tproc_run("batchproxy", neg, out, err, 10), 2);
    assert_true(tfile_contains(err, "--metrics-cache-ms"));
    (void)state;
}

/* The admin port from the proxy's "admin listening on HOST:PORT" line. */
static int admin_port(const tproc *p)
{
    FILE *f = fopen(p->log_path, "r");
    char line[256];
    int port = 0;
    while (f && !port && fgets(line, sizeof line, f)) {
        char *at = strstr(line, "admin listening on ");
        char *colon = at ? strrchr(at, ':') : NULL;
        if (colon)
            port = atoi(colon + 1);
    }
    if (f)
        fclose(f);
    return port;
}

/* The status of GET path on port, with a JSON detail when it is not 200. */
static int get_status(int port, const char *path)
{
    thttp_resp r;
    assert_true(thttp_request(port, "GET", path, NULL, NULL, &r, 10));
    int status = r.status;
    if (status != 200) {
        json_t *j = json_loads(r.body, 0, NULL);
        assert_non_null(json_string_value(json_object_get(j, "detail")));
        json_decref(j);
    }
    thttp_resp_free(&r);
    return status;
}

/* --admin-listen: the operational pages are served there and only there;
 * client traffic stays on --listen; health checks answer on both. */
static void test_admin_listener_serves_the_operational_endpoints_apart(void **state)
{
    fixture *f = *state;
    start(f, (const char *[]){"--admin-listen", "127.0.0.1:0", "--metrics-cache-ms", "0", NULL});
    int admin = admin_port(&f->proxy);
    assert_true(admin > 0 && admin != f->proxy.port);
    classify(f->proxy.port, "alice", 1);

    assert_int_equal(get_status(f->proxy.port, "/metrics"), 404);
    assert_int_equal(get_status(f->proxy.port, "/stats"), 404);
    assert_int_equal(get_status(f->proxy.port, "/stats/history"), 404);
    assert_int_equal(get_status(f->proxy.port, "/dashboard"), 404);
    assert_int_equal(get_status(f->proxy.port, "/healthz"), 200);
    char *text = get(admin, "/metrics");
    assert_true(series(text, "batchproxy_client_admitted_total{client=\"alice\"}") == 1);
    free(text);
    assert_int_equal(get_status(admin, "/stats"), 200);
    assert_int_equal(get_status(admin, "/stats/history"), 200);
    assert_int_equal(get_status(admin, "/dashboard"), 200);
    assert_int_equal(get_status(admin, "/healthz"), 200);

    thttp_resp r; /* no client traffic on the admin listener */
    assert_true(
        thttp_request(admin, "POST", "/proxy_classify", NULL, "{\"sequence\":\"x\"}", &r, 10));
    assert_int_equal(r.status, 404);
    thttp_resp_free(&r);
}

/* Without --admin-listen everything stays on the one listener. */
static void test_one_listener_by_default(void **state)
{
    fixture *f = *state;
    start(f, (const char *[]){NULL});
    assert_int_equal(admin_port(&f->proxy), 0);
    assert_int_equal(get_status(f->proxy.port, "/metrics"), 200);
    assert_int_equal(get_status(f->proxy.port, "/stats"), 200);
    assert_int_equal(get_status(f->proxy.port, "/stats/history"), 200);
    assert_int_equal(get_status(f->proxy.port, "/dashboard"), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_per_client_series_are_bounded, tpair_setup,
                                        tpair_teardown),
        cmocka_unit_test_setup_teardown(test_scrapes_within_the_interval_are_identical, tpair_setup,
                                        tpair_teardown),
        cmocka_unit_test(test_bad_metrics_flags_are_refused),
        cmocka_unit_test_setup_teardown(test_admin_listener_serves_the_operational_endpoints_apart,
                                        tpair_setup, tpair_teardown),
        cmocka_unit_test_setup_teardown(test_one_listener_by_default, tpair_setup, tpair_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
