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
#include "checked.h" /* every scheduler and share operation below is checked */

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

static void expired_noop(void *owner, void *arg) {}

static void test_airport_split_of_a_batch(void **state)
{
    /* Costs 0.002 L^2 (no intercept): lengths 10, 20, 20 cost 0.2, 0.8,
     * 0.8. The first 0.2 s is shared by three, the next 0.6 s by two. */
    cost_model cm;
    cost_init(&cm, 0, 0, 0.002);
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

/* A request held to its own rate and to a shared one takes a token from
 * both or from neither. */
static void test_token_bucket_pair(void **state)
{
    tb own, shared;
    tb_init(&own, 1, 2, 0);
    tb_init(&shared, 1, 3, 0);
    double wait;
    const tb *by = NULL;
    assert_true(tb_take_both(&own, &shared, 0, &wait, &by));
    assert_true(tb_take_both(&own, &shared, 0, &wait, &by));
    assert_false(tb_take_both(&own, &shared, 0, &wait, &by)); /* own is empty */
    assert_ptr_equal(by, &own);
    tb other;
    tb_init(&other, 1, 5, 0);
    assert_true(tb_take_both(&other, &shared, 0, &wait, &by)); /* shared's last */
    assert_false(tb_take_both(&other, &shared, 0, &wait, &by));
    assert_ptr_equal(by, &shared);
    assert_close(wait, 1, 1e-9);
    assert_close(other.tokens, 4, 1e-12); /* its token given back */
    assert_true(tb_take_both(&other, NULL, 0, &wait, &by));
}

/* [_unlisted] configures the pool of the clients not listed: not a client
 * itself (no key, never found by name), and its name is reserved. */
static void test_clients_file_unlisted_pool(void **state)
{
    cfile f;
    char err[256];
    char *path = write_file("[alice]\nweight = 2\n[_unlisted]\nweight = 0.5\nrate = 7\n"
                            "max_queued = 40\ntimeout_ms = 2000\n");
    assert_true(cfile_load(path, &defaults, &f, err, sizeof err));
    assert_int_equal(f.n, 1);
    assert_string_equal(f.unlisted.name, "_unlisted");
    assert_close(f.unlisted.weight, 0.5, 0);
    assert_close(f.unlisted.rate, 7, 0);
    assert_close(f.unlisted.burst, 10, 0); /* the default */
    assert_int_equal(f.unlisted.max_queued, 40);
    assert_close(f.unlisted.timeout, 2, 1e-12);
    assert_null(cfile_find(&f, "_unlisted"));
    cfile_free(&f);
    /* Without the section, the pool has the defaults. */
    path = write_file("[alice]\n");
    assert_true(cfile_load(path, &defaults, &f, err, sizeof err));
    assert_close(f.unlisted.weight, 1, 0);
    assert_int_equal(f.unlisted.max_queued, 1000);
    cfile_free(&f);
    const char *bad[][2] = {
        {"[_unlisted]\nkey = 0123456789abcdef\n", ":2: the [_unlisted] pool has no key"},
        {"[_unlisted]\n[a]\n[_unlisted]\n", ":3: the [_unlisted] pool is already configured"},
        {"[_unlisted]\nweight = 0\n", ":2: weight"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        path = write_file(bad[i][0]);
        assert_false(cfile_load(path, &defaults, &f, err, sizeof err));
        if (!strstr(err, bad[i][1]))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i][1]);
    }
    unlink(path);
    assert_false(cfile_valid_name("_unlisted"));
    assert_true(cfile_valid_name("_unlisted2"));
}

/* The share table with a group: the group competes at the top level as one
 * tenant, its members among themselves; the anchor is never the group
 * itself but its member furthest behind. */
static void test_group_shares_and_anchor(void **state)
{
    share_table tab;
    share_init(&tab, 12);
    tab.slack = 1.0;
    enum { POOL = 500 };
    long a = share_tenant_of(&tab, 1, 3); /* a configured client */
    long m[3];
    for (int i = 0; i < 3; i++) {
        assert_true(share_set_group(&tab, 10 + i, POOL));
        m[i] = share_tenant_of(&tab, 10 + i, 3);
    }
    long g = share_tenant_of(&tab, POOL, 0);
    assert_false(share_set_group(&tab, POOL, 10)); /* a group is no member */
    assert_false(share_set_group(&tab, 0, POOL));  /* nor the anonymous client */
    share_enqueued(&tab, a, 0.1);
    for (int i = 0; i < 3; i++)
        share_enqueued(&tab, m[i], 0.1);
    assert_int_equal(tab.t[g].queued, 3);
    assert_close(tab.t[g].work, 0.3, 1e-12);
    /* Shares: a half for the configured client, a sixth for each member. */
    assert_close(share_fraction(&tab, a), 0.5, 1e-12);
    assert_close(share_fraction(&tab, m[1]), 0.5 / 3, 1e-12);
    /* Charges to a member are charged to the group too. */
    cost_model cm;
    cost_init(&cm, 0, 0, 0.002);
    share_charge(&tab, (long[]){m[0], m[1]}, (size_t[]){10, 10}, 2, 0.4, &cm);
    assert_close(tab.t[g].charged, 0.4, 1e-12);
    assert_close(tab.t[m[0]].charged, 0.2, 1e-12);
    /* The group is 0.4 ahead of a: within the slack at the top level, but
     * inside it m[2] is behind its siblings by 0.2 only: no anchor. */
    assert_int_equal(share_anchor(&tab), -1);
    /* Far ahead: a is the anchor, whatever the members do. */
    share_charge(&tab, (long[]){m[0]}, (size_t[]){10}, 1, 2.0, &cm);
    assert_int_equal(share_anchor(&tab), a);
    /* The group behind: its member furthest behind is the anchor. */
    tab.t[a].service = 10;
    assert_int_equal(share_anchor(&tab), m[2]);
    /* Top level within the slack, members spread: the member behind. */
    tab.t[a].service = tab.t[g].service;
    assert_int_equal(share_anchor(&tab), m[2]);
    /* Many more members don't change the configured client's share. */
    for (int i = 3; i < 200; i++) {
        assert_true(share_set_group(&tab, 10 + i, POOL));
        share_enqueued(&tab, share_tenant_of(&tab, 10 + i, 3), 0.1);
    }
    assert_close(share_fraction(&tab, a), 0.5, 1e-12);
    /* A member moved out of the group takes its queue along. */
    assert_true(share_set_group(&tab, 10, 0));
    assert_int_equal(tab.t[g].queued, 199);
    assert_close(share_fraction(&tab, a), 1.0 / 3, 1e-12);
    share_dequeued(&tab, m[0], 0.1);
    assert_int_equal(tab.t[m[0]].queued, 0);
    assert_int_equal(tab.t[g].queued, 199);
    share_fini(&tab);
}

/* Drives the real scheduler at saturation for `seconds` of model time: the
 * configured client 1 keeps 20 sequences queued, and a sender keeps
 * `flood` more queued, each under the next of `ids` rotating client ids
 * (from 2 on), all in group `pool` unless it is 0. Returns client 1's part
 * of the backend time. */
static double share_against_rotating_ids(int pool, int ids, size_t flood, double seconds)
{
    sched_config cfg = sched_config_default();
    char err[128];
    sched *s = sched_new(&cfg, err, sizeof err);
    assert_non_null(s);
    for (int id = 2; pool && id < 2 + ids; id++)
        assert_true(sched_set_group(s, id, pool));
    double now = 0;
    intptr_t n = 1;
    int next = 0;
    size_t flooded = 0;
    while (now < seconds) {
        double used;
        size_t queued;
        sched_client_usage(s, 1, &used, &queued);
        for (; queued < 20; queued++, n++)
            sched_enqueue(s, (void *)n, 5 + (size_t)((n * 7) % 21), 1, now, 1e9);
        for (; flooded < flood; flooded++, n++, next = (next + 1) % ids)
            sched_enqueue(s, (void *)n, 5 + (size_t)((n * 7) % 21), 2 + next, now, 1e9);
        sched_batch b;
        double wake;
        assert_int_equal(sched_next(s, 0, now, &b, &wake), SCHED_SEND);
        for (size_t i = 0; i < b.n; i++)
            flooded -= b.e[i].client != 1;
        double took = 0.001 + 0.002 * (double)(b.longest * b.longest);
        sched_done(s, 0, &b, now + took, took, true);
        now += took;
    }
    double mine, sum = 0, used;
    size_t q;
    sched_client_usage(s, 1, &mine, &q);
    for (int id = 2; id < 2 + ids; id++) {
        sched_client_usage(s, id, &used, &q);
        sum += used;
    }
    if (pool) {
        sched_client_usage(s, pool, &used, &q);
        assert_close(used, sum, 1e-6); /* the group's is its members' */
    }
    assert_close(mine + sum, now, 1e-6);
    sched_free(s);
    return mine / now;
}

/* Hierarchical fair share through the real scheduler: a sender keeping 100
 * sequences queued under 200 rotating client ids gets 200 shares when they
 * are clients of their own, but only one, the pool's, when pooled. */
static void test_pool_keeps_the_configured_share(void **state)
{
    double flat = share_against_rotating_ids(0, 200, 100, 300);
    double pooled = share_against_rotating_ids(5000, 200, 100, 300);
    print_message("configured client's part of the backend: %.3f flat, %.3f pooled\n", flat,
                  pooled);
    if (!(flat < 0.2))
        fail_msg("without the pool the configured client got %.3f of the backend", flat);
    assert_close(pooled, 0.5, 0.05); /* one share of two, within 10% */
}

/* Inside the pool the members share fairly: a configured client and two
 * pooled ones, all saturating, split the backend 2 : 1 : 1. */
static void test_pool_members_share_fairly(void **state)
{
    sched_config cfg = sched_config_default();
    char err[128];
    sched *s = sched_new(&cfg, err, sizeof err);
    assert_true(sched_set_group(s, 2, 9) && sched_set_group(s, 3, 9));
    double now = 0;
    intptr_t n = 1;
    while (now < 600) {
        for (int client = 1; client <= 3; client++) {
            double used;
            size_t queued;
            sched_client_usage(s, client, &used, &queued);
            for (; queued < 20; queued++, n++)
                sched_enqueue(s, (void *)n, 5 + (size_t)((n * 7) % 21), client, now, 1e9);
        }
        sched_batch b;
        double wake;
        assert_int_equal(sched_next(s, 0, now, &b, &wake), SCHED_SEND);
        double took = 0.001 + 0.002 * (double)(b.longest * b.longest);
        sched_done(s, 0, &b, now + took, took, true);
        now += took;
    }
    double used[4];
    size_t q;
    for (int c = 1; c <= 3; c++)
        sched_client_usage(s, c, &used[c], &q);
    print_message("backend seconds: %.1f configured, %.1f and %.1f pooled\n", used[1], used[2],
                  used[3]);
    assert_close(used[1] / now, 0.5, 0.05);
    assert_close(used[2] / used[3], 1.0, 0.1);
    sched_free(s);
}

/* The same traffic in a pool of one and flat: the same batches, one for
 * one (the pool changes nothing until it has several members). */
static void test_pool_of_one_is_flat(void **state)
{
    sched_config cfg = sched_config_default();
    char err[128];
    sched *flat = sched_new(&cfg, err, sizeof err), *pooled = sched_new(&cfg, err, sizeof err);
    assert_true(sched_set_weight(flat, 1, 0.25) && sched_set_weight(pooled, 1, 0.25));
    assert_true(sched_set_group(pooled, 2, 9));
    double now = 0;
    intptr_t n = 1;
    unsigned rnd = 7;
    for (int step = 0; step < 3000; step++) {
        sched *both[2] = {flat, pooled};
        for (int k = 0; k < 3; k++, n++) {
            rnd = rnd * 1103515245u + 12345u;
            int client = (int)(rnd >> 16) % 3; /* anonymous, 1 or the pool's 2 */
            size_t len = 3 + (rnd >> 8) % 30;
            if ((rnd >> 4) % 4 == 0)
                for (int i = 0; i < 2; i++)
                    sched_enqueue(both[i], (void *)n, len, client, now, now + 5);
        }
        sched_batch b[2];
        double wake[2];
        enum sched_verdict v[2];
        for (int i = 0; i < 2; i++)
            v[i] = sched_next(both[i], 0, now, &b[i], &wake[i]);
        assert_int_equal(v[0], v[1]);
        if (v[0] != SCHED_SEND) {
            now += 0.05;
            continue;
        }
        assert_int_equal(b[0].n, b[1].n);
        for (size_t i = 0; i < b[0].n; i++)
            assert_ptr_equal(b[0].e[i].owner, b[1].e[i].owner);
        double took = 0.001 + 0.002 * (double)(b[0].longest * b[0].longest);
        now += took;
        for (int i = 0; i < 2; i++) {
            sched_done(both[i], 0, &b[i], now, took, true);
            sched_expire(both[i], now, expired_noop, NULL);
        }
    }
    sched_free(flat);
    sched_free(pooled);
}

/* Admission holds a group's members together to the group's limit. */
static void test_group_queue_limit(void **state)
{
    sched_config cfg = sched_config_default();
    char err[128];
    sched *s = sched_new(&cfg, err, sizeof err);
    assert_true(sched_set_group(s, 2, 9) && sched_set_group(s, 3, 9));
    assert_true(sched_set_group_limit(s, 9, 4));
    for (intptr_t i = 0; i < 3; i++)
        sched_enqueue(s, (void *)(i + 1), 10, 2, 0, 1e9);
    double ra = 0;
    assert_int_equal(sched_admit(s, 3, 1, 10, 100, 1e9, &ra), SCHED_ADMIT);
    assert_int_equal(sched_admit(s, 3, 2, 10, 100, 1e9, &ra), SCHED_GROUP_FULL);
    assert_true(ra > 0);
    assert_int_equal(sched_admit(s, 1, 2, 10, 100, 1e9, &ra), SCHED_ADMIT); /* not a member */
    assert_int_equal(sched_admit(s, 3, 2, 10, 1, 1e9, &ra), SCHED_CLIENT_FULL);
    size_t q;
    double used;
    sched_client_usage(s, 9, &used, &q);
    assert_int_equal(q, 3);
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
        cmocka_unit_test(test_token_bucket_pair),
        cmocka_unit_test(test_clients_file_unlisted_pool),
        cmocka_unit_test(test_group_shares_and_anchor),
        cmocka_unit_test(test_pool_keeps_the_configured_share),
        cmocka_unit_test(test_pool_members_share_fairly),
        cmocka_unit_test(test_pool_of_one_is_flat),
        cmocka_unit_test(test_group_queue_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
