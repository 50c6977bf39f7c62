/* Process-level tests of classifyd: the wire format, the cost model, one
 * batch at a time (429), input validation, routing, signals and the CLI.
 *
 * Each test starts its own server and its teardown always stops it; a server
 * that doesn't exit 0 on SIGTERM (a crash, a sanitizer report, a leak) fails
 * the test. Timing checks are lower bounds and loose orders of magnitude
 * only. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "classify.h"
#include "tproc.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GOOD_BODY "{\"sequences\":[\"def f(): pass\",\"hello there\"]}"
#define GOOD_RESULTS "{\"results\":[\"code\",\"not code\"]}"
#define SLACK 0.001 /* timers may fire up to this early, measured client-side */

static tproc server;

static int teardown(void **state)
{
    (void)state;
    /* Exit status 0 on SIGTERM and no sanitizer report in the log. */
    return tproc_stop_clean(&server, 10) ? 0 : -1;
}

static void start(const char *const *args)
{
    if (!tproc_start(&server, "classifyd", args))
        fail_msg("classifyd did not start");
}

/* {"sequences": [s]} for a string without characters JSON must escape. */
static char *one_sequence(const char *s)
{
    size_t n = strlen(s) + 32;
    char *body = malloc(n);
    assert_non_null(body);
    snprintf(body, n, "{\"sequences\":[\"%s\"]}", s);
    return body;
}

/* A string of `count` copies of `unit`. */
static char *repeat(const char *unit, size_t count)
{
    size_t u = strlen(unit);
    char *s = malloc(u * count + 1);
    assert_non_null(s);
    for (size_t i = 0; i < count; i++)
        memcpy(s + i * u, unit, u);
    s[u * count] = '\0';
    return s;
}

/* Compact JSON text of v, which it releases. */
static char *dump_new(json_t *v)
{
    assert_non_null(v);
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    assert_non_null(s);
    return s;
}

static json_t *body_json(const thttp_resp *r)
{
    json_error_t jerr;
    json_t *v = json_loadb(r->body, r->body_len, 0, &jerr);
    if (!v)
        fail_msg("answer is not JSON (%s): %s", jerr.text, r->body);
    return v;
}

/* The answer is `status` with a JSON body equal to `want`. */
static void expect_json(const thttp_resp *r, int status, const char *want)
{
    if (r->status != status)
        fail_msg("status %d, want %d; body %s", r->status, status, r->body);
    json_t *got = body_json(r);
    json_t *exp = json_loads(want, 0, NULL);
    assert_non_null(exp);
    if (!json_equal(got, exp))
        fail_msg("body %s, want %s", r->body, want);
    json_decref(got);
    json_decref(exp);
}

/* The answer is `status` with a JSON {"detail": "<non-empty>"}. */
static void expect_detail(const thttp_resp *r, int status, const char *what)
{
    if (r->status != status)
        fail_msg("%s: status %d, want %d; body %s", what, r->status, status, r->body);
    char ct[128];
    if (!thttp_header(r, "Content-Type", ct, sizeof ct) || !strstr(ct, "application/json"))
        fail_msg("%s: content type is not JSON", what);
    json_t *v = body_json(r);
    const char *detail = json_string_value(json_object_get(v, "detail"));
    if (!detail || !detail[0])
        fail_msg("%s: no detail in %s", what, r->body);
    json_decref(v);
}

static void post(const char *body, thttp_resp *r, double timeout)
{
    if (!thttp_request(server.port, "POST", "/classify", NULL, body, r, timeout))
        fail_msg("no answer to %s", body);
}

/* The server answers the acceptance example correctly. */
static void expect_serving(void)
{
    thttp_resp r;
    post(GOOD_BODY, &r, 10);
    expect_json(&r, 200, GOOD_RESULTS);
    thttp_resp_free(&r);
}

/* ---- the wire format ---- */

static void test_acceptance_example(void **state)
{
    (void)state;
    start((const char *[]){NULL}); /* the default cost, 0.002 */
    thttp_resp r;
    post(GOOD_BODY, &r, 10);
    expect_json(&r, 200, GOOD_RESULTS);
    /* L = 13: 0.002 * 169 = 0.338 s. */
    assert_true(r.elapsed >= 0.338 - SLACK);
    thttp_resp_free(&r);
}

static void test_order_and_count(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0", NULL});
    /* One label per input, in order: whatever the classifier says of each
     * text on its own (it is deterministic). */
    static const char *const texts[] = {
        "hello there",
        "def f(): pass",
        "int main(void) { return 0; }",
        "The weather is nice today.",
        "x = [i * 2 for i in range(10)]",
    };
    enum { N = sizeof texts / sizeof *texts };
    char *body = dump_new(json_pack("{s:[s,s,s,s,s]}", "sequences", texts[0], texts[1], texts[2],
                                    texts[3], texts[4]));
    json_t *want = json_array();
    for (size_t i = 0; i < N; i++)
        json_array_append_new(
            want, json_string(wire_label_name(classify_text(texts[i], strlen(texts[i])))));
    char *want_s = dump_new(json_pack("{s:o}", "results", want));
    thttp_resp r;
    for (int k = 0; k < 2; k++) { /* and the same again */
        post(body, &r, 10);
        expect_json(&r, 200, want_s);
        thttp_resp_free(&r);
    }
    /* Each text alone gets the label it got in the batch. */
    for (size_t i = 0; i < N; i++) {
        char one[256];
        snprintf(one, sizeof one, "{\"results\":[\"%s\"]}",
                 wire_label_name(classify_text(texts[i], strlen(texts[i]))));
        char *b = dump_new(json_pack("{s:[s]}", "sequences", texts[i]));
        post(b, &r, 10);
        expect_json(&r, 200, one);
        thttp_resp_free(&r);
        free(b);
    }
    free(body);
    free(want_s);
}

static void test_empty_list(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "10", NULL});
    thttp_resp r;
    post("{\"sequences\":[]}", &r, 10);
    expect_json(&r, 200, "{\"results\":[]}");
    assert_true(r.elapsed < 2); /* at once: no work, whatever the cost */
    thttp_resp_free(&r);
}

/* ---- the cost model ---- */

static void test_latency_model(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0.0002", NULL});
    char *s10 = repeat("a", 10), *s50 = repeat("a", 50);
    char *b10 = one_sequence(s10), *b50 = one_sequence(s50);
    thttp_resp r10, r50;
    post(b10, &r10, 10);
    post(b50, &r50, 10);
    expect_json(&r10, 200, "{\"results\":[\"not code\"]}");
    expect_json(&r50, 200, "{\"results\":[\"not code\"]}");
    /* 0.0002 * 100 = 0.02 s; 0.0002 * 2500 = 0.5 s. */
    assert_true(r10.elapsed >= 0.02 - SLACK);
    assert_true(r50.elapsed >= 0.5 - SLACK);
    assert_true(r50.elapsed > r10.elapsed);
    assert_true(r10.elapsed < 0.4); /* an order of magnitude apart */

    /* The longest sequence sets the cost, not the sum or the count. */
    char body[256];
    snprintf(body, sizeof body, "{\"sequences\":[\"a\",\"%s\",\"b\",\"%s\",\"c\"]}", s10, s50);
    thttp_resp r;
    post(body, &r, 10);
    assert_int_equal(r.status, 200);
    assert_true(r.elapsed >= 0.5 - SLACK);
    assert_true(r.elapsed < 2.0); /* nowhere near 5 * 0.5 s */
    thttp_resp_free(&r);

    thttp_resp_free(&r10);
    thttp_resp_free(&r50);
    free(s10);
    free(s50);
    free(b10);
    free(b50);
}

static void test_latency_counts_code_points(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0.002", NULL});
    char *e20 = repeat("\xc3\xa9", 20);          /* 20 code points, 40 bytes */
    char *moji = repeat("\xf0\x9f\x98\x80", 20); /* 20 code points, 80 bytes */
    char *a40 = repeat("a", 40);
    char *be = one_sequence(e20), *bm = one_sequence(moji), *ba = one_sequence(a40);
    thttp_resp re, rm, ra;
    post(be, &re, 10);
    post(bm, &rm, 30);
    post(ba, &ra, 10);
    assert_int_equal(re.status, 200);
    assert_int_equal(rm.status, 200);
    assert_int_equal(ra.status, 200);
    /* 20 code points: 0.002 * 400 = 0.8 s; 40: 3.2 s (as 40 bytes would be);
     * 80 would be 12.8 s. */
    assert_true(re.elapsed >= 0.8 - SLACK);
    assert_true(rm.elapsed >= 0.8 - SLACK);
    assert_true(ra.elapsed >= 3.2 - SLACK);
    assert_true(re.elapsed < 1.8);
    assert_true(rm.elapsed < 1.8);
    thttp_resp_free(&re);
    thttp_resp_free(&rm);
    thttp_resp_free(&ra);
    free(e20);
    free(moji);
    free(a40);
    free(be);
    free(bm);
    free(ba);
}

static void test_cost_zero(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0", "--max-length", "10000", NULL});
    char *s = repeat("w", 5000);
    char *body = one_sequence(s);
    thttp_resp r;
    post(body, &r, 10);
    expect_json(&r, 200, "{\"results\":[\"not code\"]}");
    assert_true(r.elapsed < 2); /* at once, for 5000 code points */
    thttp_resp_free(&r);
    free(s);
    free(body);
}

/* ---- one batch at a time ---- */

static void test_busy_gets_429(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0.0005", NULL});
    char *s = repeat("a", 64); /* 2.05 s */
    char *body = one_sequence(s);
    int fd = thttp_connect(server.port);
    assert_true(fd >= 0);
    double t0 = tnow();
    assert_true(thttp_send(fd, "POST", "/classify", NULL, body, strlen(body)));
    assert_true(tsock_await_consumed(fd, 5)); /* read, so under way */

    /* Refused at once: while the first is still under way. */
    thttp_resp busy;
    post(GOOD_BODY, &busy, 5);
    expect_detail(&busy, 429, "request during another");
    assert_false(tsock_readable(fd));
    thttp_resp_free(&busy);
    /* Again, with a slow request of its own: still refused, not queued. */
    post(body, &busy, 5);
    expect_detail(&busy, 429, "second request during another");
    assert_false(tsock_readable(fd));
    thttp_resp_free(&busy);

    thttp_resp first;
    assert_true(thttp_recv(fd, &first, 10));
    expect_json(&first, 200, "{\"results\":[\"not code\"]}");
    assert_true(tnow() - t0 >= 2.048 - SLACK);
    thttp_resp_free(&first);
    close(fd);

    /* Free again: the next request is served. */
    expect_serving();
    free(s);
    free(body);
}

static void test_keep_alive(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0.0001", NULL});
    int fd = thttp_connect(server.port);
    assert_true(fd >= 0);
    for (int i = 0; i < 3; i++) {
        thttp_resp r;
        assert_true(thttp_send(fd, "POST", "/classify", NULL, GOOD_BODY, strlen(GOOD_BODY)));
        assert_true(thttp_recv(fd, &r, 10));
        expect_json(&r, 200, GOOD_RESULTS);
        thttp_resp_free(&r);
    }
    close(fd);
}

/* --io-timeout bounds idleness, not service: on a kept-alive connection a
 * request that takes longer than it (2 s against 1 s), sent 0.5 s after
 * the previous answer, is answered; then the idle connection is closed. */
static void test_slow_answer_on_kept_alive_connection(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0.001", "--io-timeout", "1", NULL});
    int fd = thttp_connect(server.port);
    assert_true(fd >= 0);
    thttp_resp r;
    assert_true(thttp_send(fd, "POST", "/classify", NULL, GOOD_BODY, strlen(GOOD_BODY)));
    assert_true(thttp_recv(fd, &r, 10));
    expect_json(&r, 200, GOOD_RESULTS);
    thttp_resp_free(&r);
    tpause(0.5); /* an idle spell under --io-timeout: what is exercised, not ordering */
    char *s = repeat("a", 45); /* 2.0 s */
    char *body = one_sequence(s);
    assert_true(thttp_send(fd, "POST", "/classify", NULL, body, strlen(body)));
    if (!thttp_recv(fd, &r, 10))
        fail_msg("the slow request on the kept-alive connection got no answer");
    expect_json(&r, 200, "{\"results\":[\"not code\"]}");
    thttp_resp_free(&r);
    /* Idle now: closed within a few io-timeouts. */
    char byte;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(recv(fd, &byte, 1, 0), 0);
    close(fd);
    free(s);
    free(body);
}

/* The log line of a 20-code-point request's answer (logged even when its
 * client is gone). */
#define ANSWERED_20 "/classify 200 sequences=1 L=20 "

static void test_client_gone_mid_batch(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0.0005", NULL});
    char *s = repeat("a", 20); /* 0.2 s */
    char *body = one_sequence(s);
    /* The client leaves before its answer is due: the server must drop the
     * answer and go on serving. */
    int fd = thttp_connect(server.port);
    assert_true(fd >= 0);
    assert_true(thttp_send(fd, "POST", "/classify", NULL, body, strlen(body)));
    assert_true(tsock_await_consumed(fd, 5)); /* under way */
    close(fd);
    assert_true(tproc_await_log(&server, ANSWERED_20, 5)); /* its time is up */
    expect_serving();

    /* The same with a client that only half-closes (shutdown SHUT_WR). */
    fd = thttp_connect(server.port);
    assert_true(fd >= 0);
    assert_true(thttp_send(fd, "POST", "/classify", NULL, body, strlen(body)));
    shutdown(fd, SHUT_WR);
    thttp_resp r;
    bool got = thttp_recv(fd, &r, 5);
    if (got) {
        expect_json(&r, 200, "{\"results\":[\"not code\"]}");
        thttp_resp_free(&r);
    }
    close(fd);
    assert_true(tproc_await_log_count(&server, ANSWERED_20, 2, 5));
    expect_serving();
    free(s);
    free(body);
}

/* ---- bad input ---- */

typedef struct bad_case {
    const char *method, *path, *body;
    int status;
    const char *what;
} bad_case;

static void test_bad_input(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0.0001", "--max-body", "1024", NULL});
    static const bad_case cases[] = {
        {"POST", "/classify", "hello", 400, "not JSON"},
        {"POST", "/classify", "", 400, "empty body"},
        {"POST", "/classify", "{\"sequences\":[\"a\"]", 400, "truncated JSON"},
        {"POST", "/classify", "{\"sequences\":[\"\xff\xfe\"]}", 400, "invalid UTF-8"},
        {"POST", "/classify", "{\"sequences\":[\"\xed\xa0\x80\"]}", 400, "surrogate"},
        {"POST", "/classify", "{\"sequences\":[\"\\ud800\"]}", 400, "escaped lone surrogate"},
        {"POST", "/classify", "[\"a\"]", 400, "not an object"},
        {"POST", "/classify", "\"a\"", 400, "a string"},
        {"POST", "/classify", "{}", 400, "sequences missing"},
        {"POST", "/classify", "{\"sequence\":\"a\"}", 400, "the proxy's single form"},
        {"POST", "/classify", "{\"sequences\":\"a\"}", 400, "sequences not a list"},
        {"POST", "/classify", "{\"sequences\":null}", 400, "sequences null"},
        {"POST", "/classify", "{\"sequences\":[\"a\",1]}", 400, "element not a string"},
        {"POST", "/classify", "{\"sequences\":[[\"a\"]]}", 400, "element a list"},
        {"POST", "/classify", "{\"sequences\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]}", 400,
         "more than 5"},
        {"GET", "/nope", NULL, 404, "unknown path"},
        {"POST", "/", GOOD_BODY, 404, "root path"},
        {"POST", "/classify/", GOOD_BODY, 404, "trailing slash"},
        {"GET", "/classify", NULL, 405, "GET /classify"},
        {"PUT", "/classify", GOOD_BODY, 405, "PUT /classify"},
        {"DELETE", "/classify", NULL, 405, "DELETE /classify"},
        {"POST", "/healthz", "{}", 405, "POST /healthz"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const bad_case *c = &cases[i];
        thttp_resp r;
        if (!thttp_request(server.port, c->method, c->path, NULL, c->body, &r, 10))
            fail_msg("%s: no answer", c->what);
        expect_detail(&r, c->status, c->what);
        if (c->status == 405) {
            char allow[64];
            if (!thttp_header(&r, "Allow", allow, sizeof allow))
                fail_msg("%s: 405 without Allow", c->what);
        }
        thttp_resp_free(&r);
        expect_serving();
    }
}

static void test_body_too_large(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0.0001", "--max-body", "1024", NULL});
    /* A valid request a bit over the limit gets the JSON 413. */
    char *s = repeat("a", 1100);
    char *body = one_sequence(s);
    thttp_resp r;
    post(body, &r, 10);
    expect_detail(&r, 413, "body over --max-body");
    thttp_resp_free(&r);
    expect_serving();

    /* Exactly at the limit is fine (padded with whitespace: a long
     * sequence would take cost * L^2). */
    free(s);
    free(body);
    s = NULL;
    body = malloc(1025);
    assert_non_null(body);
    strcpy(body, GOOD_BODY);
    memset(body + strlen(body) - 1, ' ', 1024 - strlen(GOOD_BODY));
    strcpy(body + 1023, "}");
    assert_int_equal(strlen(body), 1024);
    post(body, &r, 10);
    expect_json(&r, 200, GOOD_RESULTS);
    thttp_resp_free(&r);

    /* Far beyond it, evhttp cuts the connection short (its own 413, or a
     * reset); either way the server goes on. */
    free(s);
    free(body);
    s = repeat("a", 64 * 1024);
    body = one_sequence(s);
    int fd = thttp_connect(server.port);
    assert_true(fd >= 0);
    thttp_send(fd, "POST", "/classify", NULL, body, strlen(body));
    if (thttp_recv(fd, &r, 5)) {
        assert_int_equal(r.status, 413);
        thttp_resp_free(&r);
    }
    close(fd);
    expect_serving();
    free(s);
    free(body);
}

/* A sequence over --max-length gets 413 at once, however cheap the body;
 * one at the limit is served. */
static void test_sequence_too_long(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0.0000001", "--max-length", "50", NULL});
    char *s = repeat("a", 51);
    char *body = one_sequence(s);
    thttp_resp r;
    post(body, &r, 10);
    expect_detail(&r, 413, "a sequence over --max-length");
    thttp_resp_free(&r);
    free(s);
    free(body);
    s = repeat("a", 50);
    body = one_sequence(s);
    post(body, &r, 10);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    free(s);
    free(body);
    expect_serving();
}

static void test_raw_bytes_in_path(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0", NULL});
    /* A request target is ASCII: raw bytes get a JSON 400 from the
     * server's parser (evhttp passed them on to a 404). */
    char path[600] = "/\xff\xfe";
    thttp_resp r;
    if (!thttp_request(server.port, "GET", path, NULL, NULL, &r, 10))
        fail_msg("no answer");
    expect_detail(&r, 400, "path with raw non-UTF-8 bytes");
    thttp_resp_free(&r);
    /* The 404 detail quotes the path: a long one is cut short and still
     * makes a JSON answer. */
    strcpy(path, "/x");
    for (int i = 0; i < 180; i++) /* 542 bytes: past the 512 of a detail */
        strcat(path, "%C3");
    if (!thttp_request(server.port, "GET", path, NULL, NULL, &r, 10))
        fail_msg("no answer");
    expect_detail(&r, 404, "long path");
    thttp_resp_free(&r);
    expect_serving();
}

/* ---- routes ---- */

static void test_healthz(void **state)
{
    (void)state;
    start((const char *[]){NULL});
    thttp_resp r;
    assert_true(thttp_request(server.port, "GET", "/healthz", NULL, NULL, &r, 10));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    /* A query string doesn't change the route. */
    assert_true(thttp_request(server.port, "GET", "/healthz?probe=1", NULL, NULL, &r, 10));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    /* HEAD: GET's headers, no body, so a request pipelined behind it is
     * read right. */
    int fd = thttp_connect(server.port);
    assert_true(fd >= 0);
    const char two[] = "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_true(send(fd, two, sizeof two - 1, 0) == (ssize_t)(sizeof two - 1));
    char got[2048] = "";
    size_t n = 0;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (ssize_t k; n < sizeof got - 1 && (k = recv(fd, got + n, sizeof got - 1 - n, 0)) > 0;)
        n += (size_t)k;
    got[n] = '\0';
    close(fd);
    const char *second = strstr(got + 1, "HTTP/1.1 200");
    if (strncmp(got, "HTTP/1.1 200", 12) != 0 || !second || strstr(got, "ok\"}HTTP"))
        fail_msg("HEAD then GET gave:\n%s", got);
    assert_non_null(strstr(second, "{\"status\":\"ok\"}"));
}

static void test_healthz_while_busy(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0.0005", NULL});
    char *s = repeat("a", 50); /* 1.25 s */
    char *body = one_sequence(s);
    int fd = thttp_connect(server.port);
    assert_true(fd >= 0);
    assert_true(thttp_send(fd, "POST", "/classify", NULL, body, strlen(body)));
    assert_true(tsock_await_consumed(fd, 5)); /* under way */
    thttp_resp r;
    assert_true(thttp_request(server.port, "GET", "/healthz", NULL, NULL, &r, 10));
    assert_int_equal(r.status, 200);
    assert_false(tsock_readable(fd)); /* answered while the batch is under way */
    thttp_resp_free(&r);
    assert_true(thttp_recv(fd, &r, 10));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    close(fd);
    free(s);
    free(body);
}

static void test_quiet(void **state)
{
    (void)state;
    start((const char *[]){"--quiet", "--cost", "0", NULL});
    expect_serving();
    thttp_resp r;
    assert_true(thttp_request(server.port, "GET", "/nope", NULL, NULL, &r, 10));
    thttp_resp_free(&r);
    assert_true(tproc_log_contains(&server, "listening on"));
    assert_false(tproc_log_contains(&server, "/classify"));
    assert_false(tproc_log_contains(&server, "/nope"));
}

/* ---- signals ---- */

static void signal_mid_batch(int sig)
{
    start((const char *[]){"--cost", "0.0005", NULL});
    char *s = repeat("a", 64); /* 2.05 s */
    char *body = one_sequence(s);
    int fd = thttp_connect(server.port);
    assert_true(fd >= 0);
    double t0 = tnow();
    assert_true(thttp_send(fd, "POST", "/classify", NULL, body, strlen(body)));
    assert_true(tsock_await_consumed(fd, 5)); /* under way */
    assert_true(tproc_signal(&server, sig));
    assert_true(tproc_await_log(&server, "finishing the current request", 5));

    /* Still busy with the batch: a new one is refused at once, as the
     * server is on its way out (503, not 429), and /healthz says so. */
    thttp_resp r;
    post(GOOD_BODY, &r, 5);
    expect_detail(&r, 503, "request after the signal, mid-batch");
    thttp_resp_free(&r);
    assert_true(thttp_request(server.port, "GET", "/healthz", NULL, NULL, &r, 5));
    expect_detail(&r, 503, "/healthz after the signal");
    thttp_resp_free(&r);

    /* The batch in progress is answered in full. */
    assert_true(thttp_recv(fd, &r, 10));
    double answered = tnow();
    expect_json(&r, 200, "{\"results\":[\"not code\"]}");
    assert_true(answered - t0 >= 2.048 - SLACK);
    thttp_resp_free(&r);
    close(fd);

    /* Right after it, the server is on its way out: a request that still
     * gets in is refused with 503, never started and cut off. (Later, the
     * connection is refused or closed, which is fine too.) */
    int fd2 = thttp_connect(server.port);
    if (fd2 >= 0) {
        bool sent = thttp_send(fd2, "POST", "/classify", NULL, body, strlen(body));
        double late = tnow() - answered;
        if (sent && thttp_recv(fd2, &r, 5)) {
            expect_detail(&r, 503, "request after the last answer");
            thttp_resp_free(&r);
        } else if (late < 0.02) {
            fail_msg("a request %.3f s after the last answer got no answer", late);
        }
        close(fd2);
    }

    /* It exits 0 on its own, without another signal. */
    int rc = tproc_wait(&server, 10);
    if (rc != 0 || tproc_log_contains(&server, "Sanitizer") ||
        tproc_log_contains(&server, "runtime error")) {
        tproc_dump_log(&server);
        fail_msg("exit status %d after signal %d, want 0 and a clean log", rc, sig);
    }
    free(s);
    free(body);
}

static void test_sigterm_finishes_batch(void **state)
{
    (void)state;
    signal_mid_batch(SIGTERM);
}

static void test_sigint_finishes_batch(void **state)
{
    (void)state;
    signal_mid_batch(SIGINT);
}

/* A second signal doesn't wait for the batch: it is answered 503 and the
 * server exits 0 at once. */
static void test_second_signal_stops_at_once(void **state)
{
    (void)state;
    start((const char *[]){"--cost", "0.002", NULL});
    char *s = repeat("a", 100); /* 20 s */
    char *body = one_sequence(s);
    int fd = thttp_connect(server.port);
    assert_true(fd >= 0);
    assert_true(thttp_send(fd, "POST", "/classify", NULL, body, strlen(body)));
    assert_true(tsock_await_consumed(fd, 5)); /* under way */
    double t0 = tnow();
    assert_true(tproc_signal(&server, SIGTERM));
    assert_true(tproc_await_log(&server, "finishing the current request", 5));
    assert_true(tproc_signal(&server, SIGTERM));
    thttp_resp r;
    assert_true(thttp_recv(fd, &r, 10));
    expect_detail(&r, 503, "the batch in progress after a second signal");
    thttp_resp_free(&r);
    close(fd);
    assert_int_equal(tproc_wait(&server, 10), 0);
    assert_true(tnow() - t0 < 10); /* not the batch's 20 s */
    free(s);
    free(body);
}

static void test_sigterm_idle(void **state)
{
    (void)state;
    start((const char *[]){NULL});
    expect_serving();
    double t0 = tnow();
    assert_int_equal(tproc_stop(&server, 10), 0);
    assert_true(tnow() - t0 < 5);
}

/* ---- command line ---- */

/* Runs classifyd with a shell-quoted argument string; returns its exit
 * status and its combined output in out. */
static int run(const char *args, char *out, size_t outlen)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/classifyd' %s 2>&1 </dev/null", BP_BUILD_DIR, args);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state)
{
    (void)state;
    char out[8192];
    assert_int_equal(run("--help", out, sizeof out), 0);
    assert_non_null(strstr(out, "Usage"));
    assert_non_null(strstr(out, "--cost"));
    assert_non_null(strstr(out, "--listen"));
    assert_int_equal(run("--version", out, sizeof out), 0);
    assert_non_null(strstr(out, "classifyd"));

    static const char *const bad[] = {
        "--cost abc",
        "--cost -1",
        "--cost ''",
        "--cost nan",
        "--max-body 1e3",
        "--max-body -5",
        "--bogus",
        "extra-argument",
        "--cost",
        "--listen nonsense",
        "--listen 127.0.0.1:99999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = run(bad[i], out, sizeof out);
        /* A malformed --listen is found when binding: exit 1; the rest are
         * usage errors: exit 2. Never 0, never a crash. */
        int want = strncmp(bad[i], "--listen", 8) == 0 ? 1 : 2;
        if (rc != want)
            fail_msg("classifyd %s exited %d, want %d; output: %s", bad[i], rc, want, out);
        if (!out[0])
            fail_msg("classifyd %s: no message", bad[i]);
    }
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        T(test_acceptance_example),
        T(test_order_and_count),
        T(test_empty_list),
        T(test_latency_model),
        T(test_latency_counts_code_points),
        T(test_cost_zero),
        T(test_busy_gets_429),
        T(test_keep_alive),
        T(test_slow_answer_on_kept_alive_connection),
        T(test_client_gone_mid_batch),
        T(test_bad_input),
        T(test_body_too_large),
        T(test_sequence_too_long),
        T(test_raw_bytes_in_path),
        T(test_healthz),
        T(test_healthz_while_busy),
        T(test_quiet),
        T(test_sigterm_finishes_batch),
        T(test_sigint_finishes_batch),
        T(test_second_signal_stops_at_once),
        T(test_sigterm_idle),
        T(test_cli),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
