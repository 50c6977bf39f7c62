/* Unit tests for http1: strict request and response heads, chunked bodies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "http1.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum http1_result req(const char *s, http1_head *h, int *status)
{
    char err[128];
    *status = 0;
    return http1_parse_request(s, strlen(s), h, status, err, sizeof err);
}

/* The request s is refused with `want`. */
static void refused(const char *s, int want)
{
    http1_head h;
    int status;
    enum http1_result r = req(s, &h, &status);
    if (r != HTTP1_ERROR || status != want)
        fail_msg("%s: result %d status %d, wanted an error %d", s, r, status, want);
}

static void test_request_head(void **state)
{
    (void)state;
    http1_head h;
    int status;
    const char *s = "POST /proxy_classify?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n"
                    "X-Client-Id:  alice \r\n\r\n{\"sequence\":1}";
    assert_int_equal(req(s, &h, &status), HTTP1_OK);
    assert_true(http1_str_eq(h.method, "POST"));
    assert_true(http1_str_eq(h.target, "/proxy_classify?x=1"));
    assert_int_equal(h.minor, 1);
    assert_int_equal(h.framing, HTTP1_BODY_LENGTH);
    assert_int_equal(h.content_length, 12);
    assert_true(h.keep_alive);
    assert_int_equal(h.head_len, strlen(s) - strlen("{\"sequence\":1}"));
    const http1_str *v = http1_field_get(&h, "x-client-id");
    assert_non_null(v);
    assert_true(http1_str_eq(*v, "alice"));
    assert_null(http1_field_get(&h, "Authorization"));
    char buf[4];
    assert_string_equal(http1_str_copy(*v, buf, sizeof buf), "ali");

    assert_int_equal(req("GET / HTTP/1.0\r\n\r\n", &h, &status), HTTP1_OK);
    assert_false(h.keep_alive);
    assert_int_equal(h.framing, HTTP1_BODY_NONE);
    assert_int_equal(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h, &status),
                     HTTP1_OK);
    assert_true(h.keep_alive);
    assert_int_equal(req("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &h, &status),
                     HTTP1_OK);
    assert_false(h.keep_alive);
    assert_int_equal(req("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", &h, &status),
                     HTTP1_OK);
    assert_int_equal(h.framing, HTTP1_BODY_CHUNKED);
    assert_int_equal(req("POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", &h, &status), HTTP1_OK);
    assert_true(h.expect_continue);
    assert_int_equal(req("POST / HTTP/1.1\r\nExpect: teapot\r\n\r\n", &h, &status), HTTP1_OK);
    assert_true(h.expect_other);
    assert_int_equal(req("GET / HTTP/1.1\r\nHost: a\r\n", &h, &status), HTTP1_INCOMPLETE);
}

static void test_request_smuggling_refused(void **state)
{
    (void)state;
    refused("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            400);
    refused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400);
    refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\n", 400);
    refused("POST / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    refused("GET / HTTP/1.1\nHost: a\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nX: a\nY: b\r\n\r\n", 400);
    refused("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n", 400);
    refused("GET  / HTTP/1.1\r\n\r\n", 400);
    refused("GET /a b HTTP/1.1\r\n\r\n", 400);
    refused("G(T / HTTP/1.1\r\n\r\n", 400);
    refused("GET / HTTP/1.2\r\n\r\n", 505);
    refused("GET / HTTP/2.0\r\n\r\n", 505);
    refused("GET / HTTX/1.1\r\n\r\n", 400);
    refused("GET /\r\n\r\n", 400);
    char many[4096] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < HTTP1_MAX_HEADERS + 1; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "X%d: 1\r\n", i);
    strcat(many, "\r\n");
    refused(many, 431);
}

static enum http1_result resp(const char *s, bool head, http1_head *h)
{
    char err[128];
    return http1_parse_response(s, strlen(s), head, h, err, sizeof err);
}

static void test_response_head(void **state)
{
    (void)state;
    http1_head h;
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", false, &h), HTTP1_OK);
    assert_int_equal(h.status, 200);
    assert_true(http1_str_eq(h.reason, "OK"));
    assert_int_equal(h.framing, HTTP1_BODY_LENGTH);
    assert_true(h.keep_alive);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\n\r\n", false, &h), HTTP1_OK);
    assert_int_equal(h.framing, HTTP1_BODY_UNTIL_CLOSE);
    assert_false(h.keep_alive);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true, &h), HTTP1_OK);
    assert_int_equal(h.framing, HTTP1_BODY_NONE);
    assert_int_equal(resp("HTTP/1.1 204 No Content\r\n\r\n", false, &h), HTTP1_OK);
    assert_int_equal(h.framing, HTTP1_BODY_NONE);
    assert_true(h.keep_alive);
    assert_int_equal(resp("HTTP/1.1 100 Continue\r\n\r\n", false, &h), HTTP1_OK);
    assert_int_equal(h.status, 100);
    assert_int_equal(resp("HTTP/1.1 429\r\nContent-Length: 0\r\n\r\n", false, &h), HTTP1_OK);
    assert_int_equal(h.status, 429);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, &h),
                     HTTP1_OK);
    assert_int_equal(h.framing, HTTP1_BODY_CHUNKED);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false, &h), HTTP1_INCOMPLETE);

    const char *bad[] = {
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 099 Odd\r\n\r\n",
        "garbage\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (resp(bad[i], false, &h) != HTTP1_ERROR)
            fail_msg("accepted: %s", bad[i]);
}

static void test_head_end_resumes(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r\nnext";
    size_t n = strlen(s), from = 0, end = 0;
    /* Fed a byte at a time, the end is found once, where it is. */
    for (size_t len = 1; len <= n && !end; len++)
        end = http1_head_end(s, len, &from);
    assert_int_equal(end, n - 4);
    from = 0;
    assert_int_equal(http1_head_end("\r\n\r\n", 4, &from), 4);
    from = 0;
    assert_int_equal(http1_head_end("a\r\n\r", 4, &from), 0);
}

/* Scans s fed in pieces of `step` bytes; returns the result and decodes. */
static enum http1_result chunked(const char *s, size_t step, uint64_t max, char *out,
                                 size_t *outlen, size_t *used)
{
    http1_chunked c;
    http1_chunked_init(&c);
    char err[128];
    size_t n = strlen(s);
    enum http1_result r = HTTP1_INCOMPLETE;
    for (size_t len = step < n ? step : n; r == HTTP1_INCOMPLETE; len += step) {
        if (len > n)
            len = n;
        r = http1_chunked_scan(&c, s, len, max, err, sizeof err);
        if (len == n)
            break;
    }
    if (r == HTTP1_OK) {
        char *copy = strdup(s);
        http1_chunked_decode(copy, c.pos, copy);
        memcpy(out, copy, c.size);
        out[c.size] = '\0';
        free(copy);
        *outlen = c.size;
        *used = c.pos;
    }
    return r;
}

static void test_chunked(void **state)
{
    (void)state;
    char out[256];
    size_t n, used;
    const char *body = "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
    for (size_t step = 1; step <= strlen(body); step++) {
        assert_int_equal(chunked(body, step, 100, out, &n, &used), HTTP1_OK);
        assert_string_equal(out, "hello, world");
        assert_int_equal(n, 12);
        assert_int_equal(used, strlen(body) - 4);
    }
    assert_int_equal(chunked("0\r\n\r\n", 1, 100, out, &n, &used), HTTP1_OK);
    assert_int_equal(n, 0);
    assert_int_equal(chunked("A\r\n0123456789\r\n0\r\n\r\n", 3, 100, out, &n, &used), HTTP1_OK);
    assert_string_equal(out, "0123456789");
    assert_int_equal(chunked("5\r\nhello\r\n", 1, 100, out, &n, &used), HTTP1_INCOMPLETE);

    const char *bad[] = {
        "\r\n",                      /* no size */
        "x\r\n",                     /* not hex */
        "5\nhello\r\n0\r\n\r\n",     /* bare LF */
        "5\r\nhelloX\r\n0\r\n\r\n",  /* longer than its size */
        "-1\r\n",                    /* sign */
        "5 5\r\nhello\r\n0\r\n\r\n", /* junk after the size */
        "0\r\nX: \x01\r\n\r\n",      /* control byte in a trailer */
        "fffffffffffffffffffff\r\n", /* overflow */
        "65\r\n",                    /* 101 > max */
        /* sum (one string: two chunks of 64 bytes) */
        ("40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n"
         "40\r\n0123456789012345678901234567890123456789012345678901234567890123\r\n"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (chunked(bad[i], 1, 100, out, &n, &used) != HTTP1_ERROR)
            fail_msg("accepted: %s", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_head),  cmocka_unit_test(test_request_smuggling_refused),
        cmocka_unit_test(test_response_head), cmocka_unit_test(test_head_end_resumes),
        cmocka_unit_test(test_chunked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
