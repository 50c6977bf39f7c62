/* Unit tests of batchproxy's metrics: the clients' ids and the Prometheus
 * text of a few series. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "metrics.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A metrics with the anonymous client and the overflow, as the proxy's
 * clients module makes it; add() gives the next ids, as it does. */
static int nadded;

static metrics *new_metrics(void)
{
    metrics *m = metrics_new(5, 0);
    assert_non_null(m);
    nadded = 0;
    assert_true(metrics_client_add(m, nadded++, "-", false));
    assert_true(metrics_client_add(m, nadded++, "_other", false));
    return m;
}

static int add(metrics *m, const char *name, bool listed)
{
    assert_true(metrics_client_add(m, nadded, name, listed));
    return nadded++;
}

static void test_client_ids_are_added_in_order(void **state)
{
    metrics *m = new_metrics();
    assert_false(metrics_client_add(m, nadded + 1, "gap", false));
    assert_false(metrics_client_add(m, 1, "again", false));
    add(m, "alice", false);
    metrics_free(m);
}

static void test_refusals_are_counted_per_client_and_reason(void **state)
{
    metrics *m = new_metrics();
    int bob = add(m, "bob", false);
    metrics_refused(m, bob, REFUSED_RATE_LIMIT);
    metrics_refused(m, bob, REFUSED_RATE_LIMIT);
    metrics_admitted(m, bob);
    metrics_gauges g = {.policy = "cost"};
    struct evbuffer *out = evbuffer_new();
    metrics_prometheus(m, &g, out);
    size_t n = evbuffer_get_length(out);
    char *text = (char *)evbuffer_pullup(out, -1);
    char *copy = strndup(text, n);
    assert_non_null(
        strstr(copy, "batchproxy_client_refused_total{client=\"bob\",reason=\"rate_limit\"} 2\n"));
    assert_non_null(strstr(copy, "batchproxy_client_admitted_total{client=\"bob\"} 1\n"));
    free(copy);
    evbuffer_free(out);
    metrics_free(m);
}

/* The Prometheus text of m, NUL-terminated (free it). */
static char *prometheus(metrics *m)
{
    metrics_gauges g = {.policy = "cost"};
    struct evbuffer *out = evbuffer_new();
    metrics_prometheus(m, &g, out);
    char *text = strndup((const char *)evbuffer_pullup(out, -1), evbuffer_get_length(out));
    evbuffer_free(out);
    return text;
}

/* The value of one series (name and labels as written), or -1 if absent. */
static double series(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; (p = strstr(p, name)); p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* How many distinct client="..." values the requests_total series have,
 * and the sum of their values. */
static int request_clients(const char *text, double *sum)
{
    static const char prefix[] = "batchproxy_requests_total{client=\"";
    char seen[64][80];
    int n = 0;
    *sum = 0;
    for (const char *p = text; (p = strstr(p, prefix)); p++) {
        const char *name = p + sizeof prefix - 1;
        size_t len = strcspn(name, "\"");
        *sum += strtod(strchr(name, ' ') + 1, NULL);
        bool dup = false;
        for (int i = 0; i < n; i++)
            dup |= strlen(seen[i]) == len && strncmp(seen[i], name, len) == 0;
        if (!dup && n < 64)
            snprintf(seen[n++], sizeof seen[0], "%.*s", (int)len, name);
    }
    return n;
}

static void answer(metrics *m, int id, int times)
{
    for (int i = 0; i < times; i++)
        metrics_request(m, id, 200, 0.01);
}

static void test_only_the_busiest_clients_are_shown(void **state)
{
    metrics *m = new_metrics();
    metrics_set_exposition(m, 3, 0);
    for (int i = 0; i < 10; i++) { /* c<i> answered i + 1 requests */
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        answer(m, add(m, name, false), i + 1);
    }
    char *text = prometheus(m);
    double sum;
    assert_int_equal(request_clients(text, &sum), 4); /* 3 clients and the rest */
    assert_true(sum == 55);
    assert_true(series(text, "batchproxy_requests_total{client=\"c9\",status=\"200\"}") == 10);
    assert_true(series(text, "batchproxy_requests_total{client=\"c7\",status=\"200\"}") == 8);
    assert_true(series(text, "batchproxy_requests_total{client=\"c6\",status=\"200\"}") == -1);
    assert_true(series(text, "batchproxy_requests_total{client=\"(rest)\",status=\"200\"}") == 28);
    assert_true(series(text, "batchproxy_request_duration_seconds_count{client=\"(rest)\"}") == 28);
    assert_true(
        series(text, "batchproxy_request_duration_seconds_bucket{client=\"(rest)\",le=\"+Inf\"}") ==
        28);
    free(text);

    /* /stats: the same entries, adding up to the total. */
    metrics_gauges g = {.policy = "cost"};
    char *js = metrics_stats_json(m, &g, 1);
    json_t *j = json_loads(js, 0, NULL);
    json_t *clients = json_object_get(j, "clients");
    assert_int_equal(json_object_size(clients), 4);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(clients, "c8"), "requests")), 9);
    json_t *rest = json_object_get(clients, "(rest)");
    assert_int_equal(json_integer_value(json_object_get(rest, "requests")), 28);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(rest, "latency_seconds"), "count")), 28);
    json_decref(j);
    free(js);
    metrics_free(m);
}

static void test_listed_clients_are_shown_first(void **state)
{
    metrics *m = new_metrics();
    metrics_set_exposition(m, 2, 0);
    answer(m, add(m, "busy", false), 50);
    answer(m, add(m, "busier", false), 60);
    int vip = add(m, "vip", true);
    answer(m, vip, 1);
    char *text = prometheus(m);
    assert_true(series(text, "batchproxy_requests_total{client=\"vip\",status=\"200\"}") == 1);
    assert_true(series(text, "batchproxy_requests_total{client=\"busier\",status=\"200\"}") == 60);
    assert_true(series(text, "batchproxy_requests_total{client=\"busy\",status=\"200\"}") == -1);
    free(text);
    /* Dropped from the clients file (a reload): just another client. */
    metrics_client_listed(m, vip, false);
    text = prometheus(m);
    assert_true(series(text, "batchproxy_requests_total{client=\"vip\",status=\"200\"}") == -1);
    assert_true(series(text, "batchproxy_requests_total{client=\"busy\",status=\"200\"}") == 50);
    free(text);
    metrics_free(m);
}

/* Clients moving in and out of the shown set: every series only grows, a
 * shown client has its true total, the incumbent keeps its place against a
 * challenger that is only a little busier. */
static void test_series_never_go_back_as_clients_move(void **state)
{
    metrics *m = new_metrics();
    metrics_set_exposition(m, 1, 0);
    int a = add(m, "a", false), b = add(m, "b", false);
    static const char *const rest_s = "batchproxy_requests_total{client=\"(rest)\",status=\"200\"}";
    static const char *const a_s = "batchproxy_requests_total{client=\"a\",status=\"200\"}";
    static const char *const b_s = "batchproxy_requests_total{client=\"b\",status=\"200\"}";
    static const char *const rest_n =
        "batchproxy_request_duration_seconds_count{client=\"(rest)\"}";
    answer(m, a, 10);
    answer(m, b, 1);
    char *text = prometheus(m);
    assert_true(series(text, a_s) == 10);
    assert_true(series(text, rest_s) == 1);
    free(text);

    answer(m, b, 10); /* 11 against a's 10: not enough to take its place */
    text = prometheus(m);
    assert_true(series(text, a_s) == 10);
    assert_true(series(text, rest_s) == 11);
    free(text);

    answer(m, b, 10); /* 21: b is shown, a joins the rest */
    text = prometheus(m);
    assert_true(series(text, b_s) == 21);
    assert_true(series(text, a_s) == -1);
    assert_true(series(text, rest_s) == 21); /* did not go back to a's 10 */
    assert_true(series(text, rest_n) == 21);
    free(text);

    answer(m, a, 30); /* 40: a is back with its true total; b's past stays */
    text = prometheus(m);
    assert_true(series(text, a_s) == 40);
    assert_true(series(text, b_s) == -1);
    assert_true(series(text, rest_s) == 51); /* + a's 30 made while in the rest */
    assert_true(series(text, rest_n) == 51);
    free(text);

    /* /stats is a snapshot: its rest is what the clients in it did. */
    metrics_gauges g = {.policy = "cost"};
    char *js = metrics_stats_json(m, &g, 1);
    json_t *j = json_loads(js, 0, NULL);
    json_t *clients = json_object_get(j, "clients");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(clients, "(rest)"), "requests")), 21);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(clients, "a"), "requests")),
                     40);
    json_decref(j);
    free(js);
    metrics_free(m);
}

static void test_pages_are_rendered_once_per_interval(void **state)
{
    metrics *m = new_metrics();
    metrics_set_exposition(m, 50, 1.0);
    metrics_gauges g = {.policy = "cost"};
    int a = add(m, "a", false);
    answer(m, a, 1);
    for (int w = 0; w < METRICS_PAGES; w++) {
        size_t len1, len2, len3;
        const char *p = metrics_page(m, (enum metrics_page)w, &g, 10.0, &len1);
        assert_non_null(p);
        char *first = strndup(p, len1);
        answer(m, a, 1);
        if (w == METRICS_PAGE_HISTORY) /* it changes with a sample */
            assert_true(metrics_sample(m, &g, 10.5, 1.0));
        p = metrics_page(m, (enum metrics_page)w, &g, 10.9, &len2);
        assert_int_equal(len2, len1);
        assert_memory_equal(p, first, len1); /* the same bytes within the interval */
        p = metrics_page(m, (enum metrics_page)w, &g, 11.0, &len3);
        assert_true(len3 != len1 || memcmp(p, first, len1) != 0); /* then the new count */
        assert_non_null(strstr(p, w == METRICS_PAGE_PROMETHEUS
                                      ? "batchproxy_requests_total{client=\"a\",status=\"200\"} "
                                      : "\"requests\":"));
        free(first);
    }
    /* 0: rendered every time. */
    metrics_set_exposition(m, 50, 0);
    size_t l1, l2;
    char *first = strdup(metrics_page(m, METRICS_PAGE_PROMETHEUS, &g, 20.0, &l1));
    answer(m, a, 1);
    const char *p = metrics_page(m, METRICS_PAGE_PROMETHEUS, &g, 20.0, &l2);
    assert_true(strcmp(p, first) != 0);
    free(first);
    metrics_free(m);
}

/* The learned curve a + lin × L + b × L², pooled and per backend: each
 * coefficient in /metrics under its own gauge and in /stats under its own
 * field (b_seconds stays the L² one). */
static void test_cost_curve_has_three_coefficients(void **state)
{
    metrics *m = metrics_new(5, 0);
    int id = metrics_backend_id(m, "127.0.0.1:9001");
    metrics_backend_state(m, id, "up", 0.004, 0.0005, 0.00002);
    metrics_gauges g = {.policy = "cost", .cost_a = 0.003, .cost_lin = 0.0007, .cost_b = 0.00001};
    struct evbuffer *out = evbuffer_new();
    metrics_prometheus(m, &g, out);
    char *text = strndup((const char *)evbuffer_pullup(out, -1), evbuffer_get_length(out));
    evbuffer_free(out);
    assert_true(series(text, "batchproxy_cost_intercept_seconds") == 0.003);
    assert_true(series(text, "batchproxy_cost_linear_seconds") == 0.0007);
    assert_true(series(text, "batchproxy_cost_slope_seconds") == 0.00001);
    assert_non_null(strstr(text, "# TYPE batchproxy_cost_linear_seconds gauge\n"));
    const char *b = "{backend=\"127.0.0.1:9001\"}";
    char name[128];
    snprintf(name, sizeof name, "batchproxy_backend_cost_intercept_seconds%s", b);
    assert_true(series(text, name) == 0.004);
    snprintf(name, sizeof name, "batchproxy_backend_cost_linear_seconds%s", b);
    assert_true(series(text, name) == 0.0005);
    snprintf(name, sizeof name, "batchproxy_backend_cost_slope_seconds%s", b);
    assert_true(series(text, name) == 0.00002);
    free(text);

    char *js = metrics_stats_json(m, &g, 1);
    json_t *j = json_loads(js, 0, NULL);
    assert_non_null(j);
    const json_t *cm = json_object_get(j, "cost_model");
    assert_true(json_real_value(json_object_get(cm, "a_seconds")) == 0.003);
    assert_true(json_real_value(json_object_get(cm, "linear_seconds")) == 0.0007);
    assert_true(json_real_value(json_object_get(cm, "b_seconds")) == 0.00001);
    cm = json_object_get(json_object_get(json_object_get(j, "backends"), "127.0.0.1:9001"),
                         "cost_model");
    assert_true(json_real_value(json_object_get(cm, "a_seconds")) == 0.004);
    assert_true(json_real_value(json_object_get(cm, "linear_seconds")) == 0.0005);
    assert_true(json_real_value(json_object_get(cm, "b_seconds")) == 0.00002);
    json_decref(j);
    free(js);
    metrics_free(m);
}

/* The history keeps the last METRICS_HISTORY samples, oldest first, each
 * with the busiest clients (no more than METRICS_HISTORY_CLIENTS, nor than
 * shown) and the all-clients latency buckets. */
static void test_history_is_a_bounded_ring(void **state)
{
    metrics *m = new_metrics();
    metrics_set_exposition(m, 3, 0);
    metrics_gauges g = {.policy = "cost", .queue_depth = 7};
    char name[16];
    for (int c = 0; c < 5; c++) {
        snprintf(name, sizeof name, "c%d", c);
        int id = add(m, name, false);
        for (int k = 0; k <= c; k++)
            answer(m, id, 1);
    }
    for (int i = 0; i < METRICS_HISTORY + 100; i++)
        assert_true(metrics_sample(m, &g, 1.0 + i, 1.0));
    char *js = metrics_history_json(m);
    json_error_t err;
    json_t *root = json_loads(js, 0, &err);
    assert_non_null(root);
    json_t *samples = json_object_get(root, "samples");
    assert_int_equal(json_array_size(samples), METRICS_HISTORY);
    assert_int_equal(json_integer_value(json_object_get(root, "capacity")), METRICS_HISTORY);
    json_t *first = json_array_get(samples, 0),
           *last = json_array_get(samples, METRICS_HISTORY - 1);
    assert_true(json_real_value(json_object_get(first, "t")) == 101.0);
    assert_true(json_real_value(json_object_get(last, "t")) == METRICS_HISTORY + 100.0);
    assert_int_equal(json_integer_value(json_object_get(last, "queue_depth")), 7);
    json_t *clients = json_object_get(last, "clients");
    assert_int_equal(json_object_size(clients), 3); /* the shown limit */
    assert_non_null(json_object_get(clients, "c4"));
    assert_null(json_object_get(clients, "c0"));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(clients, "c4"), "requests")), 5);
    json_t *all = json_object_get(json_object_get(last, "all"), "latency_buckets");
    json_int_t n = 0;
    for (size_t i = 0; i < json_array_size(all); i++)
        n += json_integer_value(json_array_get(all, i));
    assert_int_equal(n, 15); /* 1 + 2 + 3 + 4 + 5 */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(last, "by_status"), "200")),
                     15);
    json_decref(root);
    free(js);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_ids_are_added_in_order),
        cmocka_unit_test(test_refusals_are_counted_per_client_and_reason),
        cmocka_unit_test(test_only_the_busiest_clients_are_shown),
        cmocka_unit_test(test_listed_clients_are_shown_first),
        cmocka_unit_test(test_series_never_go_back_as_clients_move),
        cmocka_unit_test(test_pages_are_rendered_once_per_interval),
        cmocka_unit_test(test_cost_curve_has_three_coefficients),
        cmocka_unit_test(test_history_is_a_bounded_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
