/* Process tests of batchproxy driving a pool of classifyd backends: work
 * spread over both, a dead backend ejected while the other serves, every
 * backend down (502/504 with a detail, /readyz 503), and the backends file
 * reloaded on SIGHUP. */
#include "tcheck.h"

#include <pthread.h>

#define NB 2

typedef struct fix {
    tproc be[NB], proxy;
    char file[256];
} fix;

static int setup(void **state)
{
    *state = calloc(1, sizeof(fix));
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    fix *f = *state;
    tproc_stop(&f->proxy, 5);
    for (int i = 0; i < NB; i++)
        tproc_stop(&f->be[i], 5);
    if (f->file[0])
        unlink(f->file);
    free(f);
    return 0;
}

static void start_backends(fix *f)
{
    const char *cargs[] = {"--cost", "0.002", "--quiet", NULL};
    for (int i = 0; i < NB; i++)
        tcheck_start(&f->be[i], "classifyd", cargs);
}

static void start_proxy(fix *f, const char *const *extra)
{
    const char *args[32];
    size_t n = 0;
    const char *common[] = {"--backend-timeout",  "2",    "--retries",     "3",
                            "--backoff-base",     "0.05", "--backoff-cap", "0.1",
                            "--eject-base",       "0.5",  "--log-level",   "info",
                            "--metrics-cache-ms", "0"};
    for (size_t i = 0; i < sizeof common / sizeof *common; i++)
        args[n++] = common[i];
    for (size_t i = 0; extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    tcheck_start(&f->proxy, "batchproxy", args);
}

typedef struct client {
    int port, idx;
    const char *hdr;
    thttp_resp resp;
    bool answered;
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    char body[128];
    /* 16 code points: 0.5 s per batch at --cost 0.002. */
    snprintf(body, sizeof body, "{\"sequence\": \"pool test %03d xyz\"}", c->idx);
    c->answered = thttp_request(c->port, "POST", "/proxy_classify", c->hdr, body, &c->resp, 30);
    return NULL;
}

/* n requests at once; returns how many got 200 (the others must be 502 or
 * 504 with a detail). */
static int burst(int port, int first, int n, const char *hdr)
{
    client cs[64];
    pthread_t th[64];
    for (int i = 0; i < n; i++) {
        cs[i] = (client){.port = port, .idx = first + i, .hdr = hdr};
        pthread_create(&th[i], NULL, client_main, &cs[i]);
    }
    int ok = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        if (!cs[i].answered)
            fail_msg("request %d got no answer", first + i);
        if (cs[i].resp.status == 200)
            ok++;
        else if (cs[i].resp.status == 502 || cs[i].resp.status == 504)
            tcheck_5xx_detail(&cs[i].resp);
        else
            fail_msg("request %d: unexpected status %d", first + i, cs[i].resp.status);
        thttp_resp_free(&cs[i].resp);
    }
    return ok;
}

static double backend_metric_at(int proxy_port, const char *name, const char *host, int be_port,
                                const char *extra)
{
    char series[256];
    snprintf(series, sizeof series, "%s{backend=\"%s:%d\"%s}", name, host, be_port,
             extra ? extra : "");
    return thttp_metric(proxy_port, series);
}

static double backend_metric(int proxy_port, const char *name, int be_port, const char *extra)
{
    return backend_metric_at(proxy_port, name, "127.0.0.1", be_port, extra);
}

/* 20 distinct requests at once over two backends: all served, both used
 * (one backend needs at least 4 batches of 0.5 s; the time is printed, not
 * checked). One backend is named by a host name, looked up by the
 * asynchronous resolver. */
static void test_pool_spreads_work(void **state)
{
    fix *f = *state;
    start_backends(f);
    char b0[64], b1[64];
    snprintf(b0, sizeof b0, "http://127.0.0.1:%d", f->be[0].port);
    snprintf(b1, sizeof b1, "http://localhost:%d", f->be[1].port);
    const char *extra[] = {"--backend", b0, "--backend", b1, NULL};
    start_proxy(f, extra);
    double t0 = tnow();
    assert_int_equal(burst(f->proxy.port, 0, 20, NULL), 20);
    double took = tnow() - t0;
    printf("# 20 requests over 2 backends in %.2f s (one backend: >= 2.0 s)\n", took);
    for (int i = 0; i < NB; i++)
        assert_true(backend_metric_at(f->proxy.port, "batchproxy_backend_batches_total",
                                      i ? "localhost" : "127.0.0.1", f->be[i].port,
                                      ",outcome=\"ok\"") >= 1);
    thttp_resp r;
    assert_true(thttp_request(f->proxy.port, "GET", "/stats", NULL, NULL, &r, 5));
    assert_non_null(strstr(r.body, "\"backends\""));
    thttp_resp_free(&r);
    assert_true(tproc_stop_clean(&f->proxy, 10));
}

/* The proxy on *port answers /readyz 503. */
static bool not_ready(void *port)
{
    thttp_resp r;
    assert_true(thttp_request(*(const int *)port, "GET", "/readyz", NULL, NULL, &r, 5));
    int status = r.status;
    thttp_resp_free(&r);
    return status == 503;
}

/* One backend killed: its failures eject it, the other serves everything;
 * then the other killed too: 502/504 with a detail, /readyz 503. */
static void test_pool_ejects_and_fails_when_all_down(void **state)
{
    fix *f = *state;
    start_backends(f);
    char b0[64], b1[64];
    snprintf(b0, sizeof b0, "http://127.0.0.1:%d", f->be[0].port);
    snprintf(b1, sizeof b1, "http://localhost:%d", f->be[1].port);
    const char *extra[] = {"--backend", b0, "--backend", b1, NULL};
    start_proxy(f, extra);
    int dead = f->be[0].port;
    assert_true(tproc_signal(&f->be[0], SIGKILL));
    tproc_wait(&f->be[0], 5);
    assert_int_equal(burst(f->proxy.port, 100, 10, "X-Timeout-Ms: 10000\r\n"), 10);
    assert_true(backend_metric(f->proxy.port, "batchproxy_backend_ejections_total", dead, NULL) >=
                1);
    assert_true(backend_metric(f->proxy.port, "batchproxy_backend_up", dead, NULL) == 0);
    thttp_resp r;
    assert_true(thttp_request(f->proxy.port, "GET", "/readyz", NULL, NULL, &r, 5));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);

    assert_true(tproc_signal(&f->be[1], SIGKILL));
    tproc_wait(&f->be[1], 5);
    double t0 = tnow();
    assert_int_equal(burst(f->proxy.port, 200, 6, "X-Timeout-Ms: 2000\r\n"), 0);
    assert_true(tnow() - t0 < 6); /* by the 2 s deadline, not after 4 attempts of 2 s */
    /* Not ready once no healthy backend has answered for the window (5 s). */
    int port = f->proxy.port;
    assert_true(tproc_wait_for(not_ready, &port, 10));
    assert_true(tcheck_metric_sum(f->proxy.port, "batchproxy_inflight_requests", NULL) == 0);
    assert_true(tproc_stop_clean(&f->proxy, 10));
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* The backends file, reloaded on SIGHUP: a backend added joins and gets
 * work; one removed leaves, and nothing is dropped meanwhile. */
static void test_pool_reload(void **state)
{
    fix *f = *state;
    start_backends(f);
    snprintf(f->file, sizeof f->file, "/tmp/bp-pool-%d.txt", (int)getpid());
    char text[256];
    snprintf(text, sizeof text, "# the pool\nhttp://127.0.0.1:%d\n", f->be[0].port);
    write_file(f->file, text);
    const char *extra[] = {"--backends-file", f->file, NULL};
    start_proxy(f, extra);
    assert_int_equal(burst(f->proxy.port, 300, 5, NULL), 5);

    snprintf(text, sizeof text, "http://127.0.0.1:%d\nhttp://127.0.0.1:%d # new\n", f->be[0].port,
             f->be[1].port);
    write_file(f->file, text);
    assert_true(tproc_signal(&f->proxy, SIGHUP));
    assert_true(tproc_await_log(&f->proxy, "joins the pool", 5));
    assert_int_equal(burst(f->proxy.port, 400, 20, NULL), 20);
    assert_true(backend_metric(f->proxy.port, "batchproxy_backend_batches_total", f->be[1].port,
                               ",outcome=\"ok\"") >= 1);

    /* Remove the first while traffic is in flight. */
    snprintf(text, sizeof text, "http://127.0.0.1:%d\n", f->be[1].port);
    client cs[10];
    pthread_t th[10];
    for (int i = 0; i < 10; i++) {
        cs[i] = (client){.port = f->proxy.port, .idx = 500 + i};
        pthread_create(&th[i], NULL, client_main, &cs[i]);
    }
    assert_true(thttp_await_metric(f->proxy.port, "batchproxy_inflight_requests", 1, 10) >= 1);
    write_file(f->file, text);
    assert_true(tproc_signal(&f->proxy, SIGHUP));
    for (int i = 0; i < 10; i++) {
        pthread_join(th[i], NULL);
        assert_true(cs[i].answered);
        assert_int_equal(cs[i].resp.status, 200);
        thttp_resp_free(&cs[i].resp);
    }
    assert_true(tproc_log_contains(&f->proxy, "left the pool"));
    double before = backend_metric(f->proxy.port, "batchproxy_backend_batches_total", f->be[0].port,
                                   ",outcome=\"ok\"");
    assert_int_equal(burst(f->proxy.port, 600, 5, NULL), 5);
    assert_true(backend_metric(f->proxy.port, "batchproxy_backend_batches_total", f->be[0].port,
                               ",outcome=\"ok\"") == before);
    assert_true(tproc_stop_clean(&f->proxy, 10));
}

/* One long request (30 code points: 1.8 s at --cost 0.002), answered into
 * *c on its own thread. */
static void *long_main(void *arg)
{
    client *c = arg;
    const char *body = "{\"sequence\": \"a long string of 30 characters\"}";
    c->answered = thttp_request(c->port, "POST", "/proxy_classify", NULL, body, &c->resp, 30);
    return NULL;
}

static void await_log(const tproc *p, const char *needle)
{
    if (!tproc_await_log(p, needle, 5))
        fail_msg("the proxy's log never said '%s'", needle);
}

/* One server listed three ways is one backend. A backend removed from the
 * file while its batch is in flight and listed again before that batch
 * ends stays one entry: were it added a second time, the server (one
 * request at a time) would be sent two batches and answer 429. */
static void test_pool_reload_back_and_forth(void **state)
{
    fix *f = *state;
    start_backends(f);
    snprintf(f->file, sizeof f->file, "/tmp/bp-pool-flip-%d.txt", (int)getpid());
    char one[256], other[256];
    snprintf(one, sizeof one,
             "http://127.0.0.1:%d\nhttp://127.0.0.1:%d/\nhttp://127.0.0.1:%d/classify\n",
             f->be[0].port, f->be[0].port, f->be[0].port);
    snprintf(other, sizeof other, "http://127.0.0.1:%d\n", f->be[1].port);
    write_file(f->file, one);
    const char *extra[] = {"--backends-file", f->file, NULL};
    start_proxy(f, extra);
    await_log(&f->proxy, "1 backend\n"); /* logged after "listening on" */
    assert_true(tproc_log_contains(&f->proxy, "listed already"));

    client lc = {.port = f->proxy.port};
    pthread_t lt;
    pthread_create(&lt, NULL, long_main, &lc);
    tcheck_await_batch_in_flight(f->proxy.port);
    write_file(f->file, other);
    assert_true(tproc_signal(&f->proxy, SIGHUP));
    await_log(&f->proxy, "leaves the pool after its batch in flight");
    write_file(f->file, one);
    assert_true(tproc_signal(&f->proxy, SIGHUP));
    await_log(&f->proxy, "stays in the pool");

    /* Short work while the long batch is still on be[0]: all of it goes
     * through (to be[1] until it leaves, then be[0]), none is refused. */
    int served = burst(f->proxy.port, 700, 10, NULL);
    pthread_join(lt, NULL);
    assert_int_equal(served, 10);
    assert_true(lc.answered);
    assert_int_equal(lc.resp.status, 200);
    thttp_resp_free(&lc.resp);
    assert_int_equal(backend_metric(f->proxy.port, "batchproxy_backend_batches_total",
                                    f->be[0].port, ",outcome=\"busy_429\""),
                     0);
    assert_int_equal(backend_metric(f->proxy.port, "batchproxy_backend_up", f->be[0].port, NULL),
                     1);
    assert_true(tproc_stop_clean(&f->proxy, 10));
}

/* Bad pool flags are refused before anything starts, naming the problem. */
static void test_pool_bad_flags(void **state)
{
    fix *f = *state;
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/tests/logs/pool-flags-%d.out", BP_BUILD_DIR, (int)getpid());
    snprintf(err, sizeof err, "%s/tests/logs/pool-flags-%d.err", BP_BUILD_DIR, (int)getpid());
    const char *scheme[] = {"--backend", "ftp://127.0.0.1:1", NULL};
    assert_int_equal(tproc_run("batchproxy", scheme, out, err, 10), 2);
    assert_true(tfile_contains(err, "only http://"));
    const char *port[] = {"--backend", "http://127.0.0.1:99999", NULL};
    assert_int_equal(tproc_run("batchproxy", port, out, err, 10), 2);
    assert_true(tfile_contains(err, "bad port"));
    const char *dir[] = {"--backends-file", "/tmp", "--listen", "127.0.0.1:0", NULL};
    assert_int_equal(tproc_run("batchproxy", dir, out, err, 10), 1);
    assert_true(tfile_contains(err, "Is a directory"));
    (void)f;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pool_spreads_work, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_ejects_and_fails_when_all_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_reload_back_and_forth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_bad_flags, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
