/* Process-level tests of the cost bound: batchproxy never sends a batch
 * predicted to take longer than one backend attempt (--backend-timeout),
 * and refuses a sequence that could only be sent that way at admission,
 * so a single request can't keep the backend busy for everyone else. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tproc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The servers a test started (tproc.h); the teardown stops them. */
typedef tpair fixture;

/* classifyd at --cost 0.00002: 1000 code points take 20 s, 200 take 0.8 s. */
static void start_servers(fixture *f, const char *const *proxy_extra)
{
    const char *bargs[] = {"--cost", "0.00002", "--quiet", NULL};
    assert_true(tproc_start(&f->backend, "classifyd", bargs));
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", f->backend.port);
    const char *args[16] = {"--backend",   url,    "--backend-timeout",  "2",
                            "--log-level", "warn", "--metrics-cache-ms", "0"};
    int n = 8;
    for (; proxy_extra && *proxy_extra; proxy_extra++)
        args[n++] = *proxy_extra;
    args[n] = NULL;
    assert_true(tproc_start(&f->proxy, "batchproxy", args));
}

/* {"sequence": "<len × c>"}, malloc'd. */
static char *sequence_body(size_t len, char c)
{
    char *body = malloc(len + 32);
    assert_non_null(body);
    strcpy(body, "{\"sequence\": \"");
    size_t at = strlen(body);
    memset(body + at, c, len);
    strcpy(body + at + len, "\"}");
    return body;
}

/* The response's "detail", which must be there (a copy to free). */
static char *detail_of(const thttp_resp *r)
{
    json_t *j = json_loads(r->body, 0, NULL);
    assert_non_null(j);
    const char *d = json_string_value(json_object_get(j, "detail"));
    if (!d)
        fail_msg("no detail in %d %s", r->status, r->body);
    char *copy = strdup(d);
    json_decref(j);
    return copy;
}

/* The security review's case: an anonymous 1000-character string with the
 * longest deadline allowed. Its batch would take 2000 s by the prior the
 * proxy starts from (0.001 + 0.002 × L², before any batch is measured),
 * far over a 2 s attempt: refused at once with 413, naming both figures,
 * and never sent, so the next request is served at once instead of
 * meeting a backend busy for 20 s (502 after 429s). */
static void test_over_long_sequence_refused_and_others_served(void **state)
{
    fixture *f = *state;
    start_servers(f, NULL);
    char *body = sequence_body(1000, 'a');
    thttp_resp r;
    assert_true(thttp_request(f->proxy.port, "POST", "/proxy_classify", "X-Timeout-Ms: 3600000\r\n",
                              body, &r, 30));
    free(body);
    char *detail = detail_of(&r);
    if (r.status != 413)
        fail_msg("the 1000-character string got %d: %s", r.status, detail);
    assert_null(thttp_header(&r, "Retry-After", (char[16]){0}, 16));
    assert_non_null(strstr(detail, "1000 code points"));
    assert_non_null(strstr(detail, "2000.001 s")); /* the predicted cost */
    assert_non_null(strstr(detail, "2.000 s"));    /* the limit */
    free(detail);
    thttp_resp_free(&r);
    assert_true(
        thttp_metric(f->proxy.port,
                     "batchproxy_client_refused_total{client=\"-\",reason=\"too_costly\"}") == 1);

    assert_true(thttp_request(f->proxy.port, "POST", "/proxy_classify", NULL,
                              "{\"sequence\": \"def f(): return 1\"}", &r, 30));
    if (r.status != 200)
        fail_msg("the next request got %d: %s", r.status, r.body);
    assert_true(r.elapsed < 5); /* 9 ms of backend work, not a wait behind the long one */
    thttp_resp_free(&r);
    assert_true(thttp_metric(f->proxy.port, "batchproxy_backend_attempts_total{outcome=\"ok\"}") ==
                1);
    assert_true(thttp_metric(f->proxy.port,
                             "batchproxy_backend_attempts_total{outcome=\"busy_429\"}") == 0);
}

/* --cost-prior tells the proxy what a backend costs before it has measured
 * any batch: at 0.00002 a 200-character string (0.8 s) fits a 2 s attempt
 * and is served; a 1000-character one (20 s) still does not. A sequence
 * inside a request of several is judged the same way. */
static void test_cost_prior_sets_what_fits_before_learning(void **state)
{
    fixture *f = *state;
    start_servers(f, (const char *[]){"--cost-prior", "0.00002", NULL});
    char *body = sequence_body(200, 'b');
    thttp_resp r;
    assert_true(thttp_request(f->proxy.port, "POST", "/proxy_classify", NULL, body, &r, 30));
    free(body);
    if (r.status != 200)
        fail_msg("the 200-character string got %d: %s", r.status, r.body);
    thttp_resp_free(&r);

    char many[1200];
    snprintf(many, sizeof many, "{\"sequences\": [\"short\", \"%01000d\"]}", 7);
    assert_true(thttp_request(f->proxy.port, "POST", "/proxy_classify", NULL, many, &r, 30));
    char *detail = detail_of(&r);
    if (r.status != 413)
        fail_msg("the 1000-character string got %d: %s", r.status, detail);
    assert_non_null(strstr(detail, "20.001 s"));
    free(detail);
    thttp_resp_free(&r);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tpair_setup, tpair_teardown)
    const struct CMUnitTest tests[] = {
        T(test_over_long_sequence_refused_and_others_served),
        T(test_cost_prior_sets_what_fits_before_learning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
