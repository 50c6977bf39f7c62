/* Unit tests for classifyd's protocols (protocol.h): routing, request
 * parsing and validation, answers and error bodies of classify, oip (the
 * Open Inference Protocol) and tei (Text Embeddings Inference), and the
 * classifier's confidence. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "classifier.h"
#include "protocol.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const proto_config classify_p = {
    .kind = PROTO_CLASSIFY, .model = "classifier", .max_items = 5, .max_length = 10};
static const proto_config oip = {
    .kind = PROTO_OIP, .model = "classifier", .max_items = 5, .max_length = 10};
static const proto_config tei = {
    .kind = PROTO_TEI, .model = "classifier", .max_items = 5, .max_length = 10};

static json_t *load(const char *s)
{
    json_error_t jerr;
    json_t *v = json_loads(s, JSON_DECODE_ANY, &jerr);
    if (!v)
        fail_msg("not JSON (%s): %s", jerr.text, s);
    return v;
}

/* s (freed) is the JSON text want. */
static void expect_json(char *s, const char *want)
{
    assert_non_null(s);
    json_t *got = load(s), *exp = load(want);
    if (!json_equal(got, exp))
        fail_msg("got %s, want %s", s, want);
    json_decref(got);
    json_decref(exp);
    free(s);
}

static bool parse(const proto_config *p, const char *body, proto_request *r, proto_error *e)
{
    return proto_parse(p, body, strlen(body), r, e);
}

/* body parses (and is admitted) with the texts want[0..n). */
static void expect_texts(const proto_config *p, const char *body, const char *const *want, size_t n,
                         proto_request *r)
{
    proto_error e;
    if (!parse(p, body, r, &e))
        fail_msg("%s: refused %d %s", body, e.status, e.msg);
    if (!proto_admit(p, r, &e))
        fail_msg("%s: not admitted %d %s", body, e.status, e.msg);
    assert_int_equal(r->req.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r->req.items[i].bytes, strlen(want[i]));
        assert_memory_equal(r->req.items[i].s, want[i], strlen(want[i]));
    }
}

/* body is refused, by proto_parse or else by proto_admit, with status and
 * a message containing needle; the error body is the protocol's shape. */
static void expect_refused(const proto_config *p, const char *body, int status, const char *needle)
{
    proto_request r;
    proto_error e;
    bool ok = parse(p, body, &r, &e);
    if (ok) {
        ok = proto_admit(p, &r, &e);
        proto_request_free(&r);
    }
    if (ok || e.status != status || !strstr(e.msg, needle))
        fail_msg("%s: %s %d '%s', want %d with '%s'", body, ok ? "accepted" : "refused", e.status,
                 e.msg, status, needle);
    char *body_json = proto_error_json(p, &e);
    assert_non_null(body_json);
    json_t *v = load(body_json);
    const char *key = p->kind == PROTO_CLASSIFY ? "detail" : "error";
    if (!json_is_string(json_object_get(v, key)))
        fail_msg("error body %s has no '%s'", body_json, key);
    if (p->kind == PROTO_TEI && !json_is_string(json_object_get(v, "error_type")))
        fail_msg("tei error body %s has no error_type", body_json);
    json_decref(v);
    free(body_json);
}

/* ---- names ---- */

static void test_kinds_and_models(void **state)
{
    (void)state;
    /* --protocol's choices: an OPT_CHOICE stores the name's index. */
    assert_string_equal(proto_kind_names[PROTO_CLASSIFY], "classify");
    assert_string_equal(proto_kind_names[PROTO_OIP], "oip");
    assert_string_equal(proto_kind_names[PROTO_TEI], "tei");
    assert_null(proto_kind_names[PROTO_TEI + 1]);
    assert_string_equal(proto_kind_name(PROTO_TEI), "tei");
    assert_true(proto_model_name_valid("bert-base_1.0"));
    assert_false(proto_model_name_valid(""));
    assert_false(proto_model_name_valid("a/b"));
    assert_false(proto_model_name_valid("a b"));
    char long_name[66];
    memset(long_name, 'a', 65);
    long_name[65] = '\0';
    assert_false(proto_model_name_valid(long_name));
    long_name[64] = '\0';
    assert_true(proto_model_name_valid(long_name));
}

/* ---- routing ---- */

static void test_routes(void **state)
{
    (void)state;
    proto_error e;
    assert_int_equal(proto_route(&classify_p, "/classify", &e), PROTO_ROUTE_INFER);
    assert_int_equal(proto_route(&classify_p, "/healthz", &e), PROTO_ROUTE_INFO);
    assert_int_equal(proto_route(&classify_p, "/v2/health/live", &e), PROTO_ROUTE_NONE);
    assert_int_equal(e.status, 404);

    static const char *const oip_infer[] = {"/v2/models/classifier/infer",
                                            "/v2/models/classifier/versions/1/infer"};
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(proto_route(&oip, oip_infer[i], &e), PROTO_ROUTE_INFER);
    static const char *const oip_info[] = {"/v2",
                                           "/v2/health/live",
                                           "/v2/health/ready",
                                           "/v2/models/classifier",
                                           "/v2/models/classifier/ready",
                                           "/v2/models/classifier/versions/1",
                                           "/v2/models/classifier/versions/1/ready"};
    for (size_t i = 0; i < sizeof oip_info / sizeof *oip_info; i++)
        assert_int_equal(proto_route(&oip, oip_info[i], &e), PROTO_ROUTE_INFO);
    static const char *const oip_none[] = {"/classify",
                                           "/v2/models/other/infer",
                                           "/v2/models/classifier/versions/2/infer",
                                           "/v2/models/classifier/versions//infer",
                                           "/v2/models//infer",
                                           "/v2/models/classifier/infer/",
                                           "/v2/models/classifier/explain",
                                           "/v2/health"};
    for (size_t i = 0; i < sizeof oip_none / sizeof *oip_none; i++) {
        assert_int_equal(proto_route(&oip, oip_none[i], &e), PROTO_ROUTE_NONE);
        assert_int_equal(e.status, 404);
    }
    assert_int_equal(proto_route(&oip, "/v2/models/other/infer", &e), PROTO_ROUTE_NONE);
    assert_non_null(strstr(e.msg, "unknown model 'other'"));
    assert_int_equal(proto_route(&oip, "/v2/models/classifier/versions/7/ready", &e),
                     PROTO_ROUTE_NONE);
    assert_non_null(strstr(e.msg, "no version '7'"));

    assert_int_equal(proto_route(&tei, "/predict", &e), PROTO_ROUTE_INFER);
    assert_int_equal(proto_route(&tei, "/health", &e), PROTO_ROUTE_INFO);
    assert_int_equal(proto_route(&tei, "/info", &e), PROTO_ROUTE_INFO);
    assert_int_equal(proto_route(&tei, "/classify", &e), PROTO_ROUTE_NONE);
}

static void test_info(void **state)
{
    (void)state;
    char *body;
    proto_error e;
    assert_true(proto_info(&oip, "/v2/health/live", false, &body, &e));
    expect_json(body, "{\"live\":true}");
    assert_true(proto_info(&oip, "/v2/health/live", true, &body, &e)); /* alive while stopping */
    expect_json(body, "{\"live\":true}");
    assert_true(proto_info(&oip, "/v2/health/ready", false, &body, &e));
    expect_json(body, "{\"ready\":true}");
    assert_false(proto_info(&oip, "/v2/health/ready", true, &body, &e));
    assert_int_equal(e.status, 503);
    assert_true(proto_info(&oip, "/v2/models/classifier/ready", false, &body, &e));
    expect_json(body, "{\"name\":\"classifier\",\"ready\":true}");
    assert_false(proto_info(&oip, "/v2/models/classifier/versions/1/ready", true, &body, &e));
    assert_true(proto_info(&oip, "/v2/models/classifier", false, &body, &e));
    expect_json(body, "{\"name\":\"classifier\",\"versions\":[\"1\"],\"platform\":\"classifyd\","
                      "\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[-1]}],"
                      "\"outputs\":[{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[-1]},"
                      "{\"name\":\"score\",\"datatype\":\"FP32\",\"shape\":[-1]}]}");

    assert_true(proto_info(&tei, "/health", false, &body, &e));
    assert_string_equal(body, ""); /* TEI's health has no body */
    free(body);
    assert_false(proto_info(&tei, "/health", true, &body, &e));
    assert_int_equal(e.status, 503);
    assert_true(proto_info(&tei, "/info", false, &body, &e));
    json_t *info = load(body);
    assert_int_equal(json_integer_value(json_object_get(info, "max_client_batch_size")), 5);
    assert_int_equal(json_integer_value(json_object_get(info, "max_input_length")), 10);
    json_t *labels = json_object_get(
        json_object_get(json_object_get(info, "model_type"), "classifier"), "id2label");
    assert_string_equal(json_string_value(json_object_get(labels, "1")), "code");
    json_decref(info);
    free(body);

    assert_true(proto_info(&classify_p, "/healthz", false, &body, &e));
    expect_json(body, "{\"status\":\"ok\"}");
}

/* ---- oip requests ---- */

/* "inputs": [the tensor 'text'], and the request's start with it. */
#define OIP_INPUTS(shape, data)                                                                    \
    "\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":" shape ",\"data\":" data "}" \
    "]"
#define OIP_IN(shape, data) "{" OIP_INPUTS(shape, data)

static void test_oip_parse(void **state)
{
    (void)state;
    static const char *const ab[] = {"a", "b"};
    proto_request r;
    expect_texts(&oip, OIP_IN("[2]", "[\"a\",\"b\"]") "}", ab, 2, &r);
    assert_int_equal(r.opts.rank, 1);
    assert_null(r.opts.id);
    assert_int_equal(r.opts.n_outputs, 2); /* none named: both, label first */
    assert_int_equal(r.opts.outputs[0], PROTO_OUT_LABEL);
    assert_int_equal(r.opts.outputs[1], PROTO_OUT_SCORE);
    proto_request_free(&r);
    /* [n, 1], flat or nested; an id; outputs chosen and ordered. */
    expect_texts(
        &oip,
        "{\"id\":\"x-1\",\"parameters\":{\"k\":1}," OIP_INPUTS("[2,1]", "[[\"a\"],[\"b\"]]") "}",
        ab, 2, &r);
    assert_int_equal(r.opts.rank, 2);
    assert_string_equal(r.opts.id, "x-1");
    proto_request_free(&r);
    expect_texts(
        &oip,
        OIP_IN("[2,1]",
               "[\"a\",\"b\"]") ",\"outputs\":[{\"name\":\"score\"},{\"name\":\"label\"}]}",
        ab, 2, &r);
    assert_int_equal(r.opts.n_outputs, 2);
    assert_int_equal(r.opts.outputs[0], PROTO_OUT_SCORE);
    assert_int_equal(r.opts.outputs[1], PROTO_OUT_LABEL);
    proto_request_free(&r);
    expect_texts(&oip, OIP_IN("[0]", "[]") "}", NULL, 0, &r); /* an empty batch */
    proto_request_free(&r);
}

static void test_oip_refused(void **state)
{
    (void)state;
    expect_refused(&oip, "{}", 400, "'inputs'");
    expect_refused(&oip, "[]", 400, "JSON object");
    expect_refused(&oip, "{\"inputs\":[]}", 400, "'inputs'");
    expect_refused(&oip, "{\"inputs\":[{\"name\":\"input0\"}]}", 400, "unexpected input 'input0'");
    expect_refused(&oip, "{\"inputs\":[1]}", 400, "inputs[0]");
    expect_refused(
        &oip,
        "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1],\"data\":[\"a\"]},"
        "{\"name\":\"text\"}]}",
        400, "unexpected input 'text'");
    expect_refused(
        &oip,
        "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"FP32\",\"shape\":[1],\"data\":[1.5]}]}",
        400, "datatype 'FP32'");
    expect_refused(&oip, "{\"inputs\":[{\"name\":\"text\",\"shape\":[1],\"data\":[\"a\"]}]}", 400,
                   "datatype '(none)'");
    expect_refused(&oip, OIP_IN("[1,2]", "[\"a\",\"b\"]") "}", 400, "shape [n] or [n, 1]");
    expect_refused(&oip, OIP_IN("[2,1,1]", "[\"a\",\"b\"]") "}", 400, "shape [n] or [n, 1]");
    expect_refused(&oip, OIP_IN("[-1]", "[\"a\"]") "}", 400, "shape [n] or [n, 1]");
    expect_refused(&oip, OIP_IN("\"2\"", "[\"a\",\"b\"]") "}", 400, "shape [n] or [n, 1]");
    expect_refused(&oip, OIP_IN("[3]", "[\"a\",\"b\"]") "}", 400, "shape [3]");
    expect_refused(&oip, OIP_IN("[1]", "\"a\"") "}", 400, "shape [1]");
    expect_refused(&oip, OIP_IN("[2]", "[\"a\",2]") "}", 400, "data[1] must be a string");
    expect_refused(&oip, OIP_IN("[2,1]", "[[\"a\"],[\"b\",\"c\"]]") "}", 400, "data[1][0]");
    expect_refused(&oip, OIP_IN("[6]", "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]") "}", 400,
                   "at most 5");
    expect_refused(&oip, OIP_IN("[1]", "[\"01234567890\"]") "}", 400, "11 characters long");
    expect_refused(&oip, "{\"id\":7," OIP_INPUTS("[1]", "[\"a\"]") "}", 400,
                   "'id' must be a string");
    expect_refused(&oip, "{\"parameters\":[]," OIP_INPUTS("[1]", "[\"a\"]") "}", 400,
                   "'parameters'");
    expect_refused(&oip, OIP_IN("[1]", "[\"a\"]") ",\"outputs\":[{\"name\":\"logits\"}]}", 400,
                   "unexpected output 'logits'");
    expect_refused(&oip, OIP_IN("[1]", "[\"a\"]") ",\"outputs\":[{}]}", 400, "(no name)");
    expect_refused(
        &oip, OIP_IN("[1]", "[\"a\"]") ",\"outputs\":[{\"name\":\"label\"},{\"name\":\"label\"}]}",
        400, "twice");
    expect_refused(&oip, OIP_IN("[1]", "[\"a\"]") ",\"outputs\":{}}", 400, "'outputs'");
    expect_refused(&oip, "{\"inputs\":1,\"inputs\":2}", 400, "twice");
}

/* ---- oip answers ---- */

static void test_oip_answer(void **state)
{
    (void)state;
    const enum wire_label labels[] = {WIRE_CODE, WIRE_NOT_CODE};
    const double conf[] = {0.75, 0.5};
    proto_opts o = {.rank = 1, .outputs = {PROTO_OUT_LABEL, PROTO_OUT_SCORE}, .n_outputs = 2};
    expect_json(proto_answer(&oip, &o, labels, conf, 2, PROTO_RIGHT),
                "{\"model_name\":\"classifier\",\"model_version\":\"1\",\"outputs\":["
                "{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[2],"
                "\"data\":[\"code\",\"not code\"]},"
                "{\"name\":\"score\",\"datatype\":\"FP32\",\"shape\":[2],\"data\":[0.75,0.5]}]}");
    char id[] = "req-9";
    proto_opts o2 = {.id = id, .rank = 2, .outputs = {PROTO_OUT_SCORE}, .n_outputs = 1};
    expect_json(
        proto_answer(&oip, &o2, labels, conf, 2, PROTO_RIGHT),
        "{\"model_name\":\"classifier\",\"model_version\":\"1\",\"id\":\"req-9\",\"outputs\":["
        "{\"name\":\"score\",\"datatype\":\"FP32\",\"shape\":[2,1],\"data\":[0.75,0.5]}]}");
    expect_json(proto_answer(&oip, &o, NULL, NULL, 0, PROTO_RIGHT),
                "{\"model_name\":\"classifier\",\"model_version\":\"1\",\"outputs\":["
                "{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[0],\"data\":[]},"
                "{\"name\":\"score\",\"datatype\":\"FP32\",\"shape\":[0],\"data\":[]}]}");
    /* The garbage shapes: an unknown label; a shape its data doesn't fill. */
    char *bad = proto_answer(&oip, &o, labels, conf, 2, PROTO_BAD_LABEL);
    assert_non_null(strstr(bad, "\"cod3\""));
    free(bad);
    bad = proto_answer(&oip, &o, labels, conf, 2, PROTO_BAD_SHAPE);
    json_t *v = load(bad);
    json_t *label = json_array_get(json_object_get(v, "outputs"), 0);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(label, "shape"), 0)), 3);
    assert_int_equal(json_array_size(json_object_get(label, "data")), 2);
    json_decref(v);
    free(bad);

    proto_error e = {.status = 400};
    snprintf(e.msg, sizeof e.msg, "bad \xc3"); /* cut mid-character: still valid JSON */
    expect_json(proto_error_json(&oip, &e), "{\"error\":\"bad ?\"}");
}

/* ---- tei ---- */

static void test_tei_parse(void **state)
{
    (void)state;
    static const char *const a[] = {"a"}, *const abc[] = {"a", "b", "c"};
    proto_request r;
    expect_texts(&tei, "{\"inputs\":\"a\"}", a, 1, &r);
    assert_true(r.opts.single);
    assert_false(r.opts.raw_scores);
    proto_request_free(&r);
    expect_texts(&tei, "{\"inputs\":[\"a\"],\"truncate\":null}", a, 1, &r); /* TEI: one text */
    assert_true(r.opts.single);
    proto_request_free(&r);
    expect_texts(&tei, "{\"inputs\":[[\"a\"],[\"b\"],[\"c\"]],\"raw_scores\":true,\"x\":1}", abc, 3,
                 &r);
    assert_false(r.opts.single);
    assert_true(r.opts.raw_scores);
    proto_request_free(&r);
    expect_texts(&tei, "{\"inputs\":[[\"a\"]]}", a, 1, &r); /* a batch of one */
    assert_false(r.opts.single);
    proto_request_free(&r);

    /* truncate: cut to max_length (10) code points, from either side. */
    static const char *const right[] = {"\xc3\xa9"
                                        "123456789"},
                             *const left[] = {"23456789ab"};
    expect_texts(&tei, "{\"inputs\":\"\\u00e9123456789ab\",\"truncate\":true}", right, 1, &r);
    assert_int_equal(r.req.items[0].len, 10);
    proto_request_free(&r);
    expect_texts(&tei,
                 "{\"inputs\":\"\\u00e9123456789ab\",\"truncate\":true,"
                 "\"truncation_direction\":\"Left\"}",
                 left, 1, &r);
    proto_request_free(&r);
}

static void test_tei_refused(void **state)
{
    (void)state;
    expect_refused(&tei, "{}", 422, "missing");
    expect_refused(&tei, "{\"inputs\":[]}", 422, "'inputs' must be");
    expect_refused(&tei, "{\"inputs\":7}", 422, "'inputs' must be");
    expect_refused(&tei, "{\"inputs\":[\"a\",\"b\"]}", 422, "pair of texts");
    expect_refused(&tei, "{\"inputs\":[\"a\",\"b\",\"c\"]}", 422, "'inputs' must be");
    expect_refused(&tei, "{\"inputs\":[[\"a\"],[\"b\",\"c\"]]}", 422, "inputs[1] is a pair");
    expect_refused(&tei, "{\"inputs\":[[\"a\"],[]]}", 422,
                   "inputs[1] must be a list of one string");
    expect_refused(&tei, "{\"inputs\":[[\"a\"],\"b\"]}", 422, "inputs[1]");
    expect_refused(&tei, "{\"inputs\":[[1]]}", 422, "inputs[0]");
    expect_refused(&tei, "{\"inputs\":[[\"a\"],[\"b\"],[\"c\"],[\"d\"],[\"e\"],[\"f\"]]}", 422,
                   "batch size 6");
    expect_refused(&tei, "{\"inputs\":\"a\",\"truncate\":\"yes\"}", 422, "'truncate'");
    expect_refused(&tei, "{\"inputs\":\"a\",\"raw_scores\":1}", 422, "'raw_scores'");
    expect_refused(&tei, "{\"inputs\":\"a\",\"truncation_direction\":\"up\"}", 422,
                   "'truncation_direction'");
    expect_refused(&tei, "{\"inputs\":", 400, "not valid JSON");
    /* After the permit: an empty text, a text too long. */
    expect_refused(&tei, "{\"inputs\":\"\"}", 400, "cannot be empty");
    expect_refused(&tei, "{\"inputs\":[[\"a\"],[\"\"]]}", 400, "cannot be empty");
    expect_refused(&tei, "{\"inputs\":\"0123456789a\"}", 422, "at most 10 characters. Given: 11");

    /* error_type goes with the status. */
    static const struct {
        int status;
        const char *type;
    } types[] = {{400, "Empty"},      {422, "Validation"}, {424, "Backend"},
                 {429, "Overloaded"}, {503, "Unhealthy"},  {404, "Validation"}};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        proto_error e = {.status = types[i].status};
        snprintf(e.msg, sizeof e.msg, "m");
        char want[128];
        snprintf(want, sizeof want, "{\"error\":\"m\",\"error_type\":\"%s\"}", types[i].type);
        expect_json(proto_error_json(&tei, &e), want);
    }
    proto_error e = {.status = 400, .type = "Validation"};
    snprintf(e.msg, sizeof e.msg, "m");
    expect_json(proto_error_json(&tei, &e), "{\"error\":\"m\",\"error_type\":\"Validation\"}");
    assert_int_equal(proto_failure_status(&tei), 424);
    assert_int_equal(proto_failure_status(&oip), 500);
    assert_int_equal(proto_failure_status(&classify_p), 500);
}

static void test_tei_answer(void **state)
{
    (void)state;
    const enum wire_label labels[] = {WIRE_CODE, WIRE_NOT_CODE};
    const double conf[] = {0.75, 0.5};
    proto_opts single = {.single = true}, batch = {0}, raw = {.raw_scores = true};
    expect_json(proto_answer(&tei, &single, labels, conf, 1, PROTO_RIGHT),
                "[{\"score\":0.75,\"label\":\"code\"},{\"score\":0.25,\"label\":\"not code\"}]");
    expect_json(proto_answer(&tei, &batch, labels, conf, 2, PROTO_RIGHT),
                "[[{\"score\":0.75,\"label\":\"code\"},{\"score\":0.25,\"label\":\"not code\"}],"
                "[{\"score\":0.5,\"label\":\"not code\"},{\"score\":0.5,\"label\":\"code\"}]]");
    /* raw scores: logits whose softmax gives the probabilities back. */
    char *s = proto_answer(&tei, &raw, labels, conf, 1, PROTO_RIGHT);
    json_t *v = load(s);
    double z0 =
        json_number_value(json_object_get(json_array_get(json_array_get(v, 0), 0), "score"));
    double z1 =
        json_number_value(json_object_get(json_array_get(json_array_get(v, 0), 1), "score"));
    assert_true(z0 > 0 && fabs(z0 + z1) < 1e-6);
    assert_true(fabs(exp(z0) / (exp(z0) + exp(z1)) - 0.75) < 1e-6);
    json_decref(v);
    free(s);
    /* Garbage: a batch answered flat, one text answered as a batch. */
    expect_json(proto_answer(&tei, &batch, labels, conf, 1, PROTO_BAD_SHAPE),
                "[{\"score\":0.75,\"label\":\"code\"},{\"score\":0.25,\"label\":\"not code\"}]");
    expect_json(proto_answer(&tei, &single, labels, conf, 1, PROTO_BAD_SHAPE),
                "[[{\"score\":0.75,\"label\":\"code\"},{\"score\":0.25,\"label\":\"not code\"}]]");
    s = proto_answer(&tei, &single, labels, conf, 1, PROTO_BAD_LABEL);
    assert_non_null(strstr(s, "\"cod3\""));
    free(s);
}

/* ---- classify: what it always answered ---- */

static void test_classify(void **state)
{
    (void)state;
    static const char *const two[] = {"a", "b"};
    proto_request r;
    expect_texts(&classify_p, "{\"sequences\":[\"a\",\"b\"]}", two, 2, &r);
    proto_request_free(&r);
    expect_refused(&classify_p, "{\"sequences\":[\"0123456789a\"]}", 413, "limit is 10");
    expect_refused(&classify_p, "{\"sequences\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]}", 400,
                   "too many");
    const enum wire_label labels[] = {WIRE_CODE, WIRE_NOT_CODE};
    const double conf[] = {0.9, 0.6};
    proto_opts o = {0};
    char *want = wire_results_json(labels, 2),
         *got = proto_answer(&classify_p, &o, labels, conf, 2, PROTO_RIGHT);
    assert_string_equal(got, want);
    free(got);
    free(want);
    expect_json(proto_answer(&classify_p, &o, labels, conf, 2, PROTO_BAD_LABEL),
                "{\"results\":[\"cod3\",\"not code\"]}");
    expect_json(proto_answer(&classify_p, &o, labels, conf, 2, PROTO_BAD_SHAPE),
                "{\"results\":\"code\"}");
}

/* ---- the classifier's confidence ---- */

static void test_confidence(void **state)
{
    (void)state;
    static const char *const texts[] = {"",
                                        "hello",
                                        "The weather is nice today.",
                                        "x = 1",
                                        "int main(void) { return 0; }",
                                        "for (i = 0; i < n; i++) { sum += a[i]; }",
                                        "SELECT a, b FROM t WHERE c = 1;",
                                        "I think we should meet tomorrow at noon."};
    double lo = 1, hi = 0;
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        double c = 0, again = 0;
        enum wire_label label = classify_text_scored(texts[i], strlen(texts[i]), &c);
        assert_int_equal(label, classify_text(texts[i], strlen(texts[i])));
        assert_true(c > 0.5 && c < 1.0);
        classify_text_scored(texts[i], strlen(texts[i]), &again);
        assert_true(c == again); /* deterministic */
        lo = c < lo ? c : lo;
        hi = c > hi ? c : hi;
    }
    assert_true(hi - lo > 0.2); /* it says something: sure and unsure texts differ */
    assert_int_equal(classify_text_scored("x", 1, NULL), classify_text("x", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_and_models),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_oip_parse),
        cmocka_unit_test(test_oip_refused),
        cmocka_unit_test(test_oip_answer),
        cmocka_unit_test(test_tei_parse),
        cmocka_unit_test(test_tei_refused),
        cmocka_unit_test(test_tei_answer),
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_confidence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
