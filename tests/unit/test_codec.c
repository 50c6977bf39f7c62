/* Unit tests for codec, the backend's wire protocol: the request bodies each
 * protocol builds (exact bytes, and read back by jansson), the answers each
 * reads (the results' JSON texts exactly, and every way an answer is bad,
 * each with its message), the options' checks, the paths, and the words
 * quoted from a refusal. ASan's leak check shows that a bad answer leaves
 * no result behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The options' defaults (main.c), for protocol p. */
static codec_config config(enum codec_protocol p)
{
    return (codec_config){.protocol = p,
                          .oip_input = "text",
                          .request_field = "sequences",
                          .results_pointer = "/results",
                          .max_result = 16384};
}

static void init_ok(codec *c, const codec_config *cfg)
{
    char err[256] = "";
    if (!codec_init(c, cfg, err, sizeof err))
        fail_msg("codec_init refused: %s", err);
}

/* ---- requests ---- */

/* Texts with everything a JSON string must escape or may not hold as it
 * is: a quote and backslashes; NUL, a newline and other controls; DEL;
 * 2- and 3-byte characters and an astral one (a surrogate pair). */
static const wire_text text_quotes = {.s = "say \"hi\" \\o/", .bytes = 12};
static const wire_text text_controls = {.s = "a\0b\n\t\x01\x1f\x7f", .bytes = 8};
static const wire_text text_unicode = {.s = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", .bytes = 9};
static const wire_text *const texts[] = {&text_quotes, &text_controls, &text_unicode};
#define NTEXTS (sizeof texts / sizeof *texts)
/* The same three as JSON strings, comma-separated. */
#define TEXTS_JSON                                                                                 \
    "\"say \\\"hi\\\" \\\\o/\",\"a\\u0000b\\n\\t\\u0001\\u001F\x7f\","                             \
    "\"\\u00E9\\u20AC\\uD83D\\uDE00\""
#define TEI_TEXTS_JSON                                                                             \
    "[\"say \\\"hi\\\" \\\\o/\"],[\"a\\u0000b\\n\\t\\u0001\\u001F\x7f\"],"                         \
    "[\"\\u00E9\\u20AC\\uD83D\\uDE00\"]"

/* codec_request's body for texts[0..n) must be exactly want. */
static void expect_request(const codec_config *cfg, size_t n, const char *want)
{
    codec c;
    init_ok(&c, cfg);
    size_t len = 0;
    char *body = codec_request(&c, texts, n, &len);
    assert_non_null(body);
    assert_string_equal(body, want);
    assert_int_equal(len, strlen(want));
    free(body);
    codec_fini(&c);
}

static void test_request_bodies(void **state)
{
    (void)state;
    codec_config cfg = config(CODEC_CLASSIFY);
    expect_request(&cfg, NTEXTS, "{\"sequences\":[" TEXTS_JSON "]}");
    expect_request(&cfg, 0, "{\"sequences\":[]}");

    cfg = config(CODEC_OIP);
    expect_request(&cfg, NTEXTS,
                   "{\"inputs\":[{\"name\":\"text\",\"shape\":[3],\"datatype\":\"BYTES\","
                   "\"data\":[" TEXTS_JSON "]}]}");
    expect_request(&cfg, 0,
                   "{\"inputs\":[{\"name\":\"text\",\"shape\":[0],\"datatype\":\"BYTES\","
                   "\"data\":[]}]}");
    cfg.oip_input = "in\"put";
    cfg.oip_output = "label\xc3\xa9";
    expect_request(&cfg, 1,
                   "{\"inputs\":[{\"name\":\"in\\\"put\",\"shape\":[1],\"datatype\":\"BYTES\","
                   "\"data\":[\"say \\\"hi\\\" \\\\o/\"]}],"
                   "\"outputs\":[{\"name\":\"label\\u00E9\"}]}");
    cfg.oip_output = ""; /* as good as none */
    expect_request(&cfg, 0,
                   "{\"inputs\":[{\"name\":\"in\\\"put\",\"shape\":[0],\"datatype\":\"BYTES\","
                   "\"data\":[]}]}");
    /* Triton's shape for a model with max_batch_size > 0: [n, 1], data flat. */
    cfg = config(CODEC_OIP);
    cfg.oip_shape = CODEC_OIP_N_1;
    cfg.oip_output = "a very long output name, longer than the fixed text's spare room "
                     "in the buffer, to check the buffer's bound";
    expect_request(&cfg, NTEXTS,
                   "{\"inputs\":[{\"name\":\"text\",\"shape\":[3,1],\"datatype\":\"BYTES\","
                   "\"data\":[" TEXTS_JSON "]}],\"outputs\":[{\"name\":\"a very long output name, "
                   "longer than the fixed text's spare room in the buffer, to check the buffer's "
                   "bound\"}]}");

    cfg = config(CODEC_TEI);
    expect_request(&cfg, NTEXTS, "{\"inputs\":[" TEI_TEXTS_JSON "]}");
    expect_request(&cfg, 0, "{\"inputs\":[]}");

    cfg = config(CODEC_JSON);
    cfg.request_field = "texts";
    expect_request(&cfg, NTEXTS, "{\"texts\":[" TEXTS_JSON "]}");
    cfg.request_field = "a\\b";
    expect_request(&cfg, 1, "{\"a\\\\b\":[\"say \\\"hi\\\" \\\\o/\"]}");
}

static void test_request_tei_plain(void **state)
{
    (void)state;
    const wire_text a = {.s = "a", .bytes = 1}, b = {.s = "b", .bytes = 1};
    const wire_text *const ab[] = {&a, &b};
    codec c;
    codec_config cfg = config(CODEC_TEI);
    init_ok(&c, &cfg);
    size_t len;
    char *body = codec_request(&c, ab, 2, &len);
    assert_string_equal(body, "{\"inputs\":[[\"a\"],[\"b\"]]}");
    free(body);
    codec_fini(&c);
}

/* The classify body is byte for byte wire_sequences_json's. */
static void test_request_classify_is_wire(void **state)
{
    (void)state;
    codec c;
    codec_config cfg = config(CODEC_CLASSIFY);
    init_ok(&c, &cfg);
    for (size_t n = 0; n <= NTEXTS; n++) {
        size_t len;
        char *got = codec_request(&c, texts, n, &len);
        char *want = wire_sequences_json(texts, n);
        assert_non_null(got);
        assert_non_null(want);
        assert_string_equal(got, want);
        free(got);
        free(want);
    }
    codec_fini(&c);
}

/* The list of texts in a request body as the backend reads it. */
static json_t *request_texts(enum codec_protocol p, json_t *root)
{
    switch (p) {
    case CODEC_OIP:
        return json_object_get(json_array_get(json_object_get(root, "inputs"), 0), "data");
    case CODEC_TEI:
        return json_object_get(root, "inputs");
    case CODEC_JSON:
        return json_object_get(root, "texts");
    default:
        return json_object_get(root, "sequences");
    }
}

/* Every body reads back, by jansson, as the same texts, NULs and all. */
static void test_request_reads_back(void **state)
{
    (void)state;
    for (enum codec_protocol p = CODEC_CLASSIFY; p <= CODEC_JSON; p++) {
        codec c;
        codec_config cfg = config(p);
        cfg.request_field = "texts";
        init_ok(&c, &cfg);
        size_t len;
        char *body = codec_request(&c, texts, NTEXTS, &len);
        json_error_t jerr;
        json_t *root = json_loadb(body, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
            fail_msg("%s: %s in %s", codec_protocols[p], jerr.text, body);
        json_t *list = request_texts(p, root);
        assert_int_equal(json_array_size(list), NTEXTS);
        for (size_t i = 0; i < NTEXTS; i++) {
            json_t *s = json_array_get(list, i);
            if (p == CODEC_TEI) {
                assert_int_equal(json_array_size(s), 1);
                s = json_array_get(s, 0);
            }
            assert_true(json_is_string(s));
            assert_int_equal(json_string_length(s), texts[i]->bytes);
            assert_memory_equal(json_string_value(s), texts[i]->s, texts[i]->bytes);
        }
        json_decref(root);
        free(body);
        codec_fini(&c);
    }
}

/* ---- answers: good ---- */

/* codec_parse must read body as n results whose JSON texts are want[0..n);
 * the results are the caller's to drop. */
static void expect_results_n(const codec *c, const char *body, size_t len, const char *const *want,
                             size_t n)
{
    result *out[8];
    char err[256] = "";
    assert_true(n <= 8);
    if (!codec_parse(c, body, len, n, out, err, sizeof err))
        fail_msg("refused %s: %s", body, err);
    for (size_t i = 0; i < n; i++) {
        /* With labels, a result is the codec's own for that label, shared;
         * else one made for this answer alone. */
        bool shared = false;
        for (size_t k = 0; k < c->nlabels; k++)
            shared |= out[i] == c->label_results[k];
        assert_int_equal(shared, c->nlabels > 0);
        assert_true(shared ? out[i]->refs >= 2 : out[i]->refs == 1);
        assert_int_equal(out[i]->len, strlen(out[i]->json));
        if (strcmp(out[i]->json, want[i]) != 0)
            fail_msg("%s: result %zu is %s, want %s", body, i, out[i]->json, want[i]);
    }
    for (size_t i = 0; i < n; i++)
        result_unref(out[i]);
}

#define EXPECT_NONE(c, body) expect_results_n(c, body, strlen(body), NULL, 0)
#define EXPECT_RESULTS(c, body, ...)                                                               \
    expect_results_n(c, body, strlen(body), (const char *const[]){__VA_ARGS__},                    \
                     sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* Sets c up as cfg with labels and the output named as given. */
static void setup(codec *c, enum codec_protocol p, const char *labels, const char *oip_output,
                  const char *pointer)
{
    codec_config cfg = config(p);
    cfg.labels = labels;
    cfg.oip_output = oip_output;
    if (pointer)
        cfg.results_pointer = pointer;
    init_ok(c, &cfg);
}

static void test_parse_classify_good(void **state)
{
    (void)state;
    codec c;
    setup(&c, CODEC_CLASSIFY, NULL, NULL, NULL);
    EXPECT_RESULTS(&c, "{\"results\": [\"code\", \"not code\", \"code\"]}", "\"code\"",
                   "\"not code\"", "\"code\"");
    EXPECT_NONE(&c, "{\"results\":[]}");
    /* Other keys are the backend's business. */
    EXPECT_RESULTS(&c, "{\"model\": \"m\", \"results\": [\"not code\"]}", "\"not code\"");
    codec_fini(&c);
}

static void test_parse_oip_good(void **state)
{
    (void)state;
    codec c;
    setup(&c, CODEC_OIP, NULL, NULL, NULL);
    /* Flat data, shape [n]: the first output by default. */
    EXPECT_RESULTS(&c,
                   "{\"model_name\":\"m\",\"outputs\":["
                   "{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[2],"
                   "\"data\":[\"code\",\"not code\"]},"
                   "{\"name\":\"score\",\"datatype\":\"FP32\",\"shape\":[2],"
                   "\"data\":[0.8933094,0.8354835]}]}",
                   "\"code\"", "\"not code\"");
    EXPECT_RESULTS(&c,
                   "{\"outputs\":[{\"name\":\"score\",\"shape\":[2],\"data\":[0.9,1.0]},"
                   "{\"name\":\"label\",\"shape\":[2],\"data\":[\"code\",\"code\"]}]}",
                   "0.9", "1.0");
    /* Shape [n, 1]: rows of one, or flat. */
    EXPECT_RESULTS(&c, "{\"outputs\":[{\"name\":\"l\",\"shape\":[2,1],\"data\":[[\"a\"],[7]]}]}",
                   "\"a\"", "7");
    EXPECT_RESULTS(&c, "{\"outputs\":[{\"name\":\"l\",\"shape\":[2,1],\"data\":[\"a\",7]}]}",
                   "\"a\"", "7");
    EXPECT_NONE(&c, "{\"outputs\":[{\"name\":\"l\",\"shape\":[0],\"data\":[]}]}");
    codec_fini(&c);

    /* A named output, not the first; the ones before it need only a name. */
    setup(&c, CODEC_OIP, "", "score", NULL);
    EXPECT_RESULTS(&c,
                   "{\"outputs\":[{\"name\":\"label\",\"shape\":[9],\"data\":\"x\"},"
                   "{\"name\":\"score\",\"shape\":[2],\"data\":[0.25,1e300]}]}",
                   "0.25", "1e+300");
    codec_fini(&c);

    /* With labels, the tensor's elements are checked. */
    setup(&c, CODEC_OIP, "code,not code", "label", NULL);
    EXPECT_RESULTS(&c,
                   "{\"outputs\":[{\"name\":\"score\",\"shape\":[1],\"data\":[0.5]},"
                   "{\"name\":\"label\",\"shape\":[1,1],\"data\":[[\"not code\"]]}]}",
                   "\"not code\"");
    codec_fini(&c);
}

static void test_parse_tei_good(void **state)
{
    (void)state;
    codec c;
    setup(&c, CODEC_TEI, NULL, NULL, NULL);
    EXPECT_RESULTS(&c,
                   "[[{\"score\": 0.9, \"label\": \"code\"}, {\"score\": 0.1, \"label\": \"not "
                   "code\"}],\n [{\"label\": \"x\", \"score\": 1.0}]]",
                   "[{\"score\":0.9,\"label\":\"code\"},{\"score\":0.1,\"label\":\"not code\"}]",
                   "[{\"label\":\"x\",\"score\":1.0}]");
    EXPECT_RESULTS(&c, "[[]]", "[]");
    codec_fini(&c);
}

static void test_parse_json_good(void **state)
{
    (void)state;
    codec c;
    /* The answer itself is the list. */
    setup(&c, CODEC_JSON, NULL, NULL, "");
    EXPECT_RESULTS(&c, "[1, -0.0, \"\\u00e9\\/\\\"\\n\", {\"b\": 1, \"a\": [true, false, null]}]",
                   "1", "-0.0", "\"\\u00E9/\\\"\\n\"", "{\"b\":1,\"a\":[true,false,null]}");
    codec_fini(&c);

    setup(&c, CODEC_JSON, NULL, NULL, "/a/b");
    EXPECT_RESULTS(&c, "{\"a\": {\"x\": 1, \"b\": [\"x\", \"y\"]}}", "\"x\"", "\"y\"");
    codec_fini(&c);

    /* An array index. */
    setup(&c, CODEC_JSON, NULL, NULL, "/a/1");
    EXPECT_RESULTS(&c, "{\"a\": [\"other\", [\"p\"]]}", "\"p\"");
    codec_fini(&c);

    /* ~0 is '~', ~1 is '/', in that order (~01 is "~1"). */
    setup(&c, CODEC_JSON, NULL, NULL, "/~0k/~1s/~01");
    EXPECT_RESULTS(&c, "{\"~k\": {\"/s\": {\"~1\": [5]}}, \"k\": 0}", "5");
    codec_fini(&c);

    /* The empty key. */
    setup(&c, CODEC_JSON, NULL, NULL, "/");
    EXPECT_RESULTS(&c, "{\"\": [\"e\"], \"x\": 1}", "\"e\"");
    codec_fini(&c);
}

/* A result is the value's compact text: reals the shortest decimal that
 * reads back the same (and still a real), integers as they are, keys in
 * their order, strings ASCII with \u escapes. */
static void test_parse_value_texts(void **state)
{
    (void)state;
    codec c;
    setup(&c, CODEC_JSON, NULL, NULL, "/r");
    EXPECT_RESULTS(&c, "{\"r\": [0.9, 1.0, 1e300, -0.0, 0.1, 100e0]}", "0.9", "1.0", "1e+300",
                   "-0.0", "0.1", "1e+02");
    EXPECT_RESULTS(&c, "{\"r\": [0.30000000000000004, 5e-324, 1.7976931348623157e308, -2.5e-7]}",
                   "0.30000000000000004", "5e-324", "1.7976931348623157e+308", "-2.5e-07");
    EXPECT_RESULTS(&c, "{\"r\": [0, -7, 9223372036854775807, -9223372036854775808]}", "0", "-7",
                   "9223372036854775807", "-9223372036854775808");
    EXPECT_RESULTS(&c,
                   "{\"r\": [{\"z\": 1, \"a\": {\"y\": [], \"b\": {}}}, [[[]]], "
                   "\"\\ud83d\\ude00\xc3\xa9\\u0001\\u001f\\t\x7f/\"]}",
                   "{\"z\":1,\"a\":{\"y\":[],\"b\":{}}}", "[[[]]]",
                   "\"\\uD83D\\uDE00\\u00E9\\u0001\\u001F\\t\x7f/\"");
    /* A NUL inside a string stays. */
    const char nul[] = "{\"r\": [\"a\\u0000b\"]}";
    expect_results_n(&c, nul, sizeof nul - 1, (const char *const[]){"\"a\\u0000b\""}, 1);
    codec_fini(&c);
}

/* Each result text reads back, by jansson, as the value it came from. */
static void test_parse_values_read_back(void **state)
{
    (void)state;
    static const char answer[] =
        "[0.1, 2.5e-300, 123456.789, -1e-10, 3.141592653589793, 1e22, 4503599627370497.0,"
        " {\"k\": [\"\\u2028\", null]}, \"\\\\\"]";
    codec c;
    setup(&c, CODEC_JSON, NULL, NULL, "");
    json_t *want = json_loads(answer, 0, NULL);
    size_t n = json_array_size(want);
    result *out[16];
    char err[256];
    assert_true(n <= 16);
    assert_true(codec_parse(&c, answer, strlen(answer), n, out, err, sizeof err));
    for (size_t i = 0; i < n; i++) {
        json_t *got = json_loadb(out[i]->json, out[i]->len, JSON_DECODE_ANY, NULL);
        if (!json_equal(got, json_array_get(want, i)))
            fail_msg("result %zu (%s) does not read back as the value", i, out[i]->json);
        json_decref(got);
        result_unref(out[i]);
    }
    json_decref(want);
    codec_fini(&c);
}

/* ---- answers: bad ---- */

/* codec_parse must refuse body for n texts with a message containing
 * needle, and make no result (ASan reports one left behind). The caller's
 * array holds what it held before (here a result of an earlier answer):
 * a refusal must not depend on it being empty. */
static void expect_bad_n(const codec *c, const char *body, size_t len, size_t n, const char *needle)
{
    result *earlier = result_new("\"earlier\"", 9), *out[8];
    char err[256] = "";
    assert_true(n <= 8);
    for (size_t i = 0; i < 8; i++)
        out[i] = earlier;
    if (codec_parse(c, body, len, n, out, err, sizeof err))
        fail_msg("accepted %.*s for %zu", (int)len, body, n);
    if (!strstr(err, needle))
        fail_msg("%.*s: message '%s' lacks '%s'", (int)len, body, err, needle);
    assert_int_equal(earlier->refs, 1);
    result_unref(earlier);
}

static void expect_bad(const codec *c, const char *body, size_t n, const char *needle)
{
    expect_bad_n(c, body, strlen(body), n, needle);
}

/* The classify protocol's answers, read as they always were (the same
 * cases and messages as before the other protocols came). */
static void test_parse_classify_bad(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        size_t expected;
        const char *needle;
    } cases[] = {
        {"{\"results\": [\"code\"]}", 2, "1 results for 2"},
        {"{\"results\": [\"code\", \"code\", \"code\"]}", 2, "3 results for 2"},
        {"{\"results\": []}", 1, "0 results for 1"},
        {"{\"results\": [\"code\", 1]}", 2, "results[1]"},
        {"{\"results\": [null]}", 1, "results[0]"},
        {"{\"results\": [[\"code\"]]}", 1, "results[0]"},
        {"{\"results\": [\"Code\"]}", 1, "results[0]"},
        {"{\"results\": [\"code \"]}", 1, "results[0]"},
        {"{\"results\": [\"notcode\"]}", 1, "results[0]"},
        {"{\"results\": [\"maybe\"]}", 1, "results[0]"},
        {"{\"results\": [\"\"]}", 1, "results[0]"},
        {"not json", 1, "not valid JSON"},
        {"", 1, "not valid JSON"},
        {"{\"results\": [\"code\"]", 1, "not valid JSON"},
        {"{\"result\": \"code\"}", 1, "no 'results'"},
        {"{\"detail\": \"busy\"}", 1, "no 'results'"},
        {"{\"results\": \"code\"}", 1, "no 'results'"},
        {"[\"code\"]", 1, "no 'results'"},
        {"\"code\"", 1, "answer"},
        {"{\"results\": [\"code\"], \"results\": [\"not code\"]}", 1, "duplicate"},
    };
    codec c;
    setup(&c, CODEC_CLASSIFY, NULL, NULL, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_bad(&c, cases[i].body, cases[i].expected, cases[i].needle);
    /* The whole message, as the 502 detail quotes it. */
    expect_bad(&c, "{\"results\": [\"code\", \"maybe\"]}", 2,
               "answer's results[1] is not \"code\" or \"not code\"");
    /* A NUL in a label is not "code". */
    const char nul[] = "{\"results\": [\"code\\u0000\"]}";
    expect_bad_n(&c, nul, sizeof nul - 1, 1, "results[0]");
    /* A key twice deeper down is refused too. */
    expect_bad(&c, "{\"results\": [\"code\"], \"x\": {\"a\": 1, \"a\": 2}}", 1, "duplicate");
    codec_fini(&c);
}

static void test_parse_oip_bad(void **state)
{
    (void)state;
    codec c;
    setup(&c, CODEC_OIP, NULL, NULL, NULL);
    expect_bad(&c, "<html>502</html>", 2, "not valid JSON");
    expect_bad(&c, "{\"model_name\": \"m\"}", 2, "answer has no 'outputs' list");
    expect_bad(&c, "{\"outputs\": []}", 2, "no 'outputs' list");
    expect_bad(&c, "{\"outputs\": {\"name\": \"l\"}}", 2, "no 'outputs' list");
    expect_bad(&c, "[{\"name\": \"l\", \"shape\": [1], \"data\": [1]}]", 1, "no 'outputs' list");
    expect_bad(&c, "{\"outputs\": [{\"shape\": [1], \"data\": [\"a\"]}]}", 1,
               "answer's outputs[0] is not a tensor with a name");
    expect_bad(&c, "{\"outputs\": [{\"name\": 3, \"shape\": [1], \"data\": [\"a\"]}]}", 1,
               "outputs[0] is not a tensor with a name");
    expect_bad(&c, "{\"outputs\": [5]}", 1, "outputs[0] is not a tensor");
    expect_bad(&c,
               "{\"outputs\": [{\"name\": \"l\", \"shape\": [1], \"data\": [1], "
               "\"name\": \"m\"}]}",
               1, "duplicate");
    /* The count: the shape and the data must both say n. */
    static const char *const shapes[] = {"[3]",   "[1]",     "[2,2]",   "[2,1,1]",  "[]",
                                         "[2.0]", "[\"2\"]", "[2,1.0]", "[2,true]", "2",
                                         "null",  "[-2]",    "[1,2]"};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        char body[200];
        snprintf(body, sizeof body,
                 "{\"outputs\": [{\"name\": \"label\", \"shape\": %s, \"data\": [\"a\", \"b\"]}]}",
                 shapes[i]);
        expect_bad(&c, body, 2, "output tensor 'label' does not have shape [2] or [2, 1]");
    }
    expect_bad(&c, "{\"outputs\": [{\"name\": \"label\", \"data\": [\"a\", \"b\"]}]}", 2,
               "does not have shape [2] or [2, 1]");
    expect_bad(&c, "{\"outputs\": [{\"name\": \"label\", \"shape\": [2], \"data\": [\"a\"]}]}", 2,
               "answer has 1 elements in its output tensor for 2 sequences");
    expect_bad(&c, "{\"outputs\": [{\"name\": \"label\", \"shape\": [2], \"data\": [1, 2, 3]}]}", 2,
               "3 elements in its output tensor for 2");
    /* The data nested as the shape says: values (not lists) for [n]; for
     * [n, 1] values or rows of one value. */
    static const struct {
        const char *shape, *data, *needle;
    } misfits[] = {
        {"[2]", "[[\"a\"], [\"b\"]]", "output tensor 'label' data[0] does not fit its shape [2]"},
        {"[2]", "[\"a\", [\"b\"]]", "data[1] does not fit its shape [2]"},
        {"[2]", "[\"a\", []]", "data[1] does not fit its shape [2]"},
        {"[2, 1]", "[[\"a\", \"b\"], [\"c\", \"d\"]]", "data[0] does not fit its shape [2, 1]"},
        {"[2, 1]", "[[\"a\"], []]", "data[1] does not fit its shape [2, 1]"},
        {"[2, 1]", "[[[\"a\"]], [\"b\"]]", "data[0] does not fit its shape [2, 1]"},
    };
    for (size_t i = 0; i < sizeof misfits / sizeof *misfits; i++) {
        char body[200];
        snprintf(body, sizeof body,
                 "{\"outputs\": [{\"name\": \"label\", \"shape\": %s, \"data\": %s}]}",
                 misfits[i].shape, misfits[i].data);
        expect_bad(&c, body, 2, misfits[i].needle);
    }
    expect_bad(&c, "{\"outputs\": [{\"name\": \"label\", \"shape\": [2], \"data\": \"ab\"}]}", 2,
               "output tensor 'label' has no 'data' list");
    expect_bad(&c, "{\"outputs\": [{\"name\": \"label\", \"shape\": [2]}]}", 2,
               "has no 'data' list");
    codec_fini(&c);

    /* A named output. */
    setup(&c, CODEC_OIP, NULL, "score", NULL);
    expect_bad(&c, "{\"outputs\": [{\"name\": \"label\", \"shape\": [1], \"data\": [\"a\"]}]}", 1,
               "answer has no output tensor named 'score'");
    expect_bad(&c,
               "{\"outputs\": [{\"name\": \"label\", \"shape\": [1], \"data\": [\"a\"]}, "
               "{\"shape\": [1], \"data\": [1]}]}",
               1, "outputs[1] is not a tensor with a name");
    codec_fini(&c);

    /* Labels on a tensor's elements, flat and in rows. */
    setup(&c, CODEC_OIP, "code,not code", NULL, NULL);
    expect_bad(&c,
               "{\"outputs\": [{\"name\": \"label\", \"shape\": [2], \"data\": [\"code\", 1]}]}", 2,
               "answer's label[1] is not \"code\" or \"not code\"");
    expect_bad(&c,
               "{\"outputs\": [{\"name\": \"label\", \"shape\": [2, 1], "
               "\"data\": [[\"code\"], [\"maybe\"]]}]}",
               2, "label[1] is not");
    codec_fini(&c);
}

static void test_parse_tei_bad(void **state)
{
    (void)state;
    codec c;
    setup(&c, CODEC_TEI, NULL, NULL, NULL);
    expect_bad(&c, "{\"error\": \"x\", \"error_type\": \"Backend\"}", 1,
               "answer is not a list (of one list of predictions a text)");
    expect_bad(&c, "[[{\"score\": 1, \"label\": \"a\"}], {\"score\": 1, \"label\": \"a\"}]", 2,
               "answer's [1] is not a list of predictions");
    expect_bad(&c, "[\"code\"]", 1, "answer's [0] is not a list of predictions");
    expect_bad(&c, "[[], [], []]", 2, "answer has 3 results for 2 sequences");
    expect_bad(&c, "[[]]", 2, "1 results for 2");
    expect_bad(&c, "[[{\"label\": \"a\", \"label\": \"b\"}]]", 1, "duplicate");
    expect_bad(&c, "[[{\"label\": \"a\"}]", 1, "not valid JSON");
    codec_fini(&c);
}

/* A json codec reading its results at `pointer` refuses body (n texts),
 * saying needle. */
static void expect_bad_at(const char *pointer, const char *body, size_t n, const char *needle)
{
    codec c;
    setup(&c, CODEC_JSON, NULL, NULL, pointer);
    expect_bad(&c, body, n, needle);
    codec_fini(&c);
}

static void test_parse_json_bad(void **state)
{
    (void)state;
    codec c;
    setup(&c, CODEC_JSON, NULL, NULL, "/a/b");
    expect_bad(&c, "{\"a\": {\"b\": \"x\"}}", 1, "answer has no list at /a/b");
    expect_bad(&c, "{\"a\": {\"c\": [\"x\"]}}", 1, "no list at /a/b");
    expect_bad(&c, "{\"a\": [[\"x\"]]}", 1, "no list at /a/b");
    expect_bad(&c, "[\"x\"]", 1, "no list at /a/b");
    expect_bad(&c, "{\"a\": {\"b\": [\"x\", \"y\"]}}", 1, "answer has 2 results for 1 sequences");
    codec_fini(&c);

    /* Array indexes: digits only, no leading zero, within the array. */
    expect_bad_at("/a/01", "{\"a\": [[\"x\"], [\"y\"]]}", 1, "no list at /a/01");
    expect_bad_at("/a/2", "{\"a\": [[\"x\"], [\"y\"]]}", 1, "no list at /a/2");
    expect_bad_at("/a/-", "{\"a\": [[\"x\"], [\"y\"]]}", 1, "no list at /a/-");

    expect_bad_at("/results", "{\"result\": [\"x\"]}", 1, "answer has no 'results' list");

    expect_bad_at("", "{\"results\": [\"x\"]}", 1, "answer is not a list");

    /* Labels of one's own; a non-string is not one. */
    setup(&c, CODEC_JSON, "yes,no", NULL, "");
    expect_bad(&c, "[\"yes\", 1]", 2, "answer's [1] is not \"yes\" or \"no\"");
    expect_bad(&c, "[{\"label\": \"yes\"}]", 1, "[0] is not \"yes\" or \"no\"");
    codec_fini(&c);
    setup(&c, CODEC_JSON, "a,b,c", NULL, "/x/r");
    expect_bad(&c, "{\"x\": {\"r\": [\"a\", \"d\"]}}", 2,
               "answer's r[1] is not \"a\", \"b\" or \"c\"");
    codec_fini(&c);
}

/* --max-result-bytes: the compact text, exactly, may be that long. */
static void test_parse_max_result(void **state)
{
    (void)state;
    codec c;
    codec_config cfg = config(CODEC_JSON);
    cfg.results_pointer = "";
    cfg.max_result = 12; /* "0123456789" and {"a":[1,2]} are 12 and 11 bytes */
    init_ok(&c, &cfg);
    EXPECT_RESULTS(&c, "[\"0123456789\", {\"a\": [1, 2]}]", "\"0123456789\"", "{\"a\":[1,2]}");
    /* The second is over: the first, made already, goes again. */
    expect_bad(&c, "[\"0123456789\", \"0123456789a\"]", 2,
               "answer's [1] is over --max-result-bytes (12)");
    /* Counted as escaped: \u00E9 is 6 bytes. */
    expect_bad(&c, "[\"012\xc3\xa9\", \"01234\xc3\xa9\"]", 2, "[1] is over --max-result-bytes");
    expect_bad(&c, "[[1, 2, 3, 4, 5, 6, 7]]", 1, "[0] is over --max-result-bytes");
    codec_fini(&c);
}

/* A failure after some results were made leaves none (ASan checks), in
 * every protocol. */
static void test_parse_bad_late(void **state)
{
    (void)state;
    codec c;
    setup(&c, CODEC_CLASSIFY, NULL, NULL, NULL);
    expect_bad(&c, "{\"results\": [\"code\", \"not code\", \"code\", \"maybe\"]}", 4, "results[3]");
    codec_fini(&c);
    setup(&c, CODEC_OIP, "a", NULL, NULL);
    expect_bad(&c,
               "{\"outputs\": [{\"name\": \"l\", \"shape\": [3], \"data\": [\"a\", \"a\", 1]}]}", 3,
               "l[2]");
    codec_fini(&c);
    setup(&c, CODEC_TEI, NULL, NULL, NULL);
    expect_bad(&c, "[[], [], 1]", 3, "[2] is not a list");
    codec_fini(&c);
}

/* ---- set-up ---- */

static void expect_init_refused(const codec_config *cfg, const char *needle)
{
    codec c;
    char err[256] = "";
    if (codec_init(&c, cfg, err, sizeof err)) {
        codec_fini(&c);
        fail_msg("accepted the config (want '%s')", needle);
    }
    if (!strstr(err, needle))
        fail_msg("message '%s' lacks '%s'", err, needle);
}

static void test_init_refusals(void **state)
{
    (void)state;
    codec_config cfg = config(CODEC_JSON);
    static const char *const pointers[] = {"a", "a/b", "/a~", "/a~2", "/~/b", "results"};
    for (size_t i = 0; i < sizeof pointers / sizeof *pointers; i++) {
        cfg.results_pointer = pointers[i];
        expect_init_refused(&cfg, "--backend-results-pointer");
    }
    cfg = config(CODEC_JSON);
    cfg.request_field = "";
    expect_init_refused(&cfg, "--backend-request-field: empty");
    /* With labels that were fine, so what they hold goes again. */
    cfg.labels = "a,b";
    expect_init_refused(&cfg, "--backend-request-field");

    static const char *const labels[] = {"a,,b", ",a", "a,", ",", "a,\xff", "\xc3"};
    for (enum codec_protocol p = CODEC_CLASSIFY; p <= CODEC_JSON; p++)
        for (size_t i = 0; i < sizeof labels / sizeof *labels; i++) {
            cfg = config(p);
            cfg.labels = labels[i];
            expect_init_refused(&cfg, "--labels");
        }

    cfg = config(CODEC_OIP);
    cfg.oip_input = "";
    expect_init_refused(&cfg, "--oip-input: empty");

    /* tei's results are lists: no label could ever match. */
    cfg = config(CODEC_TEI);
    cfg.labels = "code,not code";
    expect_init_refused(&cfg, "--labels: tei's results are lists");

    /* A token longer than the pointer's reader takes would never match. */
    char ptr[300] = "/";
    memset(ptr + 1, 'k', 256);
    cfg = config(CODEC_JSON);
    cfg.results_pointer = ptr;
    expect_init_refused(&cfg, "--backend-results-pointer");
    ptr[256] = '\0'; /* 255 bytes: fine */
    codec ok;
    init_ok(&ok, &cfg);
    codec_fini(&ok);

    /* Each option matters only to its protocol. */
    cfg = config(CODEC_CLASSIFY);
    cfg.oip_input = cfg.request_field = cfg.results_pointer = "";
    codec c;
    init_ok(&c, &cfg);
    codec_fini(&c);
    cfg.results_pointer = "x~";
    cfg.protocol = CODEC_TEI;
    init_ok(&c, &cfg);
    codec_fini(&c);
}

static void test_init_pointers_good(void **state)
{
    (void)state;
    static const char *const pointers[] = {"", "/", "/results", "/a~0~1/0", "//", "/~01"};
    for (size_t i = 0; i < sizeof pointers / sizeof *pointers; i++) {
        codec c;
        codec_config cfg = config(CODEC_JSON);
        cfg.results_pointer = pointers[i];
        init_ok(&c, &cfg);
        codec_fini(&c);
    }
}

static void test_init_labels(void **state)
{
    (void)state;
    codec c;
    /* classify's default is its two labels; the others' is none. */
    setup(&c, CODEC_CLASSIFY, NULL, NULL, NULL);
    assert_int_equal(c.nlabels, 2);
    assert_string_equal(c.labels[0], "code");
    assert_string_equal(c.labels[1], "not code");
    codec_fini(&c);
    assert_int_equal(c.nlabels, 0);
    assert_null(c.labels);
    for (enum codec_protocol p = CODEC_OIP; p <= CODEC_JSON; p++) {
        setup(&c, p, NULL, NULL, NULL);
        assert_int_equal(c.nlabels, 0);
        codec_fini(&c);
    }
    setup(&c, CODEC_JSON, "pos,neg,\xc3\xa9 x", NULL, NULL);
    assert_int_equal(c.nlabels, 3);
    assert_string_equal(c.labels[2], "\xc3\xa9 x");
    EXPECT_RESULTS(&c, "{\"results\": [\"neg\", \"\\u00e9 x\"]}", "\"neg\"", "\"\\u00E9 x\"");
    codec_fini(&c);

    /* "" accepts any value, for classify too. */
    setup(&c, CODEC_CLASSIFY, "", NULL, NULL);
    assert_int_equal(c.nlabels, 0);
    EXPECT_RESULTS(&c, "{\"results\": [\"maybe\", 0.5, null, {\"l\": \"code\"}]}", "\"maybe\"",
                   "0.5", "null", "{\"l\":\"code\"}");
    codec_fini(&c);
}

/* ---- paths ---- */

static void test_check_path(void **state)
{
    (void)state;
    codec c;
    char err[256];
    setup(&c, CODEC_OIP, NULL, NULL, NULL);
    static const char *const good[] = {"/v2/models/m", "/v2/models/m/versions/3",
                                       "/gateway/prefix/v2/models/my-model",
                                       "/gw/v2/models/m/versions/v1.2"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!codec_check_path(&c, "u", good[i], err, sizeof err))
            fail_msg("refused %s: %s", good[i], err);
    static const char *const bad[] = {"/",
                                      "",
                                      "/v2/models",
                                      "/v2/models/",
                                      "/v2/models/m/",
                                      "/v2/models/m/infer",
                                      "/v2/models/m/ready",
                                      "/v2/models/m/versions",
                                      "/v2/models/m/versions/",
                                      "/v2/models/m/versions/1/",
                                      "/v2/models/m/versions/1/infer",
                                      "/v2/models//versions/1",
                                      "/v1/models/m",
                                      "/v2/model/m",
                                      "/classify"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        if (codec_check_path(&c, "http://h:1/x", bad[i], err, sizeof err))
            fail_msg("accepted %s", bad[i]);
        if (!strstr(err, "'http://h:1/x': with --backend-protocol oip, the URL is the "
                         "model's: http://HOST:PORT/v2/models/NAME (optionally "
                         "/versions/VERSION)"))
            fail_msg("%s: message '%s'", bad[i], err);
    }
    codec_fini(&c);

    /* Any path suits the others. */
    for (enum codec_protocol p = CODEC_CLASSIFY; p <= CODEC_JSON; p++) {
        if (p == CODEC_OIP)
            continue;
        setup(&c, p, NULL, NULL, NULL);
        assert_true(codec_check_path(&c, "u", "/", err, sizeof err));
        assert_true(codec_check_path(&c, "u", "/v2/models/", err, sizeof err));
        assert_true(codec_check_path(&c, "u", "/any/thing", err, sizeof err));
        codec_fini(&c);
    }
}

static void test_paths(void **state)
{
    (void)state;
    static const struct {
        const char *batch, *health, *dflt;
    } want[] = {
        [CODEC_CLASSIFY] = {NULL, "/healthz", "/classify"},
        [CODEC_OIP] = {"infer", "ready", NULL},
        [CODEC_TEI] = {"predict", "health", NULL},
        [CODEC_JSON] = {NULL, "/healthz", NULL},
    };
    static const char *const names[] = {"classify", "oip", "tei", "json"};
    for (enum codec_protocol p = CODEC_CLASSIFY; p <= CODEC_JSON; p++) {
        codec c;
        codec_config cfg = config(p);
        init_ok(&c, &cfg);
        assert_string_equal(codec_protocols[p], names[p]);
        if (want[p].batch)
            assert_string_equal(codec_batch_path(&c), want[p].batch);
        else
            assert_null(codec_batch_path(&c));
        assert_string_equal(codec_health_path(&c), want[p].health);
        if (want[p].dflt)
            assert_string_equal(codec_default_path(&c), want[p].dflt);
        else
            assert_null(codec_default_path(&c));
        codec_fini(&c);
        /* --backend-health-path overrides, as given. */
        cfg.health_path = "/custom/ready";
        init_ok(&c, &cfg);
        assert_string_equal(codec_health_path(&c), "/custom/ready");
        codec_fini(&c);
    }
    assert_null(codec_protocols[4]);
}

/* ---- refusals ---- */

static void test_backend_fault(void **state)
{
    (void)state;
    static const int statuses[] = {400, 401, 403, 404, 413, 422, 423, 424, 425, 499};
    for (enum codec_protocol p = CODEC_CLASSIFY; p <= CODEC_JSON; p++) {
        codec c;
        setup(&c, p, NULL, NULL, NULL);
        for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++)
            if (codec_backend_fault(&c, statuses[i]) != (p == CODEC_TEI && statuses[i] == 424))
                fail_msg("%s %d", codec_protocols[p], statuses[i]);
        codec_fini(&c);
    }
}

/* codec_error_text on body, into a buffer of outlen, must give want. */
static void expect_error_text(enum codec_protocol p, const char *body, size_t len, size_t outlen,
                              const char *want)
{
    codec c;
    char out[256];
    assert_true(outlen <= sizeof out - 1);
    memset(out, 'Z', sizeof out);
    setup(&c, p, NULL, NULL, NULL);
    codec_error_text(&c, body, len, out, outlen);
    if (strcmp(out, want) != 0)
        fail_msg("%s, %s: got '%s', want '%s'", codec_protocols[p], body, out, want);
    assert_int_equal(out[outlen], 'Z'); /* nothing written past outlen */
    codec_fini(&c);
}

#define ERROR_TEXT(p, body, want) expect_error_text(p, body, strlen(body), 200, want)
#define ERROR_TEXT_IN(p, body, outlen, want) expect_error_text(p, body, strlen(body), outlen, want)

static void test_error_text(void **state)
{
    (void)state;
    /* Whether the protocol's own error message was found. */
    codec oip, cls;
    char out[64];
    setup(&oip, CODEC_OIP, NULL, NULL, NULL);
    setup(&cls, CODEC_CLASSIFY, NULL, NULL, NULL);
    assert_true(codec_error_text(&oip, "{\"error\":\"x\"}", 13, out, sizeof out));
    assert_false(codec_error_text(&oip, "{\"detail\":\"x\"}", 14, out, sizeof out));
    assert_false(codec_error_text(&oip, "oops", 4, out, sizeof out));
    assert_false(codec_error_text(&cls, "{\"error\":\"x\"}", 13, out, sizeof out));
    codec_fini(&oip);
    codec_fini(&cls);

    /* The protocol's error object: its message. */
    ERROR_TEXT(CODEC_OIP, "{\"error\": \"model 'm' is not ready\"}", "model 'm' is not ready");
    ERROR_TEXT(CODEC_TEI, "{\"error\": \"Input validation error\", \"error_type\": \"Validation\"}",
               "Input validation error");
    ERROR_TEXT(CODEC_JSON, "{\"detail\": \"bad input\"}", "bad input");
    ERROR_TEXT(CODEC_JSON, "{\"error\": \"e\"}", "e");
    ERROR_TEXT(CODEC_JSON, "{\"detail\": \"d\", \"error\": \"e\"}", "e");
    /* Anything else: the body itself. */
    ERROR_TEXT(CODEC_OIP, "{\"detail\": \"d\"}", "{\"detail\": \"d\"}");
    ERROR_TEXT(CODEC_TEI, "{\"error\": {\"message\": \"m\"}}", "{\"error\": {\"message\": \"m\"}}");
    ERROR_TEXT(CODEC_TEI, "[\"error\"]", "[\"error\"]");
    ERROR_TEXT(CODEC_OIP, "{\"error\": \"a\", \"error\": \"b\"}",
               "{\"error\": \"a\", \"error\": \"b\"}");
    ERROR_TEXT(CODEC_CLASSIFY, "{\"error\": \"e\"}", "{\"error\": \"e\"}");
    ERROR_TEXT(CODEC_CLASSIFY, "{\"detail\": \"d\"}", "{\"detail\": \"d\"}");
    ERROR_TEXT(CODEC_JSON, "Bad Gateway", "Bad Gateway");
    ERROR_TEXT(CODEC_OIP, "", "");
    /* Made printable: controls and bytes that are not UTF-8 become '?'. */
    ERROR_TEXT(CODEC_OIP, "{\"error\": \"a\\u0001b\\nc\\u00e9\"}", "a?b?c\xc3\xa9");
    ERROR_TEXT(CODEC_TEI, "{\"error\": \"\\u202e!\"}", "?!");
    ERROR_TEXT(CODEC_CLASSIFY, "no\r\nway \xff\x1b[31m", "no??way ??[31m");
    expect_error_text(CODEC_JSON, "a\0b", 3, 200, "a?b");
    /* A NUL in the message is not read as the end of it. */
    ERROR_TEXT(CODEC_TEI, "{\"error\": \"a\\u0000b\"}", "{\"error\": \"a\\u0000b\"}");
    /* Bounded by outlen, never cutting a character. */
    ERROR_TEXT(CODEC_OIP, "{\"error\": \"0123456789\"}", "0123456789");
    ERROR_TEXT_IN(CODEC_OIP, "{\"error\": \"0123456789\"}", 8, "0123456");
    ERROR_TEXT_IN(CODEC_CLASSIFY, "0123456789", 5, "0123");
    ERROR_TEXT_IN(CODEC_TEI, "{\"error\": \"\\u00e9\\u00e9\\u00e9\"}", 6, "\xc3\xa9\xc3\xa9");
    ERROR_TEXT_IN(CODEC_TEI, "{\"error\": \"x\"}", 1, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_bodies),
        cmocka_unit_test(test_request_tei_plain),
        cmocka_unit_test(test_request_classify_is_wire),
        cmocka_unit_test(test_request_reads_back),
        cmocka_unit_test(test_parse_classify_good),
        cmocka_unit_test(test_parse_oip_good),
        cmocka_unit_test(test_parse_tei_good),
        cmocka_unit_test(test_parse_json_good),
        cmocka_unit_test(test_parse_value_texts),
        cmocka_unit_test(test_parse_values_read_back),
        cmocka_unit_test(test_parse_classify_bad),
        cmocka_unit_test(test_parse_oip_bad),
        cmocka_unit_test(test_parse_tei_bad),
        cmocka_unit_test(test_parse_json_bad),
        cmocka_unit_test(test_parse_max_result),
        cmocka_unit_test(test_parse_bad_late),
        cmocka_unit_test(test_init_refusals),
        cmocka_unit_test(test_init_pointers_good),
        cmocka_unit_test(test_init_labels),
        cmocka_unit_test(test_check_path),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_backend_fault),
        cmocka_unit_test(test_error_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
