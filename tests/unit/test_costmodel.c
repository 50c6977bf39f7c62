/* Unit tests of the learned cost curve a + lin × L + b × L². */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "costmodel.h"

#include <math.h>
#include <string.h>

static void assert_close(double got, double want, double tol)
{
    if (fabs(got - want) > tol)
        fail_msg("got %g, want %g (+/- %g)", got, want, tol);
}

static void test_prior_until_enough_data(void **state)
{
    cost_model m;
    cost_init(&m, 0.001, 0, 0.002);
    assert_close(cost_predict(&m, 10), 0.001 + 0.2, 1e-12);
    for (int i = 0; i < COST_MIN_FIT - 1; i++)
        cost_observe(&m, 10, 5.0); /* wildly off, but too few to trust */
    assert_close(cost_predict(&m, 10), 0.201, 1e-12);
}

static void test_learns_a_backend_it_was_not_told_about(void **state)
{
    cost_model m;
    cost_init(&m, 0.001, 0, 0.002);
    /* The real backend: 5 ms + 0.0005 × L². */
    for (int i = 0; i < 100; i++) {
        size_t len = 5 + (size_t)(i * 7 % 40);
        cost_observe(&m, len, 0.005 + 0.0005 * (double)(len * len));
    }
    assert_close(m.a, 0.005, 1e-6);
    assert_close(m.b, 0.0005, 1e-8);
    assert_true(m.lin == 0); /* quadratic data: no linear term, not even rounding */
    assert_close(cost_predict(&m, 30), 0.005 + 0.45, 1e-5);
}

static void test_outliers_do_not_bend_the_curve(void **state)
{
    cost_model m;
    cost_init(&m, 0.001, 0, 0.002);
    for (int i = 0; i < 200; i++) {
        size_t len = 5 + (size_t)(i % 21);
        double t = 0.002 + 0.001 * (double)(len * len);
        if (i % 10 == 3)
            t += 2.0; /* a stall: 10% of the batches */
        cost_observe(&m, len, t);
    }
    assert_close(m.a, 0.002, 1e-4);
    assert_close(m.b, 0.001, 1e-5);
}

static void test_one_length_fits_the_intercept_only(void **state)
{
    cost_model m;
    cost_init(&m, 0.0, 0, 0.002);
    for (int i = 0; i < 50; i++)
        cost_observe(&m, 10, 0.25);
    /* b stays at the prior; a absorbs the difference so the one length
     * seen is predicted right. */
    assert_close(m.b, 0.002, 1e-12);
    assert_close(cost_predict(&m, 10), 0.25, 1e-9);
}

/* A backend four times faster than the prior, always sent one length: the
 * intercept can't go negative, so the slope comes down instead, and the
 * one length is still predicted right (the pool ranks backends by it). */
static void test_one_length_on_a_faster_backend_fits_the_slope(void **state)
{
    cost_model m;
    cost_init(&m, 0.0005, 0, 0.002);
    for (int i = 0; i < 25; i++)
        cost_observe(&m, 13, 0.0005 * 169);
    assert_close(m.a, 0, 1e-12);
    assert_close(m.b, 0.0005, 1e-9);
    assert_close(cost_predict(&m, 13), 0.0005 * 169, 1e-9);
}

static void test_window_forgets_old_behaviour(void **state)
{
    cost_model m;
    cost_init(&m, 0.001, 0, 0.002);
    for (int i = 0; i < COST_WINDOW; i++) {
        size_t len = 5 + (size_t)(i % 20);
        cost_observe(&m, len, 0.003 * (double)(len * len));
    }
    assert_close(m.b, 0.003, 1e-6);
    for (int i = 0; i < COST_WINDOW; i++) { /* the backend got faster */
        size_t len = 5 + (size_t)(i % 20);
        cost_observe(&m, len, 0.001 * (double)(len * len));
    }
    assert_close(m.b, 0.001, 1e-6);
    assert_true(m.seen == 2 * COST_WINDOW);
}

static void test_never_negative_and_ignores_nonsense(void **state)
{
    cost_model m;
    cost_init(&m, 0.001, 0, 0.002);
    for (int i = 0; i < 20; i++)
        cost_observe(&m, 5 + (size_t)i, 0.0);
    assert_true(m.a >= 0 && m.b >= 0);
    cost_observe(&m, 10, NAN);
    cost_observe(&m, 10, -1);
    assert_int_equal(m.seen, 20);
}

static void test_close_lengths_with_noise_do_not_inflate_the_curve(void **state)
{
    /* Lengths 31-33 only, and times that happen to grow faster with length
     * than the backend does: least squares finds a steep slope and a
     * negative intercept. Clamping that intercept to 0 alone predicted a
     * 32-character batch at about 0.47 s against the 0.107 s measured (and
     * the cost bound refused such strings); the curve is refitted through
     * the origin instead, so what was measured is predicted. */
    cost_model m;
    cost_init(&m, 0.001, 0, 0.0001);
    for (int i = 0; i < 30; i++) {
        size_t len = 31 + (size_t)(i % 3);
        cost_observe(&m, len, len == 31 ? 0.08 : len == 32 ? 0.10 : 0.14);
    }
    assert_true(m.a >= 0 && m.b >= 0);
    assert_close(cost_predict(&m, 32), 0.107, 0.02);
    assert_close(cost_predict(&m, 33), 0.114, 0.03);
}

/* A padding-bound backend: 5 ms + 0.5 ms per code point of the longest
 * member, learned from the quadratic prior. The fit must find the linear
 * term and drop the quadratic one (a + b × L² alone predicted 5 code
 * points at 10.3 ms here, and 44 at 29.1 ms). */
static void test_linear_data_recovers_the_linear_term(void **state)
{
    cost_model m;
    cost_init(&m, 0.001, 0, 0.002);
    for (int i = 0; i < 100; i++) {
        size_t len = 5 + (size_t)(i * 7 % 40);
        cost_observe(&m, len, 0.005 + 0.0005 * (double)len);
    }
    assert_close(m.a, 0.005, 1e-9);
    assert_close(m.lin, 0.0005, 1e-11);
    assert_true(m.b == 0);
    assert_close(cost_predict(&m, 5), 0.0075, 1e-9);
    assert_close(cost_predict(&m, 44), 0.027, 1e-9);
    assert_null(cost_check(&m));
}

/* Both terms at once, and no intercept: a + lin × L + b × L² with a = 0
 * (a + b × L² alone predicted a 1-code-point batch at 11 ms, 11 times
 * what it takes). */
static void test_mixed_data_recovers_both_terms(void **state)
{
    cost_model m;
    cost_init(&m, 0.001, 0, 0.002);
    for (int i = 0; i < 200; i++) {
        size_t len = 1 + (size_t)(i * 13 % 60);
        cost_observe(&m, len, 0.001 * (double)len + 0.00002 * (double)(len * len));
    }
    assert_close(m.a, 0, 1e-9);
    assert_close(m.lin, 0.001, 1e-10);
    assert_close(m.b, 0.00002, 1e-12);
    assert_null(cost_check(&m));
}

/* A deterministic pseudo-random number in [0, 1) (no libc state). */
static double unit_random(uint64_t *x)
{
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*x >> 11) / 9007199254740992.0;
}

/* Gaussian-ish noise (± 2 ms) on every batch, and 10% stalls of a second
 * or more: a linear and a mixed backend are still recovered. */
static void test_noise_and_outliers_on_linear_and_mixed_backends(void **state)
{
    const double truth[2][3] = {{0.004, 0.002, 0}, {0.002, 0.001, 0.0001}};
    for (int k = 0; k < 2; k++) {
        cost_model m;
        cost_init(&m, 0.001, 0, 0.002);
        uint64_t rng = 42;
        for (int i = 0; i < COST_WINDOW; i++) {
            size_t len = 5 + (size_t)(unit_random(&rng) * 60);
            double l = (double)len, noise = 0;
            for (int j = 0; j < 4; j++)
                noise += (unit_random(&rng) - 0.5) * 0.002;
            double t = truth[k][0] + truth[k][1] * l + truth[k][2] * l * l + noise;
            if (i % 10 == 7)
                t += 1 + unit_random(&rng); /* a stall */
            cost_observe(&m, len, t);
        }
        assert_null(cost_check(&m));
        assert_close(m.a, truth[k][0], 0.002);
        assert_close(m.lin, truth[k][1], 0.0002);
        assert_close(m.b, truth[k][2], 0.000004);
        for (size_t len = 5; len <= 64; len += 10) {
            double l = (double)len, want = truth[k][0] + truth[k][1] * l + truth[k][2] * l * l;
            assert_close(cost_predict(&m, len), want, 0.002 + 0.02 * want);
        }
    }
}

/* Whatever the times (here falling with length, or random), no coefficient
 * goes negative and predictions never decrease with L. */
static void test_never_negative_whatever_the_data(void **state)
{
    uint64_t rng = 7;
    for (int trial = 0; trial < 200; trial++) {
        cost_model m;
        cost_init(&m, 0.001 * unit_random(&rng), 0.001 * unit_random(&rng),
                  0.001 * unit_random(&rng));
        int shape = trial % 4;
        for (int i = 0; i < 60; i++) {
            size_t len = 1 + (size_t)(unit_random(&rng) * (shape == 3 ? 3 : 80));
            double l = (double)len, t;
            if (shape == 0)
                t = 2.0 / l; /* falling */
            else if (shape == 1)
                t = unit_random(&rng); /* noise */
            else
                t = fabs(0.5 - 0.01 * l + 0.0001 * l * l * unit_random(&rng));
            cost_observe(&m, len, t);
            const char *why = cost_check(&m);
            if (why)
                fail_msg("trial %d after %d: %s", trial, i, why);
        }
        double prev = -1;
        for (size_t len = 0; len <= 200; len++) {
            double p = cost_predict(&m, len);
            assert_true(p >= prev);
            prev = p;
        }
    }
}

/* Falling times over many lengths: the best non-negative curve is flat at
 * their mean, not the negative slope clamped to 0 with its intercept. */
static void test_falling_times_give_a_flat_curve(void **state)
{
    cost_model m;
    cost_init(&m, 0.001, 0, 0.002);
    double sum = 0;
    for (int i = 0; i < 40; i++) {
        size_t len = 10 + (size_t)(i % 20);
        double t = 0.3 - 0.005 * (double)len;
        sum += t;
        cost_observe(&m, len, t);
    }
    assert_true(m.lin == 0 && m.b == 0);
    assert_close(m.a, sum / 40, 1e-9);
}

/* One length only, from a linear prior (a curve learned linear is the
 * same): the shape is kept (the window can't tell the terms apart), a
 * absorbs the difference, and when a would go negative the linear term is
 * scaled instead, so the one length is predicted right. */
static void test_one_length_keeps_a_linear_shape(void **state)
{
    cost_model m;
    cost_init(&m, 0.001, 0.0005, 0);
    for (int i = 0; i < 40; i++)
        cost_observe(&m, 20, 0.020); /* 9 ms more than the prior says */
    assert_close(m.lin, 0.0005, 1e-15);
    assert_true(m.b == 0);
    assert_close(m.a, 0.010, 1e-12);
    cost_init(&m, 0.001, 0.0005, 0);
    for (int i = 0; i < 40; i++)
        cost_observe(&m, 20, 0.004); /* faster than the slope allows: a = 0 */
    assert_close(m.a, 0, 1e-15);     /* (refits after the first may leave rounding) */
    assert_true(m.b == 0);
    assert_close(m.lin, 0.0002, 1e-15);
    assert_close(cost_predict(&m, 20), 0.004, 1e-15);
    assert_null(cost_check(&m));
}

/* Two lengths only: the curve's shape is kept and only a and its scale are
 * fitted, so the quadratic prior stays quadratic (as the two-term fit
 * always did) and a learned linear curve stays linear; both lengths are
 * predicted right either way. */
static void test_two_lengths_keep_the_shape(void **state)
{
    cost_model q;
    cost_init(&q, 0.001, 0, 0.002);
    for (int i = 0; i < 40; i++)
        cost_observe(&q, i % 2 ? 10 : 20, i % 2 ? 0.105 : 0.405);
    assert_true(q.lin == 0);
    assert_close(q.b, 0.001, 1e-12);
    assert_close(q.a, 0.005, 1e-12);

    cost_model l;
    cost_init(&l, 0.001, 0.0005, 0); /* a linear prior */
    for (int i = 0; i < 40; i++)
        cost_observe(&l, i % 2 ? 10 : 20, i % 2 ? 0.03 : 0.05);
    assert_true(l.b == 0);
    assert_close(l.lin, 0.002, 1e-12);
    assert_close(l.a, 0.01, 1e-12);
    assert_close(cost_predict(&l, 10), 0.03, 1e-12);
}

/* cost_check names each broken invariant. */
static void test_check_names_what_is_broken(void **state)
{
    cost_model m;
    cost_init(&m, 0.001, 0.0002, 0.002);
    assert_null(cost_check(&m));
    for (int i = 0; i < 20; i++)
        cost_observe(&m, 5 + (size_t)i, 0.01 * (double)(5 + i));
    assert_null(cost_check(&m));

    cost_model bad = m;
    bad.lin = -1e-9;
    assert_non_null(strstr(cost_check(&bad), "estimate a, lin, b is finite and >= 0"));
    bad = m;
    bad.lin = NAN;
    assert_non_null(strstr(cost_check(&bad), "estimate a, lin, b"));
    bad = m;
    bad.prior_lin = INFINITY;
    assert_non_null(strstr(cost_check(&bad), "prior is finite"));
    bad = m;
    bad.len[3] = 7.5;
    assert_non_null(strstr(cost_check(&bad), "whole number"));
    bad = m;
    bad.y[0] = -0.1;
    assert_non_null(strstr(cost_check(&bad), "finite and >= 0"));
    bad = m;
    bad.next = 3;
    assert_non_null(strstr(cost_check(&bad), "window holds"));

    cost_model early;
    cost_init(&early, 0.001, 0.0002, 0.002);
    cost_observe(&early, 10, 0.5);
    assert_null(cost_check(&early));
    early.lin = 0.0003; /* a fit before COST_MIN_FIT observations */
    assert_non_null(strstr(cost_check(&early), "estimate is the prior"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prior_until_enough_data),
        cmocka_unit_test(test_learns_a_backend_it_was_not_told_about),
        cmocka_unit_test(test_outliers_do_not_bend_the_curve),
        cmocka_unit_test(test_one_length_fits_the_intercept_only),
        cmocka_unit_test(test_one_length_on_a_faster_backend_fits_the_slope),
        cmocka_unit_test(test_window_forgets_old_behaviour),
        cmocka_unit_test(test_never_negative_and_ignores_nonsense),
        cmocka_unit_test(test_close_lengths_with_noise_do_not_inflate_the_curve),
        cmocka_unit_test(test_linear_data_recovers_the_linear_term),
        cmocka_unit_test(test_mixed_data_recovers_both_terms),
        cmocka_unit_test(test_noise_and_outliers_on_linear_and_mixed_backends),
        cmocka_unit_test(test_never_negative_whatever_the_data),
        cmocka_unit_test(test_falling_times_give_a_flat_curve),
        cmocka_unit_test(test_one_length_keeps_a_linear_shape),
        cmocka_unit_test(test_two_lengths_keep_the_shape),
        cmocka_unit_test(test_check_names_what_is_broken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
