/* Unit tests of the pool: per-backend cost curves in the scheduler, the
 * bounded "keep long batches off a slow backend" rule, and health's
 * ejection state machine. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "health.h"
#include "sched.h"
#include "checked.h" /* every scheduler operation below is followed by sched_check */

#define FAR 1e9

/* Teaches a backend the curve 0.001 + b × L² from 40 fake batches. */
static void teach(sched *s, int id, double b)
{
    for (int i = 0; i < 40; i++) {
        size_t len = (size_t)(5 + i % 30);
        sched_batch fake = {.n = 1, .longest = len};
        fake.e[0] = (sched_entry){.len = len, .deadline = FAR};
        sched_done(s, id, &fake, 0, 0.001 + b * (double)len * (double)len, true);
    }
}

static sched *make(void)
{
    sched_config cfg = sched_config_default();
    char err[128];
    sched *s = sched_new(&cfg, err, sizeof err);
    assert_non_null(s);
    return s;
}

static void test_each_backend_learns_its_own_curve(void **state)
{
    sched *s = make();
    int fast = sched_add_lane(s);
    assert_int_equal(fast, 1);
    assert_int_equal(sched_lanes(s), 2);
    teach(s, 0, 0.008);
    teach(s, fast, 0.0005);
    assert_true(cost_predict(sched_costs(s, 0), 20) > 3.0);
    assert_true(cost_predict(sched_costs(s, fast), 20) < 0.3);
    /* The pooled curve lies between. */
    double pooled = cost_predict(sched_costs(s, -1), 20);
    assert_true(pooled > 0.3 && pooled < 3.0);
    sched_free(s);
}

/* The slow backend is free, the fast one frees up in 0.1 s: the long item
 * waits for the fast one, the short one goes to the slow one; with only
 * long work left, the slow backend waits until the fast one's predicted end. */
static void test_long_work_waits_for_the_fast_backend(void **state)
{
    sched *s = make();
    int fast = sched_add_lane(s);
    teach(s, 0, 0.008);
    teach(s, fast, 0.0005);
    sched_batch b;
    double wake = 0;
    /* Make the fast backend busy with a short batch (5 chars: ~0.0135 s)... */
    sched_enqueue(s, (void *)1, 14, 0, 10, FAR);
    assert_int_equal(sched_next(s, fast, 10, &b, &wake), SCHED_SEND);
    double fast_free = 10 + cost_predict(sched_costs(s, fast), 14);
    /* ...then a long item and a short one arrive. */
    sched_enqueue(s, (void *)2, 40, 0, 10, FAR);
    sched_enqueue(s, (void *)3, 4, 0, 10, FAR);
    assert_int_equal(sched_next(s, 0, 10, &b, &wake), SCHED_SEND);
    assert_int_equal(b.n, 1);
    assert_int_equal((intptr_t)b.e[0].owner, 3);
    sched_done(s, 0, &b, 10.2, 0.2, true);
    assert_int_equal(sched_next(s, 0, 10.001, &b, &wake), SCHED_WAIT);
    assert_true(wake > 10.001 && wake <= fast_free + 1e-9);
    /* Once the fast one is free it takes the long item. */
    sched_done(s, fast, &(sched_batch){.n = 0}, fast_free, fast_free - 10, false);
    assert_int_equal(sched_next(s, fast, fast_free, &b, &wake), SCHED_SEND);
    assert_int_equal((intptr_t)b.e[0].owner, 2);
    sched_free(s);
}

/* Bounded: an item that has waited long gets no such wait; an overdue
 * backend (past its predicted end) makes no one wait; identical backends
 * never wait for each other. */
static void test_wait_is_bounded(void **state)
{
    sched *s = make();
    int fast = sched_add_lane(s);
    teach(s, 0, 0.008);
    teach(s, fast, 0.0005);
    sched_batch b;
    double wake = 0;
    sched_enqueue(s, (void *)1, 14, 0, 0, FAR);
    assert_int_equal(sched_next(s, fast, 0, &b, &wake), SCHED_SEND);
    /* An old long item (queued at -100: far past STARVE_TAUS/2 × τ). */
    sched_enqueue(s, (void *)2, 40, 0, -100, FAR);
    assert_int_equal(sched_next(s, 0, 0, &b, &wake), SCHED_SEND);
    assert_int_equal((intptr_t)b.e[0].owner, 2);
    sched_done(s, 0, &b, 1, 1, true);
    /* Overdue: the fast backend was predicted to end long ago. */
    sched_enqueue(s, (void *)3, 40, 0, 50, FAR);
    assert_int_equal(sched_next(s, 0, 50, &b, &wake), SCHED_SEND);
    sched_free(s);

    s = make();
    int other = sched_add_lane(s);
    sched_enqueue(s, (void *)1, 5, 0, 0, FAR);
    assert_int_equal(sched_next(s, other, 0, &b, &wake), SCHED_SEND);
    sched_enqueue(s, (void *)2, 40, 0, 0, FAR);
    assert_int_equal(sched_next(s, 0, 0, &b, &wake), SCHED_SEND);
    sched_free(s);
}

/* A down backend is never waited for. */
static void test_down_backend_is_not_waited_for(void **state)
{
    sched *s = make();
    int fast = sched_add_lane(s);
    teach(s, 0, 0.008);
    teach(s, fast, 0.0005);
    sched_batch b;
    double wake = 0;
    sched_enqueue(s, (void *)1, 14, 0, 10, FAR);
    assert_int_equal(sched_next(s, fast, 10, &b, &wake), SCHED_SEND);
    sched_lane_set_up(s, fast, false);
    sched_enqueue(s, (void *)2, 40, 0, 10, FAR);
    assert_int_equal(sched_next(s, 0, 10, &b, &wake), SCHED_SEND);
    assert_int_equal(sched_next(s, 7, 10, &b, &wake), SCHED_IDLE); /* unknown id */
    sched_free(s);
}

static void test_health_ejects_with_growing_periods(void **state)
{
    health h;
    health_init(&h, &(health_config){.failures = 3, .base = 1, .max = 4});
    assert_false(health_failure(&h, 0, true));
    assert_false(health_failure(&h, 0, true));
    health_success(&h); /* consecutive only */
    assert_false(health_failure(&h, 0, true));
    assert_false(health_failure(&h, 0, true));
    assert_false(health_failure(&h, 0, false)); /* the last usable one stays */
    assert_true(health_usable(&h));
    assert_true(health_failure(&h, 10, true));
    assert_false(health_usable(&h));
    assert_true(h.until == 11);
    assert_false(health_probe(&h, 10.5, true)); /* the period is not over */
    assert_false(health_probe(&h, 11, false));  /* the check must pass */
    assert_true(health_probe(&h, 11.5, true));
    assert_true(health_usable(&h));
    for (int k = 0; k < 3; k++)
        health_failure(&h, 12, true);
    assert_true(h.until == 14); /* 2 × base */
    assert_true(health_probe(&h, 14, true));
    for (int k = 0; k < 3; k++)
        health_failure(&h, 15, true);
    assert_true(h.until == 19); /* capped at max */
    assert_true(health_probe(&h, 19, true));
    /* Healthy for max seconds: back to base. */
    for (int k = 0; k < 3; k++)
        health_failure(&h, 30, true);
    assert_true(h.until == 31);
    assert_int_equal(h.ejections, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_backend_learns_its_own_curve),
        cmocka_unit_test(test_long_work_waits_for_the_fast_backend),
        cmocka_unit_test(test_wait_is_bounded),
        cmocka_unit_test(test_down_backend_is_not_waited_for),
        cmocka_unit_test(test_health_ejects_with_growing_periods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
