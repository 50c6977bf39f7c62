/* Misbehaving clients against batchproxy, checking docs/security.md's
 * claims: stalled and trickling senders don't stall others and stalled ones
 * are cut off by --io-timeout (trickling ones: test_slowloris); 2,000 idle
 * connections don't stop new ones being served; clients that leave
 * mid-request leak nothing; sizes are bounded; the default listen address
 * is loopback. */
#include "tcheck.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

typedef struct fix {
    tproc classifyd, proxy;
} fix;

static int setup(void **state)
{
    fix *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    const char *cargs[] = {"--cost", "0", "--quiet", NULL};
    if (!tproc_start(&f->classifyd, "classifyd", cargs)) {
        free(f);
        return -1;
    }
    char backend[64];
    snprintf(backend, sizeof backend, "http://127.0.0.1:%d", f->classifyd.port);
    const char *pargs[] = {"--backend",   backend, "--io-timeout",       "1", "--max-body", "4096",
                           "--log-level", "error", "--metrics-cache-ms", "0", NULL};
    if (!tproc_start(&f->proxy, "batchproxy", pargs)) {
        tproc_stop(&f->classifyd, 5);
        free(f);
        return -1;
    }
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

static void assert_served(int port)
{
    thttp_resp r;
    assert_true(thttp_request(port, "POST", "/proxy_classify", NULL,
                              "{\"sequence\": \"still served\"}", &r, 2));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

/* True once the peer has closed fd (EOF or reset) within `limit` seconds. */
static bool closed_within(int fd, double limit)
{
    double end = tnow() + limit;
    while (tnow() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            char buf[512];
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n <= 0)
                return true;
        }
    }
    return false;
}

static void stalled(void **state, const char *partial)
{
    fix *f = *state;
    int fd = thttp_connect(f->proxy.port);
    assert_true(fd >= 0);
    assert_true(send(fd, partial, strlen(partial), 0) == (ssize_t)strlen(partial));
    double t0 = tnow();
    assert_served(f->proxy.port);      /* others go on meanwhile */
    assert_true(closed_within(fd, 5)); /* about 1 s; the bound is loose */
    double took = tnow() - t0;
    printf("# stalled sender cut off after %.2f s (--io-timeout 1)\n", took);
    assert_true(took >= 0.8);
    close(fd);
    assert_true(tproc_stop_clean(&f->proxy, 10));
}

static void test_stalled_header_is_cut_off(void **state)
{
    stalled(state, "POST /proxy_classify HTTP/1.1\r\nHost: x\r\nX-Cl");
}

static void test_stalled_body_is_cut_off(void **state)
{
    stalled(state, "POST /proxy_classify HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{\"seq");
}

/* A sender trickling its header byte by byte does not hold up anyone else.
 * (That it is cut off once its request deadline passes, although evhttp 2.1
 * restarts its read timeout at every byte, is test_slowloris's subject.) */
static void test_trickling_sender_does_not_stall_others(void **state)
{
    fix *f = *state;
    int fd = thttp_connect(f->proxy.port);
    assert_true(fd >= 0);
    const char *req = "POST /proxy_classify HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaaaaaaaa";
    for (const char *p = req; *p; p++) {
        if (send(fd, p, 1, MSG_NOSIGNAL) != 1)
            break;
        if ((p - req) % 8 == 0)
            assert_served(f->proxy.port);
        tpause(0.02); /* the trickle's pace: what is exercised, not ordering */
    }
    close(fd);
    assert_true(tproc_stop_clean(&f->proxy, 10));
}

typedef struct idle_set {
    const int *fds;
    int n;
} idle_set;

/* Every connection of the set has been closed by the proxy (reading it
 * would not block: an idle client is sent nothing else). */
static bool all_closed_by_peer(void *arg)
{
    const idle_set *s = arg;
    for (int i = 0; i < s->n; i++)
        if (!tsock_readable(s->fds[i]))
            return false;
    return true;
}

static void test_idle_connections_do_not_block_new_ones(void **state)
{
    fix *f = *state;
    enum { IDLE = 2000 };
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < IDLE + 100)
        skip();
    int *fds = calloc(IDLE, sizeof *fds);
    assert_non_null(fds);
    for (int i = 0; i < IDLE; i++) {
        fds[i] = thttp_connect(f->proxy.port);
        assert_true(fds[i] >= 0);
    }
    /* Within the idle connections' timeout (1 s) and after it, once the
     * proxy has closed them all. */
    assert_served(f->proxy.port);
    idle_set set = {fds, IDLE};
    assert_true(tproc_wait_for(all_closed_by_peer, &set, 30));
    assert_served(f->proxy.port);
    for (int i = 0; i < IDLE; i++)
        close(fds[i]);
    free(fds);
    printf("# %d idle connections: new requests served during and after\n", IDLE);
    assert_true(tproc_stop_clean(&f->proxy, 10));
}

/* Clients that leave half way through sending, or while waiting for their
 * answer: nothing stays behind (the sanitizer's leak check at exit, and the
 * in-flight gauge). */
static void test_clients_leaving_mid_request_leak_nothing(void **state)
{
    fix *f = *state;
    for (int i = 0; i < 50; i++) {
        int fd = thttp_connect(f->proxy.port);
        assert_true(fd >= 0);
        const char *half =
            "POST /proxy_classify HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\n{\"se";
        assert_true(send(fd, half, strlen(half), 0) > 0);
        close(fd);
        fd = thttp_connect(f->proxy.port);
        char body[64];
        snprintf(body, sizeof body, "{\"sequence\": \"leaving %d\"}", i);
        assert_true(thttp_send(fd, "POST", "/proxy_classify", NULL, body, strlen(body)));
        close(fd);
    }
    thttp_await_metric_at_most(f->proxy.port, "batchproxy_inflight_requests", 0, 10);
    assert_true(tcheck_metric_sum(f->proxy.port, "batchproxy_inflight_requests", NULL) == 0);
    assert_true(tcheck_metric_sum(f->proxy.port, "batchproxy_queue_depth", NULL) == 0);
    assert_served(f->proxy.port);
    assert_true(tproc_stop_clean(&f->proxy, 10));
}

static void test_sizes_are_bounded(void **state)
{
    fix *f = *state;
    /* Body over --max-body (4096): 413 with a detail. */
    size_t n = 6000;
    char *body = malloc(n + 32);
    assert_non_null(body);
    snprintf(body, n + 32, "{\"sequence\": \"%0*d\"}", (int)n, 0);
    thttp_resp r;
    assert_true(thttp_request(f->proxy.port, "POST", "/proxy_classify", NULL, body, &r, 5));
    assert_int_equal(r.status, 413);
    thttp_resp_free(&r);
    free(body);
    /* Headers over 16 KiB: refused, connection closed, no answer parsed. */
    size_t hn = 20000;
    char *hdr = malloc(hn + 32);
    assert_non_null(hdr);
    memcpy(hdr, "X-Pad: ", 7);
    memset(hdr + 7, 'a', hn);
    memcpy(hdr + 7 + hn, "\r\n", 3);
    int fd = thttp_connect(f->proxy.port);
    assert_true(thttp_send(fd, "POST", "/proxy_classify", hdr, "{}", 2));
    bool got = thttp_recv(fd, &r, 3);
    if (got) {
        assert_true(r.status >= 400);
        thttp_resp_free(&r);
    }
    close(fd);
    free(hdr);
    /* A sequence over --max-length: 413. */
    char *lng = malloc(1100 + 32);
    snprintf(lng, 1100 + 32, "{\"sequence\": \"%01050d\"}", 0);
    assert_true(thttp_request(f->proxy.port, "POST", "/proxy_classify", NULL, lng, &r, 5));
    assert_int_equal(r.status, 413);
    thttp_resp_free(&r);
    free(lng);
    assert_served(f->proxy.port);
    assert_true(tproc_stop_clean(&f->proxy, 10));
}

static void test_defaults_listen_on_loopback(void **state)
{
    FILE *p = popen(BP_BUILD_DIR "/batchproxy --help; " BP_BUILD_DIR "/classifyd --help", "r");
    assert_non_null(p);
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    pclose(p);
    assert_non_null(strstr(buf, "default 127.0.0.1:8000"));
    assert_non_null(strstr(buf, "default 127.0.0.1:8001"));
}

/* A client that asks for a lot and reads nothing: once the kernel's
 * buffers are full, the reply makes no progress for --io-timeout (1 s) and
 * the connection is closed; the proxy goes on serving. Read after 3 s, far
 * less than was asked for arrives before the end. */
static void test_client_not_reading_is_cut_off(void **state)
{
    fix *f = *state;
    int fd = thttp_connect(f->proxy.port);
    assert_true(fd >= 0);
    const char req[] = "GET /dashboard HTTP/1.1\r\nHost: x\r\n\r\n";
    enum { N = 600 }; /* the page is tens of KB: N of them is ~20 MB */
    for (int i = 0; i < N; i++)
        assert_true(send(fd, req, sizeof req - 1, 0) == (ssize_t)(sizeof req - 1));
    tpause(3); /* not reading, for far longer than --io-timeout: what is exercised */
    assert_served(f->proxy.port);
    thttp_resp one;
    assert_true(thttp_request(f->proxy.port, "GET", "/dashboard", NULL, NULL, &one, 5));
    size_t page = one.body_len;
    thttp_resp_free(&one);
    size_t total = 0;
    double end = tnow() + 60;
    bool eof = false;
    while (!eof && tnow() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            char buf[65536];
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            eof = n <= 0;
            total += n > 0 ? (size_t)n : 0;
        }
    }
    close(fd);
    printf("# a client reading nothing for 3 s got %zu of %zu bytes before the close\n", total,
           (size_t)N * page);
    assert_true(eof);
    assert_true(total < (size_t)N * page / 2);
    assert_true(tproc_stop_clean(&f->proxy, 10));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_stalled_header_is_cut_off),
        T(test_stalled_body_is_cut_off),
        T(test_trickling_sender_does_not_stall_others),
        T(test_idle_connections_do_not_block_new_ones),
        T(test_clients_leaving_mid_request_leak_nothing),
        T(test_sizes_are_bounded),
        T(test_client_not_reading_is_cut_off),
        cmocka_unit_test(test_defaults_listen_on_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
