/* --config FILE: classifyd and batchproxy read their options from a
 * settings file first; the command line overrides it (a repeatable
 * --backend replaces the file's), and a bad line is refused with its
 * number before anything starts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes text to a settings file named after tag; returns its path. */
static const char *settings(char *path, size_t len, const char *tag, const char *text)
{
    mkdir(BP_BUILD_DIR "/tests/logs", 0755);
    snprintf(path, len, "%s/tests/logs/config-%s-%d.ini", BP_BUILD_DIR, tag, (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int classify(int port, size_t len)
{
    char body[256];
    snprintf(body, sizeof body, "{\"sequences\": [\"%0*d\"]}", (int)len, 0);
    thttp_resp r;
    assert_true(thttp_request(port, "POST", "/classify", NULL, body, &r, 5));
    int status = r.status;
    thttp_resp_free(&r);
    return status;
}

/* Waits (at most 5 s) for a line of p's log to contain needle. */
static bool log_shows(const tproc *p, const char *needle)
{
    for (double until = tnow() + 5; tnow() < until; tpause(0.02))
        if (tproc_log_contains(p, needle))
            return true;
    return tproc_log_contains(p, needle);
}

/* The file sets cost, quiet, max-length and a listen address; the command
 * line's --max-length and --listen (tproc's 127.0.0.1:0: the file's port 1
 * can't be bound) win. */
static void test_classifyd_reads_settings(void **state)
{
    (void)state;
    char path[300];
    settings(path, sizeof path, "classifyd",
             "# classifyd's settings\n"
             "cost = 0\n"
             "max-length = 10   ; short\n"
             "quiet = true\n"
             "listen = 127.0.0.1:1\n");
    tproc d;
    assert_true(tproc_start(&d, "classifyd",
                            (const char *[]){"--config", path, "--max-length", "20", NULL}));
    assert_int_equal(classify(d.port, 15), 200);            /* over the file's 10 */
    assert_int_equal(classify(d.port, 25), 413);            /* over the command line's 20 */
    assert_false(tproc_log_contains(&d, "POST /classify")); /* quiet, from the file */
    assert_true(tproc_stop_clean(&d, 5));
    unlink(path);
}

static void test_bad_settings_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *prog, *text, *says;
    } bad[] = {
        {"classifyd", "cost = 0\nbogus = 1\n", ":2: unknown option 'bogus'"},
        {"classifyd", "\n\nmax-body = 5\n",
         ":3: --max-body: '5' is not a whole number in [16, 1073741824]"},
        {"classifyd", "[server]\ncost = 0\n", ":1: a settings file has no [sections]"},
        {"classifyd", "cost 0\n", ":1: expected NAME = VALUE"},
        {"classifyd", "fail-rate = 0.6\ndrop-rate = 0.6\n", "the fault rates add up to 1.200"},
        {"batchproxy", "backend = ftp://127.0.0.1:1\n", ":1: --backend: 'ftp://127.0.0.1:1': only"},
        {"batchproxy", "log-level = loud\n", ":1: --log-level: 'loud' is not debug"},
        {"batchproxy", "config = other.ini\n", ":1: --config: only on the command line"},
    };
    char path[300], out[300], err[300];
    snprintf(out, sizeof out, "%s/tests/logs/config-bad-%d.out", BP_BUILD_DIR, (int)getpid());
    snprintf(err, sizeof err, "%s/tests/logs/config-bad-%d.err", BP_BUILD_DIR, (int)getpid());
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        settings(path, sizeof path, "bad", bad[i].text);
        const char *args[] = {"--config", path, "--listen", "127.0.0.1:0", NULL};
        int rc = tproc_run(bad[i].prog, args, out, err, 10);
        if (rc != 2 || !tfile_contains(err, bad[i].says))
            fail_msg("%s with '%s': exit %d, want 2 and '%s'", bad[i].prog, bad[i].text, rc,
                     bad[i].says);
    }
    unlink(path);
    const char *missing[] = {"--config", "/nonexistent/settings.ini", NULL};
    assert_int_equal(tproc_run("batchproxy", missing, out, err, 10), 2);
    assert_true(tfile_contains(
        err, "batchproxy: --config: /nonexistent/settings.ini: No such file or directory"));
}

/* The file lists two backends and a request limit; --backend on the
 * command line replaces the file's backends, the limit stays. */
static void test_batchproxy_reads_settings(void **state)
{
    (void)state;
    tproc be, px;
    assert_true(tproc_start(&be, "classifyd", (const char *[]){"--cost", "0", "--quiet", NULL}));
    char path[300], url[64];
    settings(path, sizeof path, "batchproxy",
             "backend = http://127.0.0.1:1\n"
             "backend = http://127.0.0.1:2\n"
             "max-request-sequences = 2\n");
    snprintf(url, sizeof url, "http://127.0.0.1:%d", be.port);
    assert_true(
        tproc_start(&px, "batchproxy", (const char *[]){"--config", path, "--backend", url, NULL}));
    assert_true(log_shows(&px, "max batch 5, 1 backend"));
    thttp_resp r;
    assert_true(thttp_request(px.port, "POST", "/proxy_classify", NULL,
                              "{\"sequences\": [\"a\", \"b\"]}", &r, 5));
    assert_int_equal(r.status, 200); /* served by the command line's backend */
    thttp_resp_free(&r);
    assert_true(thttp_request(px.port, "POST", "/proxy_classify", NULL,
                              "{\"sequences\": [\"a\", \"b\", \"c\"]}", &r, 5));
    assert_int_equal(r.status, 400); /* over the file's 2 */
    thttp_resp_free(&r);
    assert_true(tproc_stop_clean(&px, 10));

    /* Without --backend, the file's. */
    assert_true(tproc_start(&px, "batchproxy", (const char *[]){"--config", path, NULL}));
    assert_true(log_shows(&px, "max batch 5, 2 backends"));
    assert_true(tproc_log_contains(&px, "backend http://127.0.0.1:2/classify"));
    assert_true(tproc_stop_clean(&px, 10));
    assert_true(tproc_stop_clean(&be, 5));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classifyd_reads_settings),
        cmocka_unit_test(test_bad_settings_are_refused),
        cmocka_unit_test(test_batchproxy_reads_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
