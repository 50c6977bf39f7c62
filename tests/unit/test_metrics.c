/* Unit tests of batchproxy's metrics: the bounded client table and the
 * Prometheus text of a few series. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "metrics.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_client_table_is_bounded(void **state)
{
    metrics *m = metrics_new(5, 0);
    assert_non_null(m);
    assert_int_equal(metrics_client_id(m, NULL, false), 0);
    assert_int_equal(metrics_client_id(m, "", false), 0);
    int first = metrics_client_id(m, "alice", false);
    assert_true(first >= 2);
    assert_int_equal(metrics_client_id(m, "alice", false), first); /* interned */
    assert_string_equal(metrics_client_name(m, first), "alice");
    /* A client can't grow the table without bound: past the limit every new
     * name shares the "_other" id. */
    int last = 0;
    for (int i = 0; i < 3 * METRICS_MAX_CLIENTS; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%d", i);
        last = metrics_client_id(m, name, false);
        assert_true(last >= 0 && last < METRICS_MAX_CLIENTS);
    }
    assert_int_equal(last, 1);
    assert_string_equal(metrics_client_name(m, 1), "_other");
    assert_int_equal(metrics_client_id(m, "alice", false), first); /* still itself */
    /* Unlisted names stopped at half the table: listed clients still get
     * ids of their own, up to the full table. */
    int vip = metrics_client_id(m, "vip", true);
    assert_true(vip >= METRICS_MAX_CLIENTS / 2);
    assert_string_equal(metrics_client_name(m, vip), "vip");
    assert_int_equal(metrics_client_id(m, "vip", false), vip);
    assert_int_equal(metrics_client_find(m, "vip"), vip);
    assert_int_equal(metrics_client_find(m, "c2000"), -1); /* went to _other */
    assert_int_equal(metrics_client_find(m, NULL), 0);
    metrics_free(m);
}

static void test_refusals_are_counted_per_client_and_reason(void **state)
{
    metrics *m = metrics_new(5, 0);
    int bob = metrics_client_id(m, "bob", false);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_table_is_bounded),
        cmocka_unit_test(test_refusals_are_counted_per_client_and_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
