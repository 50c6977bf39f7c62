/* --log-format json: every line batchproxy and classifyd write on stderr
 * is one JSON object (time in RFC 3339 with milliseconds, level, program,
 * message, and the line's structured fields), whatever text ends up in it:
 * a backend's error body with quotes, a newline, a backslash, an escape
 * sequence and bytes that are not UTF-8 stays inside its string. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "fakebe.h"
#include "tproc.h"

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Calls fn on every line of the log, each parsed as a JSON object with
 * the four keys every line has; fails on any other line. Returns the
 * number of lines. */
static int each_line(const tproc *p, const char *program, void (*fn)(json_t *, void *), void *arg)
{
    FILE *fp = fopen(p->log_path, "r");
    assert_non_null(fp);
    regex_t rfc3339;
    assert_int_equal(regcomp(&rfc3339,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        json_error_t err;
        json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &err);
        if (!o || !json_is_object(o))
            printf("not a JSON object (%s): %s", o ? "not an object" : err.text, line);
        assert_true(o && json_is_object(o));
        const char *time = json_string_value(json_object_get(o, "time"));
        const char *level = json_string_value(json_object_get(o, "level"));
        assert_non_null(time);
        assert_int_equal(regexec(&rfc3339, time, 0, NULL, 0), 0);
        assert_non_null(level);
        assert_true(strcmp(level, "debug") == 0 || strcmp(level, "info") == 0 ||
                    strcmp(level, "warn") == 0 || strcmp(level, "error") == 0);
        assert_string_equal(json_string_value(json_object_get(o, "program")), program);
        assert_true(json_is_string(json_object_get(o, "message")));
        if (fn)
            fn(o, arg);
        json_decref(o);
        n++;
    }
    regfree(&rfc3339);
    fclose(fp);
    return n;
}

static void classify_request(json_t *o, void *arg)
{
    int *found = arg;
    json_t *status = json_object_get(o, "status");
    if (!status)
        return;
    const char *path = json_string_value(json_object_get(o, "path"));
    assert_string_equal(json_string_value(json_object_get(o, "method")), "POST");
    assert_string_equal(path, "/classify");
    assert_true(json_is_integer(json_object_get(o, "sequences")));
    assert_true(json_is_real(json_object_get(o, "seconds")));
    if (json_integer_value(status) == 200 && json_integer_value(json_object_get(o, "longest")) == 9)
        found[0]++;
    if (json_integer_value(status) == 400)
        found[1]++;
}

static void test_classifyd_json_lines(void **state)
{
    (void)state;
    tproc c = {0};
    const char *args[] = {"--cost", "0", "--log-format", "json", NULL};
    assert_true(tproc_start(&c, "classifyd", args));
    thttp_resp r;
    assert_true(thttp_request(c.port, "POST", "/classify", NULL,
                              "{\"sequences\":[\"x = 1;\",\"some text\"]}", &r, 10));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_true(thttp_request(c.port, "POST", "/classify", NULL, "{\"sequences\":3}", &r, 10));
    assert_int_equal(r.status, 400);
    thttp_resp_free(&r);
    assert_true(tproc_await_log_count(&c, "\"status\":", 2, 10));
    assert_true(tproc_stop_clean(&c, 5));
    int found[2] = {0, 0};
    assert_true(each_line(&c, "classifyd", classify_request, found) >= 3);
    assert_int_equal(found[0], 1);
    assert_int_equal(found[1], 1);
}

/* What a hostile backend answers: a 400 whose body tries to end the
 * string, the line and the object, with a backslash, an ANSI escape and
 * bytes that are not UTF-8. */
#define HOSTILE "\"}\n{\"level\":\"error\",\"injected\":true}\\ \x1b[31m \xff\xfe end"

typedef struct seen {
    int failed, ok, listening;
} seen;

static void proxy_line(json_t *o, void *arg)
{
    seen *s = arg;
    assert_null(json_object_get(o, "injected"));
    const char *msg = json_string_value(json_object_get(o, "message"));
    assert_null(strchr(msg, '\n'));
    assert_null(strchr(msg, '\x1b'));
    s->listening += strncmp(msg, "listening on 127.0.0.1:", 23) == 0;
    const char *outcome = json_string_value(json_object_get(o, "outcome"));
    if (outcome && strcmp(outcome, "rejected_4xx") == 0) {
        const char *error = json_string_value(json_object_get(o, "error"));
        assert_non_null(error);
        /* The body's text is there, whole, inside the string. */
        assert_non_null(
            strstr(error, "\"}?{\"level\":\"error\",\"injected\":true}\\ ?[31m ?? end"));
        assert_int_equal(json_integer_value(json_object_get(o, "status")), 400);
        assert_string_equal(json_string_value(json_object_get(o, "level")), "warn");
        assert_true(json_is_string(json_object_get(o, "backend")));
        s->failed++;
    }
    if (json_integer_value(json_object_get(o, "status")) == 200 &&
        json_integer_value(json_object_get(o, "size")) == 1) {
        assert_string_equal(json_string_value(json_object_get(o, "level")), "debug");
        s->ok++;
    }
}

static void test_batchproxy_json_lines_resist_injection(void **state)
{
    (void)state;
    static const fakebe_step steps[] = {{.act = FAKEBE_STATUS, .status = 400, .body = HOSTILE}};
    fakebe fb = {0};
    assert_true(fakebe_start(&fb, &(fakebe_script){.steps = steps, .n = 1}));
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", fb.port);
    tproc p = {0};
    const char *args[] = {
        "--backend", url, "--log-format", "json", "--log-level", "debug", "--retries", "0", NULL};
    assert_true(tproc_start(&p, "batchproxy", args));
    thttp_resp r;
    assert_true(thttp_request(p.port, "POST", "/proxy_classify", "X-Client-Id: alpha\r\n",
                              "{\"sequence\":\"first\"}", &r, 10));
    assert_int_equal(r.status, 502);
    thttp_resp_free(&r);
    assert_true(thttp_request(p.port, "POST", "/proxy_classify", "X-Client-Id: alpha\r\n",
                              "{\"sequence\":\"second\"}", &r, 10));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_true(tproc_stop_clean(&p, 5));
    fakebe_stop(&fb);
    seen s = {0};
    assert_true(each_line(&p, "batchproxy", proxy_line, &s) >= 4);
    assert_int_equal(s.listening, 1);
    assert_int_equal(s.failed, 1);
    assert_int_equal(s.ok, 1);
}

static void test_bad_log_format_is_refused(void **state)
{
    (void)state;
    const char *args[] = {"--log-format", "xml", NULL};
    char out[300], err[300];
    snprintf(out, sizeof out, "%s/tests/logs/logformat-bad.out", BP_BUILD_DIR);
    snprintf(err, sizeof err, "%s/tests/logs/logformat-bad.err", BP_BUILD_DIR);
    assert_int_equal(tproc_run("batchproxy", args, out, err, 10), 2);
    assert_true(tfile_contains(err, "--log-format"));
    assert_int_equal(tproc_run("classifyd", args, out, err, 10), 2);
    assert_true(tfile_contains(err, "--log-format"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classifyd_json_lines),
        cmocka_unit_test(test_batchproxy_json_lines_resist_injection),
        cmocka_unit_test(test_bad_log_format_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
