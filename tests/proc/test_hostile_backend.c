/* A backend that misbehaves on purpose (the scriptable fake backend,
 * tests/support/fakebe.h): whatever it sends, a client gets either the true
 * label of its own text or a 502 with a JSON detail, within its deadline,
 * and the next request is served.
 *
 * The first three are the defects of the evhttp-based client that the
 * proxy's own (src/proxy/hclient.c) fixed:
 *   - test_unsolicited_response_is_never_an_answer,
 *     test_answer_sent_twice_is_used_once: bytes that arrived while no
 *     answer was due waited in evhttp's buffer and became the next batch's
 *     answer (and were cached);
 *   - test_backend_timeout_bounds_a_trickled_answer: evhttp restarted its
 *     timeout at every byte, so --backend-timeout didn't bound an attempt. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "fakebe.h"
#include "tproc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    fakebe fb;
    tproc proxy;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    *state = f;
    return f ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    bool clean = tproc_stop_clean(&f->proxy, 5);
    fakebe_stop(&f->fb);
    free(f);
    return clean ? 0 : -1;
}

/* Starts the fake with steps[0..n) then correct answers, and batchproxy in
 * front of it with extra args (NULL-terminated). */
static void start(fixture *f, const fakebe_step *steps, size_t n, const char *const *extra)
{
    assert_true(fakebe_start(&f->fb, &(fakebe_script){.steps = steps, .n = n}));
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", f->fb.port);
    const char *args[32] = {"--backend", url, "--backoff-base", "0.01", "--backoff-cap", "0.02"};
    int k = 6;
    for (; extra && *extra && k < 31; extra++)
        args[k++] = *extra;
    args[k] = NULL;
    assert_true(tproc_start(&f->proxy, "batchproxy", args));
}

/* POSTs {"sequence": text} (text needs no JSON escaping) to the proxy. */
static void classify(const fixture *f, const char *text, const char *headers, thttp_resp *r)
{
    char body[512];
    snprintf(body, sizeof body, "{\"sequence\": \"%s\"}", text);
    if (!thttp_request(f->proxy.port, "POST", "/proxy_classify", headers, body, r, 30))
        fail_msg("no answer from the proxy for \"%s\"", text);
}

/* Asserts r is 200 with the label the fake gives text. */
static void assert_true_label(const thttp_resp *r, const char *text)
{
    char want[64];
    snprintf(want, sizeof want, "{\"result\":\"%s\"}",
             strstr(text, FAKEBE_CODE_MARK) ? "code" : "not code");
    if (r->status != 200 || strcmp(r->body, want) != 0)
        fail_msg("\"%s\": got %d %s, want 200 %s", text, r->status, r->body, want);
}

/* Asserts r is a 502 with a JSON detail; copies the detail into buf. */
static const char *assert_502_detail(const thttp_resp *r, char *buf, size_t len)
{
    json_t *j = json_loads(r->body, 0, NULL);
    const char *d = json_string_value(json_object_get(j, "detail"));
    if (r->status != 502 || !d || !*d)
        fail_msg("got %d %s, want 502 with a detail", r->status, r->body);
    snprintf(buf, len, "%s", d);
    json_decref(j);
    return buf;
}

/* The next request gets its true label promptly. */
static void assert_next_served(fixture *f, const char *text)
{
    thttp_resp r;
    classify(f, text, NULL, &r);
    assert_true_label(&r, text);
    assert_true(r.elapsed < 5);
    thttp_resp_free(&r);
}

/* The backend answers batch 1, then
 * sends one more well-formed response on the kept-alive connection. That
 * leftover must never answer batch 2: the proxy closes a connection on which
 * bytes arrive while no answer is due, and an answer only ever goes to the
 * batch it was requested for. Nor may the cache keep a label the backend
 * never gave. */
static void test_unsolicited_response_is_never_an_answer(void **state)
{
    fixture *f = *state;
    const fakebe_step steps[] = {
        {.then = FAKEBE_THEN_EXTRA, .extra = "{\"results\":[\"code\"]}"},
    };
    start(f, steps, 1, (const char *[]){"--retries", "1", NULL});
    thttp_resp r;
    classify(f, "alpha first text", NULL, &r);
    assert_true_label(&r, "alpha first text");
    thttp_resp_free(&r);
    /* The extra went out with the answer, in one write: the proxy doesn't
     * trust an answer followed by more bytes (it may itself be a stray), so
     * it retried on a fresh connection, which the fake answers cleanly. */
    assert_true(fakebe_await(&f->fb, fakebe_answered, 1, 5) >= 1);

    classify(f, "bravo second text", NULL, &r);
    if (r.status != 502) /* a 502 is allowed; the leftover's "code" never */
        assert_true_label(&r, "bravo second text");
    thttp_resp_free(&r);
    classify(f, "bravo second text", NULL, &r); /* the cache must not hold the leftover */
    assert_true_label(&r, "bravo second text");
    thttp_resp_free(&r);
    if (fakebe_await(&f->fb, fakebe_closed_by_peer, 1, 5) < 1)
        fail_msg("the proxy kept the connection that carried an unsolicited response");
    assert_true(tproc_stop_clean(&f->proxy, 5));
}

/* The same, with the backend sending
 * its (true) answer twice: the copy is unsolicited too. */
static void test_answer_sent_twice_is_used_once(void **state)
{
    fixture *f = *state;
    const fakebe_step steps[] = {{.then = FAKEBE_THEN_REPEAT}};
    start(f, steps, 1, (const char *[]){"--retries", "1", NULL});
    thttp_resp r;
    classify(f, "charlie " FAKEBE_CODE_MARK, NULL, &r);
    assert_true_label(&r, "charlie " FAKEBE_CODE_MARK);
    thttp_resp_free(&r);
    assert_true(fakebe_await(&f->fb, fakebe_answered, 1, 5) >= 1);

    classify(f, "delta plain words", NULL, &r);
    if (r.status != 502)
        assert_true_label(&r, "delta plain words");
    thttp_resp_free(&r);
    assert_next_served(f, "delta plain words");
    assert_true(tproc_stop_clean(&f->proxy, 5));
}

/* --backend-timeout is a hard deadline
 * from sending a batch to having its whole answer: a backend trickling its
 * answer (a header line or a body byte every 0.5 s, 30 s in all) fails the
 * attempt after about 1 s, far from the client's own 10 s deadline. */
static void test_backend_timeout_bounds_a_trickled_answer(void **state)
{
    fixture *f = *state;
    const fakebe_step steps[] = {{.trickle = 0.5, .pad = 56}};
    start(f, steps, 1, (const char *[]){"--backend-timeout", "1", "--retries", "0", NULL});
    thttp_resp r;
    char detail[512];
    classify(f, "echo slow text", "X-Timeout-Ms: 10000\r\n", &r);
    assert_502_detail(&r, detail, sizeof detail);
    printf("# trickled answer: %d after %.2f s (--backend-timeout 1): %s\n", r.status, r.elapsed,
           detail);
    assert_true(r.elapsed < 5);
    thttp_resp_free(&r);
    assert_next_served(f, "foxtrot " FAKEBE_CODE_MARK);
    assert_true(tproc_stop_clean(&f->proxy, 5));
}

/* A backend's 4xx body reaches the client's detail, and only that body:
 * after a long one, a short one must not show what was in memory behind it
 * (it is not a C string). */
static void test_short_4xx_detail_holds_only_its_own_body(void **state)
{
    fixture *f = *state;
    char long_body[401];
    for (size_t i = 0; i < sizeof long_body - 1; i++)
        long_body[i] = "stale-first-body-"[i % 17];
    long_body[sizeof long_body - 1] = '\0';
    const fakebe_step steps[] = {
        {.act = FAKEBE_STATUS, .status = 400, .body = long_body},
        {.act = FAKEBE_STATUS, .status = 400, .body = "{\"detail\":\"no\"}"},
    };
    start(f, steps, 2, (const char *[]){"--retries", "0", NULL});
    thttp_resp r;
    char detail[512];
    classify(f, "golf first", NULL, &r);
    assert_non_null(strstr(assert_502_detail(&r, detail, sizeof detail), "stale-first-body-"));
    thttp_resp_free(&r);

    classify(f, "hotel second", NULL, &r);
    assert_502_detail(&r, detail, sizeof detail);
    const char *tail = strstr(detail, "400: ");
    if (!tail || strcmp(tail + 5, "{\"detail\":\"no\"}") != 0 || strstr(detail, "stale"))
        fail_msg("the detail shows more than the short body: %s", detail);
    thttp_resp_free(&r);
    assert_next_served(f, "india " FAKEBE_CODE_MARK);
    assert_true(tproc_stop_clean(&f->proxy, 5));
}

/* Whatever text of a backend's reaches a detail is printable, valid UTF-8:
 * in a 4xx body, control characters (a terminal escape) and invalid bytes
 * become '?', valid characters stay, and a long body is cut between
 * characters; a malformed 200 quoted by the JSON parser's message gets the
 * same. */
static void test_backend_text_reaches_the_client_printable(void **state)
{
    fixture *f = *state;
    char accents[300] = "x";
    for (int i = 0; i < 100; i++)
        strcat(accents, "\xc3\xa9"); /* é: cut after 120 bytes, mid-character */
    const fakebe_step steps[] = {
        {.act = FAKEBE_STATUS, .status = 422, .body = "bad\x01\x1b[31mred\xff\xfe caf\xc3\xa9 end"},
        {.act = FAKEBE_STATUS, .status = 400, .body = accents},
        {.act = FAKEBE_STATUS, .status = 200, .body = "\x01\x1b[2J"},
    };
    start(f, steps, 3, (const char *[]){"--retries", "0", NULL});
    thttp_resp r;
    char detail[512];
    classify(f, "juliet", NULL, &r);
    assert_502_detail(&r, detail, sizeof detail);
    const char *tail = strstr(detail, "422: ");
    if (!tail || strcmp(tail + 5, "bad??[31mred?? caf\xc3\xa9 end") != 0)
        fail_msg("want the body's printable text in the detail, got: %s", detail);
    thttp_resp_free(&r);

    classify(f, "kilo", NULL, &r);
    assert_502_detail(&r, detail, sizeof detail); /* jansson checked it is valid UTF-8 */
    tail = strstr(detail, "400: x\xc3\xa9");
    assert_non_null(tail);
    assert_true(strlen(tail + 5) <= 120 && strlen(tail + 5) % 2 == 1); /* x + whole é's */
    thttp_resp_free(&r);

    classify(f, "lima", NULL, &r);
    assert_502_detail(&r, detail, sizeof detail);
    for (const char *p = detail; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            fail_msg("a control character (0x%02x) in the detail: %s", *p, r.body);
    thttp_resp_free(&r);
    assert_true(tproc_stop_clean(&f->proxy, 5));
}

/* One misbehaviour on the first batch; want is what its client gets
 * (200: its true label after a retry), and the next request is served. */
typedef struct hostile_case {
    const char *name;
    fakebe_step step;
    int want;
} hostile_case;

static void test_misbehaviours_end_in_a_label_or_a_502(void **state)
{
    fixture *f = *state;
    static const hostile_case cases[] = {
        {"garbage bytes", {.act = FAKEBE_RAW, .body = "\x01\x02garbage\r\n\r\n"}, 502},
        {"wrong number of results", {.act = FAKEBE_WRONG_COUNT}, 502},
        {"not JSON", {.act = FAKEBE_STATUS, .status = 200, .body = "<html>hi</html>"}, 502},
        {"answer over the size limit", {.pad = 2u << 20}, 502},
        {"never answers", {.act = FAKEBE_SILENT}, 502},
        {"closes without answering", {.act = FAKEBE_CLOSE}, 200},
        {"500, then a retry", {.act = FAKEBE_STATUS, .status = 500, .body = "{}"}, 200},
        {"429, then a retry", {.act = FAKEBE_STATUS, .status = 429, .body = "{}"}, 200},
        {"chunked answer", {.chunked = true}, 200},
        {"answer after a delay", {.delay = 0.3}, 200},
        {"closes after answering", {.then = FAKEBE_THEN_CLOSE}, 200},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const hostile_case *c = &cases[i];
        /* A 502 case fails its one attempt; a 200 case gets one retry. */
        start(f, &c->step, 1,
              (const char *[]){"--backend-timeout", "1", "--retries", c->want == 502 ? "0" : "1",
                               "--log-level", "error", NULL});
        thttp_resp r;
        char detail[512] = "";
        classify(f, "mike " FAKEBE_CODE_MARK, NULL, &r);
        if (r.status != c->want)
            fail_msg("%s: got %d %s, want %d", c->name, r.status, r.body, c->want);
        if (c->want == 502)
            assert_502_detail(&r, detail, sizeof detail);
        else
            assert_true_label(&r, "mike " FAKEBE_CODE_MARK);
        printf("# %s: %d after %.2f s %s\n", c->name, r.status, r.elapsed, detail);
        assert_true(r.elapsed < 5);
        thttp_resp_free(&r);
        assert_next_served(f, "november plain");
        assert_true(tproc_stop_clean(&f->proxy, 5));
        fakebe_stop(&f->fb);
    }
}

/* The fake as a program (for shell scripts): steps in their text form,
 * escapes decoded, then true answers; health; a clean exit on SIGTERM. */
static void test_fakebe_program_follows_its_script(void **state)
{
    fixture *f = *state;
    const char *args[] = {"act=status,status=418,body=te\\x2cpot", "then=close", NULL};
    tproc *p = &f->proxy;
    assert_true(tproc_start(p, "fakebe", args));
    const char *body = "{\"sequences\": [\"a " FAKEBE_CODE_MARK "\", \"b\"]}";
    thttp_resp r;
    assert_true(thttp_request(p->port, "POST", "/classify", NULL, body, &r, 5));
    assert_int_equal(r.status, 418);
    assert_string_equal(r.body, "te,pot");
    thttp_resp_free(&r);
    for (int i = 0; i < 2; i++) {
        assert_true(thttp_request(p->port, "POST", "/classify", NULL, body, &r, 5));
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "{\"results\":[\"code\",\"not code\"]}");
        thttp_resp_free(&r);
    }
    assert_true(thttp_request(p->port, "GET", "/healthz", NULL, NULL, &r, 5));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_true(tproc_stop_clean(p, 5));
    assert_true(tproc_log_contains(p, "3 POSTs (3 answered in full), 1 health checks"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_unsolicited_response_is_never_an_answer),
        T(test_answer_sent_twice_is_used_once),
        T(test_backend_timeout_bounds_a_trickled_answer),
        T(test_short_4xx_detail_holds_only_its_own_body),
        T(test_backend_text_reaches_the_client_printable),
        T(test_misbehaviours_end_in_a_label_or_a_502),
        T(test_fakebe_program_follows_its_script),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
