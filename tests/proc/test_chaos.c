/* Chaos tests: loadgen's traffic through batchproxy while classifyd
 * injects each fault at 10% and 30%. Every request gets exactly one answer
 * (loadgen's count and /metrics agree), every error is a 5xx with a detail,
 * and with retries at least 99% succeed at a 10% fault rate. */
#include "tcheck.h"

typedef struct run {
    tproc classifyd, proxy, bare; /* bare: a proxy that never retries */
} run;

static int setup(void **state)
{
    *state = calloc(1, sizeof(run));
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    run *r = *state;
    tproc_stop(&r->bare, 5);
    tproc_stop(&r->proxy, 5);
    tproc_stop(&r->classifyd, 5);
    free(r);
    return 0;
}

static void start_servers(run *r, const char *fault_flag, const char *rate)
{
    const char *cargs[] = {"--cost", "0.0001",   "--quiet", "--fault-seed",
                           "42",     fault_flag, rate,      "--slow-factor",
                           "5",      NULL};
    tcheck_start(&r->classifyd, "classifyd", cargs);
    char backend[64];
    snprintf(backend, sizeof backend, "http://127.0.0.1:%d", r->classifyd.port);
    const char *pargs[] = {"--backend",
                           backend,
                           "--backend-timeout",
                           "0.25",
                           "--cost-prior",
                           "0.0001",
                           "--retries",
                           "3",
                           "--backoff-base",
                           "0.01",
                           "--backoff-cap",
                           "0.1",
                           "--cache-size",
                           "0",
                           "--log-level",
                           "error",
                           NULL};
    tcheck_start(&r->proxy, "batchproxy", pargs);
    const char *bargs[] = {"--backend",
                           backend,
                           "--backend-timeout",
                           "0.25",
                           "--cost-prior",
                           "0.0001",
                           "--retries",
                           "0",
                           "--log-level",
                           "error",
                           NULL};
    tcheck_start(&r->bare, "batchproxy", bargs);
}

/* One run: 150 requests at 60/s through the retrying proxy, then 30 one by
 * one through the proxy that never retries (so errors do reach clients). */
static void chaos_run(void **state, const char *fault_flag, const char *rate, double min_success)
{
    run *r = *state;
    start_servers(r, fault_flag, rate);

    char url[128], tag[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/proxy_classify", r->proxy.port);
    snprintf(tag, sizeof tag, "%s-%s", fault_flag + 2, rate);
    const char *args[] = {
        "--url",     url,  "--client", "name=A,arrival=poisson:60,len=5-20,count=150",
        "--timeout", "40", "--seed",   "3",
        NULL};
    json_t *rep = tcheck_loadgen(tag, args, 90);
    const json_t *o = json_object_get(rep, "overall");
    long sent = tcheck_jint(rep, "sent"), ok = tcheck_jint(o, "successes"),
         errors = tcheck_jint(o, "errors");
    assert_int_equal(sent, 150);
    assert_int_equal(ok + errors, sent);
    /* Every error has an HTTP status (no lost connection, no timeout), a 5xx. */
    const char *key;
    json_t *count;
    json_object_foreach(json_object_get(o, "errors_by_status"), key, count)
    {
        if (json_integer_value(count) == 0)
            continue;
        int status = atoi(key);
        if (status < 500 || status > 599)
            fail_msg("%s=%s: %lld errors of kind '%s'", fault_flag, rate,
                     (long long)json_integer_value(count), key);
    }
    /* The proxy saw the same: one answer per request, as many 200s. */
    assert_int_equal((long)tcheck_metric_sum(r->proxy.port, "batchproxy_requests_total", NULL),
                     sent);
    assert_int_equal(
        (long)tcheck_metric_sum(r->proxy.port, "batchproxy_requests_total", "status=\"200\""), ok);
    printf("# %s=%s: sent %ld, answered %ld, ok %ld (%.1f%%), errors %ld, lost %ld\n", fault_flag,
           rate, sent, ok + errors, ok, 100.0 * (double)ok / (double)sent, errors,
           sent - ok - errors);
    if ((double)ok < min_success * (double)sent)
        fail_msg("%s=%s: only %ld of %ld succeeded", fault_flag, rate, ok, sent);
    json_decref(rep);

    int errs = 0;
    for (int i = 0; i < 30; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"sequence\": \"bare request %d of %s\"}", i, tag);
        thttp_resp resp;
        if (!thttp_request(r->bare.port, "POST", "/proxy_classify", NULL, body, &resp, 10))
            fail_msg("%s=%s: request %d got no answer", fault_flag, rate, i);
        if (resp.status != 200) {
            tcheck_5xx_detail(&resp);
            errs++;
        }
        thttp_resp_free(&resp);
    }
    printf("# %s=%s without retries: %d of 30 failed, each a 5xx with a detail\n", fault_flag, rate,
           errs);

    assert_true(tproc_stop_clean(&r->bare, 10));
    assert_true(tproc_stop_clean(&r->proxy, 10));
    assert_true(tproc_stop_clean(&r->classifyd, 10));
}

#define FAULT_TESTS(name, flag)                                                                    \
    static void test_##name##_10(void **state)                                                     \
    {                                                                                              \
        chaos_run(state, flag, "0.1", 0.99);                                                       \
    }                                                                                              \
    static void test_##name##_30(void **state)                                                     \
    {                                                                                              \
        chaos_run(state, flag, "0.3", 0);                                                          \
    }

FAULT_TESTS(fail, "--fail-rate")
FAULT_TESTS(drop, "--drop-rate")
FAULT_TESTS(hang, "--hang-rate")
FAULT_TESTS(slow, "--slow-rate")
FAULT_TESTS(garbage, "--garbage-rate")

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fail_10), T(test_fail_30), T(test_drop_10), T(test_drop_30),    T(test_hang_10),
        T(test_hang_30), T(test_slow_10), T(test_slow_30), T(test_garbage_10), T(test_garbage_30),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
