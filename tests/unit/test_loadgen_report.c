/* Tests for report: nearest-rank percentiles, Jain's index, per-client stats and JSON round trip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "report.h"

#include <math.h>
#include <string.h>

static void test_percentile_1_to_100(void **state)
{
    double v[100];
    for (int i = 0; i < 100; i++)
        v[i] = i + 1;
    /* Nearest rank: the ceil(p/100 * n)-th smallest. */
    assert_true(report_percentile(v, 100, 50) == 50);
    assert_true(report_percentile(v, 100, 95) == 95);
    assert_true(report_percentile(v, 100, 99) == 99);
    assert_true(report_percentile(v, 100, 100) == 100);
    assert_true(report_percentile(v, 100, 0.5) == 1);
    assert_true(report_percentile(v, 100, 99.5) == 100);
}

static void test_percentile_small(void **state)
{
    double v[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    /* n = 10: p50 -> rank 5, p95 -> rank ceil(9.5) = 10, p99 -> 10. */
    assert_true(report_percentile(v, 10, 50) == 5);
    assert_true(report_percentile(v, 10, 95) == 10);
    assert_true(report_percentile(v, 10, 99) == 10);
    double one = 7;
    assert_true(report_percentile(&one, 1, 50) == 7);
    assert_true(report_percentile(&one, 1, 99) == 7);
    assert_true(isnan(report_percentile(NULL, 0, 50)));
    /* n = 3: p50 -> rank ceil(1.5) = 2. */
    double three[] = {0.1, 0.2, 0.9};
    assert_true(report_percentile(three, 3, 50) == 0.2);
}

static void test_jain(void **state)
{
    double eq[] = {3, 3, 3, 3};
    assert_float_equal(report_jain(eq, 4), 1.0, 1e-12);
    double one_hot[] = {1, 0, 0, 0, 0};
    assert_float_equal(report_jain(one_hot, 5), 1.0 / 5, 1e-12);
    /* (1 + 3)^2 / (2 * (1 + 9)) = 16 / 20 = 0.8 */
    double two[] = {1, 3};
    assert_float_equal(report_jain(two, 2), 0.8, 1e-12);
    /* (1 + 2 + 3)^2 / (3 * 14) = 36 / 42 */
    double three[] = {1, 2, 3};
    assert_float_equal(report_jain(three, 3), 36.0 / 42.0, 1e-12);
    assert_true(isnan(report_jain(NULL, 0)));
    double zeros[] = {0, 0};
    assert_true(isnan(report_jain(zeros, 2)));
}

static void test_own_cost_floor(void **state)
{
    assert_float_equal(report_own_cost(0.002, 10), 0.2, 1e-12);
    /* 0.002 * 1 = 0.002 > floor; 0.0005 * 1 = 0.0005 < floor (1 ms). */
    assert_float_equal(report_own_cost(0.002, 1), 0.002, 1e-12);
    assert_float_equal(report_own_cost(0.0005, 1), REPORT_COST_FLOOR, 1e-12);
    assert_float_equal(report_own_cost(0, 100), REPORT_COST_FLOOR, 1e-12);
}

/* Two clients: A has two successes (L=10, cost 0.2 s each) with latencies
 * 0.2 and 0.6 (slowdowns 1 and 3, mean 2) and one 429; B has one success
 * (L=5, cost 0.05) at 0.1 (slowdown 2), one conn failure and one timeout. */
static const report_record recs[] = {
    {0, 0.0, 10, 200, 0.2},  {1, 0.0, 5, 200, 0.1}, {0, 0.5, 10, 200, 0.6},
    {0, 1.0, 10, 429, 0.01}, {1, 1.0, 5, 0, 0.0},   {1, 1.5, 5, -1, 1.0},
};
static const char *const names[] = {"A", "B"};

static void check_example(const report *r)
{
    assert_int_equal(r->nclients, 2);
    const report_stats *a = &r->clients[0], *b = &r->clients[1], *o = &r->overall;
    assert_string_equal(a->name, "A");
    assert_int_equal(a->requests, 3);
    assert_int_equal(a->successes, 2);
    assert_int_equal(a->errors, 1);
    assert_int_equal(a->answered, 3);
    assert_int_equal(a->nerrs, 1);
    assert_int_equal(a->errs[0].status, 429);
    assert_float_equal(a->mean, 0.4, 1e-9);
    assert_float_equal(a->p50, 0.2, 1e-9);
    assert_float_equal(a->max, 0.6, 1e-9);
    assert_float_equal(a->slowdown, 2.0, 1e-9);
    assert_int_equal(b->requests, 3);
    assert_int_equal(b->successes, 1);
    assert_int_equal(b->errors, 2);
    assert_int_equal(b->answered, 1);
    assert_int_equal(b->nerrs, 2);
    assert_int_equal(b->errs[0].status, -1); /* timeout */
    assert_int_equal(b->errs[1].status, 0);  /* conn */
    assert_float_equal(b->slowdown, 2.0, 1e-9);
    assert_int_equal(o->requests, 6);
    assert_int_equal(o->successes + o->errors, 6);
    assert_int_equal(o->answered, 4);
    /* Wall: last end is 1.5 + 1.0. */
    assert_float_equal(r->wall, 2.5, 1e-9);
    assert_float_equal(o->throughput, 4 / 2.5, 1e-9);
    /* Equal mean slowdowns: perfectly fair. */
    assert_float_equal(r->jain, 1.0, 1e-9);
    assert_int_equal(r->jain_n, 2);
}

static void test_compute(void **state)
{
    report r;
    assert_true(report_compute(recs, 6, names, 2, 0.002, &r));
    check_example(&r);
    report_free(&r);
}

static void test_json_round_trip(void **state)
{
    report r, back;
    char err[256];
    assert_true(report_compute(recs, 6, names, 2, 0.002, &r));
    json_t *j = report_to_json(&r);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "overall"), "requests")),
                     6);
    assert_true(report_from_json(j, &back, err, sizeof err));
    check_example(&back);
    json_decref(j);
    report_free(&r);
    report_free(&back);
    json_t *bad = json_pack("{s:i}", "x", 1);
    assert_false(report_from_json(bad, &back, err, sizeof err));
    json_decref(bad);
}

static void test_no_successes(void **state)
{
    report_record only_errors[] = {{0, 0, 3, 503, 0.01}};
    const char *one[] = {"X"};
    report r;
    assert_true(report_compute(only_errors, 1, one, 1, 0.002, &r));
    assert_true(isnan(r.clients[0].p50));
    assert_true(isnan(r.jain));
    assert_int_equal(r.jain_n, 0);
    json_t *j = report_to_json(&r); /* NaNs become null, not a failure */
    assert_non_null(j);
    json_decref(j);
    report_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile_1_to_100),
        cmocka_unit_test(test_percentile_small),
        cmocka_unit_test(test_jain),
        cmocka_unit_test(test_own_cost_floor),
        cmocka_unit_test(test_compute),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_no_successes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
