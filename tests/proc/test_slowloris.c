/* Slowloris against both servers (docs/security.md): with --io-timeout 1, a
 * request must arrive completely within 1 s of its first byte. A client
 * trickling its header or its body a byte every 0.2 s (which resets
 * evhttp's own read timeout every time) is cut off after about 1 s while
 * other clients are served normally; a request that is being served for
 * longer than that (3.2 s of modelled backend time), a request pipelined
 * behind it, and keep-alive requests spread over more than 1 s are not. */
#include "tcheck.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

typedef struct fix {
    tproc classifyd, proxy;
} fix;

/* classifyd with the given cost and batchproxy in front of it, both with
 * --io-timeout 1. */
static void start_pair(fix *f, const char *cost)
{
    const char *cargs[] = {"--cost", cost, "--io-timeout", "1", "--quiet", NULL};
    tcheck_start(&f->classifyd, "classifyd", cargs);
    char backend[64];
    snprintf(backend, sizeof backend, "http://127.0.0.1:%d", f->classifyd.port);
    const char *pargs[] = {"--backend", backend,       "--io-timeout", "1", "--cache-size",
                           "0",         "--log-level", "error",        NULL};
    tcheck_start(&f->proxy, "batchproxy", pargs);
}

static int setup(void **state)
{
    fix *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fix *f = *state;
    bool clean = tproc_stop_clean(&f->proxy, 5); /* exit 0, no sanitizer report */
    clean &= tproc_stop_clean(&f->classifyd, 5);
    free(f);
    return clean ? 0 : -1;
}

static void stop_both_clean(fix *f)
{
    assert_true(tproc_stop_clean(&f->proxy, 10));
    assert_true(tproc_stop_clean(&f->classifyd, 10));
}

/* One request on a fresh connection to p (classifyd or, if proxy,
 * batchproxy), answered 200 at once. */
static void assert_served(const tproc *p, bool proxy)
{
    const char *path = proxy ? "/proxy_classify" : "/classify";
    const char *body = proxy ? "{\"sequence\": \"still served\"}" : "{\"sequences\": [\"served\"]}";
    thttp_resp r;
    assert_true(thttp_request(p->port, "POST", path, NULL, body, &r, 2));
    assert_int_equal(r.status, 200);
    assert_true(r.elapsed < 0.5);
    thttp_resp_free(&r);
}

/* True if the peer has closed fd (EOF, reset), waiting up to `wait` s. */
static bool peer_closed(int fd, double wait)
{
    double end = tnow() + wait;
    do {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        double left = end - tnow();
        if (poll(&p, 1, left > 0 ? (int)(left * 1000) + 1 : 0) > 0) {
            char buf[512];
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n <= 0)
                return true;
        }
    } while (tnow() < end);
    return false;
}

/* Sends `head` at once (may be ""), then `trickle` a byte every 0.2 s until
 * the server hangs up, checking now and then that others are still served.
 * Returns the seconds from the first byte to the hang-up (or a large value
 * if `trickle` ran out first). */
static double trickle_until_cut(const tproc *p, bool proxy, const char *head, const char *trickle)
{
    int fd = thttp_connect(p->port);
    assert_true(fd >= 0);
    double t0 = tnow();
    if (*head)
        assert_true(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
    double took = 1e9;
    for (size_t i = 0; trickle[i]; i++) {
        if (send(fd, trickle + i, 1, MSG_NOSIGNAL) != 1) {
            took = tnow() - t0;
            break;
        }
        if (i == 0 && !*head)
            t0 = tnow();
        if (i % 3 == 1)
            assert_served(p, proxy); /* others go on meanwhile */
        if (peer_closed(fd, 0.2)) {
            took = tnow() - t0;
            break;
        }
    }
    close(fd);
    return took;
}

/* 40 bytes: 8 s at one byte every 0.2 s, far past the 1 s deadline. */
#define NEVER_ENDING_HEADER "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void check_cut(const char *what, double took)
{
    printf("# %s cut off %.2f s after its first byte (--io-timeout 1)\n", what, took);
    assert_true(took >= 0.9);
    assert_true(took < 5);
}

/* (1) + (3): a header trickled byte by byte, against each server. */
static void test_trickled_header_is_cut_off(void **state)
{
    fix *f = *state;
    start_pair(f, "0");
    const char *trickle = "POST /classify HTTP/1.1\r\nHost: x\r\n" NEVER_ENDING_HEADER;
    check_cut("classifyd: trickled header", trickle_until_cut(&f->classifyd, false, "", trickle));
    trickle = "POST /proxy_classify HTTP/1.1\r\nHost: x\r\n" NEVER_ENDING_HEADER;
    check_cut("batchproxy: trickled header", trickle_until_cut(&f->proxy, true, "", trickle));
    assert_served(&f->classifyd, false);
    assert_served(&f->proxy, true);
    stop_both_clean(f);
}

/* (2) + (3): complete headers at once, then the body trickled. */
static void test_trickled_body_is_cut_off(void **state)
{
    fix *f = *state;
    start_pair(f, "0");
    const char *body = "{\"sequences\": [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}";
    char head[256];
    snprintf(head, sizeof head,
             "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n",
             strlen(body));
    check_cut("classifyd: trickled body", trickle_until_cut(&f->classifyd, false, head, body));
    snprintf(head, sizeof head,
             "POST /proxy_classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n",
             strlen(body));
    check_cut("batchproxy: trickled body", trickle_until_cut(&f->proxy, true, head, body));
    stop_both_clean(f);
}

/* (3): many tricklers at once, on both servers: every one is cut off in
 * time while ordinary requests keep being answered at once. */
static void test_many_tricklers_do_not_stall_others(void **state)
{
    fix *f = *state;
    start_pair(f, "0");
    enum { N = 40 };
    int fds[N];
    bool cut[N] = {false};
    const char *line = "POST /classify HTTP/1.1\r\nHost: x\r\n" NEVER_ENDING_HEADER;
    for (int i = 0; i < N; i++) {
        fds[i] = thttp_connect(i % 2 ? f->proxy.port : f->classifyd.port);
        assert_true(fds[i] >= 0);
    }
    double t0 = tnow();
    int left = N;
    for (size_t k = 0; line[k] && left > 0 && tnow() - t0 < 5; k++) {
        for (int i = 0; i < N; i++)
            if (!cut[i] &&
                (send(fds[i], line + k, 1, MSG_NOSIGNAL) != 1 || peer_closed(fds[i], 0))) {
                cut[i] = true;
                left--;
                assert_true(tnow() - t0 >= 0.9);
            }
        assert_served(&f->classifyd, false);
        assert_served(&f->proxy, true);
        tpause(0.2); /* the trickle's pace: what is exercised, not ordering */
    }
    for (int i = 0; i < N; i++) {
        if (!cut[i])
            cut[i] = peer_closed(fds[i], 0.1);
        close(fds[i]);
    }
    double took = tnow() - t0;
    for (int i = 0; i < N; i++)
        assert_true(cut[i]);
    printf("# %d tricklers all cut off within %.2f s; others served throughout\n", N, took);
    assert_true(took < 5);
    stop_both_clean(f);
}

/* A 40-character sequence: 0.002 × 40² = 3.2 s at the backend. */
#define SLOW_SEQ "abcdefghijabcdefghijabcdefghijabcdefghij"

/* (4): requests served for longer than --io-timeout are not cut, directly
 * at classifyd and through batchproxy; neither is a request pipelined
 * behind a slow one. */
static void test_slow_answers_are_not_cut(void **state)
{
    fix *f = *state;
    start_pair(f, "0.002");
    thttp_resp r;
    assert_true(thttp_request(f->classifyd.port, "POST", "/classify", NULL,
                              "{\"sequences\": [\"" SLOW_SEQ "\"]}", &r, 10));
    assert_int_equal(r.status, 200);
    assert_true(r.elapsed >= 3.1);
    printf("# classifyd: 3.2 s request answered 200 after %.2f s (--io-timeout 1)\n", r.elapsed);
    thttp_resp_free(&r);

    assert_true(thttp_request(f->proxy.port, "POST", "/proxy_classify", NULL,
                              "{\"sequence\": \"" SLOW_SEQ "\"}", &r, 10));
    assert_int_equal(r.status, 200);
    assert_true(r.elapsed >= 3.1);
    printf("# batchproxy: 3.2 s request answered 200 after %.2f s (--io-timeout 1)\n", r.elapsed);
    thttp_resp_free(&r);

    /* Pipelined: the second request is sent while the first is served. */
    const struct {
        int port;
        const char *path, *slow, *fast;
    } cases[] = {
        {f->classifyd.port, "/classify", "{\"sequences\": [\"" SLOW_SEQ "x\"]}",
         "{\"sequences\": [\"short\"]}"},
        {f->proxy.port, "/proxy_classify", "{\"sequence\": \"" SLOW_SEQ "y\"}",
         "{\"sequence\": \"short one\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = thttp_connect(cases[i].port);
        assert_true(fd >= 0);
        assert_true(
            thttp_send(fd, "POST", cases[i].path, NULL, cases[i].slow, strlen(cases[i].slow)));
        assert_true(tsock_await_consumed(fd, 5)); /* the slow one is under way */
        assert_true(
            thttp_send(fd, "POST", cases[i].path, NULL, cases[i].fast, strlen(cases[i].fast)));
        assert_true(thttp_recv(fd, &r, 10));
        assert_int_equal(r.status, 200);
        thttp_resp_free(&r);
        assert_true(thttp_recv(fd, &r, 5));
        assert_int_equal(r.status, 200);
        thttp_resp_free(&r);
        close(fd);
    }
    printf("# a request pipelined behind a 3.3 s one is answered too, on both servers\n");
    stop_both_clean(f);
}

/* (5): keep-alive. The clock restarts with each request, so requests on one
 * connection spread over more than the 1 s deadline all succeed, with
 * pauses of 0.6 s (under the 1 s idle timeout) between them. */
static void test_keepalive_requests_each_get_their_own_clock(void **state)
{
    fix *f = *state;
    start_pair(f, "0");
    const struct {
        int port;
        const char *path, *body;
    } cases[] = {
        {f->classifyd.port, "/classify", "{\"sequences\": [\"keep alive\"]}"},
        {f->proxy.port, "/proxy_classify", "{\"sequence\": \"keep alive\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = thttp_connect(cases[i].port);
        assert_true(fd >= 0);
        double t0 = tnow();
        for (int k = 0; k < 3; k++) {
            if (k)
                tpause(0.6); /* idle, under the 1 s timeout: what is exercised */
            thttp_resp r;
            assert_true(
                thttp_send(fd, "POST", cases[i].path, NULL, cases[i].body, strlen(cases[i].body)));
            assert_true(thttp_recv(fd, &r, 5));
            assert_int_equal(r.status, 200);
            thttp_resp_free(&r);
        }
        printf("# 3 keep-alive requests over %.2f s on one connection: all 200\n", tnow() - t0);
        close(fd);
    }
    stop_both_clean(f);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_trickled_header_is_cut_off),
        T(test_trickled_body_is_cut_off),
        T(test_many_tricklers_do_not_stall_others),
        T(test_slow_answers_are_not_cut),
        T(test_keepalive_requests_each_get_their_own_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
