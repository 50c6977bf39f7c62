/* Unit tests of the multi-tenant pieces: token buckets, the clients file,
 * and the fair-share accounting, all with a fake clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "clientsfile.h"
#include "scheduler.h"
#include "share.h"
#include "tbucket.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void assert_close(double got, double want, double tol)
{
    if (fabs(got - want) > tol)
        fail_msg("got %.9g, want %.9g", got, want);
}

static void test_token_bucket_burst_then_rate(void **state)
{
    tb b;
    tb_init(&b, 10, 3, 100.0);
    double wait = -1;
    for (int i = 0; i < 3; i++)
        assert_true(tb_take(&b, 100.0, &wait)); /* the burst */
    assert_false(tb_take(&b, 100.0, &wait));
    assert_close(wait, 0.1, 1e-9); /* one token every 0.1 s */
    assert_false(tb_take(&b, 100.05, &wait));
    assert_close(wait, 0.05, 1e-9);
    assert_true(tb_take(&b, 100.1, &wait));
    /* A long idle spell refills only up to the burst. */
    for (int i = 0; i < 3; i++)
        assert_true(tb_take(&b, 1000.0, &wait));
    assert_false(tb_take(&b, 1000.0, &wait));
}

static void test_token_bucket_unlimited_and_reconfigured(void **state)
{
    tb b;
    tb_init(&b, 0, 1, 0);
    double wait;
    for (int i = 0; i < 1000; i++)
        assert_true(tb_take(&b, 0, &wait));
    tb_configure(&b, 1, 2, 0); /* from unlimited to 1/s */
    assert_true(tb_take(&b, 0, &wait));
    assert_false(tb_take(&b, 0.5, &wait) && tb_take(&b, 0.5, &wait));
}

static char *write_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/bp-clients-%d.ini", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static const cfile_client defaults = {
    .weight = 1, .rate = 0, .burst = 10, .max_queued = 1000, .timeout = 30};

static void test_clients_file_good(void **state)
{
    char *path = write_file("# tenants\n"
                            "[alice]  ; the first\n"
                            "weight = 3\t# her share\n"
                            "rate = 50 \n"
                            "burst=100\n"
                            "; keyless bob inherits the defaults\n"
                            "[bob]\n"
                            "\n"
                            "[carol.team-1]\n"
                            "max_queued = 7\n"
                            "timeout_ms = 2500\n"
                            "key = 0123456789abcdef-carol\n"
                            "[dave] # a key with ';' and '#' in it\n"
                            "key = 0123456789;abcdef#dave ; and a comment\n");
    cfile f;
    char err[256];
    assert_true(cfile_load(path, &defaults, &f, err, sizeof err));
    assert_int_equal(f.n, 4);
    assert_true(f.keys);
    const cfile_client *a = cfile_find(&f, "alice");
    assert_non_null(a);
    assert_close(a->weight, 3, 0);
    assert_close(a->rate, 50, 0);
    assert_close(a->burst, 100, 0);
    assert_int_equal(a->max_queued, 1000);
    const cfile_client *b = cfile_find(&f, "bob");
    assert_close(b->weight, 1, 0);
    assert_close(b->timeout, 30, 0);
    assert_string_equal(b->key, "");
    const cfile_client *c = cfile_by_key(&f, "0123456789abcdef-carol");
    assert_non_null(c);
    assert_string_equal(c->name, "carol.team-1");
    assert_int_equal(c->max_queued, 7);
    assert_close(c->timeout, 2.5, 1e-12);
    assert_null(cfile_by_key(&f, "0123456789abcdef-caro"));
    assert_null(cfile_by_key(&f, "0123456789abcdef-carol!"));
    assert_non_null(cfile_by_key(&f, "0123456789;abcdef#dave"));
    assert_null(cfile_find(&f, "eve"));
    cfile_free(&f);
    unlink(path);
}

static void test_clients_file_errors_name_the_line(void **state)
{
    const char *bad[][2] = {
        {"weight = 2\n", ":1: a setting before any [NAME] section"},
        {"[a b]\n", ":1: a client name"},
        {"[_other]\n", ":1: a client name"}, /* reserved: the overflow */
        {"[-]\n", ":1: a client name"},      /* reserved: the anonymous client */
        {"[a]\n[a]\n", ":2: this client is already listed"},
        {"[a]\nweight = 0\n", ":2: weight"},
        {"[a]\nrate = -1\n", ":2: rate"},
        {"[a]\nmax_queued = 1.5\n", ":2: max_queued"},
        {"[a]\ncolour = blue\n", ":2: unknown setting"},
        {"[a]\nkey = short\n", ":2: key"},
        {"[a]\nnonsense\n", ":2: expected KEY = VALUE"},
        {"[a]\nkey = 0123456789abcdef\n[b]\nkey = 0123456789abcdef\n", "the same key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *path = write_file(bad[i][0]);
        cfile f = {0};
        char err[256] = "";
        assert_false(cfile_load(path, &defaults, &f, err, sizeof err));
        if (!strstr(err, bad[i][1]))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i][1]);
        unlink(path);
    }
    cfile f;
    char err[256];
    assert_false(cfile_load("/nonexistent/clients.ini", &defaults, &f, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/clients.ini"));
    /* A directory is an error, not an empty file (which would turn keys off). */
    assert_false(cfile_load("/tmp", &defaults, &f, err, sizeof err));
    assert_non_null(strstr(err, "directory"));
}

static void test_airport_split_of_a_batch(void **state)
{
    /* Costs 0.002 L^2 (no intercept): lengths 10, 20, 20 cost 0.2, 0.8,
     * 0.8. The first 0.2 s is shared by three, the next 0.6 s by two. */
    cost_model cm;
    cost_init(&cm, 0, 0.002);
    share_table tab;
    share_init(&tab, 12);
    long t1 = share_tenant_of(&tab, 1, 10), t2 = share_tenant_of(&tab, 2, 20);
    share_set_weight(&tab, 2, 2);
    share_charge(&tab, (long[]){t1, t2, t2}, (size_t[]){10, 20, 20}, 3, 0.8, &cm);
    assert_close(tab.t[t1].charged, 0.2 / 3, 1e-12);
    assert_close(tab.t[t2].charged, 2 * (0.2 / 3 + 0.6 / 2), 1e-12);
    assert_close(tab.t[t1].charged + tab.t[t2].charged, 0.8, 1e-12);
    assert_close(tab.t[t2].service, tab.t[t2].charged / 2, 1e-12); /* weight 2 */
    /* A batch that took longer than predicted is scaled, not ignored. */
    share_charge(&tab, (long[]){t1}, (size_t[]){10}, 1, 0.5, &cm);
    assert_close(tab.t[t1].charged, 0.2 / 3 + 0.5, 1e-12);
    share_fini(&tab);
}

static void test_anonymous_classes_and_anchor_with_slack(void **state)
{
    share_table tab;
    share_init(&tab, 12);
    tab.slack = 1.0;
    assert_int_equal(share_tenant_of(&tab, 0, 12), SHARE_ANON_SHORT);
    assert_int_equal(share_tenant_of(&tab, 0, 13), SHARE_ANON_LONG);
    long a = share_tenant_of(&tab, 5, 3), b = share_tenant_of(&tab, 6, 3);
    share_enqueued(&tab, a, 0);
    share_enqueued(&tab, b, 0);
    assert_int_equal(share_anchor(&tab), -1); /* even: any batch is fair */
    tab.t[a].service = 0.5;
    assert_int_equal(share_anchor(&tab), -1); /* within the slack */
    tab.t[a].service = 1.5;
    assert_int_equal(share_anchor(&tab), b); /* b is behind by more */
    /* A tenant back from idle banks at most `slack` of credit. */
    long c = share_tenant_of(&tab, 7, 3);
    share_enqueued(&tab, c, 0);
    assert_close(tab.t[c].service, 0, 1e-12); /* fresh, at 0: not lowered */
    share_dequeued(&tab, c, 0);
    tab.t[c].service = -100;
    share_enqueued(&tab, c, 0);
    assert_close(tab.t[c].service, -1.0, 1e-12);
    share_fini(&tab);
}

/* Two saturating clients with weights 3 and 1 through the real scheduler
 * and a model backend: backend time splits 3:1. */
static void test_weighted_shares_through_the_scheduler(void **state)
{
    sched_config cfg = sched_config_default();
    char err[128];
    sched *s = sched_new(&cfg, err, sizeof err);
    assert_true(sched_set_weight(s, 1, 3));
    assert_true(sched_set_weight(s, 2, 1));
    double now = 0;
    intptr_t id = 1;
    while (now < 600) {
        /* Both saturate: each always has at least 20 sequences queued. */
        for (int client = 1; client <= 2; client++) {
            double seconds;
            size_t queued;
            sched_client_usage(s, client, &seconds, &queued);
            for (; queued < 20; queued++, id++)
                sched_enqueue(s, (void *)id, 5 + (size_t)((id * 7) % 21), client, now, 1e9);
        }
        sched_batch b;
        double wake;
        assert_int_equal(sched_next(s, 0, now, &b, &wake), SCHED_SEND);
        double took = 0.001 + 0.002 * (double)(b.longest * b.longest);
        sched_done(s, 0, &b, now + took, took, true);
        now += took;
    }
    double s1, s2;
    size_t q1, q2;
    sched_client_usage(s, 1, &s1, &q1);
    sched_client_usage(s, 2, &s2, &q2);
    assert_close(s1 / s2, 3.0, 0.3); /* within 10% of 3:1 */
    assert_close(s1 + s2, now, 1e-6);
    sched_free(s);
}

static void test_drain_time_and_estimate(void **state)
{
    sched_config cfg = sched_config_default(); /* prior 0.001 + 0.002 L^2 */
    char err[128];
    sched *s = sched_new(&cfg, err, sizeof err);
    for (intptr_t i = 0; i < 10; i++)
        sched_enqueue(s, (void *)(i + 1), 10, 1, 0, 1e9);
    double one = (0.001 + 0.2) / 5; /* a len-10 sequence's part of a full batch */
    assert_close(sched_drain_time(s, 1, 10), 10 * one, 1e-12); /* alone: all of it */
    sched_set_weight(s, 2, 3);
    sched_enqueue(s, (void *)99, 10, 2, 0, 1e9);
    assert_close(sched_drain_time(s, 1, 10), 10 * one / 0.25, 1e-12); /* a quarter */
    assert_close(sched_estimate(s, 3, 20), 0.001 + 0.8, 1e-12);       /* nothing queued */
    sched_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_bucket_burst_then_rate),
        cmocka_unit_test(test_token_bucket_unlimited_and_reconfigured),
        cmocka_unit_test(test_clients_file_good),
        cmocka_unit_test(test_clients_file_errors_name_the_line),
        cmocka_unit_test(test_airport_split_of_a_batch),
        cmocka_unit_test(test_anonymous_classes_and_anchor_with_slack),
        cmocka_unit_test(test_weighted_shares_through_the_scheduler),
        cmocka_unit_test(test_drain_time_and_estimate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
