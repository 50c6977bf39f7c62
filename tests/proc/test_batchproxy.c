/* Process-level tests of batchproxy against a real classifyd (and, for
 * failures classifyd can't produce, the scriptable fake backend). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "fakebe.h"
#include "tproc.h"

#include <jansson.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The servers a test started (tproc.h); the teardown stops them. */
typedef tpair fixture;

static void start_backend(fixture *f, const char *cost)
{
    const char *args[] = {"--cost", cost, "--quiet", NULL};
    assert_true(tproc_start(&f->backend, "classifyd", args));
}

/* Starts batchproxy in front of port with extra args (NULL-terminated). */
static void start_proxy(fixture *f, int port, const char *const *extra)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    /* Fresh /metrics at every scrape: these tests read values right after
     * causing them. */
    const char *args[40] = {"--backend", url, "--metrics-cache-ms", "0"};
    int n = 4;
    for (; extra && *extra; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    assert_true(tproc_start(&f->proxy, "batchproxy", args));
}

static void post(int port, const char *body, const char *headers, thttp_resp *r, double timeout)
{
    assert_true(thttp_request(port, "POST", "/proxy_classify", headers, body, r, timeout));
}

/* Asserts r's body is JSON with a non-empty string "detail". */
static void assert_detail(const thttp_resp *r)
{
    json_t *j = json_loads(r->body, 0, NULL);
    assert_non_null(j);
    const char *d = json_string_value(json_object_get(j, "detail"));
    if (!d || !*d)
        printf("no detail in: %s\n", r->body);
    assert_true(d && *d);
    json_decref(j);
}

/* Sends a request straight to classifyd on its own socket (returned), and
 * waits until classifyd has read it: it is busy with it from then on. */
static int occupy_backend(int port, int len)
{
    char body[256], text[128];
    memset(text, 'q', (size_t)len);
    text[len] = '\0';
    snprintf(body, sizeof body, "{\"sequences\":[\"%s\"]}", text);
    int fd = thttp_connect(port);
    assert_true(fd >= 0);
    assert_true(thttp_send(fd, "POST", "/classify", NULL, body, strlen(body)));
    assert_true(tsock_await_consumed(fd, 5));
    return fd;
}

static void test_single_and_multi_sequence(void **state)
{
    fixture *f = *state;
    start_backend(f, "0.0005");
    start_proxy(f, f->backend.port, (const char *[]){"--max-wait-ms", "0", NULL});
    thttp_resp r;
    post(f->proxy.port, "{\"sequence\":\"def f(): pass\"}", NULL, &r, 10);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"result\":\"code\"}");
    thttp_resp_free(&r);

    post(f->proxy.port, "{\"sequences\":[\"def f(): pass\",\"hello there\",\"def f(): pass\"]}",
         NULL, &r, 10);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"results\":[\"code\",\"not code\",\"code\"]}");
    thttp_resp_free(&r);

    /* 12 distinct sequences need at least 3 batches of 5. */
    double before =
        thttp_metric(f->proxy.port, "batchproxy_backend_attempts_total{outcome=\"ok\"}");
    char body[1024] = "{\"sequences\":[";
    for (int i = 0; i < 12; i++)
        snprintf(body + strlen(body), sizeof body - strlen(body), "%s\"item number %02d\"",
                 i ? "," : "", i);
    strcat(body, "]}");
    post(f->proxy.port, body, NULL, &r, 10);
    assert_int_equal(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "results")), 12);
    json_decref(j);
    thttp_resp_free(&r);
    double after = thttp_metric(f->proxy.port, "batchproxy_backend_attempts_total{outcome=\"ok\"}");
    assert_true(after - before >= 3);
}

static void test_twenty_concurrent_requests_in_batches_of_five(void **state)
{
    fixture *f = *state;
    start_backend(f, "0.001");
    start_proxy(f, f->backend.port, NULL);
    int fds[20];
    for (int i = 0; i < 20; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"sequence\":\"request %02d\"}", i);
        fds[i] = thttp_connect(f->proxy.port);
        assert_true(fds[i] >= 0);
        assert_true(thttp_send(fds[i], "POST", "/proxy_classify", NULL, body, strlen(body)));
    }
    for (int i = 0; i < 20; i++) {
        thttp_resp r;
        assert_true(thttp_recv(fds[i], &r, 20));
        assert_int_equal(r.status, 200);
        thttp_resp_free(&r);
        close(fds[i]);
    }
    double batches = thttp_metric(f->proxy.port, "batchproxy_batch_size_count");
    double sequences = thttp_metric(f->proxy.port, "batchproxy_batch_size_sum");
    double at_most_5 = thttp_metric(f->proxy.port, "batchproxy_batch_size_bucket{le=\"5\"}");
    assert_true(sequences == 20);
    assert_true(batches >= 4 && batches < 20); /* some batches carried several */
    assert_true(at_most_5 == batches);
    assert_true(thttp_metric(f->proxy.port,
                             "batchproxy_requests_total{client=\"-\",status=\"200\"}") == 20);
}

static void test_retries_when_backend_is_busy(void **state)
{
    fixture *f = *state;
    start_backend(f, "0.001");
    start_proxy(
        f, f->backend.port,
        (const char *[]){"--retries", "40", "--backoff-base", "0.1", "--backoff-cap", "0.2", NULL});
    int busy = occupy_backend(f->backend.port, 30); /* 0.9 s of backend time */
    thttp_resp r;
    post(f->proxy.port, "{\"sequence\":\"while busy\"}", NULL, &r, 30);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_true(thttp_metric(f->proxy.port, "batchproxy_retries_total") >= 1);
    assert_true(thttp_metric(f->proxy.port,
                             "batchproxy_backend_attempts_total{outcome=\"busy_429\"}") >= 1);
    assert_true(thttp_recv(busy, &r, 10));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    close(busy);
}

/* --- failures classifyd doesn't produce, from the fake backend --- */

static void test_retries_after_5xx(void **state)
{
    fixture *f = *state;
    static const fakebe_step fail = {
        .act = FAKEBE_STATUS, .status = 500, .body = "{\"detail\":\"injected failure\"}"};
    fakebe fk;
    assert_true(fakebe_start(&fk, &(fakebe_script){.steps = (fakebe_step[]){fail, fail}, .n = 2}));
    start_proxy(f, fk.port, (const char *[]){"--backoff-base", "0.01", NULL});
    thttp_resp r;
    post(f->proxy.port, "{\"sequence\":\"abc " FAKEBE_CODE_MARK "\"}", NULL, &r, 10);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"result\":\"code\"}");
    thttp_resp_free(&r);
    assert_true(thttp_metric(f->proxy.port, "batchproxy_retries_total") == 2);
    assert_true(thttp_metric(f->proxy.port,
                             "batchproxy_backend_attempts_total{outcome=\"server_error_5xx\"}") ==
                2);
    assert_true(tproc_stop_clean(&f->proxy, 5));
    fakebe_stop(&fk);
}

static void test_malformed_backend_answers_never_reach_clients(void **state)
{
    fixture *f = *state;
    const fakebe_step answers[] = {
        {.act = FAKEBE_STATUS, .status = 200, .body = "{\"results\": [\"maybe\""},
        {.act = FAKEBE_WRONG_COUNT},
    };
    for (int m = 0; m < 2; m++) {
        fakebe fk;
        assert_true(fakebe_start(&fk, &(fakebe_script){.rest = answers[m]}));
        start_proxy(f, fk.port, (const char *[]){"--retries", "2", "--backoff-base", "0.01", NULL});
        thttp_resp r;
        post(f->proxy.port, "{\"sequences\":[\"abc\",\"def\"]}", NULL, &r, 10);
        assert_int_equal(r.status, 502);
        assert_detail(&r);
        json_t *j = json_loads(r.body, 0, NULL);
        assert_null(json_object_get(j, "results"));
        assert_null(json_object_get(j, "result"));
        json_decref(j);
        thttp_resp_free(&r);
        assert_true(thttp_metric(f->proxy.port,
                                 "batchproxy_backend_attempts_total{outcome=\"bad_answer\"}") == 3);
        assert_true(tproc_stop_clean(&f->proxy, 5));
        fakebe_stop(&fk);
    }
}

static void test_backend_down_then_up(void **state)
{
    fixture *f = *state;
    start_backend(f, "0");
    int port = f->backend.port;
    tproc_stop(&f->backend, 5);
    start_proxy(f, port,
                (const char *[]){"--retries", "60", "--backoff-base", "0.05", "--backoff-cap",
                                 "0.2", NULL});
    int fd = thttp_connect(f->proxy.port);
    const char *body = "{\"sequence\":\"are you there\"}";
    assert_true(thttp_send(fd, "POST", "/proxy_classify", NULL, body, strlen(body)));
    assert_true(thttp_await_metric(f->proxy.port, "batchproxy_retries_total", 2, 10) >= 2);
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    const char *args[] = {"--cost", "0", "--quiet", "--listen", listen, NULL};
    assert_true(tproc_start(&f->backend, "classifyd", args));
    thttp_resp r;
    assert_true(thttp_recv(fd, &r, 20));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    close(fd);
    assert_true(thttp_metric(f->proxy.port,
                             "batchproxy_backend_attempts_total{outcome=\"no_answer\"}") >= 2);
}

static void test_backend_down_gives_502_with_detail(void **state)
{
    fixture *f = *state;
    start_backend(f, "0");
    int port = f->backend.port;
    tproc_stop(&f->backend, 5);
    start_proxy(f, port, (const char *[]){"--retries", "2", "--backoff-base", "0.01", NULL});
    thttp_resp r;
    post(f->proxy.port, "{\"sequence\":\"anyone\"}", NULL, &r, 10);
    assert_int_equal(r.status, 502);
    assert_detail(&r);
    assert_non_null(strstr(r.body, "3 attempts"));
    thttp_resp_free(&r);
    thttp_request(f->proxy.port, "GET", "/readyz", NULL, NULL, &r, 5);
    assert_int_equal(r.status, 503);
    assert_detail(&r);
    thttp_resp_free(&r);
}

static void test_short_deadline_gets_504_and_leaves_the_queue(void **state)
{
    fixture *f = *state;
    start_backend(f, "0.005");
    start_proxy(f, f->backend.port, NULL);
    /* A long request occupies the backend for 4.5 s (30 characters). */
    int fd = thttp_connect(f->proxy.port);
    const char *slow = "{\"sequence\":\"another slow one, thirty chars\"}";
    assert_true(thttp_send(fd, "POST", "/proxy_classify", NULL, slow, strlen(slow)));
    assert_true(thttp_await_metric(f->proxy.port, "batchproxy_inflight_requests", 1, 5) == 1);
    assert_true(thttp_await_metric_at_most(f->proxy.port, "batchproxy_queue_depth", 0, 5) == 0);
    /* A short request could make 300 ms on its own (it is admitted), but
     * waits behind the batch in flight: 504 at its deadline, while that
     * batch is still in flight, and it leaves the queue. */
    thttp_resp r;
    post(f->proxy.port, "{\"sequence\":\"queued\"}", "X-Timeout-Ms: 300\r\n", &r, 10);
    assert_int_equal(r.status, 504);
    assert_detail(&r);
    assert_false(tsock_readable(fd));
    assert_true(r.elapsed >= 0.29 && r.elapsed < 3); /* the deadline, not the batch's 4.5 s */
    thttp_resp_free(&r);
    assert_true(thttp_metric(f->proxy.port, "batchproxy_queue_depth") == 0);
    assert_true(thttp_recv(fd, &r, 10));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    close(fd);
}

/* A deadline that passes while its batch is in flight: that request gets
 * 504 on time, but the backend goes on working on the batch, so the proxy
 * keeps it busy until it answers; the next client's request is sent then
 * and served, not met with 429s and failed. Costs at --cost 0.002: 40
 * characters 3.2 s. */
static void test_deadline_passing_in_flight_keeps_the_backend_busy(void **state)
{
    fixture *f = *state;
    start_backend(f, "0.002");
    start_proxy(f, f->backend.port, NULL);
    int first = thttp_connect(f->proxy.port);
    const char *b1 = "{\"sequence\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}";
    assert_true(
        thttp_send(first, "POST", "/proxy_classify", "X-Client-Id: one\r\n", b1, strlen(b1)));
    assert_true(thttp_await_metric(f->proxy.port, "batchproxy_inflight_requests", 1, 5) == 1);
    /* Admitted (3.2 s of its own within 5 s), sent when the first is done
     * with 1.8 s left: 504 at 5 s while the backend still works on it. */
    int second = thttp_connect(f->proxy.port);
    const char *b2 = "{\"sequence\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}";
    assert_true(thttp_send(second, "POST", "/proxy_classify",
                           "X-Client-Id: two\r\nX-Timeout-Ms: 5000\r\n", b2, strlen(b2)));
    thttp_resp r;
    assert_true(thttp_recv(first, &r, 10));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    /* The third arrives while the second's batch is in flight, and is sent
     * after its deadline has passed, when the backend answers. */
    thttp_resp third;
    post(f->proxy.port, "{\"sequence\":\"short\"}", "X-Client-Id: three\r\n", &third, 15);
    assert_true(thttp_recv(second, &r, 10));
    assert_int_equal(r.status, 504);
    assert_detail(&r);
    thttp_resp_free(&r);
    if (third.status != 200)
        fail_msg("the next request got %d: %s", third.status, third.body);
    thttp_resp_free(&third);
    assert_true(thttp_metric(f->proxy.port,
                             "batchproxy_backend_attempts_total{outcome=\"busy_429\"}") == 0);
    close(first);
    close(second);
}

static void test_client_hang_up_drops_its_work(void **state)
{
    fixture *f = *state;
    start_backend(f, "0.002");
    start_proxy(f, f->backend.port, NULL);
    /* The first request keeps the backend busy; the second waits in the
     * queue when its client hangs up. */
    int first = thttp_connect(f->proxy.port);
    const char *b1 = "{\"sequence\":\"a long string to keep it busy\"}";
    assert_true(thttp_send(first, "POST", "/proxy_classify", NULL, b1, strlen(b1)));
    assert_true(thttp_await_metric(f->proxy.port, "batchproxy_inflight_requests", 1, 5) == 1);
    int second = thttp_connect(f->proxy.port);
    const char *b2 = "{\"sequences\":[\"going away\",\"me too\"]}";
    assert_true(thttp_send(second, "POST", "/proxy_classify", NULL, b2, strlen(b2)));
    assert_true(thttp_await_metric(f->proxy.port, "batchproxy_queue_depth", 2, 5) == 2);
    /* A hang-up is a reset (a close with SO_LINGER 0); an end of file alone
     * is a half-close, whose client still gets its answer. */
    struct linger lg = {1, 0};
    setsockopt(second, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(second);
    assert_true(thttp_await_metric(f->proxy.port,
                                   "batchproxy_requests_total{client=\"-\",status=\"499\"}", 1,
                                   5) == 1);
    assert_true(thttp_metric(f->proxy.port, "batchproxy_queue_depth") == 0);
    thttp_resp r;
    assert_true(thttp_recv(first, &r, 10));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    close(first);
    /* Only the first request's batch went to the backend. */
    assert_true(thttp_metric(f->proxy.port, "batchproxy_batch_size_sum") == 1);
}

typedef struct bad_case {
    const char *method, *path, *headers, *body;
    int status;
} bad_case;

static void test_bad_input_gets_clear_errors_and_serving_goes_on(void **state)
{
    fixture *f = *state;
    start_backend(f, "0");
    start_proxy(f, f->backend.port,
                (const char *[]){"--max-body", "2048", "--max-length", "50",
                                 "--max-request-sequences", "4", NULL});
    static char big[4096];
    memset(big, 'x', sizeof big - 1);
    const char *too_long =
        "{\"sequence\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}";
    const bad_case cases[] = {
        {"POST", "/proxy_classify", NULL, "not json", 400},
        {"POST", "/proxy_classify", NULL, "{\"sequence\":\"\xff\xfe\"}", 400},
        {"POST", "/proxy_classify", NULL, "[1,2]", 400},
        {"POST", "/proxy_classify", NULL, "{}", 400},
        {"POST", "/proxy_classify", NULL, "{\"sequence\":5}", 400},
        {"POST", "/proxy_classify", NULL, "{\"sequences\":\"abc\"}", 400},
        {"POST", "/proxy_classify", NULL, "{\"sequences\":[\"a\",3]}", 400},
        {"POST", "/proxy_classify", NULL, "{\"sequences\":[]}", 400},
        {"POST", "/proxy_classify", NULL, "{\"sequence\":\"a\",\"sequences\":[\"b\"]}", 400},
        {"POST", "/proxy_classify", NULL, "{\"sequences\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400},
        {"POST", "/proxy_classify", NULL, too_long, 413},
        {"POST", "/proxy_classify", NULL, big, 413},
        {"POST", "/proxy_classify", "X-Client-Id: bad id!\r\n", "{\"sequence\":\"a\"}", 400},
        {"POST", "/proxy_classify", "X-Client-Id: \r\n", "{\"sequence\":\"a\"}", 400},
        {"POST", "/proxy_classify", "X-Timeout-Ms: soon\r\n", "{\"sequence\":\"a\"}", 400},
        {"POST", "/proxy_classify", "X-Timeout-Ms: 0\r\n", "{\"sequence\":\"a\"}", 400},
        {"GET", "/proxy_classify", NULL, NULL, 405},
        {"POST", "/metrics", NULL, "{}", 405},
        {"GET", "/nowhere", NULL, NULL, 404},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const bad_case *c = &cases[i];
        thttp_resp r;
        assert_true(thttp_request(f->proxy.port, c->method, c->path, c->headers, c->body, &r, 5));
        if (r.status != c->status)
            printf("case %zu (%s %s %.40s): got %d %s\n", i, c->method, c->path,
                   c->body ? c->body : "", r.status, r.body);
        assert_int_equal(r.status, c->status);
        assert_detail(&r);
        thttp_resp_free(&r);
        post(f->proxy.port, "{\"sequence\":\"def f(): pass\"}", "X-Client-Id: good.client-1\r\n",
             &r, 5);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "{\"result\":\"code\"}");
        thttp_resp_free(&r);
    }
    assert_true(
        thttp_metric(f->proxy.port,
                     "batchproxy_requests_total{client=\"good.client-1\",status=\"200\"}") ==
        (double)(sizeof cases / sizeof *cases));
}

static void test_metrics_are_prometheus_text_and_stats_json(void **state)
{
    fixture *f = *state;
    start_backend(f, "0");
    start_proxy(f, f->backend.port, NULL);
    thttp_resp r;
    post(f->proxy.port, "{\"sequence\":\"x = 1\"}", "X-Client-Id: A\r\n", &r, 5);
    thttp_resp_free(&r);

    assert_true(thttp_request(f->proxy.port, "GET", "/metrics", NULL, NULL, &r, 5));
    assert_int_equal(r.status, 200);
    char ct[64];
    assert_non_null(thttp_header(&r, "Content-Type", ct, sizeof ct));
    assert_non_null(strstr(ct, "text/plain"));
    regex_t sample, comment;
    assert_int_equal(
        regcomp(&sample,
                "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"[^\"]*\",?)*\\})? "
                "(-?[0-9.]+([eE][-+]?[0-9]+)?|[+-]Inf|NaN)$",
                REG_EXTENDED | REG_NOSUB),
        0);
    assert_int_equal(
        regcomp(&comment, "^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", REG_EXTENDED | REG_NOSUB),
        0);
    int samples = 0;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        bool ok = line[0] == '#' ? regexec(&comment, line, 0, NULL, 0) == 0
                                 : regexec(&sample, line, 0, NULL, 0) == 0;
        if (!ok)
            printf("not Prometheus text: '%s'\n", line);
        assert_true(ok);
        samples += line[0] != '#';
    }
    assert_true(samples > 50);
    regfree(&sample);
    regfree(&comment);
    thttp_resp_free(&r);

    assert_true(thttp_request(f->proxy.port, "GET", "/stats", NULL, NULL, &r, 5));
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "policy")), "cost");
    json_t *a = json_object_get(json_object_get(j, "clients"), "A");
    assert_int_equal(json_integer_value(json_object_get(a, "requests")), 1);
    assert_non_null(json_object_get(json_object_get(a, "latency_seconds"), "p99"));
    json_decref(j);
    thttp_resp_free(&r);

    assert_true(thttp_request(f->proxy.port, "GET", "/healthz", NULL, NULL, &r, 5));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_true(thttp_request(f->proxy.port, "GET", "/readyz", NULL, NULL, &r, 5));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

static void test_full_queue_gets_503_with_retry_after(void **state)
{
    fixture *f = *state;
    start_backend(f, "0.002");
    start_proxy(f, f->backend.port,
                (const char *[]){"--max-queue", "2", "--drain-timeout", "0.2", NULL});
    int busy = thttp_connect(f->proxy.port);
    const char *b = "{\"sequence\":\"occupying the backend\"}";
    assert_true(thttp_send(busy, "POST", "/proxy_classify", NULL, b, strlen(b)));
    assert_true(thttp_await_metric(f->proxy.port, "batchproxy_inflight_requests", 1, 5) == 1);
    int q = thttp_connect(f->proxy.port);
    const char *two = "{\"sequences\":[\"queued one\",\"queued two\"]}";
    assert_true(thttp_send(q, "POST", "/proxy_classify", NULL, two, strlen(two)));
    assert_true(thttp_await_metric(f->proxy.port, "batchproxy_queue_depth", 2, 5) == 2);
    thttp_resp r;
    post(f->proxy.port, "{\"sequence\":\"no room\"}", NULL, &r, 5);
    assert_int_equal(r.status, 503);
    assert_detail(&r);
    char ra[16];
    assert_non_null(thttp_header(&r, "Retry-After", ra, sizeof ra));
    assert_true(atoi(ra) >= 1);
    thttp_resp_free(&r);
    /* A sequence already queued takes no new slot: it is still accepted. */
    int dup = thttp_connect(f->proxy.port);
    const char *d = "{\"sequence\":\"queued one\"}";
    assert_true(thttp_send(dup, "POST", "/proxy_classify", NULL, d, strlen(d)));
    assert_true(thttp_recv(dup, &r, 10));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    close(dup);
    close(q);
    close(busy);
}

static void test_coalescing_and_cache(void **state)
{
    fixture *f = *state;
    start_backend(f, "0.002");
    start_proxy(f, f->backend.port, NULL);
    int busy = thttp_connect(f->proxy.port);
    const char *b = "{\"sequence\":\"keep the backend busy\"}";
    assert_true(thttp_send(busy, "POST", "/proxy_classify", NULL, b, strlen(b)));
    assert_true(thttp_await_metric(f->proxy.port, "batchproxy_inflight_requests", 1, 5) == 1);
    int fds[3];
    const char *same = "{\"sequence\":\"the same text\"}";
    for (int i = 0; i < 3; i++) {
        fds[i] = thttp_connect(f->proxy.port);
        assert_true(thttp_send(fds[i], "POST", "/proxy_classify", NULL, same, strlen(same)));
    }
    thttp_resp r;
    for (int i = 0; i < 3; i++) {
        assert_true(thttp_recv(fds[i], &r, 10));
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "{\"result\":\"not code\"}");
        thttp_resp_free(&r);
        close(fds[i]);
    }
    assert_true(thttp_metric(f->proxy.port, "batchproxy_coalesced_total") == 2);
    assert_true(thttp_metric(f->proxy.port, "batchproxy_batch_size_sum") ==
                2); /* busy + one shared */
    post(f->proxy.port, same, NULL, &r, 5);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    /* Served from the cache: a hit, and no batch more for the backend. */
    assert_true(thttp_metric(f->proxy.port, "batchproxy_cache_hits_total") == 1);
    assert_true(thttp_metric(f->proxy.port, "batchproxy_batch_size_sum") == 2);
    assert_true(thttp_recv(busy, &r, 10));
    thttp_resp_free(&r);
    close(busy);
}

static void test_sigterm_drains_queued_work_then_exits_0(void **state)
{
    fixture *f = *state;
    start_backend(f, "0.001");
    start_proxy(f, f->backend.port, NULL);
    int fds[6];
    for (int i = 0; i < 6; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"sequence\":\"drain me %d please\"}", i);
        fds[i] = thttp_connect(f->proxy.port);
        assert_true(thttp_send(fds[i], "POST", "/proxy_classify", NULL, body, strlen(body)));
    }
    assert_true(thttp_await_metric(f->proxy.port, "batchproxy_inflight_requests", 6, 5) == 6);
    kill(f->proxy.pid, SIGTERM);
    for (int i = 0; i < 6; i++) {
        thttp_resp r;
        assert_true(thttp_recv(fds[i], &r, 10));
        assert_int_equal(r.status, 200);
        thttp_resp_free(&r);
        close(fds[i]);
    }
    assert_int_equal(tproc_wait(&f->proxy, 5), 0);
}

/* The acceptance scenario: the original challenge's two clients, no
 * headers, all at once: A sends 3 bursts of 5 short strings, B 12 longer
 * ones at a steady pace. Every request gets its answer. */
static void test_original_client_traffic(void **state)
{
    fixture *f = *state;
    start_backend(f, "0.002");
    start_proxy(f, f->backend.port, NULL);
    typedef struct planned {
        double at;
        char text[32];
        int fd;
    } planned;
    planned plan[27];
    int n = 0;
    unsigned seed = 7;
    double t = 0;
    for (int burst = 0; burst < 3; burst++) {
        for (int k = 0; k < 5; k++) {
            int len = 5 + (int)(rand_r(&seed) % 8);
            plan[n].at = t;
            snprintf(plan[n].text, sizeof plan[n].text, "a%d%d%.*s", burst, k, len - 3,
                     "xyzxyzxyzxyz");
            n++;
            t += 0.05 + 0.05 * (rand_r(&seed) % 100) / 100.0;
        }
        t += 0.5 + 0.5 * (rand_r(&seed) % 100) / 100.0;
    }
    t = 0;
    for (int k = 0; k < 12; k++) {
        int len = 10 + (int)(rand_r(&seed) % 16);
        plan[n].at = t;
        snprintf(plan[n].text, sizeof plan[n].text, "b%02d%.*s", k, len - 3,
                 "print(x) if y else z; ok");
        n++;
        t += 0.2 + 0.3 * (rand_r(&seed) % 100) / 100.0;
    }
    double start = tnow();
    for (int sent = 0; sent < n;) {
        /* Send whatever is due (the plan is open-loop, like the original client). */
        for (int i = 0; i < n; i++) {
            if (plan[i].at < 0 || tnow() - start < plan[i].at)
                continue;
            char body[64];
            snprintf(body, sizeof body, "{\"sequence\":\"%s\"}", plan[i].text);
            plan[i].fd = thttp_connect(f->proxy.port);
            assert_true(
                thttp_send(plan[i].fd, "POST", "/proxy_classify", NULL, body, strlen(body)));
            plan[i].at = -1;
            sent++;
        }
        tpause(0.005); /* the plan's clock ticks: pacing, not ordering */
    }
    int ok = 0;
    for (int i = 0; i < n; i++) {
        thttp_resp r;
        assert_true(thttp_recv(plan[i].fd, &r, 30));
        ok += r.status == 200;
        thttp_resp_free(&r);
        close(plan[i].fd);
    }
    assert_int_equal(ok, 27);
    double batches = thttp_metric(f->proxy.port, "batchproxy_batch_size_count");
    double singles = thttp_metric(f->proxy.port, "batchproxy_batch_size_bucket{le=\"1\"}");
    assert_true(batches > singles); /* some batches carried more than one sequence */
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
#define T(fn) cmocka_unit_test_setup_teardown(fn, tpair_setup, tpair_teardown)
    const struct CMUnitTest tests[] = {
        T(test_single_and_multi_sequence),
        T(test_twenty_concurrent_requests_in_batches_of_five),
        T(test_retries_when_backend_is_busy),
        T(test_retries_after_5xx),
        T(test_malformed_backend_answers_never_reach_clients),
        T(test_backend_down_then_up),
        T(test_backend_down_gives_502_with_detail),
        T(test_short_deadline_gets_504_and_leaves_the_queue),
        T(test_deadline_passing_in_flight_keeps_the_backend_busy),
        T(test_client_hang_up_drops_its_work),
        T(test_bad_input_gets_clear_errors_and_serving_goes_on),
        T(test_metrics_are_prometheus_text_and_stats_json),
        T(test_full_queue_gets_503_with_retry_after),
        T(test_coalescing_and_cache),
        T(test_sigterm_drains_queued_work_then_exits_0),
        T(test_original_client_traffic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
