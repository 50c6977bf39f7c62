/* Process-level tests of classifyd's other protocols (--protocol oip and
 * tei; docs/backends.md): a batch answered in the protocol's shape with the
 * classifier's labels, the health and metadata endpoints, errors in the
 * protocol's shape and status (bad input, 429 on overlap, too long, 404,
 * 405), the cost model (--cost and --cost-linear) as an order of magnitude,
 * injected faults, and readiness during a shutdown.
 *
 * Each test starts its own server and its teardown stops it; a server that
 * doesn't exit 0 on SIGTERM fails the test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "classifier.h"
#include "tproc.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLACK 0.001 /* timers may fire up to this early, measured client-side */
#define INFER "/v2/models/classifier/infer"

static tproc server;

static int teardown(void **state)
{
    (void)state;
    return tproc_stop_clean(&server, 10) ? 0 : -1;
}

static void start(const char *const *args)
{
    if (!tproc_start(&server, "classifyd", args))
        fail_msg("classifyd did not start");
}

static json_t *body_json(const thttp_resp *r)
{
    json_error_t jerr;
    json_t *v = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, &jerr);
    if (!v)
        fail_msg("answer is not JSON (%s): %s", jerr.text, r->body);
    return v;
}

static void request(const char *method, const char *path, const char *body, thttp_resp *r)
{
    if (!thttp_request(server.port, method, path, NULL, body, r, 30))
        fail_msg("no answer to %s %s", method, path);
}

/* The answer is `status` with the protocol's error body: {"error": "..."}
 * and, for tei, an "error_type" (type, if not NULL). */
static void expect_error(const thttp_resp *r, int status, const char *type, const char *what)
{
    if (r->status != status)
        fail_msg("%s: status %d, want %d; body %s", what, r->status, status, r->body);
    char ct[128];
    if (!thttp_header(r, "Content-Type", ct, sizeof ct) || !strstr(ct, "application/json"))
        fail_msg("%s: content type is not JSON", what);
    json_t *v = body_json(r);
    const char *msg = json_string_value(json_object_get(v, "error"));
    const char *got_type = json_string_value(json_object_get(v, "error_type"));
    if (!msg || !msg[0] || json_object_get(v, "detail"))
        fail_msg("%s: not an {\"error\": ...} body: %s", what, r->body);
    if (type && (!got_type || strcmp(got_type, type) != 0))
        fail_msg("%s: error_type %s, want %s", what, got_type ? got_type : "(none)", type);
    json_decref(v);
}

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

/* An oip request for the n texts (JSON-safe), shape [n]. */
static char *oip_body(const char *const *texts, size_t n)
{
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(data, json_string(texts[i]));
    json_t *v = json_pack("{s:[{s:s,s:s,s:[I],s:o}]}", "inputs", "name", "text", "datatype",
                          "BYTES", "shape", (json_int_t)n, "data", data);
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return s;
}

/* A tei batch request for the n texts. */
static char *tei_body(const char *const *texts, size_t n)
{
    json_t *in = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(in, json_pack("[s]", texts[i]));
    json_t *v = json_pack("{s:o}", "inputs", in);
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return s;
}

/* The string v[key], or "". */
static const char *str(json_t *v, const char *key)
{
    const char *s = json_string_value(json_object_get(v, key));
    return s ? s : "";
}

/* True if body is the right oip answer to texts[0..n): both outputs, the
 * classifier's labels and confidences. */
static bool oip_right(const char *body, const char *const *texts, size_t n)
{
    json_t *v = json_loads(body, 0, NULL);
    json_t *outs = json_object_get(v, "outputs");
    json_t *label = json_array_get(outs, 0), *score = json_array_get(outs, 1);
    bool ok =
        json_array_size(outs) == 2 && !strcmp(str(v, "model_name"), "classifier") &&
        !strcmp(str(label, "name"), "label") && !strcmp(str(label, "datatype"), "BYTES") &&
        !strcmp(str(score, "name"), "score") && !strcmp(str(score, "datatype"), "FP32") &&
        json_array_size(json_object_get(label, "shape")) == 1 &&
        json_integer_value(json_array_get(json_object_get(label, "shape"), 0)) == (json_int_t)n &&
        json_array_size(json_object_get(label, "data")) == n &&
        json_array_size(json_object_get(score, "data")) == n;
    for (size_t i = 0; ok && i < n; i++) {
        double c;
        enum wire_label want = classify_text_scored(texts[i], strlen(texts[i]), &c);
        const char *got = json_string_value(json_array_get(json_object_get(label, "data"), i));
        double s = json_number_value(json_array_get(json_object_get(score, "data"), i));
        ok = got && strcmp(got, wire_label_name(want)) == 0 && fabs(s - c) < 1e-5;
    }
    json_decref(v);
    return ok;
}

/* True if body is the right tei answer to a batch of texts[0..n) (single:
 * to the one text alone): per text, both labels, the classifier's first. */
static bool tei_right(const char *body, const char *const *texts, size_t n, bool single)
{
    json_t *v = json_loads(body, JSON_DECODE_ANY, NULL);
    bool ok = json_is_array(v) && json_array_size(v) == (single ? 2 : n);
    for (size_t i = 0; ok && i < n; i++) {
        json_t *preds = single ? v : json_array_get(v, i);
        double c;
        enum wire_label want = classify_text_scored(texts[i], strlen(texts[i]), &c);
        json_t *p0 = json_array_get(preds, 0), *p1 = json_array_get(preds, 1);
        const char *l0 = json_string_value(json_object_get(p0, "label"));
        const char *l1 = json_string_value(json_object_get(p1, "label"));
        double s0 = json_number_value(json_object_get(p0, "score"));
        double s1 = json_number_value(json_object_get(p1, "score"));
        ok = json_array_size(preds) == 2 && l0 && l1 && !strcmp(l0, wire_label_name(want)) &&
             !strcmp(l1, wire_label_name(!want)) && fabs(s0 - c) < 1e-5 &&
             fabs(s1 - (1 - c)) < 1e-5;
    }
    json_decref(v);
    return ok;
}

static const char *const texts[] = {"def f(): pass", "hello there", "int main(void) { return 0; }",
                                    "The weather is nice today.", "x = [i * 2 for i in range(10)]"};

/* ---- batches in shape ---- */

static void test_oip_batch(void **state)
{
    (void)state;
    start((const char *[]){"--protocol", "oip", "--cost", "0", NULL});
    char *body = oip_body(texts, 5);
    thttp_resp r;
    request("POST", INFER, body, &r);
    if (r.status != 200 || !oip_right(r.body, texts, 5))
        fail_msg("oip answer %d %s", r.status, r.body);
    thttp_resp_free(&r);
    request("POST", "/v2/models/classifier/versions/1/infer", body, &r);
    assert_true(oip_right(r.body, texts, 5));
    thttp_resp_free(&r);
    free(body);
    /* The id comes back; shape [n, 1] is answered [n, 1]; outputs as asked. */
    request(
        "POST", INFER,
        "{\"id\":\"r-7\",\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\","
        "\"shape\":[2,1],\"data\":[[\"x = 1;\"],[\"hi\"]]}],\"outputs\":[{\"name\":\"label\"}]}",
        &r);
    json_t *v = body_json(&r), *out = json_array_get(json_object_get(v, "outputs"), 0);
    assert_string_equal(json_string_value(json_object_get(v, "id")), "r-7");
    assert_int_equal(json_array_size(json_object_get(v, "outputs")), 1);
    json_t *want_shape = json_pack("[i,i]", 2, 1);
    if (!json_equal(json_object_get(out, "shape"), want_shape))
        fail_msg("shape of %s", r.body);
    json_decref(want_shape);
    json_decref(v);
    thttp_resp_free(&r);
    /* An empty batch is answered at once. */
    request("POST", INFER,
            "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[0],"
            "\"data\":[]}]}",
            &r);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
}

static void test_tei_batch(void **state)
{
    (void)state;
    start((const char *[]){"--protocol", "tei", "--cost", "0", NULL});
    char *body = tei_body(texts, 5);
    thttp_resp r;
    request("POST", "/predict", body, &r);
    if (r.status != 200 || !tei_right(r.body, texts, 5, false))
        fail_msg("tei answer %d %s", r.status, r.body);
    thttp_resp_free(&r);
    free(body);
    for (size_t i = 0; i < 5; i++) { /* one text alone: one flat list */
        json_t *v = json_pack("{s:s}", "inputs", texts[i]);
        char *one = json_dumps(v, JSON_COMPACT);
        json_decref(v);
        request("POST", "/predict", one, &r);
        if (r.status != 200 || !tei_right(r.body, texts + i, 1, true))
            fail_msg("tei single answer %d %s", r.status, r.body);
        thttp_resp_free(&r);
        free(one);
    }
}

/* ---- health and metadata ---- */

/* HEAD path: GET's status and headers, and no body. */
static void expect_head_ok(const char *path)
{
    int fd = thttp_connect(server.port);
    assert_true(fd >= 0);
    char req[256], got[4096];
    int len =
        snprintf(req, sizeof req, "HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    assert_true(send(fd, req, (size_t)len, 0) == len);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t n = 0;
    for (ssize_t k; n < sizeof got - 1 && (k = recv(fd, got + n, sizeof got - 1 - n, 0)) > 0;)
        n += (size_t)k;
    got[n] = '\0';
    close(fd);
    const char *end = strstr(got, "\r\n\r\n");
    if (strncmp(got, "HTTP/1.1 200", 12) != 0 || !end || end[4] != '\0')
        fail_msg("HEAD %s gave:\n%s", path, got);
}

static void test_oip_health(void **state)
{
    (void)state;
    start((const char *[]){"--protocol", "oip", "--model", "code-or-not", NULL});
    static const struct {
        const char *path, *want;
    } ok[] = {
        {"/v2/health/live", "{\"live\":true}"},
        {"/v2/health/ready", "{\"ready\":true}"},
        {"/v2/models/code-or-not/ready", "{\"name\":\"code-or-not\",\"ready\":true}"},
        {"/v2/models/code-or-not/versions/1/ready", "{\"name\":\"code-or-not\",\"ready\":true}"},
    };
    thttp_resp r;
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        request("GET", ok[i].path, NULL, &r);
        json_t *got = body_json(&r), *want = json_loads(ok[i].want, 0, NULL);
        if (r.status != 200 || !json_equal(got, want))
            fail_msg("GET %s: %d %s", ok[i].path, r.status, r.body);
        json_decref(got);
        json_decref(want);
        thttp_resp_free(&r);
        expect_head_ok(ok[i].path);
    }
    request("GET", "/v2/models/code-or-not", NULL, &r);
    json_t *meta = body_json(&r);
    assert_int_equal(r.status, 200);
    json_t *in = json_array_get(json_object_get(meta, "inputs"), 0);
    assert_string_equal(json_string_value(json_object_get(in, "name")), "text");
    assert_string_equal(json_string_value(json_object_get(in, "datatype")), "BYTES");
    assert_int_equal(json_array_size(json_object_get(meta, "outputs")), 2);
    json_decref(meta);
    thttp_resp_free(&r);
    request("GET", "/v2", NULL, &r);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    /* The model is served under its own name only. */
    request("POST", INFER, "{}", &r);
    expect_error(&r, 404, NULL, "the default model's name");
    thttp_resp_free(&r);
    request("GET", "/v2/models/code-or-not/versions/3", NULL, &r);
    expect_error(&r, 404, NULL, "an unknown version");
    thttp_resp_free(&r);
    request("GET", "/classify", NULL, &r);
    expect_error(&r, 404, NULL, "classify's path");
    thttp_resp_free(&r);
}

static void test_tei_health(void **state)
{
    (void)state;
    start((const char *[]){"--protocol", "tei", "--max-length", "300", NULL});
    thttp_resp r;
    request("GET", "/health", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    thttp_resp_free(&r);
    expect_head_ok("/health");
    request("GET", "/info", NULL, &r);
    json_t *info = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(info, "max_input_length")), 300);
    assert_int_equal(json_integer_value(json_object_get(info, "max_client_batch_size")), 5);
    json_decref(info);
    thttp_resp_free(&r);
    request("GET", "/healthz", NULL, &r);
    expect_error(&r, 404, "Validation", "classify's path");
    thttp_resp_free(&r);
}

/* ---- errors in shape ---- */

static void test_oip_errors(void **state)
{
    (void)state;
    start((const char *[]){"--protocol", "oip", "--cost", "0", "--max-length", "20", NULL});
    static const char *const bad[] = {
        "not json",
        "{}",
        "{\"inputs\":[{\"name\":\"input0\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"a\"]}]"
        "}",
        "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1.0]}]}",
        "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"a\"]}]}",
        "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1,2],\"data\":[\"a\","
        "\"b\"]}]}",
        "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[6],"
        "\"data\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]}]}",
        "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],"
        "\"data\":[\"123456789012345678901\"]}]}",
    };
    thttp_resp r;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        request("POST", INFER, bad[i], &r);
        expect_error(&r, 400, NULL, bad[i]);
        thttp_resp_free(&r);
    }
    /* 405 with Allow, in shape. */
    request("GET", INFER, NULL, &r);
    expect_error(&r, 405, NULL, "GET on infer");
    char allow[64];
    assert_non_null(thttp_header(&r, "Allow", allow, sizeof allow));
    assert_string_equal(allow, "POST");
    thttp_resp_free(&r);
    request("POST", "/v2/health/ready", "{}", &r);
    expect_error(&r, 405, NULL, "POST on ready");
    assert_non_null(thttp_header(&r, "Allow", allow, sizeof allow));
    assert_string_equal(allow, "GET, HEAD");
    thttp_resp_free(&r);
    /* Still serving. */
    const char *one[] = {"x = 1"};
    char *body = oip_body(one, 1);
    request("POST", INFER, body, &r);
    assert_true(oip_right(r.body, one, 1));
    thttp_resp_free(&r);
    free(body);
}

static void test_tei_errors(void **state)
{
    (void)state;
    start((const char *[]){"--protocol", "tei", "--cost", "0", "--max-length", "20", NULL});
    static const struct {
        const char *body;
        int status;
        const char *type;
    } bad[] = {
        {"not json", 400, "Validation"},
        {"{}", 422, "Validation"},
        {"{\"inputs\":[\"a\",\"b\"]}", 422, "Validation"},
        {"{\"inputs\":[[\"a\"],[\"b\"],[\"c\"],[\"d\"],[\"e\"],[\"f\"]]}", 422, "Validation"},
        {"{\"inputs\":\"123456789012345678901\"}", 422, "Validation"},
        {"{\"inputs\":\"\"}", 400, "Empty"},
    };
    thttp_resp r;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        request("POST", "/predict", bad[i].body, &r);
        expect_error(&r, bad[i].status, bad[i].type, bad[i].body);
        thttp_resp_free(&r);
    }
    /* truncate: the long text is cut, not refused. */
    request("POST", "/predict", "{\"inputs\":\"123456789012345678901\",\"truncate\":true}", &r);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    request("GET", "/predict", NULL, &r);
    expect_error(&r, 405, NULL, "GET on predict");
    thttp_resp_free(&r);
}

/* ---- one at a time ---- */

/* A long request on its own connection; the server is busy with it when
 * this returns: it reads and takes a request in one loop turn, so once it
 * has read every byte sent, the request holds its slot. */
static int send_long(const char *path, const char *body)
{
    int fd = thttp_connect(server.port);
    assert_true(fd >= 0);
    assert_true(thttp_send(fd, "POST", path, NULL, body, strlen(body)));
    assert_true(tsock_await_consumed(fd, 5)); /* under way */
    return fd;
}

static void test_oip_busy(void **state)
{
    (void)state;
    start((const char *[]){"--protocol", "oip", "--cost", "0.0005", NULL});
    char *s = repeat("a", 40); /* 0.8 s */
    const char *long_text[] = {s};
    char *body = oip_body(long_text, 1);
    double t0 = tnow();
    int fd = send_long(INFER, body);
    thttp_resp r;
    char *other = oip_body(texts, 2);
    request("POST", INFER, other, &r);
    expect_error(&r, 429, NULL, "a request during another");
    assert_true(r.elapsed < 0.5);
    thttp_resp_free(&r);
    assert_true(thttp_recv(fd, &r, 10));
    assert_true(oip_right(r.body, long_text, 1));
    assert_true(tnow() - t0 >= 0.8 - SLACK);
    thttp_resp_free(&r);
    close(fd);
    request("POST", INFER, other, &r); /* free again */
    assert_true(oip_right(r.body, texts, 2));
    thttp_resp_free(&r);
    free(s);
    free(body);
    free(other);
}

static void test_tei_busy(void **state)
{
    (void)state;
    start((const char *[]){"--protocol", "tei", "--cost", "0.0005", NULL});
    char *s = repeat("a", 40); /* 0.8 s */
    const char *long_text[] = {s};
    char *body = tei_body(long_text, 1);
    int fd = send_long("/predict", body);
    thttp_resp r;
    /* TEI takes its permit before it looks at the texts: an empty one,
     * refused with 400 when the server is free (test_tei_errors), gets 429
     * while it is busy. */
    request("POST", "/predict", "{\"inputs\":\"\"}", &r);
    expect_error(&r, 429, "Overloaded", "an empty text during another");
    thttp_resp_free(&r);
    request("POST", "/predict", "{\"inputs\":\"hello\"}", &r);
    expect_error(&r, 429, "Overloaded", "a request during another");
    assert_true(r.elapsed < 0.5);
    thttp_resp_free(&r);
    assert_true(thttp_recv(fd, &r, 10));
    assert_true(tei_right(r.body, long_text, 1, false));
    thttp_resp_free(&r);
    close(fd);
    free(s);
    free(body);
}

/* ---- the cost model ---- */

/* Seconds the answer to a text of L 'a's took, over the protocol's API. */
static double timed(const char *protocol, size_t L)
{
    char *s = repeat("a", L);
    const char *one[] = {s};
    char *body;
    if (!strcmp(protocol, "oip")) {
        body = oip_body(one, 1);
    } else if (!strcmp(protocol, "tei")) {
        body = tei_body(one, 1);
    } else {
        json_t *v = json_pack("{s:[s]}", "sequences", s);
        body = json_dumps(v, JSON_COMPACT);
        json_decref(v);
    }
    const char *path = !strcmp(protocol, "oip")   ? INFER
                       : !strcmp(protocol, "tei") ? "/predict"
                                                  : "/classify";
    thttp_resp r;
    request("POST", path, body, &r);
    if (r.status != 200)
        fail_msg("%s: %d %s", protocol, r.status, r.body);
    double t = r.elapsed;
    thttp_resp_free(&r);
    free(body);
    free(s);
    return t;
}

static void cost_model(const char *protocol)
{
    start((const char *[]){"--protocol", protocol, "--cost", "0.0002", NULL});
    /* 0.0002 * 10^2 = 0.02 s; 0.0002 * 50^2 = 0.5 s. */
    double t10 = timed(protocol, 10), t50 = timed(protocol, 50);
    assert_true(t10 >= 0.02 - SLACK && t10 < 0.4);
    assert_true(t50 >= 0.5 - SLACK && t50 < 2.5);
    assert_int_equal(tproc_stop(&server, 10), 0);

    /* Linear alone: 0.01 * 50 = 0.5 s, where a square would be 25 s. */
    start((const char *[]){"--protocol", protocol, "--cost", "0", "--cost-linear", "0.01", NULL});
    double l5 = timed(protocol, 5), l50 = timed(protocol, 50);
    assert_true(l5 >= 0.05 - SLACK && l5 < 0.4);
    assert_true(l50 >= 0.5 - SLACK && l50 < 2.5);
    assert_int_equal(tproc_stop(&server, 10), 0);

    /* Both: 0.004 * 50 + 0.0002 * 50^2 = 0.2 + 0.5 s. */
    start((const char *[]){"--protocol", protocol, "--cost", "0.0002", "--cost-linear", "0.004",
                           NULL});
    double both = timed(protocol, 50);
    assert_true(both >= 0.7 - SLACK && both < 3);
}

static void test_cost_classify(void **state)
{
    (void)state;
    cost_model("classify");
}

static void test_cost_oip(void **state)
{
    (void)state;
    cost_model("oip");
}

static void test_cost_tei(void **state)
{
    (void)state;
    cost_model("tei");
}

/* ---- faults ---- */

static void test_faults(void **state)
{
    (void)state;
    const char *one[] = {"x = 1"};
    char *oip = oip_body(one, 1), *tei = tei_body(one, 1);
    thttp_resp r;
    start((const char *[]){"--protocol", "oip", "--cost", "0", "--fail-rate", "1", NULL});
    request("POST", INFER, oip, &r);
    expect_error(&r, 500, NULL, "oip injected failure");
    thttp_resp_free(&r);
    assert_int_equal(tproc_stop(&server, 10), 0);

    start((const char *[]){"--protocol", "tei", "--cost", "0", "--fail-rate", "1", NULL});
    request("POST", "/predict", tei, &r);
    expect_error(&r, 424, "Backend", "tei injected failure");
    thttp_resp_free(&r);
    assert_int_equal(tproc_stop(&server, 10), 0);

    start((const char *[]){"--protocol", "tei", "--cost", "0", "--drop-rate", "1", NULL});
    assert_false(thttp_request(server.port, "POST", "/predict", NULL, tei, &r, 5));
    assert_int_equal(tproc_stop(&server, 10), 0);

    /* Garbage: 200s that a strict client must refuse, of several kinds. */
    static const char *const protos[] = {"oip", "tei"};
    for (size_t k = 0; k < 2; k++) {
        start((const char *[]){"--protocol", protos[k], "--cost", "0", "--garbage-rate", "1",
                               "--fault-seed", "3", NULL});
        char kinds[12][512] = {{0}};
        size_t distinct = 0;
        for (int i = 0; i < 12; i++) {
            request("POST", k ? "/predict" : INFER, k ? tei : oip, &r);
            assert_int_equal(r.status, 200);
            if (k ? tei_right(r.body, one, 1, false) : oip_right(r.body, one, 1))
                fail_msg("%s garbage is a right answer: %s", protos[k], r.body);
            bool seen = false;
            for (size_t j = 0; j < distinct; j++)
                seen = seen || strncmp(kinds[j], r.body, 511) == 0;
            if (!seen)
                snprintf(kinds[distinct++], 512, "%s", r.body);
            thttp_resp_free(&r);
        }
        assert_true(distinct >= 3);
        if (k == 0)
            assert_int_equal(tproc_stop(&server, 10), 0);
    }
    free(oip);
    free(tei);
}

/* ---- shutdown ---- */

/* After SIGTERM mid-batch: readiness fails (503), liveness holds, new work
 * gets 503, and the batch is answered. */
static void test_oip_ready_while_stopping(void **state)
{
    (void)state;
    start((const char *[]){"--protocol", "oip", "--cost", "0.0005", NULL});
    char *s = repeat("a", 40);
    const char *long_text[] = {s}, *empty[] = {""};
    char *body = oip_body(long_text, 1), *probe = oip_body(empty, 1);
    int fd = send_long(INFER, body);
    assert_true(tproc_signal(&server, SIGTERM));
    assert_true(tproc_await_log(&server, "finishing the current request", 5));
    thttp_resp r;
    request("GET", "/v2/health/ready", NULL, &r);
    expect_error(&r, 503, NULL, "ready while stopping");
    thttp_resp_free(&r);
    request("GET", "/v2/models/classifier/ready", NULL, &r);
    expect_error(&r, 503, NULL, "model ready while stopping");
    thttp_resp_free(&r);
    request("GET", "/v2/health/live", NULL, &r);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    request("POST", INFER, probe, &r);
    expect_error(&r, 503, NULL, "work while stopping");
    thttp_resp_free(&r);
    assert_true(thttp_recv(fd, &r, 10));
    assert_true(oip_right(r.body, long_text, 1));
    thttp_resp_free(&r);
    close(fd);
    assert_int_equal(tproc_wait(&server, 10), 0);
    free(s);
    free(body);
    free(probe);
}

/* ---- the command line ---- */

static void test_cli(void **state)
{
    (void)state;
    static const char *const bad[][3] = {
        {"--protocol", "grpc", NULL},  {"--model", "a/b", NULL},     {"--model", "", NULL},
        {"--cost-linear", "-1", NULL}, {"--cost-linear", "x", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char out[] = "/tmp/bp-protocols-cli-XXXXXX";
        int fd = mkstemp(out);
        assert_true(fd >= 0);
        close(fd);
        int rc = tproc_run("classifyd", (const char *const *)bad[i], "/dev/null", out, 10);
        bool said = tfile_contains(out, bad[i][0] + 2);
        unlink(out);
        if (rc != 2 || !said)
            fail_msg("classifyd %s %s: exit %d, want 2 with a message naming it", bad[i][0],
                     bad[i][1], rc);
    }
}

/* A settings file (--config) names the protocol and the model as the
 * command line does, and a bad model name in it is refused with its line. */
static void test_settings_file(void **state)
{
    (void)state;
    char path[] = "/tmp/bp-protocols-conf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs("# an oip stand-in\nprotocol = oip\nmodel = m-1\ncost = 0\n", f);
    fclose(f);
    start((const char *[]){"--config", path, NULL});
    thttp_resp r;
    request("GET", "/v2/models/m-1/ready", NULL, &r);
    if (r.status != 200)
        fail_msg("the file's model: %d %s", r.status, r.body);
    thttp_resp_free(&r);
    assert_true(tproc_stop_clean(&server, 10));

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("protocol = oip\nmodel = a/b\n", f);
    fclose(f);
    char err[] = "/tmp/bp-protocols-conf-err-XXXXXX";
    fd = mkstemp(err);
    assert_true(fd >= 0);
    close(fd);
    int rc =
        tproc_run("classifyd", (const char *const[]){"--config", path, NULL}, "/dev/null", err, 10);
    char want[128];
    snprintf(want, sizeof want, "%s:2: --model: 'a/b'", path);
    bool said = tfile_contains(err, want);
    unlink(err);
    unlink(path);
    if (rc != 2 || !said)
        fail_msg("a bad model in the file: exit %d, want 2 with '%s'", rc, want);
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        T(test_oip_batch),
        T(test_tei_batch),
        T(test_oip_health),
        T(test_tei_health),
        T(test_oip_errors),
        T(test_tei_errors),
        T(test_oip_busy),
        T(test_tei_busy),
        T(test_cost_classify),
        T(test_cost_oip),
        T(test_cost_tei),
        T(test_faults),
        T(test_oip_ready_while_stopping),
        T(test_cli),
        T(test_settings_file),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
