/* Unit tests of the simulator: the backend model, coalescing, the cache,
 * deadlines, the lower bound, the offline search, determinism and speed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "offline.h"
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static sim_config config(const char *policy)
{
    sim_config c = {
        .sched = sched_config_default(), .a = 0.001, .c = 0.002, .timeout = 30, .cache = true};
    c.sched.policy = policy;
    return c;
}

/* A hand-made trace of n requests (texts owned by the trace). */
static void make_trace(wl_trace *t, size_t n, const double *at, const char *const *texts)
{
    t->n = n;
    t->reqs = calloc(n, sizeof *t->reqs);
    for (size_t i = 0; i < n; i++) {
        t->reqs[i].t = at[i];
        t->reqs[i].text = strdup(texts[i]);
        t->reqs[i].len = strlen(texts[i]);
    }
}

static void assert_close(double got, double want)
{
    if (fabs(got - want) > 1e-9)
        fail_msg("got %.9f, want %.9f", got, want);
}

static void test_one_request_costs_a_plus_c_l2(void **state)
{
    wl_trace t;
    make_trace(&t, 1, (double[]){0.5}, (const char *[]){"0123456789"});
    sim_config c = config("cost");
    char err[128];
    assert_true(sim_run(&c, &t, NULL, err, sizeof err));
    assert_int_equal(t.reqs[0].status, 200);
    assert_close(t.reqs[0].latency, 0.001 + 0.002 * 100);
    wl_trace_free(&t);
}

/* A backend with a linear term, alone and in a pool of per-backend curves:
 * one request costs a + b × L + c × L² on the backend it goes to. */
static void test_one_request_costs_a_plus_b_l_plus_c_l2(void **state)
{
    wl_trace t;
    make_trace(&t, 1, (double[]){0.5}, (const char *[]){"0123456789"});
    sim_config c = config("cost");
    c.b = 0.003;
    char err[128];
    assert_true(sim_run(&c, &t, NULL, err, sizeof err));
    assert_close(t.reqs[0].latency, 0.001 + 0.003 * 10 + 0.002 * 100);
    /* A pool: the second backend is linear only and the faster one for 10
     * code points; alone in the system, the request goes to it. */
    const double b[] = {0, 0.004}, cq[] = {0.002, 0};
    c.b = 0;
    c.backends = 2;
    c.backend_b = b;
    c.backend_c = cq;
    assert_true(sim_run(&c, &t, NULL, err, sizeof err));
    assert_close(t.reqs[0].latency, 0.001 + 0.004 * 10);
    wl_trace_free(&t);
}

static void test_batch_costs_its_longest_and_waits_for_the_backend(void **state)
{
    /* Two arrive together: one batch of cost 20^2; a third arrives while it
     * runs and goes next. */
    wl_trace t;
    make_trace(&t, 3, (double[]){0, 0, 0.1},
               (const char *[]){"aaaaaaaaaaaaaaaaaaaa", "bbbbb", "ccccc"});
    sim_config c = config("fifo");
    char err[128];
    assert_true(sim_run(&c, &t, NULL, err, sizeof err));
    double first = 0.001 + 0.002 * 400;
    assert_close(t.reqs[0].latency, first);
    assert_close(t.reqs[1].latency, first);
    assert_close(t.reqs[2].latency, first - 0.1 + 0.001 + 0.002 * 25);
    wl_trace_free(&t);
}

static void test_coalescing_cache_and_no_cache(void **state)
{
    const char *texts[] = {"same text", "same text", "same text"};
    double at[] = {0, 0.001, 5};
    char err[128];
    for (int cache = 0; cache <= 1; cache++) {
        wl_trace t;
        make_trace(&t, 3, at, texts);
        sim_config c = config("cost");
        c.cache = cache;
        assert_true(sim_run(&c, &t, NULL, err, sizeof err));
        double one = 0.001 + 0.002 * 81;
        assert_close(t.reqs[0].latency, one);
        assert_close(t.reqs[1].latency, one - 0.001); /* joined the one in flight */
        assert_close(t.reqs[2].latency, cache ? 0 : one);
        wl_trace_free(&t);
    }
}

static void test_deadlines_give_504_or_503(void **state)
{
    /* Batches of one, fifo, 0.5 s deadlines. A (15 characters, 0.451 s)
     * goes at once. B, as long, would wait for A in its class's queue: it
     * can't make it and is refused at once (503). C (12 characters,
     * 0.289 s) could make it on its own, so it is admitted, but waits for
     * A in flight and gets 504 at its deadline. */
    wl_trace t;
    make_trace(&t, 3, (double[]){0, 0, 0.01},
               (const char *[]){"aaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbb", "cccccccccccc"});
    sim_config c = config("fifo");
    c.sched.max_batch = 1;
    c.timeout = 0.5;
    char err[128];
    assert_true(sim_run(&c, &t, NULL, err, sizeof err));
    assert_int_equal(t.reqs[0].status, 200);
    assert_int_equal(t.reqs[1].status, 503);
    assert_int_equal(t.reqs[2].status, 504);
    assert_close(t.reqs[2].latency, 0.5);
    wl_trace_free(&t);
}

static void plan_seed(uint64_t seed, size_t rounds, wl_client **cl, size_t *n, wl_trace *t)
{
    wl_source src = {.rounds = rounds, .seed = seed};
    char err[256];
    *cl = NULL;
    *n = 0;
    assert_true(wl_plan(&src, cl, n, t, err, sizeof err));
}

static double mean_latency(const wl_trace *t)
{
    double sum = 0;
    for (size_t i = 0; i < t->n; i++)
        sum += t->reqs[i].latency;
    return sum / (double)t->n;
}

static double offline_linear(wl_trace *t, const double *b, const double *c, size_t backends,
                             size_t iters, uint64_t seed)
{
    offline_config oc = {.a = 0.001,
                         .b = b,
                         .c = c,
                         .backends = backends,
                         .max_batch = 5,
                         .iters = iters,
                         .seed = seed};
    return offline_search(t, &oc);
}

/* Quadratic backends (b = 0). */
static double offline(wl_trace *t, const double *c, size_t backends, size_t iters, uint64_t seed)
{
    static const double no_b[8];
    assert_true(backends <= 8);
    return offline_linear(t, no_b, c, backends, iters, seed);
}

/* Five strings of one length arriving together: the best schedule is one
 * batch, whatever the pool; the search starts from five single batches
 * (mean 3 batch times on one backend) and must find it. One string on a
 * pool of a slow and a fast backend goes to the fast one. */
static void test_offline_search_finds_known_optima(void **state)
{
    wl_trace t;
    make_trace(
        &t, 5, (double[]){0, 0, 0, 0, 0},
        (const char *[]){"abcdefghij", "bcdefghijk", "cdefghijkl", "defghijklm", "efghijklmn"});
    const double c1[] = {0.002}, c2[] = {0.002, 0.002};
    assert_close(offline(&t, c1, 1, 20000, 1), 0.001 + 0.002 * 100);
    assert_close(offline(&t, c2, 2, 20000, 1), 0.001 + 0.002 * 100);
    wl_trace_free(&t);

    make_trace(&t, 1, (double[]){0.5}, (const char *[]){"0123456789"});
    const double mixed[] = {0.004, 0.001};
    assert_close(offline(&t, mixed, 2, 100, 1), 0.001 + 0.001 * 100);
    /* With linear terms: backend 1 (0.2 s + 0.0005 × 100 for 10 code
     * points) is the faster one now. */
    const double lin[] = {0, 0.02}, quad[] = {0.004, 0.0005};
    assert_close(offline_linear(&t, lin, quad, 2, 100, 1), 0.001 + 0.02 * 10 + 0.0005 * 100);
    wl_trace_free(&t);
}

/* What the search finds is a real schedule: never below the lower bound;
 * a second backend never makes it worse by much (the search is a
 * heuristic, so only a loose check), and the same seed gives the same
 * answer. The outcome written into the trace is that schedule's: every
 * request answered, no sooner than its own batch could end, and the
 * latencies' mean is the one returned. */
static void test_offline_search_is_a_schedule(void **state)
{
    for (uint64_t seed = 1; seed <= 5; seed++) {
        wl_client *cl;
        size_t n;
        wl_trace t;
        plan_seed(seed, 1, &cl, &n, &t);
        const double c[] = {0.002, 0.002};
        double one = offline(&t, c, 1, 50000, seed), two = offline(&t, c, 2, 50000, seed);
        assert_true(one >= sim_lower_bound(&t, 0.001, 0, 0.002, 5) - 1e-9);
        assert_true(two >= sim_lower_bound(&t, 0.001, 0, 0.002, 10) - 1e-9);
        assert_true(two < one);
        assert_close(offline(&t, c, 2, 50000, seed), two);
        assert_close(mean_latency(&t), two);
        for (size_t i = 0; i < t.n; i++) {
            const wl_request *r = &t.reqs[i];
            assert_int_equal(r->status, 200);
            assert_close(r->sent, r->t);
            assert_true(r->latency >= 0.001 + 0.002 * (double)(r->len * r->len) - 1e-9);
        }
        wl_trace_free(&t);
        free(cl);
    }
}

/* A pool of a backend 200 times faster than the other: the cost policy
 * keeps work off the slow one while the fast one is about to free up
 * (each backend's curve starting from its own true one), so its mean on
 * the seed profile is below fifo's, which sends to whichever is free. */
static void test_cost_policy_waits_for_a_much_faster_backend(void **state)
{
    const double costs[] = {0.00001, 0.002};
    double mean[2] = {0, 0};
    const char *policy[] = {"cost", "fifo"};
    for (uint64_t seed = 1; seed <= 10; seed++) {
        wl_client *cl;
        size_t n;
        wl_trace t;
        plan_seed(seed, 1, &cl, &n, &t);
        for (size_t p = 0; p < 2; p++) {
            sim_config c = config(policy[p]);
            c.backends = 2;
            c.backend_c = costs;
            char err[128];
            assert_true(sim_run(&c, &t, cl, err, sizeof err));
            mean[p] += mean_latency(&t) / 10;
        }
        wl_trace_free(&t);
        free(cl);
    }
    if (!(mean[0] < mean[1]))
        fail_msg("cost %.4f s, fifo %.4f s", mean[0], mean[1]);
}

/* On the quadratic backend, and on a linear one (b = 0.02, c = 0). */
static void test_lower_bound_is_below_every_policy(void **state)
{
    for (uint64_t seed = 1; seed <= 40; seed++) {
        wl_client *cl;
        size_t n;
        wl_trace t;
        plan_seed((seed + 1) / 2, 1, &cl, &n, &t);
        double b = seed % 2 ? 0 : 0.02, cq = seed % 2 ? 0.002 : 0;
        double bound = sim_lower_bound(&t, 0.001, b, cq, 5);
        double own = 0;
        for (size_t i = 0; i < t.n; i++) {
            double len = (double)t.reqs[i].len;
            own += 0.001 + b * len + cq * len * len;
        }
        assert_true(bound >= own / (double)t.n - 1e-12);
        for (const char *const *p = sched_policy_names(); *p; p++) {
            sim_config c = config(*p);
            c.b = b;
            c.c = cq;
            char err[128];
            assert_true(sim_run(&c, &t, cl, err, sizeof err));
            assert_true(mean_latency(&t) >= bound - 1e-9);
        }
        wl_trace_free(&t);
        free(cl);
    }
}

static void test_same_seed_same_outcome(void **state)
{
    wl_client *cl;
    size_t n;
    wl_trace a, b;
    plan_seed(7, 3, &cl, &n, &a);
    free(cl);
    plan_seed(7, 3, &cl, &n, &b);
    sim_config c = config("cost");
    char err[128];
    assert_true(sim_run(&c, &a, cl, err, sizeof err));
    assert_true(sim_run(&c, &b, cl, err, sizeof err));
    assert_int_equal(a.n, b.n);
    for (size_t i = 0; i < a.n; i++)
        assert_true(a.reqs[i].latency == b.reqs[i].latency);
    wl_trace_free(&a);
    wl_trace_free(&b);
    free(cl);
}

static void test_thousands_of_simulated_seconds_run_fast(void **state)
{
    wl_client *cl;
    size_t n;
    wl_trace t;
    plan_seed(1, 1000, &cl, &n, &t);
    assert_true(wl_trace_end(&t) > 3000); /* about 4 s of traffic a round */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sim_config c = config("cost");
    char err[128];
    assert_true(sim_run(&c, &t, cl, err, sizeof err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    /* An order of magnitude only (sanitizers slow it down several times):
     * well under a second in a normal build. */
    assert_true(wall < 10);
    for (size_t i = 0; i < t.n; i++)
        assert_int_equal(t.reqs[i].status, 200);
    wl_trace_free(&t);
    free(cl);
}

static void test_admission_as_batchproxy(void **state)
{
    /* Client "x" (named) may send 1 request/s with a burst of 2 and have 2
     * queued; "y" is anonymous and gets the defaults. */
    char path[64];
    snprintf(path, sizeof path, "/tmp/bp-simclients-%d.ini", (int)getpid());
    FILE *fp = fopen(path, "w");
    fputs("[x]\nrate = 1\nburst = 2\ntimeout_ms = 500\n", fp);
    fclose(fp);
    cfile cf;
    char err[256];
    cfile_client defaults = {.weight = 1, .burst = 20, .max_queued = 1000, .timeout = 30};
    assert_true(cfile_load(path, &defaults, &cf, err, sizeof err));
    unlink(path);

    wl_client clients[2] = {{.name = "x", .send_id = true}, {.name = "y", .send_id = false}};
    wl_trace t;
    make_trace(&t, 5, (double[]){0, 0, 0, 0, 0},
               (const char *[]){"x one", "x two", "x three", "0123456789012345678901234", "y"});
    t.reqs[3].client = 0; /* x: 25 characters cost 1.25 s: hopeless within 500 ms */
    t.reqs[4].client = 1;
    for (size_t i = 0; i < 3; i++)
        t.reqs[i].client = 0;
    sim_config c = config("cost");
    c.clients = &cf;
    c.client_defaults = defaults;
    assert_true(sim_run(&c, &t, clients, err, sizeof err));
    assert_int_equal(t.reqs[0].status, 200);
    assert_int_equal(t.reqs[1].status, 200);
    assert_int_equal(t.reqs[2].status, 429); /* the burst is spent */
    assert_int_equal(t.reqs[3].status, 429); /* still spent */
    assert_int_equal(t.reqs[4].status, 200); /* y has its own defaults */
    cfile_free(&cf);
    wl_trace_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_request_costs_a_plus_c_l2),
        cmocka_unit_test(test_one_request_costs_a_plus_b_l_plus_c_l2),
        cmocka_unit_test(test_batch_costs_its_longest_and_waits_for_the_backend),
        cmocka_unit_test(test_coalescing_cache_and_no_cache),
        cmocka_unit_test(test_deadlines_give_504_or_503),
        cmocka_unit_test(test_cost_policy_waits_for_a_much_faster_backend),
        cmocka_unit_test(test_lower_bound_is_below_every_policy),
        cmocka_unit_test(test_offline_search_finds_known_optima),
        cmocka_unit_test(test_offline_search_is_a_schedule),
        cmocka_unit_test(test_same_seed_same_outcome),
        cmocka_unit_test(test_thousands_of_simulated_seconds_run_fast),
        cmocka_unit_test(test_admission_as_batchproxy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
