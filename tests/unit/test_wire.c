/* Unit tests for the shared helpers: wire (request/answer JSON), addr, hist
 * and htab. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "addr.h"
#include "hist.h"
#include "htab.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* classifyd's limits: up to 5 sequences, an empty list is fine, no
 * {"sequence": ...} form, no length limit. */
static const wire_limits classifyd_lim = {.max_items = 5, .allow_empty = true};
/* The proxy's kind of limits: the single form, and a length limit. */
static const wire_limits proxy_lim = {.max_items = 3, .max_length = 10, .allow_single = true};

static int parse(const char *body, const wire_limits *lim, wire_request *w, char *err,
                 size_t errlen)
{
    err[0] = '\0';
    return wire_parse_request(body, strlen(body), lim, w, err, errlen);
}

/* Parses a body that must fail with `status`, with a message that contains
 * `needle` (case-sensitive), and checks the request is left empty. */
static void expect_bad_n(const char *body, size_t n, const wire_limits *lim, int status,
                         const char *needle)
{
    wire_request w;
    memset(&w, 0xAB, sizeof w);
    char err[256] = "";
    int got = wire_parse_request(body, n, lim, &w, err, sizeof err);
    if (got != status || !strstr(err, needle))
        fail_msg("body %.*s: got %d '%s', want %d containing '%s'", (int)n, body, got, err, status,
                 needle);
    assert_null(w.root);
    assert_null(w.items);
    assert_int_equal(w.n, 0);
    wire_request_free(&w); /* harmless on an empty request */
}

static void expect_bad(const char *body, const wire_limits *lim, int status, const char *needle)
{
    expect_bad_n(body, strlen(body), lim, status, needle);
}

/* ---- wire_parse_request: good bodies ---- */

static void test_parse_classify_good(void **state)
{
    (void)state;
    wire_request w;
    char err[256];
    assert_int_equal(parse("{\"sequences\": [\"def f(): pass\", \"hello there\"]}", &classifyd_lim,
                           &w, err, sizeof err),
                     0);
    assert_int_equal(w.n, 2);
    assert_false(w.single);
    assert_non_null(w.root);
    assert_string_equal(w.items[0].s, "def f(): pass");
    assert_int_equal(w.items[0].bytes, 13);
    assert_int_equal(w.items[0].len, 13);
    assert_string_equal(w.items[1].s, "hello there");
    assert_int_equal(w.items[1].len, 11);
    wire_request_free(&w);
    assert_null(w.root);
    assert_null(w.items);

    /* Exactly max_items is fine; whitespace anywhere is fine. */
    assert_int_equal(parse(" \n{ \"sequences\" :[\"a\",\"b\",\"c\",\"d\",\"\"] }\r\n",
                           &classifyd_lim, &w, err, sizeof err),
                     0);
    assert_int_equal(w.n, 5);
    assert_int_equal(w.items[4].bytes, 0);
    assert_int_equal(w.items[4].len, 0);
    wire_request_free(&w);

    /* Other fields are ignored. */
    assert_int_equal(
        parse("{\"model\": 1, \"sequences\": [\"x\"]}", &classifyd_lim, &w, err, sizeof err), 0);
    assert_int_equal(w.n, 1);
    wire_request_free(&w);
}

static void test_parse_empty_list(void **state)
{
    (void)state;
    wire_request w;
    char err[256];
    assert_int_equal(parse("{\"sequences\": []}", &classifyd_lim, &w, err, sizeof err), 0);
    assert_int_equal(w.n, 0);
    assert_false(w.single);
    wire_request_free(&w);
    /* The proxy doesn't allow it. */
    expect_bad("{\"sequences\": []}", &proxy_lim, 400, "empty");
}

static void test_parse_code_points(void **state)
{
    (void)state;
    wire_request w;
    char err[256];
    /* Raw UTF-8 and \u escapes, including a surrogate pair, count one each. */
    assert_int_equal(parse("{\"sequences\": [\"caf\xc3\xa9\", \"\\u00e9\\u20ac\", "
                           "\"\xf0\x9f\x98\x80!\", \"\\ud83d\\ude00\"]}",
                           &classifyd_lim, &w, err, sizeof err),
                     0);
    assert_int_equal(w.n, 4);
    assert_int_equal(w.items[0].bytes, 5);
    assert_int_equal(w.items[0].len, 4);
    assert_string_equal(w.items[1].s, "\xc3\xa9\xe2\x82\xac");
    assert_int_equal(w.items[1].bytes, 5);
    assert_int_equal(w.items[1].len, 2);
    assert_int_equal(w.items[2].bytes, 5);
    assert_int_equal(w.items[2].len, 2);
    assert_string_equal(w.items[3].s, "\xf0\x9f\x98\x80");
    assert_int_equal(w.items[3].len, 1);
    wire_request_free(&w);
}

static void test_parse_nul_and_escapes(void **state)
{
    (void)state;
    wire_request w;
    char err[256];
    assert_int_equal(parse("{\"sequences\": [\"a\\u0000b\", \"q\\\"\\\\\\/\\n\\t\\r\\b\\f\"]}",
                           &classifyd_lim, &w, err, sizeof err),
                     0);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.items[0].bytes, 3);
    assert_int_equal(w.items[0].len, 3);
    assert_memory_equal(w.items[0].s, "a\0b", 3);
    assert_int_equal(w.items[1].bytes, 9);
    assert_int_equal(w.items[1].len, 9);
    assert_memory_equal(w.items[1].s, "q\"\\/\n\t\r\b\f", 9);
    wire_request_free(&w);
}

/* {"sequence": "..."} bodies are read in place when they are plain, and by
 * jansson otherwise: either way the text is what jansson decodes, and a
 * near miss of the plain shape gets jansson's verdict. */
static void test_parse_single_matches_jansson(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"sequence\":\"x = 1\"}",
        " {\n\t\"sequence\" :\r \"caf\xc3\xa9 \xf0\x9f\x98\x80\" } \n",
        "{\"sequence\":\"\"}",
        "{\"sequence\":\"tab\\there \\\"q\\\" \\u00e9\"}",
        "{\"sequence\":\"a\", \"extra\": 1}",
        "{\"sequence\":\"a\"} x",
        "{\"sequence\":\"a\",}",
        "{\"sequence\":\"a\",\"sequence\":\"b\"}",
        "{\"sequence\":\"bad \xc3\"}",
        "{\"sequence\":\"ctl \x01\"}",
        "{\"sequence\":\"open}",
        "{\"sequence\" \"a\"}",
        "{\"sequenceX\":\"a\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        const char *b = bodies[i];
        json_t *root = json_loadb(b, strlen(b), JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, NULL);
        json_t *v = root ? json_object_get(root, "sequence") : NULL;
        wire_request w;
        char err[256];
        wire_limits lim = proxy_lim;
        lim.max_length = 0;
        int status = parse(b, &lim, &w, err, sizeof err);
        if (json_is_string(v) && json_object_size(root) == 1) {
            assert_int_equal(status, 0);
            assert_int_equal(w.items[0].bytes, json_string_length(v));
            assert_memory_equal(w.items[0].s, json_string_value(v), w.items[0].bytes);
        } else if (!root) {
            assert_int_equal(status, 400);
            assert_true(strstr(err, "not valid") || strstr(err, "twice"));
        }
        if (status == 0)
            wire_request_free(&w);
        json_decref(root);
    }
}

static void test_parse_proxy_good(void **state)
{
    (void)state;
    wire_request w;
    char err[256];
    assert_int_equal(parse("{\"sequence\": \"print(1)\"}", &proxy_lim, &w, err, sizeof err), 0);
    assert_true(w.single);
    assert_int_equal(w.n, 1);
    assert_int_equal(w.items[0].bytes, 8);
    assert_memory_equal(w.items[0].s, "print(1)", 8);
    assert_int_equal(w.items[0].len, 8);
    wire_request_free(&w);

    /* Exactly max_length code points (20 bytes) is fine. */
    assert_int_equal(parse("{\"sequence\": \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
                           "\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
                           &proxy_lim, &w, err, sizeof err),
                     0);
    assert_int_equal(w.items[0].bytes, 20);
    assert_int_equal(w.items[0].len, 10);
    wire_request_free(&w);

    assert_int_equal(
        parse("{\"sequences\": [\"a\", \"0123456789\", \"c\"]}", &proxy_lim, &w, err, sizeof err),
        0);
    assert_false(w.single);
    assert_int_equal(w.n, 3);
    assert_int_equal(w.items[1].len, 10);
    wire_request_free(&w);
}

/* ---- wire_parse_request: bad bodies ---- */

static void test_parse_not_json(void **state)
{
    (void)state;
    expect_bad("", &classifyd_lim, 400, "not valid JSON");
    expect_bad("hello", &classifyd_lim, 400, "not valid JSON");
    expect_bad("{\"sequences\": [\"a\"]", &classifyd_lim, 400, "not valid JSON");
    expect_bad("{\"sequences\": [\"a\"]} trailing", &classifyd_lim, 400, "not valid JSON");
    expect_bad("{'sequences': ['a']}", &classifyd_lim, 400, "not valid JSON");
    expect_bad("{\"sequences\": [\"\\ud800\"]}", &classifyd_lim, 400, "not valid JSON");
    expect_bad("{\"sequences\": [\"a\tb\"]}", &proxy_lim, 400, "not valid JSON");
    static const char raw_nul[] = "{\"sequences\": [\"a\0b\"]}";
    expect_bad_n(raw_nul, sizeof raw_nul - 1, &classifyd_lim, 400, "not valid JSON");
}

/* A key given twice, in the body or in any object inside it, is refused
 * by name: reading it as its last value would let two parsers on the path
 * disagree about what was asked. */
static void test_parse_duplicate_keys(void **state)
{
    (void)state;
    expect_bad("{\"sequence\":\"a\",\"sequence\":\"b\"}", &proxy_lim, 400,
               "key \"sequence\" twice");
    expect_bad("{\"sequences\":[\"a\"],\"sequences\":[\"b\"]}", &classifyd_lim, 400,
               "key \"sequences\" twice");
    expect_bad(" { \"sequence\" : \"a\" , \"sequence\" : \"a\" } ", &proxy_lim, 400,
               "\"sequence\" twice");
    /* Escaped spellings of the same key are the same key. */
    expect_bad("{\"sequence\":\"a\",\"\\u0073equence\":\"b\"}", &proxy_lim, 400,
               "key \"sequence\" twice");
    /* Inside a nested object, with a key too long for jansson to quote and
     * escaped quotes and backslashes in it. */
    expect_bad("{\"sequences\":[\"a\"],\"meta\":{\"a long key with \\\" and \\\\ in it\":1,"
               "\"a long key with \\\" and \\\\ in it\" :2}}",
               &classifyd_lim, 400, "key \"a long key with \" and \\ in it\" twice");
    expect_bad("{\"sequences\":[{\"k\":1,\"k\":2}]}", &classifyd_lim, 400, "key \"k\" twice");
    /* Different keys, and the same key in different objects, are fine. */
    wire_request w;
    char err[256];
    assert_int_equal(parse("{\"sequences\":[\"a\"],\"x\":{\"sequences\":1}}", &classifyd_lim, &w,
                           err, sizeof err),
                     0);
    assert_int_equal(w.n, 1);
    wire_request_free(&w);
}

static void test_parse_invalid_utf8(void **state)
{
    (void)state;
    expect_bad("{\"sequences\": [\"\xff\"]}", &classifyd_lim, 400, "UTF-8");
    expect_bad("{\"sequences\": [\"\xc3\"]}", &classifyd_lim, 400, "UTF-8");
    expect_bad("{\"sequences\": [\"\xc0\x80\"]}", &classifyd_lim, 400, "UTF-8");
    expect_bad("{\"sequences\": [\"\xed\xa0\x80\"]}", &classifyd_lim, 400, "UTF-8");
    expect_bad("{\"sequence\": \"\xf4\x90\x80\x80\"}", &proxy_lim, 400, "UTF-8");
    expect_bad("\x80{\"sequences\": []}", &classifyd_lim, 400, "UTF-8");
}

static void test_parse_not_object(void **state)
{
    (void)state;
    expect_bad("[\"a\"]", &classifyd_lim, 400, "object");
    expect_bad("\"a\"", &classifyd_lim, 400, "object");
    expect_bad("42", &classifyd_lim, 400, "object");
    expect_bad("null", &proxy_lim, 400, "object");
}

static void test_parse_missing_field(void **state)
{
    (void)state;
    expect_bad("{}", &classifyd_lim, 400, "'sequences'");
    expect_bad("{\"sequence\": [\"a\"]}", &classifyd_lim, 400, "'sequences'");
    /* classifyd doesn't know the single form. */
    expect_bad("{\"sequence\": \"a\"}", &classifyd_lim, 400, "'sequences'");
    expect_bad("{\"Sequences\": [\"a\"]}", &proxy_lim, 400, "'sequence'");
    expect_bad("{}", &proxy_lim, 400, "required");
}

static void test_parse_not_list(void **state)
{
    (void)state;
    expect_bad("{\"sequences\": \"abc\"}", &classifyd_lim, 400, "list");
    expect_bad("{\"sequences\": {\"0\": \"abc\"}}", &classifyd_lim, 400, "list");
    expect_bad("{\"sequences\": null}", &classifyd_lim, 400, "list");
    expect_bad("{\"sequences\": 3}", &proxy_lim, 400, "list");
    /* The single form must be a string. */
    expect_bad("{\"sequence\": [\"a\"]}", &proxy_lim, 400, "'sequence' must be a string");
    expect_bad("{\"sequence\": null}", &proxy_lim, 400, "'sequence' must be a string");
}

static void test_parse_element_not_string(void **state)
{
    (void)state;
    expect_bad("{\"sequences\": [1]}", &classifyd_lim, 400, "sequences[0] must be a string");
    expect_bad("{\"sequences\": [\"a\", null]}", &classifyd_lim, 400,
               "sequences[1] must be a string");
    expect_bad("{\"sequences\": [\"a\", \"b\", [\"c\"]]}", &classifyd_lim, 400,
               "sequences[2] must be a string");
    expect_bad("{\"sequences\": [{}]}", &proxy_lim, 400, "sequences[0] must be a string");
    expect_bad("{\"sequences\": [true]}", &proxy_lim, 400, "must be a string");
}

static void test_parse_too_many(void **state)
{
    (void)state;
    expect_bad("{\"sequences\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]}", &classifyd_lim, 400,
               "too many");
    expect_bad("{\"sequences\": [\"a\",\"b\",\"c\",\"d\"]}", &proxy_lim, 400, "too many");
    /* The count check comes before the element checks. */
    expect_bad("{\"sequences\": [1,2,3,4,5,6]}", &classifyd_lim, 400, "at most 5");
}

static void test_parse_both_forms(void **state)
{
    (void)state;
    expect_bad("{\"sequence\": \"a\", \"sequences\": [\"b\"]}", &proxy_lim, 400, "not both");
}

static void test_parse_too_long(void **state)
{
    (void)state;
    expect_bad("{\"sequence\": \"0123456789a\"}", &proxy_lim, 413, "11 characters");
    expect_bad("{\"sequences\": [\"ok\", \"0123456789ab\"]}", &proxy_lim, 413, "sequences[1]");
    expect_bad("{\"sequences\": [\"0123456789ab\"]}", &proxy_lim, 413, "limit is 10");
    /* 11 code points in 22 bytes. */
    expect_bad("{\"sequence\": \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
               "\xc3\xa9\xc3\xa9\xc3\xa9\"}",
               &proxy_lim, 413, "11 characters");
    /* No limit for classifyd. */
    char body[2100] = "{\"sequences\": [\"";
    size_t n = strlen(body);
    memset(body + n, 'x', 2000);
    strcpy(body + n + 2000, "\"]}");
    wire_request w;
    char err[256];
    assert_int_equal(parse(body, &classifyd_lim, &w, err, sizeof err), 0);
    assert_int_equal(w.items[0].len, 2000);
    wire_request_free(&w);
}

static void test_parse_small_err_buffer(void **state)
{
    (void)state;
    /* The message is cut to fit, never overflows. */
    wire_request w;
    char err[8];
    memset(err, 'Z', sizeof err);
    assert_int_equal(wire_parse_request("x", 1, &classifyd_lim, &w, err, sizeof err), 400);
    assert_int_equal(strlen(err), sizeof err - 1);
}

/* ---- passed-through values ---- */

static void test_values_json(void **state)
{
    (void)state;
    const wire_value v[] = {{"\"code\"", 6}, {"{\"a\":1}", 7}, {"[1,2.5]", 7}, {"null", 4}};
    char *got = wire_values_json(v, 1, true);
    assert_non_null(got);
    assert_string_equal(got, "{\"result\":\"code\"}");
    free(got);
    got = wire_values_json(&v[1], 1, true);
    assert_string_equal(got, "{\"result\":{\"a\":1}}");
    free(got);
    got = wire_values_json(v, 4, false);
    assert_string_equal(got, "{\"results\":[\"code\",{\"a\":1},[1,2.5],null]}");
    free(got);
    got = wire_values_json(v, 1, false);
    assert_string_equal(got, "{\"results\":[\"code\"]}");
    free(got);
    got = wire_values_json(NULL, 0, false);
    assert_string_equal(got, "{\"results\":[]}");
    free(got);
    /* Only len bytes of each value are taken. */
    const wire_value part = {"\"ab\"xyz", 4};
    got = wire_values_json(&part, 1, true);
    assert_string_equal(got, "{\"result\":\"ab\"}");
    free(got);
}

/* wire_dump_value of the JSON text in must be exactly want, which fits in
 * strlen(want) bytes and not in one fewer. */
static void expect_dump(const char *in, const char *want)
{
    json_t *v = json_loads(in, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    assert_non_null(v);
    size_t max = strlen(want), len = 0;
    char *got = wire_dump_value(v, max, &len);
    if (!got || strcmp(got, want) != 0)
        fail_msg("%s: got %s, want %s", in, got ? got : "NULL", want);
    assert_int_equal(len, max);
    free(got);
    got = wire_dump_value(v, max + 1000, &len);
    assert_string_equal(got, want);
    free(got);
    len = 12345;
    if ((got = wire_dump_value(v, max - 1, &len)))
        fail_msg("%s fits in %zu bytes as %s", in, max - 1, got);
    assert_int_equal(len, 12345);
    json_decref(v);
}

static void test_dump_value(void **state)
{
    (void)state;
    expect_dump("null", "null");
    expect_dump("true", "true");
    expect_dump("false", "false");
    expect_dump("-12", "-12");
    expect_dump("0.9", "0.9");
    expect_dump("1.0", "1.0");
    expect_dump("-0.0", "-0.0");
    expect_dump("1e300", "1e+300");
    expect_dump("\"\"", "\"\"");
    expect_dump("\"\\u00e9\\u0000\\/\"", "\"\\u00E9\\u0000/\"");
    expect_dump("[]", "[]");
    expect_dump("{}", "{}");
    expect_dump(" { \"b\" : [1, \"xy\", {\"\": null}], \"a\": 2.5 } ",
                "{\"b\":[1,\"xy\",{\"\":null}],\"a\":2.5}");
    /* The bound holds inside nesting: one byte short at any depth. */
    expect_dump("[[[[[[[[\"\\ud83d\\ude00\"]]]]]]]]", "[[[[[[[[\"\\uD83D\\uDE00\"]]]]]]]]");

    /* A large value, past the buffer's first growths. */
    json_t *big = json_array();
    for (int i = 0; i < 2000; i++)
        json_array_append_new(big, json_integer(i));
    size_t len;
    char *got = wire_dump_value(big, SIZE_MAX, &len);
    assert_non_null(got);
    assert_int_equal(len, strlen(got));
    json_t *back = json_loads(got, 0, NULL);
    assert_true(json_equal(back, big));
    json_decref(back);
    free(got);
    assert_null(wire_dump_value(big, len - 1, &len));
    assert_null(wire_dump_value(big, 0, &len));
    json_decref(big);
}

/* ---- builders ---- */

static void expect_json(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_builders(void **state)
{
    (void)state;
    enum wire_label labels[] = {WIRE_CODE, WIRE_NOT_CODE, WIRE_NOT_CODE};
    expect_json(wire_results_json(labels, 2), "{\"results\":[\"code\",\"not code\"]}");
    expect_json(wire_results_json(labels, 3), "{\"results\":[\"code\",\"not code\",\"not code\"]}");
    expect_json(wire_results_json(NULL, 0), "{\"results\":[]}");
    expect_json(wire_result_json(WIRE_CODE), "{\"result\":\"code\"}");
    expect_json(wire_result_json(WIRE_NOT_CODE), "{\"result\":\"not code\"}");
    expect_json(wire_error_json("x"), "{\"detail\":\"x\"}");
    expect_json(wire_error_json("say \"hi\"\n\xc3\xa9"),
                "{\"detail\":\"say \\\"hi\\\"\\n\\u00E9\"}");
    assert_string_equal(wire_label_name(WIRE_CODE), "code");
    assert_string_equal(wire_label_name(WIRE_NOT_CODE), "not code");
}

static void test_sequences_json(void **state)
{
    (void)state;
    wire_text a = {.s = "a\0b", .bytes = 3, .len = 3};
    wire_text b = {.s = "\xf0\x9f\x98\x80\"", .bytes = 5, .len = 2};
    const wire_text *texts[] = {&a, &b};
    expect_json(wire_sequences_json(texts, 2),
                "{\"sequences\":[\"a\\u0000b\",\"\\uD83D\\uDE00\\\"\"]}");
    expect_json(wire_sequences_json(NULL, 0), "{\"sequences\":[]}");

    /* What the builder writes, the parser reads back unchanged. */
    char *json = wire_sequences_json(texts, 2);
    assert_non_null(json);
    wire_request w;
    char err[256];
    assert_int_equal(parse(json, &classifyd_lim, &w, err, sizeof err), 0);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.items[0].bytes, 3);
    assert_memory_equal(w.items[0].s, "a\0b", 3);
    assert_int_equal(w.items[1].len, 2);
    assert_string_equal(w.items[1].s, b.s);
    wire_request_free(&w);
    free(json);
}

/* Appends code point c to p as UTF-8; returns the new end. */
static char *utf8_put(char *p, unsigned c)
{
    if (c < 0x80) {
        *p++ = (char)c;
    } else if (c < 0x800) {
        *p++ = (char)(0xC0 | c >> 6);
        *p++ = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        *p++ = (char)(0xE0 | c >> 12);
        *p++ = (char)(0x80 | (c >> 6 & 0x3F));
        *p++ = (char)(0x80 | (c & 0x3F));
    } else {
        *p++ = (char)(0xF0 | c >> 18);
        *p++ = (char)(0x80 | (c >> 12 & 0x3F));
        *p++ = (char)(0x80 | (c >> 6 & 0x3F));
        *p++ = (char)(0x80 | (c & 0x3F));
    }
    return p;
}

/* The hand-written builders write exactly what jansson's json_dumps
 * (compact, ASCII only) writes, on random texts mixing every kind of code
 * point: controls, quotes, backslashes, ASCII, 2- and 3-byte forms, astral. */
static void test_builders_match_jansson(void **state)
{
    (void)state;
    uint64_t r = 0x9E3779B97F4A7C15ull;
    for (int round = 0; round < 2000; round++) {
        char buf[5][200];
        wire_text t[5];
        const wire_text *tp[5];
        size_t n = (size_t)(round % 6);
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            char *p = buf[i];
            size_t cps = (size_t)(round * 7 + i) % 40;
            for (size_t k = 0; k < cps; k++) {
                r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                static const unsigned pick[] = {0x00,   0x08,   0x0A,    0x1F,    '"',   '\\',
                                                '/',    'a',    0x7F,    0x80,    0x7FF, 0x800,
                                                0xFFFD, 0xFFFF, 0x10000, 0x10FFFF};
                unsigned c = r % 3 ? (unsigned)(r >> 8) % 0x80 : pick[(r >> 8) % 16];
                if (r % 5 == 0)
                    c = 0x80 + (unsigned)(r >> 16) % 0x10FF80;
                if (c >= 0xD800 && c < 0xE000)
                    c = 'x'; /* surrogates are not valid UTF-8 */
                p = utf8_put(p, c);
            }
            t[i] = (wire_text){.s = buf[i], .bytes = (size_t)(p - buf[i]), .len = cps};
            tp[i] = &t[i];
            json_array_append_new(arr, json_stringn(t[i].s, t[i].bytes));
        }
        json_t *root = json_pack("{s:o}", "sequences", arr);
        char *want = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
        char *got = wire_sequences_json(tp, n);
        assert_non_null(want);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(want);
        free(got);
        json_decref(root);
    }
}

/* ---- addr ---- */

static void test_hostport_good(void **state)
{
    (void)state;
    addr_hostport hp;
    char err[256];
    assert_true(addr_parse_hostport("127.0.0.1:8001", &hp, err, sizeof err));
    assert_string_equal(hp.host, "127.0.0.1");
    assert_int_equal(hp.port, 8001);
    assert_true(addr_parse_hostport("localhost:0", &hp, err, sizeof err));
    assert_string_equal(hp.host, "localhost");
    assert_int_equal(hp.port, 0);
    assert_true(addr_parse_hostport(":8080", &hp, err, sizeof err));
    assert_string_equal(hp.host, "127.0.0.1");
    assert_int_equal(hp.port, 8080);
    assert_true(addr_parse_hostport("[::1]:65535", &hp, err, sizeof err));
    assert_string_equal(hp.host, "::1");
    assert_int_equal(hp.port, 65535);
    assert_true(addr_parse_hostport("0.0.0.0:1", &hp, err, sizeof err));
    assert_string_equal(hp.host, "0.0.0.0");
    assert_int_equal(hp.port, 1);
}

static void test_hostport_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           "8001",       "localhost",
        "host:",      "host:abc",   "host:80x",
        "host:65536", "host:-1",    "host:99999999999999999999",
        "::1:80",     "fe80::1:80", "[]:80",
        "[::1]",      "[::1]:",     "host: 80",
        "host:+80",   "[::1:80",    "[::1]]:80",
        "a]:80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        addr_hostport hp;
        char err[256] = "";
        if (addr_parse_hostport(bad[i], &hp, err, sizeof err))
            fail_msg("accepted '%s' as host '%s' port %u", bad[i], hp.host, (unsigned)hp.port);
        if (err[0] == '\0')
            fail_msg("no message for '%s'", bad[i]);
    }
    /* A host longer than the buffer. */
    char big[400];
    memset(big, 'h', 300);
    strcpy(big + 300, ":80");
    addr_hostport hp;
    char err[256] = "";
    assert_false(addr_parse_hostport(big, &hp, err, sizeof err));
    assert_true(err[0] != '\0');
}

static void test_url_good(void **state)
{
    (void)state;
    addr_url u;
    char err[256];
    assert_true(addr_parse_url("http://127.0.0.1:8001/classify", &u, err, sizeof err));
    assert_string_equal(u.hp.host, "127.0.0.1");
    assert_int_equal(u.hp.port, 8001);
    assert_string_equal(u.path, "/classify");
    assert_true(addr_parse_url("http://localhost", &u, err, sizeof err));
    assert_string_equal(u.hp.host, "localhost");
    assert_int_equal(u.hp.port, 80);
    assert_string_equal(u.path, "/");
    assert_true(addr_parse_url("http://example.com:8080", &u, err, sizeof err));
    assert_string_equal(u.hp.host, "example.com");
    assert_int_equal(u.hp.port, 8080);
    assert_string_equal(u.path, "/");
    assert_true(addr_parse_url("http://[::1]:9000/a/b", &u, err, sizeof err));
    assert_string_equal(u.hp.host, "::1");
    assert_int_equal(u.hp.port, 9000);
    assert_string_equal(u.path, "/a/b");
    assert_true(addr_parse_url("http://[::1]/x", &u, err, sizeof err));
    assert_string_equal(u.hp.host, "::1");
    assert_int_equal(u.hp.port, 80);
    assert_string_equal(u.path, "/x");
    assert_true(addr_parse_url("http://h:1/", &u, err, sizeof err));
    assert_string_equal(u.hp.host, "h");
    assert_int_equal(u.hp.port, 1);
    assert_string_equal(u.path, "/");
    /* The canonical form: lower-case host, explicit port. */
    char canon[128];
    assert_true(addr_parse_url("http://LocalHost/x", &u, err, sizeof err));
    addr_format_url(&u, canon, sizeof canon);
    assert_string_equal(canon, "http://localhost:80/x");
    assert_true(addr_parse_url("http://[::1]:9/", &u, err, sizeof err));
    addr_format_url(&u, canon, sizeof canon);
    assert_string_equal(canon, "http://[::1]:9/");
}

static void test_url_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "127.0.0.1:8001",
        "https://127.0.0.1:8001/classify",
        "ftp://host/",
        "HTTP//host/",
        "http://",
        "http:///classify",
        "http://host:0/classify",
        "http://host:/classify",
        "http://host:abc/",
        "http://host:70000/",
        "http://::1:80/",
        "http://[]/",
        "http://[]:80/",
        "http://[::1/x",
        "http://user:pw@host/",
        "http://host/a#frag",
        "http://host/a b",
        "http://host/a\tb",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        addr_url u;
        char err[256] = "";
        if (addr_parse_url(bad[i], &u, err, sizeof err))
            fail_msg("accepted '%s' as host '%s' port %u path '%s'", bad[i], u.hp.host,
                     (unsigned)u.hp.port, u.path);
        if (err[0] == '\0')
            fail_msg("no message for '%s'", bad[i]);
    }
    /* A path longer than the buffer. */
    char big[ADDR_PATH_MAX + 64] = "http://h/";
    memset(big + 9, 'p', ADDR_PATH_MAX + 10);
    big[9 + ADDR_PATH_MAX + 10] = '\0';
    addr_url u;
    char err[256] = "";
    assert_false(addr_parse_url(big, &u, err, sizeof err));
    assert_true(err[0] != '\0');
}

static void test_addr_format(void **state)
{
    (void)state;
    char buf[64];
    addr_hostport v4 = {.host = "127.0.0.1", .port = 8001};
    addr_format(&v4, buf, sizeof buf);
    assert_string_equal(buf, "127.0.0.1:8001");
    addr_hostport v6 = {.host = "::1", .port = 80};
    addr_format(&v6, buf, sizeof buf);
    assert_string_equal(buf, "[::1]:80");
    /* Format and parse round-trip. */
    addr_hostport back;
    char err[256];
    assert_true(addr_parse_hostport(buf, &back, err, sizeof err));
    assert_string_equal(back.host, "::1");
    assert_int_equal(back.port, 80);
}

/* ---- hist ---- */

static void test_hist_empty(void **state)
{
    (void)state;
    hist h;
    hist_init(&h, hist_latency_bounds, hist_latency_nbounds);
    assert_true(hist_quantile(&h, 0.5) == 0.0);
    assert_int_equal(h.n, 0);
}

static void test_hist_uniform(void **state)
{
    (void)state;
    hist h;
    hist_init(&h, hist_latency_bounds, hist_latency_nbounds);
    /* 1 ms .. 1 s in 1 ms steps: the q-quantile is about q seconds. */
    for (int i = 1; i <= 1000; i++)
        hist_add(&h, i * 0.001);
    assert_int_equal(h.n, 1000);
    assert_true(h.max == 1.0);
    assert_true(h.sum > 500.0 && h.sum < 501.0);
    static const double qs[] = {0.1, 0.5, 0.9, 0.99};
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        double v = hist_quantile(&h, qs[i]);
        /* Buckets are a factor sqrt(2) apart: the estimate is within it. */
        if (!(v > qs[i] / 1.5 && v < qs[i] * 1.5))
            fail_msg("q%.2f = %g, expected about %g", qs[i], v, qs[i]);
    }
    /* Monotonic in q, and bounded by the observed range. */
    double prev = 0;
    for (double q = 0; q <= 1.0; q += 0.05) {
        double v = hist_quantile(&h, q);
        assert_true(v >= prev);
        assert_true(v <= 1.0);
        prev = v;
    }
    assert_true(hist_quantile(&h, 1.0) <= 1.0);
    assert_true(hist_quantile(&h, 1.0) > 0.8);

    /* Integer buckets (batch sizes), every observation 1: every quantile
     * is 1, not a fraction interpolated up from 0. */
    static const double sizes[] = {1, 2, 3, 4, 5};
    hist_init(&h, sizes, 5);
    for (int i = 0; i < 100; i++)
        hist_add(&h, 1);
    assert_true(hist_quantile(&h, 0.5) == 1.0);
    assert_true(hist_quantile(&h, 0.95) == 1.0);
}

static void test_hist_bimodal(void **state)
{
    (void)state;
    hist h;
    hist_init(&h, hist_latency_bounds, hist_latency_nbounds);
    /* 90 fast (2 ms) and 10 slow (3 s) requests. */
    for (int i = 0; i < 90; i++)
        hist_add(&h, 0.002);
    for (int i = 0; i < 10; i++)
        hist_add(&h, 3.0);
    double p50 = hist_quantile(&h, 0.5), p99 = hist_quantile(&h, 0.99);
    assert_true(p50 > 0.0016 && p50 < 0.0023);
    assert_true(p99 > 2.0 && p99 <= 3.0);
}

static void test_hist_overflow(void **state)
{
    (void)state;
    static const double bounds[] = {1, 2, 4};
    hist h;
    hist_init(&h, bounds, 3);
    hist_add(&h, 100);
    hist_add(&h, 200);
    assert_int_equal(h.counts[3], 2);
    double p = hist_quantile(&h, 0.99);
    assert_true(p > 4 && p <= 200);
    assert_true(hist_quantile(&h, 1.0) == 200);
}

/* ---- htab ---- */

typedef struct item {
    htab_node node;
    char key[16];
    int value;
} item;

static void set_key(htab *t, item *it, const char *key, size_t klen)
{
    memcpy(it->key, key, klen);
    it->node.key = it->key;
    it->node.klen = klen;
    it->node.hash = htab_hash(t, it->key, klen);
}

static item *find(const htab *t, const char *key, size_t klen)
{
    htab_node *n = htab_find(t, key, klen, htab_hash(t, key, klen));
    return n ? (item *)((char *)n - offsetof(item, node)) : NULL;
}

static void test_htab_basic(void **state)
{
    (void)state;
    htab t;
    assert_true(htab_init(&t, 4));
    assert_int_equal(t.nslots & (t.nslots - 1), 0);

    item a = {.value = 1}, b = {.value = 2}, c = {.value = 3};
    set_key(&t, &a, "alpha", 5);
    set_key(&t, &b, "beta", 4);
    set_key(&t, &c, "a\0b", 3); /* keys are bytes, NUL included */
    htab_insert(&t, &a.node);
    htab_insert(&t, &b.node);
    htab_insert(&t, &c.node);
    assert_int_equal(t.count, 3);

    assert_ptr_equal(find(&t, "alpha", 5), &a);
    assert_ptr_equal(find(&t, "beta", 4), &b);
    assert_ptr_equal(find(&t, "a\0b", 3), &c);
    assert_null(find(&t, "a", 1));
    assert_null(find(&t, "alph", 4));
    assert_null(find(&t, "alphaa", 6));
    assert_null(find(&t, "", 0));

    htab_remove(&t, &b.node);
    assert_int_equal(t.count, 2);
    assert_null(find(&t, "beta", 4));
    assert_ptr_equal(find(&t, "alpha", 5), &a);
    assert_ptr_equal(find(&t, "a\0b", 3), &c);

    /* Removing a node that isn't there changes nothing. */
    htab_remove(&t, &b.node);
    assert_int_equal(t.count, 2);

    /* Re-inserted after removal, it is found again. */
    htab_insert(&t, &b.node);
    assert_ptr_equal(find(&t, "beta", 4), &b);
    htab_fini(&t);
    assert_null(t.slots);
}

static void test_htab_grow(void **state)
{
    (void)state;
    enum { N = 1000 };
    htab t;
    assert_true(htab_init(&t, 0));
    size_t slots0 = t.nslots;
    item *items = calloc(N, sizeof *items);
    assert_non_null(items);
    for (int i = 0; i < N; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "key-%d", i);
        items[i].value = i;
        set_key(&t, &items[i], k, (size_t)kl);
        htab_insert(&t, &items[i].node);
    }
    assert_int_equal(t.count, N);
    assert_true(t.nslots > slots0);
    for (int i = 0; i < N; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "key-%d", i);
        item *it = find(&t, k, (size_t)kl);
        assert_non_null(it);
        assert_int_equal(it->value, i);
    }
    /* Remove the even ones. */
    for (int i = 0; i < N; i += 2)
        htab_remove(&t, &items[i].node);
    assert_int_equal(t.count, N / 2);
    for (int i = 0; i < N; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "key-%d", i);
        item *it = find(&t, k, (size_t)kl);
        if (i % 2)
            assert_ptr_equal(it, &items[i]);
        else
            assert_null(it);
    }
    htab_fini(&t);
    free(items);
}

static void test_htab_hash(void **state)
{
    (void)state;
    htab t;
    assert_true(htab_init(&t, 16));
    /* Deterministic per table, and sensitive to every byte and the length. */
    assert_true(htab_hash(&t, "abc", 3) == htab_hash(&t, "abc", 3));
    assert_true(htab_hash(&t, "abc", 3) != htab_hash(&t, "abd", 3));
    assert_true(htab_hash(&t, "abc", 3) != htab_hash(&t, "abc\0", 4));
    assert_true(htab_hash(&t, "xbc", 3) != htab_hash(&t, "abc", 3));
    htab_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_classify_good),
        cmocka_unit_test(test_parse_empty_list),
        cmocka_unit_test(test_parse_code_points),
        cmocka_unit_test(test_parse_nul_and_escapes),
        cmocka_unit_test(test_parse_single_matches_jansson),
        cmocka_unit_test(test_parse_duplicate_keys),
        cmocka_unit_test(test_parse_proxy_good),
        cmocka_unit_test(test_parse_not_json),
        cmocka_unit_test(test_parse_invalid_utf8),
        cmocka_unit_test(test_parse_not_object),
        cmocka_unit_test(test_parse_missing_field),
        cmocka_unit_test(test_parse_not_list),
        cmocka_unit_test(test_parse_element_not_string),
        cmocka_unit_test(test_parse_too_many),
        cmocka_unit_test(test_parse_both_forms),
        cmocka_unit_test(test_parse_too_long),
        cmocka_unit_test(test_parse_small_err_buffer),
        cmocka_unit_test(test_values_json),
        cmocka_unit_test(test_dump_value),
        cmocka_unit_test(test_builders),
        cmocka_unit_test(test_sequences_json),
        cmocka_unit_test(test_builders_match_jansson),
        cmocka_unit_test(test_hostport_good),
        cmocka_unit_test(test_hostport_bad),
        cmocka_unit_test(test_url_good),
        cmocka_unit_test(test_url_bad),
        cmocka_unit_test(test_addr_format),
        cmocka_unit_test(test_hist_empty),
        cmocka_unit_test(test_hist_uniform),
        cmocka_unit_test(test_hist_bimodal),
        cmocka_unit_test(test_hist_overflow),
        cmocka_unit_test(test_htab_basic),
        cmocka_unit_test(test_htab_grow),
        cmocka_unit_test(test_htab_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
