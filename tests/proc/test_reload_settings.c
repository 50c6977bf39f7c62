/* SIGHUP re-reads batchproxy's --config file: the settings SIGHUP applies
 * (the clients' rate limit here) take effect at once, a change to another
 * (--max-queue) is logged as needing a restart and changes nothing, the
 * command line still wins over the file, and a file with an error leaves
 * every setting as it was. A settings file that stops naming the clients
 * file (with API keys) doesn't turn authentication off. The values kept by
 * the modules below the proxy change too: the dispatcher's retries, the
 * front's default deadline gauge. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tproc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void write_settings(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* One request as client `id`; its status, and its detail in `detail`. */
static int classify(int port, const char *id, char *detail, size_t len)
{
    char hdr[128];
    snprintf(hdr, sizeof hdr, "X-Client-Id: %s\r\n", id);
    thttp_resp r;
    assert_true(
        thttp_request(port, "POST", "/proxy_classify", hdr, "{\"sequence\": \"x\"}", &r, 10));
    int status = r.status;
    snprintf(detail, len, "%s", r.body ? r.body : "");
    thttp_resp_free(&r);
    return status;
}

/* Requests as a new client `id` until one is refused (at most 10): how many
 * got 200 before the 429, whose detail is left in `detail`; 10 when none
 * was refused. */
static int allowed_before_429(int port, const char *id, char *detail, size_t len)
{
    for (int n = 0; n < 10; n++) {
        int status = classify(port, id, detail, len);
        if (status == 429)
            return n;
        assert_int_equal(status, 200);
    }
    return 10;
}

static void test_sighup_rereads_settings(void **state)
{
    (void)state;
    char path[300], url[64], detail[512];
    mkdir(BP_BUILD_DIR "/tests/logs", 0755);
    snprintf(path, sizeof path, "%s/tests/logs/reload-%d.ini", BP_BUILD_DIR, (int)getpid());
    write_settings(path, "metrics-cache-ms = 0\nmax-queue = 100\nrate-burst = 1\n");
    tproc be, px;
    assert_true(tproc_start(&be, "classifyd", (const char *[]){"--cost", "0", "--quiet", NULL}));
    snprintf(url, sizeof url, "http://127.0.0.1:%d", be.port);
    /* The command line's burst of 2 wins over the file's 1, now and on reloads. */
    assert_true(tproc_start(
        &px, "batchproxy",
        (const char *[]){"--config", path, "--backend", url, "--rate-burst", "2", NULL}));
    assert_int_equal(allowed_before_429(px.port, "first", detail, sizeof detail), 10);

    /* A rate limit (applied) and a queue limit (a restart). */
    write_settings(path, "metrics-cache-ms = 0\nmax-queue = 50\nrate-burst = 1\n"
                         "rate-limit = 0.01   # one request in 100 s\n");
    assert_true(tproc_signal(&px, SIGHUP));
    assert_true(tproc_await_log(&px, "reload: applied", 10));
    assert_true(tproc_log_contains(&px, "reload: applied --rate-limit\n"));
    assert_true(tproc_log_contains(&px, "warn: reload: --max-queue changed: it needs a restart"));
    assert_int_equal(allowed_before_429(px.port, "second", detail, sizeof detail), 2);
    assert_non_null(strstr(detail, "rate limit exceeded: 0.01 requests/s with bursts of 2"));
    /* The client seen before the reload has the new limit too. */
    assert_true(allowed_before_429(px.port, "first", detail, sizeof detail) <= 2);

    /* A bad line: nothing changes, the rate limit stays. */
    write_settings(path, "rate-limit = 0\nrate-burst = lots\n");
    assert_true(tproc_signal(&px, SIGHUP));
    assert_true(tproc_await_log(&px, "error: reload: --config: ", 10));
    char want[400];
    snprintf(want, sizeof want, "%s:2: --rate-burst: 'lots' is not a number", path);
    assert_true(tproc_log_contains(&px, want));
    assert_true(tproc_log_contains(&px, "every setting, the backends and the clients stay"));
    assert_int_equal(allowed_before_429(px.port, "third", detail, sizeof detail), 2);

    /* Fixed, and back to no limit: applied again. */
    write_settings(path, "metrics-cache-ms = 0\nmax-queue = 100\n");
    assert_true(tproc_signal(&px, SIGHUP));
    assert_true(tproc_await_log_count(&px, "reload: applied", 2, 10));
    assert_int_equal(allowed_before_429(px.port, "fourth", detail, sizeof detail), 10);
    assert_int_equal(tproc_log_count(&px, "needs a restart"), 1); /* max-queue is 100 again */
    assert_true(tproc_stop_clean(&px, 10));
    assert_true(tproc_stop_clean(&be, 5));
    unlink(path);
}

/* Dropping the clients file from the settings would turn API keys off: a
 * reload keeps it (a restart only), and keyless requests still get 401. */
static void test_reload_keeps_the_clients_file(void **state)
{
    (void)state;
    char path[300], clients[300], url[64], text[700], detail[512];
    snprintf(path, sizeof path, "%s/tests/logs/reload-keys-%d.ini", BP_BUILD_DIR, (int)getpid());
    snprintf(clients, sizeof clients, "%s/tests/logs/reload-keys-%d.clients", BP_BUILD_DIR,
             (int)getpid());
    write_settings(clients, "[alice]\nkey = 0123456789abcdef0123\n");
    snprintf(text, sizeof text, "metrics-cache-ms = 0\nclients = %s\n", clients);
    write_settings(path, text);
    tproc be, px;
    assert_true(tproc_start(&be, "classifyd", (const char *[]){"--cost", "0", "--quiet", NULL}));
    snprintf(url, sizeof url, "http://127.0.0.1:%d", be.port);
    assert_true(
        tproc_start(&px, "batchproxy", (const char *[]){"--config", path, "--backend", url, NULL}));
    assert_int_equal(classify(px.port, "bob", detail, sizeof detail), 401);
    write_settings(path, "metrics-cache-ms = 0\n");
    assert_true(tproc_signal(&px, SIGHUP));
    assert_true(tproc_await_log(&px, "reload: no setting changed", 10));
    assert_true(tproc_log_contains(&px, "warn: reload: --clients changed: it needs a restart"));
    assert_int_equal(classify(px.port, "bob", detail, sizeof detail), 401);
    assert_true(tproc_stop_clean(&px, 10));
    assert_true(tproc_stop_clean(&be, 5));
    unlink(path);
    unlink(clients);
}

/* --retries reaches the dispatcher (it keeps its own copy) and --timeout
 * the front's gauge of the default deadline: a batch to a backend that
 * always fails is tried once, then, after the reload, three times.
 * --log-format and --history-interval-ms take a restart. */
static void test_reload_reaches_the_dispatcher(void **state)
{
    (void)state;
    char path[300], url[64], detail[512];
    snprintf(path, sizeof path, "%s/tests/logs/reload-retries-%d.ini", BP_BUILD_DIR, (int)getpid());
    write_settings(path, "metrics-cache-ms = 0\neject-failures = 0\nretries = 0\n"
                         "backoff-base = 0.001\n");
    tproc be, px;
    assert_true(tproc_start(&be, "classifyd",
                            (const char *[]){"--cost", "0", "--quiet", "--fail-rate", "1", NULL}));
    snprintf(url, sizeof url, "http://127.0.0.1:%d", be.port);
    assert_true(
        tproc_start(&px, "batchproxy", (const char *[]){"--config", path, "--backend", url, NULL}));
    assert_int_equal(classify(px.port, "a", detail, sizeof detail), 502);
    assert_non_null(strstr(detail, "backend failed after 1 attempt:"));
    assert_true(thttp_metric(px.port, "batchproxy_retries_total") == 0);
    assert_true(thttp_metric(px.port, "batchproxy_default_deadline_seconds") == 30);

    write_settings(path, "metrics-cache-ms = 0\neject-failures = 0\nretries = 2\n"
                         "backoff-base = 0.001\ntimeout = 5\n"
                         "log-format = json\nhistory-interval-ms = 50\n");
    assert_true(tproc_signal(&px, SIGHUP));
    assert_true(tproc_await_log(&px, "reload: applied", 10));
    assert_int_equal(classify(px.port, "b", detail, sizeof detail), 502);
    assert_non_null(strstr(detail, "backend failed after 3 attempts:"));
    assert_true(thttp_metric(px.port, "batchproxy_retries_total") == 2);
    assert_true(thttp_metric(px.port, "batchproxy_default_deadline_seconds") == 5);
    /* These two take a restart: the log stays text (a shipper reads one
     * format a stream), the history keeps its interval. */
    assert_true(tproc_log_contains(&px, "warn: reload: --log-format changed: it needs a restart"));
    assert_true(
        tproc_log_contains(&px, "warn: reload: --history-interval-ms changed: it needs a restart"));
    assert_true(tproc_stop_clean(&px, 10));
    assert_true(tproc_stop_clean(&be, 5));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sighup_rereads_settings),
        cmocka_unit_test(test_reload_keeps_the_clients_file),
        cmocka_unit_test(test_reload_reaches_the_dispatcher),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
