/* schedsim as a user runs it: its flags and errors, the JSON report with the
 * schedules found with foresight beside the policies, and the plot. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tproc.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct files {
    char out[300], err[300], svg[300];
} files;

static void paths(const char *tag, files *f)
{
    mkdir(BP_BUILD_DIR "/tests/logs", 0755);
    int pid = (int)getpid();
    snprintf(f->out, sizeof f->out, "%s/tests/logs/schedsim-%s-%d.out", BP_BUILD_DIR, tag, pid);
    snprintf(f->err, sizeof f->err, "%s/tests/logs/schedsim-%s-%d.err", BP_BUILD_DIR, tag, pid);
    snprintf(f->svg, sizeof f->svg, "%s/tests/logs/schedsim-%s-%d.svg", BP_BUILD_DIR, tag, pid);
}

static int run(const char *const *args, const files *f)
{
    return tproc_run("schedsim", args, f->out, f->err, 60);
}

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        fail_msg("no number at '%s'", key);
    return json_number_value(v);
}

/* The overall mean latency (s) and request count of one report. */
static double overall_mean(const json_t *rep, json_int_t *requests, json_int_t *errors)
{
    const json_t *o = json_object_get(rep, "overall");
    assert_non_null(o);
    *requests = (json_int_t)num(o, "requests");
    *errors = (json_int_t)num(o, "errors");
    return num(json_object_get(o, "latency_s"), "mean");
}

static void test_flags(void **state)
{
    files f;
    paths("flags", &f);
    const char *help[] = {"--help", NULL};
    assert_int_equal(run(help, &f), 0);
    assert_true(tfile_contains(f.out, "Usage: schedsim"));
    assert_true(tfile_contains(f.out, "--offline-search"));
    const char *version[] = {"--version", NULL};
    assert_int_equal(run(version, &f), 0);
    /* A report that can't be written is a failure. */
    const char *one[] = {"--policy", "fifo", NULL};
    assert_int_equal(tproc_run("schedsim", one, "/dev/full", f.err, 60), 1);
    assert_true(tfile_contains(f.err, "writing the output failed"));

    /* Each mistake exits 2 and names what is wrong. */
    static const struct {
        const char *args[5];
        const char *says;
    } bad[] = {
        {{"--frobnicate", NULL}, "frobnicate"},
        {{"--policy", "nope", NULL}, "nope"},
        {{"--backends", "0", NULL}, "backends"},
        {{"--offline-search", "lots", NULL}, "offline-search"},
        {{"--seeds", "-1", NULL}, "seeds"},
        {{"stray", NULL}, "stray"},
        {{"--policy", ",", NULL}, "no policy"},
        {{"--policy", "cost,cost", NULL}, "twice"},
        {{"--backend-costs", "0.002", "--backends", "3", NULL}, "--backend-costs lists 1"},
        {{"--cost-linear", "-0.001", NULL}, "cost-linear"},
        {{"--backend-costs", "0.002:x", NULL}, "backend-costs"},
        {{"--backend-costs", "0.002:", NULL}, "backend-costs"},
        {{"--backend-costs", "0.002:0.1:0.1", NULL}, "backend-costs"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (run(bad[i].args, &f) != 2 || !tfile_contains(f.err, bad[i].says))
            fail_msg("schedsim %s: expected exit 2 and a message naming '%s'", bad[i].args[0],
                     bad[i].says);
    }
}

/* Two seeds of the seed profile on two backends: every policy and the
 * schedules found with foresight serve all 54 requests; the foresight
 * report is the search's schedule (its mean is offline_mean_s) and no
 * schedule beats the lower bound. */
static void test_json_report_with_foresight(void **state)
{
    files f;
    paths("json", &f);
    const char *args[] = {"--seeds",          "2",     "--backends", "2", "--policy", "cost,fifo",
                          "--offline-search", "20000", "--json",     NULL};
    assert_int_equal(run(args, &f), 0);
    json_error_t je;
    json_t *j = json_load_file(f.out, 0, &je);
    if (!j)
        fail_msg("not JSON: %s", je.text);
    double bound = num(j, "lower_bound_mean_s"), offline = num(j, "offline_mean_s");
    const json_t *pol = json_object_get(j, "policies");
    assert_int_equal(json_object_size(pol), 2);
    json_int_t requests, errors;
    const char *const names[] = {"cost", "fifo"};
    for (size_t p = 0; p < 2; p++) {
        double mean = overall_mean(json_object_get(pol, names[p]), &requests, &errors);
        assert_int_equal(requests, 54);
        assert_int_equal(errors, 0);
        assert_true(mean >= bound - 1e-9);
    }
    double foresight = overall_mean(json_object_get(j, "foresight"), &requests, &errors);
    assert_int_equal(requests, 54);
    assert_int_equal(errors, 0);
    assert_true(fabs(foresight - offline) < 1e-6);
    assert_true(offline >= bound - 1e-9);
    assert_true(json_is_true(json_object_get(j, "bound_comparable")));
    json_decref(j);

    /* Repeated texts: the cache serves some requests without the backend,
     * and the bound says it doesn't apply. */
    const char *repeat[] = {
        "--client", "name=p,arrival=poisson:5,len=list:5/10/20,count=50,distinct=no",
        "--policy", "cost",
        "--json",   NULL};
    assert_int_equal(run(repeat, &f), 0);
    j = json_load_file(f.out, 0, &je);
    assert_non_null(j);
    assert_true(json_is_false(json_object_get(j, "bound_comparable")));
    json_decref(j);
}

/* A linear backend, given as --cost-linear or per backend in
 * --backend-costs C:B (or C, taking --cost-linear's b, given after or
 * before it): one 10-character request alone takes a + b × 10 + c × 100,
 * and so does the bound; the text report names b. */
static void test_linear_backend(void **state)
{
    files f;
    paths("linear", &f);
    static const struct {
        const char *args[6];
    } ways[] = {
        {{"--cost", "0.0001", "--cost-linear", "0.01", NULL}},
        {{"--backend-costs", "0.0001:0.01", NULL}},
        {{"--backend-costs", "0.0001", "--cost-linear", "0.01", NULL}},
        {{"--cost-linear", "0.01", "--backend-costs", "0.0001", NULL}},
    };
    for (size_t w = 0; w < sizeof ways / sizeof *ways; w++) {
        const char *args[16] = {"--client",   "name=x,arrival=steady:1,len=fixed:10,count=1",
                                "--policy",   "fifo",
                                "--overhead", "0.001"};
        size_t n = 6;
        for (size_t k = 0; ways[w].args[k]; k++)
            args[n++] = ways[w].args[k];
        args[n++] = "--json";
        assert_int_equal(run(args, &f), 0);
        json_error_t je;
        json_t *j = json_load_file(f.out, 0, &je);
        if (!j)
            fail_msg("not JSON: %s", je.text);
        json_int_t requests, errors;
        double mean = overall_mean(json_object_get(json_object_get(j, "policies"), "fifo"),
                                   &requests, &errors);
        assert_int_equal(requests, 1);
        if (fabs(mean - 0.111) > 1e-9 || fabs(num(j, "lower_bound_mean_s") - 0.111) > 1e-9)
            fail_msg("way %zu: mean %.9f s, bound %.9f s, want 0.111", w, mean,
                     num(j, "lower_bound_mean_s"));
        json_decref(j);
        args[n - 1] = NULL; /* the text report */
        assert_int_equal(run(args, &f), 0);
        assert_true(tfile_contains(f.out, "backend 0.001 + b * L + c * L^2 s"));
        assert_true(tfile_contains(f.out, "c = 0.0001, b = 0.01"));
    }
}

/* The text report and the plot carry the foresight column beside the
 * policy's, one series each. */
static void test_text_and_plot(void **state)
{
    files f;
    paths("plot", &f);
    const char *args[] = {"--policy", "cost", "--offline-search", "5000", "--plot", f.svg, NULL};
    assert_int_equal(run(args, &f), 0);
    assert_true(tfile_contains(f.out, "foresight"));
    assert_true(tfile_contains(f.out, "best schedule found with foresight"));
    assert_true(tfile_contains(f.svg, "<svg"));
    assert_true(tfile_contains(f.svg, "foresight"));
    assert_true(tfile_contains(f.svg, "cost"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_json_report_with_foresight),
        cmocka_unit_test(test_linear_backend),
        cmocka_unit_test(test_text_and_plot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
