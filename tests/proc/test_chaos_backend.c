/* Chaos tests of the backend itself: killed mid-batch (and restarted, or
 * not), and answering garbage. Nothing hangs, nothing malformed reaches a
 * client. */
#include "tcheck.h"

#include <pthread.h>

typedef struct fix {
    tproc classifyd, reference, proxy;
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
    tproc_stop(&f->classifyd, 5);
    tproc_stop(&f->reference, 5);
    free(f);
    return 0;
}

/* N clients, each one request on its own connection, sent at once. */
#define CLIENTS 8

typedef struct client {
    int port, idx;
    const char *timeout_hdr;
    thttp_resp resp;
    bool answered;
    double elapsed;
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    char body[128];
    /* 16 code points: 0.5 s per batch at --cost 0.002. */
    snprintf(body, sizeof body, "{\"sequence\": \"chaos kill %03d xy\"}", c->idx);
    double t0 = tnow();
    c->answered =
        thttp_request(c->port, "POST", "/proxy_classify", c->timeout_hdr, body, &c->resp, 30);
    c->elapsed = tnow() - t0;
    return NULL;
}

static void start_proxy(fix *f, int backend_port, const char *retries)
{
    char backend[64];
    snprintf(backend, sizeof backend, "http://127.0.0.1:%d", backend_port);
    const char *pargs[] = {"--backend",
                           backend,
                           "--backend-timeout",
                           "2",
                           "--retries",
                           retries,
                           "--backoff-base",
                           "0.05",
                           "--backoff-cap",
                           "0.1",
                           "--log-level",
                           "error",
                           "--metrics-cache-ms",
                           "0",
                           NULL};
    tcheck_start(&f->proxy, "batchproxy", pargs);
}

/* Every client's request has reached the proxy, a batch of them is at the
 * backend and some wait in the queue behind it. */
static bool in_flight_and_queued(void *port)
{
    int p = *(const int *)port;
    double depth = thttp_metric(p, "batchproxy_queue_depth");
    return thttp_metric(p, "batchproxy_inflight_requests") == CLIENTS && depth >= 1 &&
           depth < CLIENTS;
}

static void await_in_flight_and_queued(int port)
{
    if (!tproc_wait_for(in_flight_and_queued, &port, 10))
        fail_msg("no batch in flight with requests queued behind it within 10 s");
}

/* Kill -9 while a batch is in flight and requests are queued behind it,
 * restart on the same port once the proxy has retried against the dead
 * one: everything queued is served (or, failing that, answered 502/504
 * within its deadline). */
static void test_backend_killed_and_restarted(void **state)
{
    fix *f = *state;
    const char *cargs[] = {"--cost", "0.002", "--quiet", NULL};
    tcheck_start(&f->classifyd, "classifyd", cargs);
    int port = f->classifyd.port;
    start_proxy(f, port, "60");

    client cs[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        cs[i] = (client){.port = f->proxy.port, .idx = i, .timeout_hdr = "X-Timeout-Ms: 15000\r\n"};
        pthread_create(&th[i], NULL, client_main, &cs[i]);
    }
    await_in_flight_and_queued(f->proxy.port);
    assert_true(tproc_signal(&f->classifyd, SIGKILL));
    tproc_wait(&f->classifyd, 5);
    /* Down for a while: the proxy has met the dead backend and retried. */
    assert_true(thttp_await_metric(f->proxy.port, "batchproxy_retries_total", 2, 10) >= 2);
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    const char *rargs[] = {"--cost", "0.002", "--quiet", "--listen", listen, NULL};
    tcheck_start(&f->classifyd, "classifyd", rargs);

    int ok = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        if (!cs[i].answered)
            fail_msg("request %d got no answer", i);
        assert_true(cs[i].elapsed < 15 + 5); /* by its deadline, give or take a loaded host */
        if (cs[i].resp.status == 200)
            ok++;
        else if (cs[i].resp.status == 502 || cs[i].resp.status == 504)
            tcheck_5xx_detail(&cs[i].resp);
        else
            fail_msg("request %d: unexpected status %d", i, cs[i].resp.status);
        thttp_resp_free(&cs[i].resp);
    }
    printf("# killed mid-batch, restarted after retries against it: %d of %d served\n", ok,
           CLIENTS);
    assert_true(ok >= CLIENTS / 2);
    assert_true(tcheck_metric_sum(f->proxy.port, "batchproxy_inflight_requests", NULL) == 0);
    assert_true(tproc_stop_clean(&f->proxy, 10));
    assert_true(tproc_stop_clean(&f->classifyd, 10));
}

/* Killed and never back: every request is answered 502 or 504 by its
 * deadline (2 s), none hangs. */
static void test_backend_killed_for_good(void **state)
{
    fix *f = *state;
    const char *cargs[] = {"--cost", "0.002", "--quiet", NULL};
    tcheck_start(&f->classifyd, "classifyd", cargs);
    start_proxy(f, f->classifyd.port, "100");

    client cs[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        cs[i] = (client){.port = f->proxy.port, .idx = i, .timeout_hdr = "X-Timeout-Ms: 2000\r\n"};
        pthread_create(&th[i], NULL, client_main, &cs[i]);
    }
    await_in_flight_and_queued(f->proxy.port);
    assert_true(tproc_signal(&f->classifyd, SIGKILL));
    tproc_wait(&f->classifyd, 5);
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        if (!cs[i].answered)
            fail_msg("request %d got no answer", i);
        if (cs[i].resp.status != 502 && cs[i].resp.status != 504)
            fail_msg("request %d: status %d, want 502 or 504", i, cs[i].resp.status);
        tcheck_5xx_detail(&cs[i].resp);
        assert_true(cs[i].elapsed < 2.0 + 3); /* by its deadline, not the client's 30 s */
        thttp_resp_free(&cs[i].resp);
    }
    assert_true(tproc_stop_clean(&f->proxy, 10));
}

/* classifyd answers garbage half the time (truncated JSON, HTML, the wrong
 * count, an unknown label, the wrong shape). Every 200 the client gets is
 * the true label (asked of a fault-free classifyd); everything else is a
 * 502 with a detail. */
static void test_garbage_never_reaches_a_client(void **state)
{
    fix *f = *state;
    const char *cargs[] = {"--cost",       "0", "--quiet", "--garbage-rate", "0.5",
                           "--fault-seed", "9", NULL};
    tcheck_start(&f->classifyd, "classifyd", cargs);
    const char *rargs[] = {"--cost", "0", "--quiet", NULL};
    tcheck_start(&f->reference, "classifyd", rargs);
    char backend[64];
    snprintf(backend, sizeof backend, "http://127.0.0.1:%d", f->classifyd.port);
    const char *pargs[] = {"--backend", backend,       "--retries", "0", "--cache-size",
                           "0",         "--log-level", "error",     NULL};
    tcheck_start(&f->proxy, "batchproxy", pargs);

    static const char *const texts[] = {"int main(void) { return 0; }", "the cat sat on the mat",
                                        "SELECT id FROM users;", "print('hello')",
                                        "a lovely morning walk"};
    int ok = 0, bad = 0;
    for (int i = 0; i < 60; i++) {
        const char *t = texts[i % 5];
        char body[256];
        snprintf(body, sizeof body, "{\"sequences\": [\"%s\", \"%s\"]}", t, texts[(i + 1) % 5]);
        thttp_resp ref, got;
        char rbody[256];
        snprintf(rbody, sizeof rbody, "{\"sequences\": [\"%s\", \"%s\"]}", t, texts[(i + 1) % 5]);
        assert_true(thttp_request(f->reference.port, "POST", "/classify", NULL, rbody, &ref, 5));
        assert_true(thttp_request(f->proxy.port, "POST", "/proxy_classify", NULL, body, &got, 5));
        if (got.status == 200) {
            if (strcmp(got.body, ref.body) != 0)
                fail_msg("garbage reached a client: %s (true answer %s)", got.body, ref.body);
            ok++;
        } else {
            assert_int_equal(got.status, 502);
            tcheck_5xx_detail(&got);
            bad++;
        }
        thttp_resp_free(&ref);
        thttp_resp_free(&got);
    }
    printf("# garbage 50%%: %d correct answers, %d 502s, 0 malformed\n", ok, bad);
    assert_true(ok > 0 && bad > 0);
    assert_true(tcheck_metric_sum(f->proxy.port, "batchproxy_backend_attempts_total",
                                  "outcome=\"bad_answer\"") == bad);
    assert_true(tproc_stop_clean(&f->proxy, 10));
    assert_true(tproc_stop_clean(&f->classifyd, 10));
    assert_true(tproc_stop_clean(&f->reference, 10));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_backend_killed_and_restarted),
        T(test_backend_killed_for_good),
        T(test_garbage_never_reaches_a_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
