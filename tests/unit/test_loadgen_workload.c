/* Tests for workload: spec parsing, seeded planning and its distributions, texts, trace CSV. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "classify.h"
#include "utf8.h"
#include "wl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void plan_seed(uint64_t seed, size_t rounds, wl_client **clients, size_t *n, wl_trace *t)
{
    char err[256];
    *clients = NULL;
    *n = 0;
    assert_true(wl_profile("seed", clients, n, err, sizeof err));
    assert_int_equal(*n, 2);
    assert_true(wl_generate(*clients, *n, rounds, seed, t, err, sizeof err));
}

static bool same_trace(const wl_trace *a, const wl_trace *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const wl_request *x = &a->reqs[i], *y = &b->reqs[i];
        if (x->client != y->client || x->t != y->t || x->len != y->len || strcmp(x->text, y->text))
            return false;
    }
    return true;
}

static void test_reproducible(void **state)
{
    wl_client *c1, *c2, *c3;
    size_t n1, n2, n3;
    wl_trace a, b, d;
    plan_seed(42, 2, &c1, &n1, &a);
    plan_seed(42, 2, &c2, &n2, &b);
    plan_seed(43, 2, &c3, &n3, &d);
    assert_true(same_trace(&a, &b));
    assert_false(same_trace(&a, &d));
    wl_trace_free(&a);
    wl_trace_free(&b);
    wl_trace_free(&d);
    free(c1);
    free(c2);
    free(c3);
}

static void check_len(const wl_request *q)
{
    size_t cps;
    assert_true(utf8_length(q->text, strlen(q->text), &cps));
    assert_int_equal(cps, q->len);
}

static void test_seed_profile_shape(void **state)
{
    for (uint64_t seed = 1; seed <= 50; seed++) {
        wl_client *c;
        size_t n;
        wl_trace t;
        plan_seed(seed, 1, &c, &n, &t);
        assert_int_equal(t.n, 27);
        assert_false(c[0].send_id); /* the original client sent no X-Client-Id */
        size_t na = 0, nb = 0;
        double last_a = -1, last_b = -1;
        for (size_t i = 0; i < t.n; i++) {
            const wl_request *q = &t.reqs[i];
            if (i)
                assert_true(q->t >= t.reqs[i - 1].t);
            check_len(q);
            if (q->client == 0) {
                assert_in_range(q->len, 5, 12);
                if (na == 0) {
                    assert_true(q->t == 0);
                } else {
                    double gap = q->t - last_a;
                    /* Requests 5 and 10 start a new burst. */
                    if (na % 5 == 0)
                        assert_true(gap >= 0.5 && gap <= 1.0);
                    else
                        assert_true(gap >= 0.05 && gap <= 0.1);
                }
                last_a = q->t;
                na++;
            } else {
                assert_int_equal(q->client, 1);
                assert_in_range(q->len, 10, 25);
                if (nb == 0) {
                    assert_true(q->t == 0);
                } else {
                    double gap = q->t - last_b;
                    assert_true(gap >= 0.2 && gap <= 0.5);
                }
                last_b = q->t;
                nb++;
            }
        }
        assert_int_equal(na, 15);
        assert_int_equal(nb, 12);
        wl_trace_free(&t);
        free(c);
    }
}

static void test_rounds(void **state)
{
    wl_client *c;
    size_t n;
    wl_trace one, three;
    plan_seed(7, 1, &c, &n, &one);
    free(c);
    plan_seed(7, 3, &c, &n, &three);
    assert_int_equal(three.n, 81);
    /* Round 2 starts when round 1's plan ends: its first requests are at
     * round 1's last time. */
    double end1 = wl_trace_end(&one);
    size_t at_end = 0;
    for (size_t i = 0; i < three.n; i++)
        if (three.reqs[i].t == end1)
            at_end++;
    assert_true(at_end >= 2);
    wl_trace_free(&one);
    wl_trace_free(&three);
    free(c);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_distinct_texts(void **state)
{
    wl_client *c = NULL;
    size_t n = 0;
    char err[256];
    /* Many short texts: 2000 of length 2..4 need wide tags. */
    assert_true(
        wl_add_client("name=d,arrival=steady:0.001,len=2-4,count=2000", &c, &n, err, sizeof err));
    assert_true(wl_add_client("name=e,arrival=poisson:100,len=list:2/30/200,count=50", &c, &n, err,
                              sizeof err));
    wl_trace t;
    assert_true(wl_generate(c, n, 2, 5, &t, err, sizeof err));
    assert_int_equal(t.n, 4100);
    char **texts = malloc(t.n * sizeof *texts);
    for (size_t i = 0; i < t.n; i++) {
        check_len(&t.reqs[i]);
        texts[i] = t.reqs[i].text;
    }
    qsort(texts, t.n, sizeof *texts, cmp_str);
    for (size_t i = 1; i < t.n; i++)
        assert_string_not_equal(texts[i - 1], texts[i]);
    free(texts);
    wl_trace_free(&t);
    free(c);

    /* Too many distinct texts for length 1 (only 62 tags fit). */
    c = NULL;
    n = 0;
    assert_true(
        wl_add_client("name=f,arrival=steady:0.01,len=1,count=100", &c, &n, err, sizeof err));
    assert_false(wl_generate(c, n, 1, 5, &t, err, sizeof err));
    assert_non_null(strstr(err, "distinct"));
    free(c);
}

static void test_both_labels(void **state)
{
    /* The generated texts must give the classifier both labels to produce. */
    wl_client *c = NULL;
    size_t n = 0;
    char err[256];
    assert_true(
        wl_add_client("name=m,arrival=steady:0.01,len=5-40,count=400", &c, &n, err, sizeof err));
    wl_trace t;
    assert_true(wl_generate(c, n, 1, 9, &t, err, sizeof err));
    size_t codes = 0;
    for (size_t i = 0; i < t.n; i++)
        codes += classify_text(t.reqs[i].text, strlen(t.reqs[i].text)) == WIRE_CODE;
    assert_true(codes > 0);
    assert_true(codes < t.n);
    wl_trace_free(&t);
    free(c);
}

static void test_repeat_pool(void **state)
{
    wl_client *c = NULL;
    size_t n = 0;
    char err[256];
    assert_true(wl_add_client("name=r,arrival=steady:0.01,len=fixed:20,count=200,distinct=no", &c,
                              &n, err, sizeof err));
    wl_trace t;
    assert_true(wl_generate(c, n, 1, 3, &t, err, sizeof err));
    char **texts = malloc(t.n * sizeof *texts);
    for (size_t i = 0; i < t.n; i++) {
        check_len(&t.reqs[i]);
        texts[i] = t.reqs[i].text;
    }
    qsort(texts, t.n, sizeof *texts, cmp_str);
    size_t uniq = 1;
    for (size_t i = 1; i < t.n; i++)
        uniq += strcmp(texts[i - 1], texts[i]) != 0;
    assert_true(uniq >= 1 && uniq <= WL_POOL);
    free(texts);
    wl_trace_free(&t);
    free(c);
}

static void test_poisson_mean(void **state)
{
    wl_client *c = NULL;
    size_t n = 0;
    char err[256];
    assert_true(
        wl_add_client("name=p,arrival=poisson:20,len=10,count=20000", &c, &n, err, sizeof err));
    wl_trace t;
    assert_true(wl_generate(c, n, 1, 11, &t, err, sizeof err));
    assert_int_equal(t.n, 20000);
    /* The first arrival is one gap after 0 too: mean = last / n. 1/rate =
     * 0.05; the standard error over 20000 samples is 0.05/sqrt(20000) ~
     * 0.00035, so 3% is over 4 standard errors. */
    double mean = t.reqs[t.n - 1].t / (double)t.n;
    assert_float_equal(mean, 0.05, 0.0015);
    wl_trace_free(&t);
    free(c);
}

static void test_duration_and_start(void **state)
{
    wl_client *c = NULL;
    size_t n = 0;
    char err[256];
    assert_true(wl_add_client("name=s,arrival=steady:0.25,len=3,duration=1,start=2", &c, &n, err,
                              sizeof err));
    wl_trace t;
    assert_true(wl_generate(c, n, 1, 1, &t, err, sizeof err));
    assert_int_equal(t.n, 4); /* 2.0, 2.25, 2.5, 2.75 */
    assert_float_equal(t.reqs[0].t, 2.0, 1e-12);
    assert_float_equal(t.reqs[3].t, 2.75, 1e-12);
    wl_trace_free(&t);
    free(c);
}

static void test_parse_good(void **state)
{
    wl_client c;
    char err[256], back[512];
    assert_true(wl_parse_client(
        "name=A,arrival=burst:5:0.05-0.1:0.5-1.0,len=5-12,count=15,distinct=yes,id=yes", &c, err,
        sizeof err));
    assert_string_equal(c.name, "A");
    assert_int_equal(c.arrival, WL_ARR_BURST);
    assert_int_equal(c.burst, 5);
    assert_float_equal(c.gap.lo, 0.05, 1e-12);
    assert_float_equal(c.between.hi, 1.0, 1e-12);
    assert_int_equal(c.len_kind, WL_LEN_UNIFORM);
    assert_int_equal(c.len_lo, 5);
    assert_int_equal(c.len_hi, 12);
    assert_int_equal(c.count, 15);
    assert_true(c.distinct && c.send_id);

    assert_true(wl_parse_client("name=b.x-1,arrival=steady:0.2-0.5,len=fixed:20,duration=10,id=no",
                                &c, err, sizeof err));
    assert_int_equal(c.len_kind, WL_LEN_FIXED);
    assert_int_equal(c.len_lo, 20);
    assert_false(c.send_id);
    assert_float_equal(c.duration, 10, 1e-12);

    assert_true(wl_parse_client("name=p, arrival=poisson:20, len=list:5/10/25, count=3", &c, err,
                                sizeof err));
    assert_int_equal(c.arrival, WL_ARR_POISSON);
    assert_float_equal(c.rate, 20, 1e-12);
    assert_int_equal(c.nlens, 3);
    assert_int_equal(c.lens[2], 25);

    /* Formatting gives a spec that parses to the same client. */
    wl_client again;
    wl_format_client(&c, back, sizeof back);
    assert_true(wl_parse_client(back, &again, err, sizeof err));
    assert_int_equal(again.nlens, 3);
    assert_int_equal(again.count, 3);
}

static void test_parse_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "arrival=steady:1,len=5,count=1",               /* no name */
        "name=a,len=5,count=1",                         /* no arrival */
        "name=a,arrival=steady:1,count=1",              /* no len */
        "name=a,arrival=steady:1,len=5",                /* no count/duration */
        "name=a b,arrival=steady:1,len=5,count=1",      /* bad name */
        "name=a,arrival=burst:0:1:1,len=5,count=1",     /* burst of 0 */
        "name=a,arrival=burst:5:0.1,len=5,count=1",     /* missing BETWEEN */
        "name=a,arrival=steady:0.5-0.2,len=5,count=1",  /* reversed range */
        "name=a,arrival=poisson:0,len=5,count=1",       /* rate 0 */
        "name=a,arrival=poisson:-3,len=5,count=1",      /* negative */
        "name=a,arrival=zipf:1,len=5,count=1",          /* unknown arrival */
        "name=a,arrival=steady:1,len=12-5,count=1",     /* reversed len */
        "name=a,arrival=steady:1,len=0,count=1",        /* length 0 */
        "name=a,arrival=steady:1,len=list:5/x,count=1", /* bad list */
        "name=a,arrival=steady:1,len=5,count=0",        /* count 0 */
        "name=a,arrival=steady:1,len=5,count=1,distinct=maybe",
        "name=a,arrival=steady:1,len=5,count=1,colour=red", /* unknown field */
        "name=a,name=b,arrival=steady:1,len=5,count=1",     /* twice */
        "name=a,arrival=steady:1,len=5,count=1,junk",       /* not KEY=VALUE */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wl_client c;
        char err[256] = "";
        if (wl_parse_client(bad[i], &c, err, sizeof err))
            fail_msg("accepted bad spec '%s'", bad[i]);
        assert_true(strlen(err) > 0);
    }
    char err[256];
    wl_client *cs = NULL;
    size_t n = 0;
    assert_false(wl_profile("nope", &cs, &n, err, sizeof err));
    assert_true(wl_add_client("name=a,arrival=steady:1,len=5,count=1", &cs, &n, err, sizeof err));
    assert_true(wl_add_client("name=a,arrival=steady:1,len=6,count=1", &cs, &n, err, sizeof err));
    assert_false(wl_check_clients(cs, n, err, sizeof err));
    free(cs);
}

static void test_clients_file(void **state)
{
    char path[] = "/tmp/test_loadgen_clientsXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# two clients\n\nname=x,arrival=steady:0.1,len=5,count=2  # trailing\n"
               "  name=y,arrival=poisson:5,len=3-4,count=1\n");
    fclose(f);
    wl_client *cs = NULL;
    size_t n = 0;
    char err[256];
    assert_true(wl_load_clients(path, &cs, &n, err, sizeof err));
    assert_int_equal(n, 2);
    assert_string_equal(cs[1].name, "y");
    f = fopen(path, "a");
    fprintf(f, "name=z,arrival=nope,len=3,count=1\n");
    fclose(f);
    assert_false(wl_load_clients(path, &cs, &n, err, sizeof err));
    assert_non_null(strstr(err, ":5:"));
    free(cs);
    unlink(path);
}

static void test_trace_csv_round_trip(void **state)
{
    wl_client *c;
    size_t n;
    wl_trace t;
    plan_seed(3, 1, &c, &n, &t);
    /* Outcomes of each kind, and a text needing quotes. */
    for (size_t i = 0; i < t.n; i++) {
        t.reqs[i].status = i % 3 == 0 ? 200 : i % 3 == 1 ? WL_STATUS_CONN : WL_STATUS_TIMEOUT;
        t.reqs[i].latency = 0.125;
    }
    free(t.reqs[0].text);
    t.reqs[0].text = strdup("a,\"b\"\nc"); /* 7 code points */
    t.reqs[0].len = 7;

    char path[] = "/tmp/test_loadgen_traceXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_true(wl_trace_write(f, &t, c, true));
    fclose(f);

    wl_trace back;
    wl_client *bc = NULL;
    size_t bn = 0;
    char err[256];
    assert_true(wl_trace_read(path, false, &back, &bc, &bn, err, sizeof err));
    assert_int_equal(bn, 2);
    assert_string_equal(bc[0].name, "A");
    assert_int_equal(back.n, t.n);
    for (size_t i = 0; i < t.n; i++) {
        assert_int_equal(back.reqs[i].client, t.reqs[i].client);
        assert_float_equal(back.reqs[i].t, t.reqs[i].t, 1e-6);
        assert_int_equal(back.reqs[i].len, t.reqs[i].len);
        assert_string_equal(back.reqs[i].text, t.reqs[i].text);
    }
    wl_trace_free(&back);
    free(bc);

    /* Hand-written, without text, unsorted: texts are generated and rows sorted. */
    f = fopen(path, "w");
    fprintf(f, "send_s,client,length\n0.5,b,7\n0.0,a,3\n0.25,a,12\n");
    fclose(f);
    bc = NULL;
    bn = 0;
    assert_true(wl_trace_read(path, true, &back, &bc, &bn, err, sizeof err));
    assert_true(wl_assign_texts(&back, NULL, 1, err, sizeof err));
    assert_int_equal(back.n, 3);
    assert_int_equal(bn, 2);
    assert_true(bc[0].send_id);
    assert_string_equal(bc[back.reqs[0].client].name, "a");
    assert_int_equal(back.reqs[2].len, 7);
    for (size_t i = 0; i < back.n; i++)
        check_len(&back.reqs[i]);
    wl_trace_free(&back);
    free(bc);

    /* Bad rows are rejected with their line. */
    f = fopen(path, "w");
    fprintf(f, "client,send_s,length\na,0,3\na,zero,3\n");
    fclose(f);
    bc = NULL;
    bn = 0;
    assert_false(wl_trace_read(path, false, &back, &bc, &bn, err, sizeof err));
    assert_non_null(strstr(err, ":3:"));
    free(bc);
    f = fopen(path, "w");
    fprintf(f, "client,length\na,3\n");
    fclose(f);
    bc = NULL;
    bn = 0;
    assert_false(wl_trace_read(path, false, &back, &bc, &bn, err, sizeof err));
    free(bc);

    unlink(path);
    wl_trace_free(&t);
    free(c);
}

static void test_rng(void **state)
{
    wl_rng a, b;
    wl_rng_seed(&a, 1);
    wl_rng_seed(&b, 1);
    for (int i = 0; i < 100; i++)
        assert_true(wl_rng_next(&a) == wl_rng_next(&b));
    for (int i = 0; i < 10000; i++) {
        double u = wl_rng_unit(&a);
        assert_true(u >= 0 && u < 1);
        assert_true(wl_rng_below(&a, 7) < 7);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_seed_profile_shape),
        cmocka_unit_test(test_rounds),
        cmocka_unit_test(test_distinct_texts),
        cmocka_unit_test(test_both_labels),
        cmocka_unit_test(test_repeat_pool),
        cmocka_unit_test(test_poisson_mean),
        cmocka_unit_test(test_duration_and_start),
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_clients_file),
        cmocka_unit_test(test_trace_csv_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
