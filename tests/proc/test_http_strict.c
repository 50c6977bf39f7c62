/* batchproxy's HTTP server against hostile and unusual clients: refusals
 * decided by the head come before the body is read (and memory stays
 * small), smuggling attempts are refused, every error is JSON, a
 * half-closed client is still answered, a drain says "Connection: close"
 * and answers late requests 503. */
#include "tcheck.h"

#include <netinet/in.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/socket.h>

typedef struct fix {
    tproc classifyd, proxy;
    char clients[256];
} fix;

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
    tproc_stop(&f->proxy, 5);
    tproc_stop(&f->classifyd, 5);
    if (f->clients[0])
        unlink(f->clients);
    free(f);
    return 0;
}

/* classifyd at `cost` and batchproxy in front with extra args. */
static void start(fix *f, const char *cost, const char *const *extra)
{
    const char *cargs[] = {"--cost", cost, "--quiet", NULL};
    assert_true(tproc_start(&f->classifyd, "classifyd", cargs));
    char backend[64];
    snprintf(backend, sizeof backend, "http://127.0.0.1:%d", f->classifyd.port);
    const char *args[32] = {"--backend", backend, "--io-timeout", "10", "--max-body", "4096"};
    size_t n = 6;
    for (; extra && *extra && n < 30; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    assert_true(tproc_start(&f->proxy, "batchproxy", args));
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

/* Sends raw bytes on a new connection and reads one answer. */
static int raw(int port, const char *req, thttp_resp *r, int *fd_out)
{
    int fd = thttp_connect(port);
    assert_true(fd >= 0);
    send_all(fd, req, strlen(req));
    bool got = thttp_recv(fd, r, 5);
    if (fd_out)
        *fd_out = fd;
    else
        close(fd);
    return got ? r->status : 0;
}

/* The answer is `status` with a JSON {"detail": ...}. */
static void expect_json_error(const thttp_resp *r, int status, const char *what)
{
    if (r->status != status)
        fail_msg("%s: status %d, want %d; body %s", what, r->status, status, r->body);
    json_t *v = json_loads(r->body, 0, NULL);
    const char *d = json_string_value(json_object_get(v, "detail"));
    if (!d || !*d)
        fail_msg("%s: no JSON detail in %s", what, r->body);
    json_decref(v);
}

/* True once the peer has closed fd within `limit` seconds. */
static bool closed_within(int fd, double limit)
{
    double end = tnow() + limit;
    while (tnow() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            char buf[4096];
            if (recv(fd, buf, sizeof buf, 0) <= 0)
                return true;
        }
    }
    return false;
}

static const char *head_of(const char *method, const char *extra)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s /proxy_classify HTTP/1.1\r\nHost: x\r\n%s\r\n", method, extra);
    return buf;
}

/* A refusal from the head is answered at once, without waiting for the
 * body, and the connection then closes. */
static void expect_refused_from_head(int port, const char *head, int status, const char *what)
{
    thttp_resp r;
    int fd;
    double t0 = tnow();
    int got = raw(port, head, &r, &fd);
    if (!got)
        fail_msg("%s: no answer within 5 s (waiting for the body?)", what);
    expect_json_error(&r, status, what);
    assert_true(tnow() - t0 < 3);
    char v[64];
    assert_non_null(thttp_header(&r, "Connection", v, sizeof v));
    assert_string_equal(v, "close");
    thttp_resp_free(&r);
    assert_true(closed_within(fd, 3));
    close(fd);
}

static void test_content_length_over_the_limit_is_refused_from_the_head(void **state)
{
    fix *f = *state;
    start(f, "0", NULL);
    expect_refused_from_head(f->proxy.port, head_of("POST", "Content-Length: 5000\r\n"), 413,
                             "Content-Length 5000 > 4096, no body sent");
    expect_refused_from_head(f->proxy.port, head_of("POST", "Content-Length: 40000\r\n"), 413,
                             "Content-Length 40000, no body sent");
}

static void write_clients(fix *f, const char *text)
{
    snprintf(f->clients, sizeof f->clients, "/tmp/bp_strict_clients_%d", (int)getpid());
    FILE *c = fopen(f->clients, "w");
    assert_non_null(c);
    fputs(text, c);
    fclose(c);
}

/* Without a key, a large body is refused 401 from the head: 200 clients
 * pushing 1 MB each don't make the proxy hold their bodies. */
static void test_missing_key_is_refused_before_the_body(void **state)
{
    fix *f = *state;
    write_clients(f, "[alice]\nkey = alice-key-0123456789\n");
    start(f, "0", (const char *[]){"--clients", f->clients, "--max-body", "1048576", NULL});
    expect_refused_from_head(f->proxy.port, head_of("POST", "Content-Length: 4000\r\n"), 401,
                             "no key, body not sent");
    long before = tproc_proc_value(f->proxy.pid, "status", "VmRSS:");
    enum { N = 200, BODY = 1000000 };
    static char junk[65536];
    memset(junk, 'a', sizeof junk);
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = thttp_connect(f->proxy.port);
        assert_true(fds[i] >= 0);
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        const char *h = head_of("POST", "Content-Length: 1000000\r\n");
        send_all(fds[i], h, strlen(h));
        for (size_t sent = 0; sent < BODY;) { /* as much as the proxy takes */
            ssize_t w = send(fds[i], junk, sizeof junk, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            sent += (size_t)w;
        }
    }
    long peak = 0;
    for (int k = 0; k < 10; k++) {
        long now = tproc_proc_value(f->proxy.pid, "status", "VmRSS:");
        peak = now > peak ? now : peak;
        tpause(0.05); /* sampling the peak while they push: a measurement, not ordering */
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
    printf("RSS before %ld kB, with %d clients pushing 1 MB bodies %ld kB\n", before, N, peak);
    assert_true(peak - before < 40 * 1024); /* their bodies would be 200 MB */
    thttp_resp r;
    assert_true(thttp_request(f->proxy.port, "GET", "/healthz", NULL, NULL, &r, 5));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

static void test_smuggling_framings_are_refused(void **state)
{
    fix *f = *state;
    start(f, "0", NULL);
    const char *hidden = "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n";
    char req[512];
    snprintf(req, sizeof req,
             "POST /proxy_classify HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n"
             "Content-Length: %zu\r\n\r\n{\"sequence\":\"a\"}%s",
             16 + strlen(hidden), hidden);
    expect_refused_from_head(f->proxy.port, req, 400, "duplicate Content-Length");
    snprintf(req, sizeof req,
             "POST /proxy_classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
             "10\r\n{\"sequence\":\"a\"}\r\n0\r\n\r\n%s",
             hidden);
    expect_refused_from_head(f->proxy.port, req, 400, "Transfer-Encoding: gzip, chunked");
    /* Answered by the server alone, and still counted (as the anonymous
     * client's: nothing was read to tell who sent them). */
    assert_true(thttp_await_metric(f->proxy.port,
                                   "batchproxy_requests_total{client=\"-\",status=\"400\"}", 2,
                                   10) == 2);
}

static void test_every_error_is_json(void **state)
{
    fix *f = *state;
    start(f, "0", NULL);
    int port = f->proxy.port;
    thttp_resp r;
    char v[128];
    assert_int_equal(raw(port, "TRACE /proxy_classify HTTP/1.1\r\nHost: x\r\n\r\n", &r, NULL), 405);
    expect_json_error(&r, 405, "TRACE");
    assert_non_null(thttp_header(&r, "Allow", v, sizeof v));
    assert_string_equal(v, "POST");
    thttp_resp_free(&r);
    assert_int_equal(raw(port, "TRACE /healthz HTTP/1.1\r\nHost: x\r\n\r\n", &r, NULL), 405);
    assert_non_null(thttp_header(&r, "Allow", v, sizeof v));
    assert_string_equal(v, "GET, HEAD");
    thttp_resp_free(&r);
    expect_refused_from_head(port, "CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n", 501,
                             "CONNECT");
    expect_refused_from_head(port, "BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 501,
                             "unknown method");
    expect_refused_from_head(port, head_of("POST", "Expect: tea\r\nContent-Length: 2\r\n"), 417,
                             "unknown Expect");
    expect_refused_from_head(port, "GET /healthz HTTP/1.1\nHost: x\n\n", 400, "bare LF");
    expect_refused_from_head(port, "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0");
    char big[20000];
    snprintf(big, sizeof big, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: %0*d\r\n\r\n", 17000, 0);
    expect_refused_from_head(port, big, 431, "17 kB of headers");
}

static void test_http_features(void **state)
{
    fix *f = *state;
    start(f, "0", NULL);
    int port = f->proxy.port;
    thttp_resp r;
    /* A chunked body. */
    assert_int_equal(raw(port,
                         "POST /proxy_classify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                         "chunked\r\n\r\n8\r\n{\"sequen\r\n8;ext=1\r\nce\":\"int\r\n3\r\n\"}\n\r\n"
                         "0\r\nX-Trailer: 1\r\n\r\n",
                         &r, NULL),
                     200);
    thttp_resp_free(&r);
    /* Expect: 100-continue gets its 100 before the body is sent. */
    int fd = thttp_connect(port);
    const char *h = head_of("POST", "Expect: 100-continue\r\nContent-Length: 16\r\n");
    send_all(fd, h, strlen(h));
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "HTTP/1.1 100 Continue\r\n\r\n"));
    send_all(fd, "{\"sequence\":\"a\"}", 16);
    assert_true(thttp_recv(fd, &r, 5));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    close(fd);
    /* Pipelined requests are answered in order. */
    fd = thttp_connect(port);
    const char *two =
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, two, strlen(two));
    char both[4096] = "";
    size_t got = 0;
    for (double end = tnow() + 5; tnow() < end && !strstr(both, "HTTP/1.1 404");) {
        ssize_t k = recv(fd, both + got, sizeof both - 1 - got, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
        both[got] = '\0';
    }
    char *ok = strstr(both, "HTTP/1.1 200"), *nf = strstr(both, "HTTP/1.1 404");
    assert_true(ok && nf && ok < nf);
    close(fd);
}

/* A client that sends its request and then shuts its sending side down
 * still reads: it gets its answer, then the connection closes. */
static void test_half_closed_client_is_answered(void **state)
{
    fix *f = *state;
    start(f, "0.002", NULL); /* about 0.2 s of backend work */
    int fd = thttp_connect(f->proxy.port);
    const char *body = "{\"sequence\":\"a string of ten\"}";
    assert_true(thttp_send(fd, "POST", "/proxy_classify", NULL, body, strlen(body)));
    shutdown(fd, SHUT_WR);
    thttp_resp r;
    assert_true(thttp_recv(fd, &r, 10));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_true(closed_within(fd, 3));
    close(fd);
    assert_true(
        thttp_metric(f->proxy.port, "batchproxy_requests_total{client=\"-\",status=\"499\"}") == 0);
}

/* During a drain every answer says "Connection: close", and a request that
 * still comes on a kept-alive connection gets a JSON 503. */
static void test_drain_closes_and_answers_late_requests(void **state)
{
    fix *f = *state;
    start(f, "0.005", (const char *[]){"--drain-timeout", "10", NULL});
    int idle = thttp_connect(f->proxy.port);
    thttp_resp r;
    assert_true(thttp_send(idle, "GET", "/healthz", NULL, NULL, 0));
    assert_true(thttp_recv(idle, &r, 5));
    thttp_resp_free(&r);
    /* About 0.5 s of work keeps the drain going. */
    int busy = thttp_connect(f->proxy.port);
    const char *body = "{\"sequence\":\"a longer string to keep it busy for a while\"}";
    assert_true(thttp_send(busy, "POST", "/proxy_classify", NULL, body, strlen(body)));
    assert_true(thttp_await_metric(f->proxy.port, "batchproxy_inflight_requests", 1, 5) == 1);
    assert_true(tproc_signal(&f->proxy, SIGTERM));
    assert_true(tproc_await_log(&f->proxy, "draining", 5));
    char v[64];
    assert_true(thttp_send(idle, "GET", "/healthz", NULL, NULL, 0));
    assert_true(thttp_recv(idle, &r, 5));
    expect_json_error(&r, 503, "request during the drain");
    assert_non_null(thttp_header(&r, "Connection", v, sizeof v));
    assert_string_equal(v, "close");
    thttp_resp_free(&r);
    assert_true(thttp_recv(busy, &r, 10));
    assert_int_equal(r.status, 200);
    assert_non_null(thttp_header(&r, "Connection", v, sizeof v));
    assert_string_equal(v, "close");
    thttp_resp_free(&r);
    close(idle);
    close(busy);
    assert_int_equal(tproc_wait(&f->proxy, 10), 0);
}

/* At --max-connections the oldest idle connection makes room for a new
 * one; one with a request under way is kept. */
static void test_connection_limit_closes_the_oldest_idle(void **state)
{
    fix *f = *state;
    start(f, "0", (const char *[]){"--max-connections", "3", NULL});
    int busy = thttp_connect(f->proxy.port);
    send_all(busy, "GET /healthz HTTP/1.1\r\nHost: x\r\n", 32); /* a head under way */
    int oldest = thttp_connect(f->proxy.port);
    thttp_resp r;
    assert_true(thttp_send(oldest, "GET", "/healthz", NULL, NULL, 0));
    assert_true(thttp_recv(oldest, &r, 5));
    thttp_resp_free(&r);
    int newer = thttp_connect(f->proxy.port);
    assert_true(thttp_send(newer, "GET", "/healthz", NULL, NULL, 0));
    assert_true(thttp_recv(newer, &r, 5));
    thttp_resp_free(&r);
    /* A fourth: the oldest idle one goes, the busy one stays. */
    assert_true(thttp_request(f->proxy.port, "GET", "/healthz", NULL, NULL, &r, 5));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_true(closed_within(oldest, 3));
    send_all(busy, "\r\n", 2);
    assert_true(thttp_recv(busy, &r, 5));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    close(busy);
    close(oldest);
    close(newer);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_content_length_over_the_limit_is_refused_from_the_head),
        T(test_missing_key_is_refused_before_the_body),
        T(test_smuggling_framings_are_refused),
        T(test_every_error_is_json),
        T(test_http_features),
        T(test_half_closed_client_is_answered),
        T(test_drain_closes_and_answers_late_requests),
        T(test_connection_limit_closes_the_oldest_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
