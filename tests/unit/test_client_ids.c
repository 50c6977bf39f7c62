/* Unit tests of batchproxy's client table: names interned into ids, bounded,
 * and every new id told to the metrics. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "clients.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_client_table_is_bounded(void **state)
{
    metrics *m = metrics_new(5, 0);
    assert_non_null(m);
    clients c;
    cfile_client defaults = {.weight = 1};
    char err[128];
    assert_true(clients_init(&c, NULL, &defaults, m, err, sizeof err));
    assert_int_equal(clients_id(&c, NULL, false), 0);
    assert_int_equal(clients_id(&c, "", false), 0);
    assert_string_equal(clients_name(&c, 0), "-");
    int first = clients_id(&c, "alice", false);
    assert_true(first >= 2);
    assert_int_equal(clients_id(&c, "alice", false), first); /* interned */
    assert_string_equal(clients_name(&c, first), "alice");
    /* A client can't grow the table without bound: past the limit every new
     * name shares the "_other" id. */
    int last = 0;
    for (int i = 0; i < 3 * METRICS_MAX_CLIENTS; i++) {
        char name[32];
        snprintf(name, sizeof name, "c%d", i);
        last = clients_id(&c, name, false);
        assert_true(last >= 0 && last < METRICS_MAX_CLIENTS);
    }
    assert_int_equal(last, 1);
    assert_string_equal(clients_name(&c, 1), "_other");
    assert_int_equal(clients_id(&c, "alice", false), first); /* still itself */
    /* Unlisted names stopped at half the table: listed clients still get
     * ids of their own, up to the full table. */
    int vip = clients_id(&c, "vip", true);
    assert_true(vip >= METRICS_MAX_CLIENTS / 2);
    assert_string_equal(clients_name(&c, vip), "vip");
    assert_int_equal(clients_id(&c, "vip", false), vip);
    assert_int_equal(clients_find(&c, "vip"), vip);
    assert_int_equal(clients_find(&c, "c2000"), -1); /* went to _other */
    assert_int_equal(clients_find(&c, NULL), 0);
    /* The metrics count every id under its name. */
    metrics_request(m, vip, 200, 0.01);
    metrics_gauges g = {.policy = "cost"};
    struct evbuffer *out = evbuffer_new();
    metrics_prometheus(m, &g, out);
    char *text = strndup((const char *)evbuffer_pullup(out, -1), evbuffer_get_length(out));
    assert_non_null(strstr(text, "batchproxy_requests_total{client=\"vip\",status=\"200\"} 1\n"));
    free(text);
    evbuffer_free(out);
    clients_fini(&c);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_table_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
