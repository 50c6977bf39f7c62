/* Process tests of batchproxy in front of each backend protocol other than
 * classify (--backend-protocol oip, tei and json; docs/backends.md), each
 * test once per protocol:
 *
 *   end_to_end   a real classifyd speaking the protocol: concurrent requests
 *                batched (fewer backend requests than texts) and answered
 *                right, /readyz, an identical text coalesced and then
 *                cached with the same bytes, --length-unit bytes;
 *   retry        a retried failure (500; tei's 424) then success, and a
 *                refusal (4xx) failing at once;
 *   bad_answers  malformed 200s (wrong count, wrong shape, no such output,
 *                a label not among --labels) and the protocol's error
 *                bodies: 502 with a detail naming the problem, printable;
 *   health       the health checks go to the protocol's path: passing
 *                there readmits an ejected backend, failing keeps it out;
 *   readiness    /readyz follows that path too;
 *   refused_text one client's text the backend refuses (a 4xx for the
 *                whole batch) fails that client only: the batch is split;
 *   oip_column_shape  --oip-input-shape n,1 (oip only).
 *
 * The scripted backend is tests/support/fakebe, answering POSTs with
 * crafted bodies in the protocol's shape, and GETs of the protocol's health
 * path. */
#include "classify.h"
#include "fakebe.h"
#include "tcheck.h"

#include <math.h>
#include <pthread.h>

/* One protocol as the tests drive it. */
typedef struct proto {
    const char *name;              /* --backend-protocol */
    const char *const *classifyd;  /* classifyd's arguments that serve it */
    const char *path;              /* the backend URL's path after http://127.0.0.1:PORT */
    const char *health;            /* where its health checks go */
    const char *const *proxy_args; /* more batchproxy arguments it needs */
    const char *ok_body;           /* a right 200 answer to one text ... */
    const char *ok_result;         /* ... and the result the client gets from it */
    int fault;                     /* a failure status that is retried */
    const char *fault_body;
    int refusal; /* a refusal: 502 at once */
    const char *refusal_body;
} proto;

static const proto oip = {
    .name = "oip",
    .classifyd = (const char *const[]){"--protocol", "oip", "--model", "m", NULL},
    .path = "/v2/models/m",
    .health = "/v2/models/m/ready",
    .proxy_args = (const char *const[]){NULL},
    .ok_body = "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"label\",\"datatype\":\"BYTES\","
               "\"shape\":[1],\"data\":[\"code\"]},{\"name\":\"score\",\"datatype\":\"FP32\","
               "\"shape\":[1],\"data\":[0.75]}]}",
    .ok_result = "\"code\"",
    .fault = 500,
    .fault_body = "{\"error\":\"model failed\"}",
    .refusal = 400,
    .refusal_body = "{\"error\":\"unexpected input\"}",
};

static const proto tei = {
    .name = "tei",
    .classifyd = (const char *const[]){"--protocol", "tei", NULL},
    .path = "",
    .health = "/health",
    .proxy_args = (const char *const[]){NULL},
    .ok_body = "[[{\"score\":0.75,\"label\":\"code\"},{\"score\":0.25,\"label\":\"not code\"}]]",
    .ok_result = "[{\"score\":0.75,\"label\":\"code\"},{\"score\":0.25,\"label\":\"not code\"}]",
    .fault = 424,
    .fault_body = "{\"error\":\"model failed\",\"error_type\":\"Backend\"}",
    .refusal = 422,
    .refusal_body = "{\"error\":\"Input validation error\",\"error_type\":\"Validation\"}",
};

static const proto json = {
    .name = "json",
    .classifyd = (const char *const[]){"--protocol", "classify", NULL},
    .path = "/classify",
    .health = "/healthz",
    .proxy_args = (const char *const[]){"--backend-request-field", "sequences",
                                        "--backend-results-pointer", "/results", NULL},
    .ok_body = "{\"results\":[\"code\"]}",
    .ok_result = "\"code\"",
    .fault = 500,
    .fault_body = "{\"detail\":\"model failed\"}",
    .refusal = 400,
    .refusal_body = "{\"detail\":\"unexpected input\"}",
};

typedef struct fix {
    const proto *pr;
    tproc be, proxy;
    fakebe fb[2];
} fix;

static int setup(void **state)
{
    fix *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->pr = *state; /* the prestate: the protocol */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fix *f = *state;
    bool clean = tproc_stop_clean(&f->proxy, 5);
    clean &= tproc_stop_clean(&f->be, 5);
    for (int i = 0; i < 2; i++)
        fakebe_stop(&f->fb[i]);
    free(f);
    return clean ? 0 : -1;
}

/* ---- helpers ---- */

/* Starts batchproxy in front of the backends on ports[0..n) speaking the
 * fixture's protocol, with more args (NULL-terminated). */
static void start_proxy(fix *f, const int *ports, int n, const char *const *more)
{
    static char urls[2][128];
    const char *args[48];
    int k = 0;
    for (int i = 0; i < n; i++) {
        snprintf(urls[i], sizeof urls[i], "http://127.0.0.1:%d%s", ports[i], f->pr->path);
        args[k++] = "--backend";
        args[k++] = urls[i];
    }
    const char *common[] = {"--backend-protocol", f->pr->name, "--backoff-base", "0.01",
                            "--backoff-cap",      "0.02",      "--log-level",    "info"};
    for (size_t i = 0; i < sizeof common / sizeof *common; i++)
        args[k++] = common[i];
    for (const char *const *a = f->pr->proxy_args; *a; a++)
        args[k++] = *a;
    for (; more && *more && k < 47; more++)
        args[k++] = *more;
    args[k] = NULL;
    tcheck_start(&f->proxy, "batchproxy", args);
}

/* Starts fake backend i with the script (its health path the protocol's). */
static void start_fake(fix *f, int i, const fakebe_step *steps, size_t n, fakebe_step rest,
                       fakebe_step health)
{
    fakebe_script s = {
        .steps = steps, .n = n, .rest = rest, .health = health, .health_path = f->pr->health};
    assert_true(fakebe_start(&f->fb[i], &s));
}

/* A 200 step answering the body. */
static fakebe_step says(const char *body)
{
    return (fakebe_step){.act = FAKEBE_STATUS, .status = 200, .body = body};
}

/* POSTs {"sequence": text} to the proxy on port; false without an answer. */
static bool post_text(int port, const char *text, thttp_resp *r)
{
    json_t *v = json_pack("{s:s}", "sequence", text);
    char *body = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    bool ok = body && thttp_request(port, "POST", "/proxy_classify", NULL, body, r, 30);
    free(body);
    return ok;
}

/* post_text, failing the test without an answer. */
static void ask(int port, const char *text, thttp_resp *r)
{
    if (!post_text(port, text, r))
        fail_msg("no answer from the proxy for \"%s\"", text);
}

/* The answer's "result" (a new reference), or fails unless it is a 200
 * {"result": VALUE}. */
static json_t *result_of(const thttp_resp *r, const char *text)
{
    json_t *v = json_loads(r->body, 0, NULL);
    json_t *res = json_object_get(v, "result");
    if (r->status != 200 || !res || json_object_size(v) != 1)
        fail_msg("\"%s\": got %d %s, want 200 {\"result\": ...}", text, r->status, r->body);
    json_incref(res);
    json_decref(v);
    return res;
}

/* Fails unless the answer is 200 with the result `want` (JSON text). */
static void expect_result(const thttp_resp *r, const char *text, const char *want)
{
    json_t *got = result_of(r, text), *w = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(w);
    if (!json_equal(got, w))
        fail_msg("\"%s\": got %s, want the result %s", text, r->body, want);
    json_decref(got);
    json_decref(w);
}

/* Fails unless the answer is `status` with a JSON detail holding every
 * byte printable (no control character) and, when `names` is not NULL,
 * containing it. Returns the detail (static). */
static const char *expect_detail(const thttp_resp *r, int status, const char *names)
{
    static char detail[1024];
    json_t *v = json_loads(r->body, 0, NULL);
    const char *d = json_string_value(json_object_get(v, "detail"));
    if (r->status != status || !d || !*d)
        fail_msg("got %d %s, want %d with a detail", r->status, r->body, status);
    snprintf(detail, sizeof detail, "%s", d);
    json_decref(v);
    for (const unsigned char *p = (const unsigned char *)detail; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            fail_msg("the detail holds the control character 0x%02x: %s", *p, r->body);
    if (names && !strstr(detail, names))
        fail_msg("the detail does not say \"%s\": %s", names, detail);
    return detail;
}

/* Fails unless `result` is what classifyd says of text in the protocol:
 * the label (oip, json), or (tei) both labels with their scores, the
 * classifier's first. */
static void expect_classified(const proto *pr, const char *text, const json_t *result)
{
    const char *want = wire_label_name(classify_text(text, strlen(text)));
    if (pr != &tei) {
        if (!json_is_string(result) || strcmp(json_string_value(result), want) != 0)
            fail_msg("\"%s\": result %s, want \"%s\"", text,
                     json_is_string(result) ? json_string_value(result) : "(not a string)", want);
        return;
    }
    const json_t *p0 = json_array_get(result, 0), *p1 = json_array_get(result, 1);
    const char *l0 = json_string_value(json_object_get(p0, "label"));
    const char *l1 = json_string_value(json_object_get(p1, "label"));
    double s0 = json_number_value(json_object_get(p0, "score"));
    double s1 = json_number_value(json_object_get(p1, "score"));
    bool ok = json_array_size(result) == 2 && json_object_size(p0) == 2 &&
              json_object_size(p1) == 2 && json_is_number(json_object_get(p0, "score")) &&
              json_is_number(json_object_get(p1, "score")) && l0 && l1 && strcmp(l0, want) == 0 &&
              strcmp(l1, want) != 0 && s0 >= s1 && s1 >= 0 && fabs(s0 + s1 - 1) < 1e-5;
    if (!ok) {
        char *s = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg("\"%s\": result %s, want both labels scored, \"%s\" first", text, s, want);
    }
}

/* A client on its own thread. */
typedef struct client {
    int port;
    const char *text;
    thttp_resp resp;
    pthread_t th;
    bool answered;
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    c->answered = post_text(c->port, c->text, &c->resp);
    return NULL;
}

static void client_start(client *c, int port, const char *text)
{
    *c = (client){.port = port, .text = text};
    assert_int_equal(pthread_create(&c->th, NULL, client_main, c), 0);
}

static void client_join(client *c)
{
    pthread_join(c->th, NULL);
    if (!c->answered)
        fail_msg("no answer for \"%s\"", c->text);
}

static bool ready(void *port)
{
    thttp_resp r;
    bool ok =
        thttp_request(*(const int *)port, "GET", "/readyz", NULL, NULL, &r, 5) && r.status == 200;
    thttp_resp_free(&r);
    return ok;
}

static double metric(int port, const char *series)
{
    return thttp_metric(port, series);
}

#define OK_BATCHES "batchproxy_backend_attempts_total{outcome=\"ok\"}"
#define TEXTS_SENT "batchproxy_batch_size_sum" /* texts in the batches sent */

/* ---- 1, 4, 5, 7: a real classifyd speaking the protocol ---- */

static void start_classifyd(fix *f, const char *const *more)
{
    const char *args[16];
    int k = 0;
    for (const char *const *a = f->pr->classifyd; *a; a++)
        args[k++] = *a;
    for (const char *const *a = more; a && *a; a++)
        args[k++] = *a;
    args[k++] = "--cost"; /* 0.8 s for the first text below, time to queue the others */
    args[k++] = "0.002";
    args[k++] = "--quiet";
    args[k] = NULL;
    tcheck_start(&f->be, "classifyd", args);
}

/* One text in flight, six more sent meanwhile: five distinct ones go as
 * one batch, the sixth (the first's text again) joins the one in flight.
 * Every answer is classifyd's; the two identical texts get the same bytes,
 * and the same text later comes from the cache. */
static void batches_coalesces_caches(fix *f)
{
    static const char *const shorts[] = {"x = 1;", "hello there", "int a = 2;", "nice day",
                                         "f(x) + g(y);"};
    const char *first = "for i in range(9): x"; /* 20 code points */
    int port = f->proxy.port;
    client c[7];
    client_start(&c[0], port, first);
    tcheck_await_batch_in_flight(port);
    for (int i = 0; i < 5; i++)
        client_start(&c[1 + i], port, shorts[i]);
    client_start(&c[6], port, first);
    double queued = thttp_await_metric(port, "batchproxy_queue_depth", 5, 10);
    double joined = thttp_await_metric(port, "batchproxy_coalesced_total", 1, 10);
    for (int i = 0; i < 7; i++)
        client_join(&c[i]);
    if (queued < 5 || joined < 1)
        fail_msg("while the first text was in flight: %.0f queued (want 5), %.0f joined it "
                 "(want 1)",
                 queued, joined);
    for (int i = 0; i < 7; i++) {
        json_t *res = result_of(&c[i].resp, c[i].text);
        expect_classified(f->pr, c[i].text, res);
        json_decref(res);
    }
    if (strcmp(c[0].resp.body, c[6].resp.body) != 0)
        fail_msg("one text coalesced, two answers: %s and %s", c[0].resp.body, c[6].resp.body);
    double batches = metric(port, OK_BATCHES), sent = metric(port, TEXTS_SENT);
    printf("# %s: 7 texts from 7 clients, %.0f sent in %.0f backend requests\n", f->pr->name, sent,
           batches);
    assert_true(sent == 6 && batches == 2);

    thttp_resp r;
    ask(port, first, &r);
    if (strcmp(r.body, c[0].resp.body) != 0)
        fail_msg("the cached answer %s differs from the first %s", r.body, c[0].resp.body);
    thttp_resp_free(&r);
    assert_true(metric(port, "batchproxy_cache_hits_total") == 1);
    assert_true(metric(port, OK_BATCHES) == 2 && metric(port, TEXTS_SENT) == 6);
    for (int i = 0; i < 7; i++)
        thttp_resp_free(&c[i].resp);
}

/* --max-length counts what --length-unit says: 8 code points of 2 bytes
 * each are too long for 12 bytes, not for 12 code points. */
static void length_unit(fix *f)
{
    const char *text = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
    int port = f->be.port;
    thttp_resp r;
    assert_true(tproc_stop_clean(&f->proxy, 5));
    start_proxy(f, &port, 1,
                (const char *[]){"--length-unit", "bytes", "--max-length", "12", NULL});
    ask(f->proxy.port, text, &r);
    printf("# %s: 8 code points in 16 bytes, --length-unit bytes --max-length 12: %d %s\n",
           f->pr->name, r.status, r.body);
    expect_detail(&r, 413, NULL);
    thttp_resp_free(&r);
    assert_true(tproc_stop_clean(&f->proxy, 5));
    start_proxy(f, &port, 1,
                (const char *[]){"--length-unit", "codepoints", "--max-length", "12", NULL});
    ask(f->proxy.port, text, &r);
    json_t *res = result_of(&r, text);
    expect_classified(f->pr, text, res);
    json_decref(res);
    thttp_resp_free(&r);
}

static void test_end_to_end(void **state)
{
    fix *f = *state;
    start_classifyd(f, NULL);
    start_proxy(f, &f->be.port, 1, NULL);
    int port = f->proxy.port;
    if (!tproc_wait_for(ready, &port, 10))
        fail_msg("/readyz not 200 in front of a live classifyd --protocol %s", f->pr->name);
    batches_coalesces_caches(f);
    length_unit(f);
    assert_true(tproc_stop_clean(&f->proxy, 5));
}

/* ---- 2: retries ---- */

/* A failure that is retried (a 5xx; tei's 424) then the right answer: the
 * client gets the answer. Then a refusal (a 4xx) fails at once. */
static void test_retry(void **state)
{
    fix *f = *state;
    const proto *pr = f->pr;
    const fakebe_step steps[] = {
        {.act = FAKEBE_STATUS, .status = pr->fault, .body = pr->fault_body},
        says(pr->ok_body),
        {.act = FAKEBE_STATUS, .status = pr->refusal, .body = pr->refusal_body},
    };
    start_fake(f, 0, steps, 3, says(pr->ok_body), (fakebe_step){0});
    start_proxy(f, &f->fb[0].port, 1, (const char *[]){"--retries", "2", NULL});
    thttp_resp r;
    ask(f->proxy.port, "retried once", &r);
    expect_result(&r, "retried once", pr->ok_result);
    thttp_resp_free(&r);
    assert_int_equal(fakebe_posts(&f->fb[0]), 2);
    assert_true(metric(f->proxy.port, "batchproxy_retries_total") == 1);

    ask(f->proxy.port, "refused at once", &r);
    const char *d = expect_detail(&r, 502, NULL);
    printf("# %s: %d then %d: %s\n", pr->name, pr->fault, pr->refusal, d);
    thttp_resp_free(&r);
    assert_int_equal(fakebe_posts(&f->fb[0]), 3); /* not retried */
    assert_true(metric(f->proxy.port, "batchproxy_retries_total") == 1);
    assert_true(tproc_stop_clean(&f->proxy, 5));
}

/* ---- 3, 6: bad answers ---- */

/* One scripted answer and the words the 502's detail must hold; `pair`:
 * it answers a request of two texts (one batch), not one. */
typedef struct bad {
    int status;
    const char *body, *names;
    bool pair;
} bad;

/* Sends one request per case (each answered by its step), after a right
 * answer; the proxy retries nothing, so each case is one attempt. Then the
 * process still serves, and has cached nothing of the bad answers. */
static void run_bad(fix *f, const bad *cases, size_t n, const char *const *more)
{
    const proto *pr = f->pr;
    fakebe_step steps[32];
    size_t k = 0;
    steps[k++] = says(pr->ok_body);
    for (size_t i = 0; i < n; i++)
        steps[k++] =
            (fakebe_step){.act = FAKEBE_STATUS, .status = cases[i].status, .body = cases[i].body};
    start_fake(f, 0, steps, k, says(pr->ok_body), (fakebe_step){0});
    const char *args[16] = {"--retries", "0"};
    int a = 2;
    for (; more && *more; more++)
        args[a++] = *more;
    args[a] = NULL;
    start_proxy(f, &f->fb[0].port, 1, args);
    thttp_resp r;
    ask(f->proxy.port, "the right answer", &r);
    expect_result(&r, "the right answer", pr->ok_result);
    thttp_resp_free(&r);
    for (size_t i = 0; i < n; i++) {
        char text[64], two[160];
        snprintf(text, sizeof text, "bad answer a%02zu", i);
        /* Two texts of one length: the scheduler sends them together. */
        snprintf(two, sizeof two, "{\"sequences\":[\"%s\",\"bad answer b%02zu\"]}", text, i);
        if (!cases[i].pair)
            ask(f->proxy.port, text, &r);
        else if (!thttp_request(f->proxy.port, "POST", "/proxy_classify", NULL, two, &r, 30))
            fail_msg("no answer from the proxy for %s", two);
        const char *d = expect_detail(&r, 502, cases[i].names);
        if (strstr(cases[i].body, " END") && strstr(d, " END")) /* LONG_ERROR */
            fail_msg("the backend's error is quoted whole: %s", d);
        printf("# %s: %d %s -> %s\n", pr->name, cases[i].status, cases[i].body, d);
        thttp_resp_free(&r);
    }
    /* Nothing of a bad answer was kept: each text asked again goes to the
     * backend (answering right by now). */
    for (size_t i = 0; i < n; i++) {
        char text[64];
        snprintf(text, sizeof text, "bad answer a%02zu", i);
        ask(f->proxy.port, text, &r);
        expect_result(&r, text, pr->ok_result);
        thttp_resp_free(&r);
    }
    assert_int_equal(fakebe_posts(&f->fb[0]), 1 + 2 * (int)n);
    assert_true(tproc_stop_clean(&f->proxy, 5));
}

/* An error message of 300 bytes: the detail quotes its start only. */
#define LONG_ERROR                                                                                 \
    "{\"error\":\"long message "                                                                   \
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890"  \
    "1234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901"  \
    "23456789012345678901234567890123456789012345678901234567890123456789012345678901234567 "      \
    "END\"}"

#define LABELS "\"code\" or \"not code\"" /* as a detail names --labels code,not code */
#define OIP_LABEL(shape, data)                                                                     \
    "{\"outputs\":[{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":" shape ",\"data\":" data  \
    "}]}"

static void test_bad_answers(void **state)
{
    fix *f = *state;
    if (f->pr == &oip) {
        const bad cases[] = {
            {200, OIP_LABEL("[1]", "[\"code\",\"code\"]"), "2 elements", false},
            {200, OIP_LABEL("[2]", "[\"code\",\"code\"]"), "shape [1]", false},
            {200, "{\"outputs\":{\"name\":\"label\",\"data\":[\"code\"]}}", "'outputs'", false},
            {200, "{\"model_name\":\"m\"}", "'outputs'", false},
            {200, OIP_LABEL("[1]", "\"code\""), "'data'", false},
            {200, OIP_LABEL("[1]", "{\"0\":\"code\"}"), "'data'", false},
            {200,
             "{\"outputs\":[{\"name\":\"score\",\"datatype\":\"FP32\",\"shape\":[1],"
             "\"data\":[0.9]}]}",
             "no output tensor named 'label'", false},
            {200, OIP_LABEL("[1]", "[\"cod3\"]"), LABELS, false},
            {200, OIP_LABEL("[1]", "[1]"), LABELS, false},
            /* The first result is good, the second not: neither is kept. */
            {200, OIP_LABEL("[2]", "[\"code\",\"cod3\"]"), "label[1]", true},
            {200, "<html>not json</html>", "not valid JSON", false},
            {400, "{\"error\":\"bad\\u0001input\"}", "bad?input", false},
            {400, LONG_ERROR, "long message 0123", false},
        };
        run_bad(f, cases, sizeof cases / sizeof *cases,
                (const char *[]){"--oip-output", "label", "--labels", "code,not code", NULL});
    } else if (f->pr == &tei) {
        const bad cases[] = {
            {200, "[[{\"score\":0.9,\"label\":\"code\"}],[{\"score\":0.9,\"label\":\"code\"}]]",
             "2 results", false},
            {200, "[{\"score\":0.9,\"label\":\"code\"}]", "not a list of predictions", false},
            {200, "[{\"score\":0.9,\"label\":\"code\"},{\"score\":0.1,\"label\":\"not code\"}]",
             "2 results", false},
            {200, "{\"predictions\":[]}", "not a list", false},
            {200, "[]", "0 results", false},
            {200, "[[{\"score\":0.9,\"label\":\"code\"}],{\"score\":0.9}]", "[1]", true},
            {422,
             "{\"error\":\"Input validation error:\\u0007bell\",\"error_type\":\"Validation\"}",
             "Input validation error:?bell", false},
            {413, LONG_ERROR, "long message 0123", false},
        };
        run_bad(f, cases, sizeof cases / sizeof *cases, NULL);
    } else {
        const bad cases[] = {
            {200, "{\"results\":[\"code\",\"code\"]}", "2 results", false},
            {200, "{\"results\":\"code\"}", "no 'results' list", false},
            {200, "{\"labels\":[\"code\"]}", "no 'results' list", false},
            {200, "[\"code\"]", "no 'results' list", false},
            {200, "{\"results\":[\"cod3\"]}", LABELS, false},
            {200, "{\"results\":[\"code\",\"cod3\"]}", "results[1]", true},
            {200, "{\"results\":[\"code\"],\"results\":[\"code\"]}", "not valid JSON", false},
            {400, "{\"detail\":\"bad\\u001binput\"}", "bad?input", false},
        };
        run_bad(f, cases, sizeof cases / sizeof *cases,
                (const char *[]){"--labels", "code,not code", NULL});
    }
}

/* ---- 4: health checks on the protocol's path ---- */

static double backend_series(int proxy_port, const char *name, int be_port)
{
    char series[160];
    snprintf(series, sizeof series, "%s{backend=\"127.0.0.1:%d\"}", name, be_port);
    return metric(proxy_port, series);
}

/* A pool of fake 0, failing its batches, and fake 1, answering them; the
 * first batch goes to fake 0 (listed first, both alike so far), fails and
 * ejects it for 0.2 s. Then its health checks decide: fake 0 answers its
 * protocol's health path with `health` and any other GET with 404. */
static void eject_first(fix *f, fakebe_step health, const char *tag)
{
    const proto *pr = f->pr;
    const fakebe_step fail = {.act = FAKEBE_STATUS, .status = pr->fault, .body = pr->fault_body};
    start_fake(f, 0, &fail, 1, fail, health);
    start_fake(f, 1, NULL, 0, says(pr->ok_body), (fakebe_step){0});
    int ports[2] = {f->fb[0].port, f->fb[1].port};
    start_proxy(f, ports, 2,
                (const char *[]){"--eject-failures", "1", "--eject-base", "0.2", "--eject-max",
                                 "0.2", "--retries", "2", NULL});
    /* Both are probed at the start, on the protocol's path. */
    for (int i = 0; i < 2; i++)
        if (fakebe_await(&f->fb[i], fakebe_health_checks, 1, 10) < 1)
            fail_msg("no health check on %s at the start", pr->health);
    int port = f->proxy.port;
    assert_true(tproc_wait_for(ready, &port, 10));
    for (int i = 0;
         i < 10 && backend_series(port, "batchproxy_backend_ejections_total", ports[0]) < 1; i++) {
        char text[64];
        snprintf(text, sizeof text, "%s %d", tag, i);
        thttp_resp r;
        ask(port, text, &r);
        expect_result(&r, text, pr->ok_result);
        thttp_resp_free(&r);
    }
    assert_true(backend_series(port, "batchproxy_backend_ejections_total", ports[0]) == 1);
}

static void test_health(void **state)
{
    fix *f = *state;
    /* Failing on the protocol's path: checked again and again, kept out. */
    eject_first(f, (fakebe_step){.act = FAKEBE_STATUS, .status = 503, .body = "{\"error\":\"no\"}"},
                "kept out");
    int checks = fakebe_health_checks(&f->fb[0]);
    if (fakebe_await(&f->fb[0], fakebe_health_checks, checks + 2, 10) < checks + 2)
        fail_msg("no health checks on %s while ejected", f->pr->health);
    assert_true(backend_series(f->proxy.port, "batchproxy_backend_up", f->fb[0].port) == 0);
    assert_true(tproc_stop_clean(&f->proxy, 5));
    fakebe_stop(&f->fb[0]);
    fakebe_stop(&f->fb[1]);

    /* Passing there (and only there): back in the pool. */
    eject_first(f, (fakebe_step){0}, "readmitted");
    char up[160];
    snprintf(up, sizeof up, "batchproxy_backend_up{backend=\"127.0.0.1:%d\"}", f->fb[0].port);
    if (thttp_await_metric(f->proxy.port, up, 1, 10) != 1)
        fail_msg("a backend passing its health checks on %s stayed out", f->pr->health);
    assert_true(tproc_await_log(&f->proxy, "health check passed", 5));
    assert_true(tproc_stop_clean(&f->proxy, 5));
}

/* Test fn for the protocol pr, named "fn(pr)". */
#define PTEST(fn, pr)                                                                              \
    (struct CMUnitTest)                                                                            \
    {                                                                                              \
        .name = #fn "(" #pr ")", .test_func = fn, .setup_func = setup, .teardown_func = teardown,  \
        .initial_state = (void *)&pr                                                               \
    }

/* A batch the backend refuses (a 4xx) because of one member's text, too
 * long for classifyd's --max-length here (or empty for TEI): that member's
 * client gets 502 with the backend's reason, the others their results, as
 * the batch is split and each member sent again alone. Before, every
 * client of the batch got the 502: one client could fail everyone's. */
static void test_refused_text(void **state)
{
    fix *f = *state;
    start_classifyd(f, (const char *[]){"--max-length", "15", NULL});
    int be = f->be.port;
    start_proxy(f, &be, 1, (const char *[]){"--policy", "fifo", NULL});
    int port = f->proxy.port;
    assert_true(tproc_wait_for(ready, &port, 10));
    static const char *const shorts[] = {"x = 1;", "hello there", "int a = 2;", "nice day"};
    const char *too_long = "this one is far too long"; /* 24 code points */
    client first, c[4], culprit;
    client_start(&first, port, "for i in x: y"); /* 13: in flight while the others queue */
    tcheck_await_batch_in_flight(port);
    for (int i = 0; i < 4; i++)
        client_start(&c[i], port, shorts[i]);
    client_start(&culprit, port, too_long);
    double queued = thttp_await_metric(port, "batchproxy_queue_depth", 5, 10);
    client_join(&first);
    for (int i = 0; i < 4; i++)
        client_join(&c[i]);
    client_join(&culprit);
    if (queued < 5)
        fail_msg("only %.0f queued behind the first text: no batch of five", queued);
    for (int i = 0; i < 4; i++) {
        json_t *res = result_of(&c[i].resp, c[i].text);
        expect_classified(f->pr, c[i].text, res);
        json_decref(res);
        thttp_resp_free(&c[i].resp);
    }
    const char *d = expect_detail(&culprit.resp, 502, "rejected the batch");
    printf("# %s: the culprit's detail: %s\n", f->pr->name, d);
    double refused = metric(port, "batchproxy_backend_attempts_total{outcome=\"rejected_4xx\"}");
    if (refused < 2) /* the batch of five, then the culprit alone */
        fail_msg("%.0f refused attempts, want the batch and the culprit alone", refused);
    thttp_resp_free(&culprit.resp);
    thttp_resp_free(&first.resp);
    assert_true(tproc_stop_clean(&f->proxy, 5));
}

/* --oip-input-shape n,1: Triton's shape for a model with a batch
 * dimension of its own; classifyd takes it, and the results are the same. */
static void test_oip_column_shape(void **state)
{
    fix *f = *state;
    start_classifyd(f, NULL);
    int be = f->be.port;
    start_proxy(f, &be, 1, (const char *[]){"--oip-input-shape", "n,1", NULL});
    thttp_resp r;
    const char *body = "{\"sequences\": [\"def f(): pass\", \"hello there\", \"x = [1, 2]\"]}";
    assert_true(thttp_request(f->proxy.port, "POST", "/proxy_classify", NULL, body, &r, 10));
    if (r.status != 200 || strcmp(r.body, "{\"results\":[\"code\",\"not code\",\"code\"]}") != 0)
        fail_msg("with [n, 1]: %d %s", r.status, r.body);
    thttp_resp_free(&r);
    assert_true(tproc_stop_clean(&f->proxy, 5));
}

/* /readyz follows the protocol's health path: a backend that answers, but
 * fails there (a model not ready, a wrong model URL), makes the proxy not
 * ready; a clean answer to a batch, or a 200 there, makes it ready. */
static void test_readiness(void **state)
{
    fix *f = *state;
    const proto *pr = f->pr;
    start_fake(f, 0, NULL, 0, says(pr->ok_body),
               (fakebe_step){.act = FAKEBE_STATUS, .status = 503, .body = "{\"error\":\"no\"}"});
    int port0 = f->fb[0].port;
    start_proxy(f, &port0, 1, (const char *[]){NULL});
    int port = f->proxy.port;
    /* Probes answered (the backend is in contact), but not healthy. */
    if (fakebe_await(&f->fb[0], fakebe_health_checks, 2, 10) < 2)
        fail_msg("no health probes on %s", pr->health);
    thttp_resp r;
    assert_true(thttp_request(port, "GET", "/readyz", NULL, NULL, &r, 5));
    if (r.status != 503 || !strstr(r.body, "answered 200"))
        fail_msg("/readyz with a failing %s: %d %s", pr->health, r.status, r.body);
    thttp_resp_free(&r);
    /* ... while /stats still shows the contact: the probes were answered. */
    assert_true(thttp_request(port, "GET", "/stats", NULL, NULL, &r, 5));
    json_t *stats = json_loads(r.body, 0, NULL);
    double age = json_number_value(json_object_get(stats, "backend_last_contact_age_seconds"));
    json_decref(stats);
    thttp_resp_free(&r);
    if (age < 0 || age > 10)
        fail_msg("backend_last_contact_age_seconds %.3f with the probes answered (503)", age);
    /* A batch answered cleanly: ready. */
    ask(port, "ready now", &r);
    expect_result(&r, "ready now", pr->ok_result);
    thttp_resp_free(&r);
    assert_true(tproc_wait_for(ready, &port, 10));
}

/* Settings that can't work together are refused at start, exit 2, with a
 * message naming the option (as every bad option value is). */
static void test_bad_settings(void **state)
{
    (void)state;
    static const struct {
        const char *args[7];
        const char *says;
    } refused[] = {
        {{"--backend-protocol", "json", "--backend-results-pointer", "results"},
         "batchproxy: --backend-results-pointer: 'results' is not a JSON pointer"},
        {{"--backend-protocol", "oip", "--backend", "http://127.0.0.1:1/classify"},
         "batchproxy: --backend: 'http://127.0.0.1:1/classify': with --backend-protocol oip"},
        {{"--backend-protocol", "oip"}, "batchproxy: --backend: "},
        {{"--labels", "code,,not code"}, "batchproxy: --labels: "},
        {{"--backend-protocol", "tei", "--labels", "code"}, "batchproxy: --labels: tei's"},
        {{"--backend-protocol", "oip", "--backend", "http://127.0.0.1:1/v2/models/m", "--oip-input",
          ""},
         "batchproxy: --oip-input: "},
        {{"--backend-protocol", "json", "--backend-request-field", ""},
         "batchproxy: --backend-request-field: "},
        {{"--backend-protocol", "grpc"}, "--backend-protocol"},
        {{"--length-unit", "tokens"}, "--length-unit"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        char err[] = "/tmp/bp-backend-protocols-cli-XXXXXX";
        int fd = mkstemp(err);
        assert_true(fd >= 0);
        close(fd);
        int rc = tproc_run("batchproxy", refused[i].args, "/dev/null", err, 10);
        bool said = tfile_contains(err, refused[i].says);
        unlink(err);
        if (rc != 2 || !said)
            fail_msg("batchproxy %s %s: exit %d, want 2 saying '%s'", refused[i].args[0],
                     refused[i].args[1], rc, refused[i].says);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PTEST(test_end_to_end, oip),
        PTEST(test_end_to_end, tei),
        PTEST(test_end_to_end, json),
        PTEST(test_retry, oip),
        PTEST(test_retry, tei),
        PTEST(test_retry, json),
        PTEST(test_bad_answers, oip),
        PTEST(test_bad_answers, tei),
        PTEST(test_bad_answers, json),
        PTEST(test_health, oip),
        PTEST(test_health, tei),
        PTEST(test_health, json),
        PTEST(test_readiness, oip),
        PTEST(test_readiness, tei),
        PTEST(test_readiness, json),
        PTEST(test_refused_text, oip),
        PTEST(test_refused_text, tei),
        PTEST(test_refused_text, json),
        PTEST(test_oip_column_shape, oip),
        cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
