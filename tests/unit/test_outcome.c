/* Unit tests of the dispatcher's decision on one batch attempt (outcome.h):
 * every outcome's kind and words, and, over every combination of attempt,
 * retries and pool facts, whether the batch resolves, fails (with what
 * status and detail) or is retried where, and whether the backend is
 * ejected. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "outcome.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const health_config hc3 = {.failures = 3, .base = 1, .max = 8};

/* The default protocol's codec (set up in main). */
static codec classify_codec;

/* A first attempt of a 2-member batch on a healthy backend of a pool where
 * another is usable but busy; 3 retries allowed. */
static outcome_in base_in(int status, const char *body, const char *error)
{
    outcome_in in = {.codec = &classify_codec,
                     .status = status,
                     .body = body ? body : "",
                     .len = body ? strlen(body) : 0,
                     .error = error,
                     .n = 2,
                     .attempt = 1,
                     .retries = 3,
                     .name = "127.0.0.1:9/classify",
                     .hostport = "127.0.0.1:9",
                     .others_usable = true,
                     .now = 100,
                     .backoff_base = 0.1,
                     .backoff_cap = 1,
                     .jitter = 0.5};
    health_init(&in.ejection, &hc3);
    return in;
}

static outcome decide(const outcome_in *in)
{
    outcome o;
    outcome_decide(in, &o);
    return o;
}

static void test_a_good_answer_resolves_and_resets_failures(void **state)
{
    outcome_in in = base_in(200, "{\"results\": [\"code\", \"not code\"]}", NULL);
    in.ejection.failures = 2;
    outcome o = decide(&in);
    assert_int_equal(o.action, OUTCOME_RESOLVE);
    assert_int_equal(o.kind, ATTEMPT_OK);
    assert_string_equal(o.results[0]->json, "\"code\"");
    assert_string_equal(o.results[1]->json, "\"not code\"");
    result_unref(o.results[0]);
    result_unref(o.results[1]);
    assert_int_equal(o.ejection.failures, 0);
    assert_false(o.ejected);
}

/* Each outcome's kind, and the words naming it. */
static void test_kinds_and_words(void **state)
{
    static const struct {
        int status;
        const char *body, *error;
        enum metrics_attempt kind;
        const char *words;
    } rows[] = {
        {200, "{\"results\": [\"code\"]}", NULL, ATTEMPT_BAD_ANSWER, "result"},
        {200, "not json", NULL, ATTEMPT_BAD_ANSWER, ""},
        {429, "{}", NULL, ATTEMPT_BUSY, "backend 127.0.0.1:9 answered 429 (busy)"},
        {500, "", NULL, ATTEMPT_SERVER_ERROR, "backend 127.0.0.1:9 answered 500"},
        {503, "", NULL, ATTEMPT_SERVER_ERROR, "backend 127.0.0.1:9 answered 503"},
        {599, "", NULL, ATTEMPT_SERVER_ERROR, "answered 599"},
        {400, "bad input", NULL, ATTEMPT_REJECTED,
         "backend rejected the batch with 400: bad input"},
        {404, "", NULL, ATTEMPT_REJECTED, "with 404"},
        {413, "too big", NULL, ATTEMPT_REJECTED, "with 413: too big"},
        {301, "", NULL, ATTEMPT_REJECTED, "with 301"},
        /* The transport's reasons, as hclient.c words them. */
        {0, NULL, "connection failed: Connection refused", ATTEMPT_NO_ANSWER,
         "backend 127.0.0.1:9/classify: connection failed: Connection refused"},
        {0, NULL, "timed out: no complete answer within 2 s", ATTEMPT_NO_ANSWER, "timed out"},
        {0, NULL, "connection closed before an answer", ATTEMPT_NO_ANSWER, "closed"},
        {0, NULL, "connection closed in the middle of the answer (7 bytes in)", ATTEMPT_NO_ANSWER,
         "middle"},
        {0, NULL, "cannot resolve nowhere.invalid: no such host", ATTEMPT_NO_ANSWER, "resolve"},
        {0, NULL, "12 unexpected bytes after the answer (status 200): not trusted",
         ATTEMPT_BAD_ANSWER, "backend 127.0.0.1:9/classify: 12 unexpected bytes after the answer"},
        {0, NULL, "malformed answer head: bad status line", ATTEMPT_BAD_ANSWER, "malformed"},
        {0, NULL, "malformed chunked answer: bad chunk size", ATTEMPT_BAD_ANSWER, "chunked"},
        {0, NULL, "malformed answer: more than 8 interim (1xx) answers", ATTEMPT_BAD_ANSWER,
         "interim"},
        {0, NULL, "answer head larger than 16384 bytes", ATTEMPT_BAD_ANSWER, "head larger"},
        {0, NULL, "answer too large: over the 1048576-byte limit", ATTEMPT_BAD_ANSWER, "too large"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        outcome_in in = base_in(rows[i].status, rows[i].body, rows[i].error);
        outcome o = decide(&in);
        if (o.kind != rows[i].kind || !strstr(o.why, rows[i].words))
            fail_msg("row %zu (%d %s): kind %d, why '%s'", i, rows[i].status,
                     rows[i].error ? rows[i].error : rows[i].body, o.kind, o.why);
        assert_int_not_equal(o.action, OUTCOME_RESOLVE);
    }
}

/* A refusal (a 4xx but 429) fails a lone member at once; a batch of
 * several is split, each member sent again alone, so that one member's
 * text the backend refuses fails that member only. Neither counts towards
 * ejection, whatever the attempt. */
static void test_a_refused_batch_is_split(void **state)
{
    for (size_t n = 1; n <= 5; n++)
        for (int attempt = 1; attempt <= 4; attempt++) {
            outcome_in in = base_in(400, "{\"detail\":\"too long\"}", NULL);
            in.n = n;
            in.attempt = attempt;
            outcome o = decide(&in);
            assert_int_equal(o.kind, ATTEMPT_REJECTED);
            assert_int_equal(o.action, n == 1 ? OUTCOME_FAIL : OUTCOME_SPLIT);
            assert_int_equal(o.ejection.failures, 0);
            if (n == 1)
                assert_int_equal(o.status, 502);
        }
    /* A server error or a bad answer is no refusal of the input: retried whole. */
    outcome_in in = base_in(500, "", NULL);
    assert_int_equal(decide(&in).action, OUTCOME_RETRY_LATER);
    in = base_in(200, "{\"results\": [\"maybe\", \"code\"]}", NULL);
    assert_int_equal(decide(&in).action, OUTCOME_RETRY_LATER);
}

/* A 5xx names the protocol's error message when the body is one (oip, tei's
 * 424, json), printable; the classify protocol's words are as they were. */
static void test_a_server_error_quotes_the_protocols_message(void **state)
{
    char err[200];
    codec oip, tei;
    codec_config oc = {.protocol = CODEC_OIP, .oip_input = "text", .max_result = 64};
    codec_config tc = {.protocol = CODEC_TEI, .max_result = 64};
    assert_true(codec_init(&oip, &oc, err, sizeof err) && codec_init(&tei, &tc, err, sizeof err));

    outcome_in in = base_in(500, "{\"error\": \"model\\u001b exploded\"}", NULL);
    in.codec = &oip;
    outcome o = decide(&in);
    assert_int_equal(o.kind, ATTEMPT_SERVER_ERROR);
    assert_string_equal(o.why, "backend 127.0.0.1:9 answered 500: model? exploded");

    in = base_in(424, "{\"error\": \"cuda\", \"error_type\": \"Backend\"}", NULL);
    in.codec = &tei;
    o = decide(&in);
    assert_int_equal(o.kind, ATTEMPT_SERVER_ERROR);
    assert_int_equal(o.action, OUTCOME_RETRY_LATER);
    assert_string_equal(o.why, "backend 127.0.0.1:9 answered 424: cuda");

    in = base_in(500, "{\"error\": \"model exploded\"}", NULL);
    o = decide(&in);
    assert_string_equal(o.why, "backend 127.0.0.1:9 answered 500");
    in.codec = &oip;
    in.body = "<html>busy</html>";
    in.len = strlen(in.body);
    o = decide(&in);
    assert_string_equal(o.why, "backend 127.0.0.1:9 answered 500");
    codec_fini(&oip);
    codec_fini(&tei);
}

/* A 4xx body reaches the detail printable and cut to OUTCOME_BODY_MAX bytes. */
static void test_a_rejection_quotes_a_bounded_printable_body(void **state)
{
    char body[600];
    memset(body, 'x', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    body[3] = '\x1b';
    outcome_in in = base_in(422, body, NULL);
    in.n = 1;
    outcome o = decide(&in);
    assert_int_equal(o.action, OUTCOME_FAIL);
    assert_null(strchr(o.why, '\x1b'));
    const char *quoted = strstr(o.why, ": ") + 2;
    assert_true(strlen(quoted) <= OUTCOME_BODY_MAX);
    assert_true(strlen(quoted) >= OUTCOME_BODY_MAX - 8);
    /* A control byte in a parser's message about a 200 is made printable too. */
    outcome_in bad = base_in(200, "{\"results\": [\"\x01\"]}", NULL);
    o = decide(&bad);
    assert_int_equal(o.kind, ATTEMPT_BAD_ANSWER);
    assert_null(strchr(o.why, '\x01'));
}

/* Every combination of: the failure (a rejection, or one of the kinds that
 * count), the attempt and the retries allowed, whether another backend is
 * free, whether this one is leaving, whether it was already ejected or this
 * failure is its last allowed, and whether another is usable. */
static void test_every_failure_in_every_state(void **state)
{
    static const struct {
        int status;
        const char *body, *error;
    } failures[] = {
        {400, "no", NULL},
        {429, "", NULL},
        {500, "", NULL},
        {200, "[]", NULL},
        {0, NULL, "connection closed before an answer"},
        {0, NULL, "3 unexpected bytes after the answer (status 200): not trusted"},
    };
    size_t cases = 0;
    for (size_t f = 0; f < sizeof failures / sizeof *failures; f++)
        for (int attempt = 1; attempt <= 4; attempt++)
            for (int retries = 0; retries <= 3; retries++)
                for (int bits = 0; bits < 32; bits++) {
                    bool other_free = bits & 1, leaving = bits & 2, ejected_before = bits & 4,
                         last_allowed = bits & 8, others_usable = bits & 16;
                    outcome_in in =
                        base_in(failures[f].status, failures[f].body, failures[f].error);
                    in.attempt = attempt;
                    in.retries = retries;
                    in.other_free = other_free;
                    in.leaving = leaving;
                    in.others_usable = others_usable;
                    in.ejection.failures = last_allowed ? 2 : 0;
                    if (ejected_before) {
                        in.ejection.ejected = true;
                        in.ejection.until = 105;
                    }
                    outcome o = decide(&in);
                    cases++;
                    bool rejected = failures[f].status == 400;
                    /* Counted towards ejection unless a rejection; ejected
                     * by it only if it is the last allowed failure, the
                     * backend was not out already, and another is usable. */
                    assert_int_equal(o.ejection.failures,
                                     in.ejection.failures + (rejected ? 0 : 1));
                    assert_int_equal(o.ejected,
                                     !rejected && last_allowed && !ejected_before && others_usable);
                    assert_int_equal(o.ejection.ejected, ejected_before || o.ejected);
                    if (rejected) {
                        /* Refused as a whole: its 2 members go again alone. */
                        assert_int_equal(o.action, OUTCOME_SPLIT);
                    } else if (attempt > retries) {
                        assert_int_equal(o.action, OUTCOME_FAIL);
                        assert_int_equal(o.status, 502);
                        char want[320];
                        snprintf(want, sizeof want, "backend failed after %d attempt%s: %s",
                                 attempt, attempt == 1 ? "" : "s", o.why);
                        assert_string_equal(o.detail, want);
                    } else if (other_free) {
                        assert_int_equal(o.action, OUTCOME_RETRY_OTHER);
                    } else if (leaving || o.ejection.ejected) {
                        assert_int_equal(o.action, OUTCOME_RETRY_PENDING);
                    } else {
                        assert_int_equal(o.action, OUTCOME_RETRY_LATER);
                        double ceiling = fmin(1, 0.1 * pow(2, attempt - 1));
                        assert_true(fabs(o.delay - ceiling * 0.5) < 1e-12);
                    }
                }
    assert_int_equal(cases, 6 * 4 * 4 * 32);
}

/* Full jitter: the delay is the draw times min(cap, base × 2^(attempt-1)). */
static void test_backoff_is_full_jitter_under_the_cap(void **state)
{
    static const struct {
        int attempt;
        double jitter, delay;
    } rows[] = {{1, 0, 0},     {1, 0.5, 0.05}, {2, 0.5, 0.1}, {3, 0.999, 0.3996},
                {4, 0.5, 0.4}, {5, 0.5, 0.5},  {9, 0.5, 0.5}, {30, 0.25, 0.25}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        outcome_in in = base_in(503, "", NULL);
        in.attempt = rows[i].attempt;
        in.retries = 100;
        in.jitter = rows[i].jitter;
        outcome o = decide(&in);
        assert_int_equal(o.action, OUTCOME_RETRY_LATER);
        if (fabs(o.delay - rows[i].delay) > 1e-9)
            fail_msg("attempt %d jitter %g: delay %g, want %g", rows[i].attempt, rows[i].jitter,
                     o.delay, rows[i].delay);
    }
}

/* Without ejection configured (failures 0), failures are counted but never
 * eject. */
static void test_no_ejection_when_disabled(void **state)
{
    outcome_in in = base_in(500, "", NULL);
    health_init(&in.ejection, &(health_config){.failures = 0, .base = 1, .max = 8});
    for (int i = 0; i < 10; i++) {
        outcome o = decide(&in);
        assert_false(o.ejected);
        assert_int_equal(o.action, OUTCOME_RETRY_LATER);
        in.ejection = o.ejection;
    }
    assert_int_equal(in.ejection.failures, 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_good_answer_resolves_and_resets_failures),
        cmocka_unit_test(test_kinds_and_words),
        cmocka_unit_test(test_a_rejection_quotes_a_bounded_printable_body),
        cmocka_unit_test(test_a_server_error_quotes_the_protocols_message),
        cmocka_unit_test(test_a_refused_batch_is_split),
        cmocka_unit_test(test_every_failure_in_every_state),
        cmocka_unit_test(test_backoff_is_full_jitter_under_the_cap),
        cmocka_unit_test(test_no_ejection_when_disabled),
    };
    char err[200];
    codec_config cc = {.protocol = CODEC_CLASSIFY, .max_result = 64};
    if (!codec_init(&classify_codec, &cc, err, sizeof err))
        return 1;
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    codec_fini(&classify_codec);
    return failed;
}
