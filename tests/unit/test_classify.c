/* Tests for classify_text: accuracy on the labelled sample set, determinism and edge cases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "classify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BP_SOURCE_DIR
#error "BP_SOURCE_DIR must be defined as the repository root (a string)"
#endif

#define SAMPLES_PATH BP_SOURCE_DIR "/tests/data/classifier_samples.tsv"

static const char *label_text(enum wire_label label)
{
    return label == WIRE_CODE ? "code" : "not code";
}

static bool is_valid_label(enum wire_label label)
{
    return label == WIRE_CODE || label == WIRE_NOT_CODE;
}

static enum wire_label classify_cstr(const char *s)
{
    return classify_text(s, strlen(s));
}

/* Decodes \n, \t and \\ in place; returns the decoded length. Any other
 * backslash sequence is kept as written. */
static size_t decode_escapes(char *s, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            char e = s[i + 1];
            if (e == 'n' || e == 't' || e == '\\') {
                s[out++] = e == 'n' ? '\n' : e == 't' ? '\t' : '\\';
                i++;
                continue;
            }
        }
        s[out++] = s[i];
    }
    return out;
}

static void test_sample_set_accuracy(void **state)
{
    (void)state;
    FILE *f = fopen(SAMPLES_PATH, "r");
    if (!f)
        fail_msg("cannot open %s", SAMPLES_PATH);

    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    size_t lineno = 0, total = 0, correct = 0, n_code = 0, n_prose = 0;

    while ((got = getline(&line, &cap, f)) != -1) {
        lineno++;
        size_t len = (size_t)got;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0 || line[0] == '#')
            continue;

        char *tab = memchr(line, '\t', len);
        if (!tab)
            fail_msg("%s:%zu: no TAB between label and text", SAMPLES_PATH, lineno);
        size_t label_len = (size_t)(tab - line);
        enum wire_label want = WIRE_NOT_CODE;
        if (label_len == 4 && memcmp(line, "code", 4) == 0)
            want = WIRE_CODE;
        else if (label_len == 8 && memcmp(line, "not code", 8) == 0)
            want = WIRE_NOT_CODE;
        else
            fail_msg("%s:%zu: label must be \"code\" or \"not code\"", SAMPLES_PATH, lineno);

        char *text = tab + 1;
        size_t text_len = decode_escapes(text, len - label_len - 1);
        enum wire_label got_label = classify_text(text, text_len);

        total++;
        if (want == WIRE_CODE)
            n_code++;
        else
            n_prose++;
        if (got_label == want) {
            correct++;
        } else {
            printf("  misclassified (line %zu): want %-8s got %-8s | %.*s\n", lineno,
                   label_text(want), label_text(got_label), (int)(len - label_len - 1), tab + 1);
        }
    }
    free(line);
    fclose(f);

    double accuracy = total ? 100.0 * (double)correct / (double)total : 0.0;
    printf("  classifier accuracy: %zu/%zu = %.1f%% (%zu code, %zu not code)\n", correct, total,
           accuracy, n_code, n_prose);

    assert_true(total >= 200);
    assert_true(n_code >= 80);
    assert_true(n_prose >= 80);
    assert_true(correct * 10 >= total * 9);
}

static void test_named_cases(void **state)
{
    (void)state;
    assert_int_equal(classify_cstr("def f(): pass"), WIRE_CODE);
    assert_int_equal(classify_cstr("hello there"), WIRE_NOT_CODE);
    assert_int_equal(classify_cstr("int main(void) { return 0; }"), WIRE_CODE);
    assert_int_equal(classify_cstr("The weather is lovely today."), WIRE_NOT_CODE);
}

static void test_deterministic(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "def f(): pass",
        "hello there",
        "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}",
        "Please select the best option from the list.",
        "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t n = strlen(texts[i]);
        enum wire_label first = classify_text(texts[i], n);
        assert_int_equal(classify_text(texts[i], n), first);

        char *copy = malloc(n + 1);
        assert_non_null(copy);
        memcpy(copy, texts[i], n + 1);
        assert_int_equal(classify_text(copy, n), first);
        free(copy);
    }
}

static void test_edge_cases(void **state)
{
    (void)state;
    assert_true(is_valid_label(classify_text("", 0)));
    assert_true(is_valid_label(classify_text(NULL, 0)));

    static const char with_nuls[] = "x = 1;\0\0int y;\0hello";
    assert_true(is_valid_label(classify_text(with_nuls, sizeof with_nuls - 1)));
    static const char only_nuls[16] = {0};
    assert_true(is_valid_label(classify_text(only_nuls, sizeof only_nuls)));

    assert_true(is_valid_label(classify_cstr("h\xc3\xa9llo w\xc3\xb6rld")));
    assert_true(is_valid_label(classify_cstr("\xf0\x9f\x98\x80\xf0\x9f\x8e\x89 party time")));
    assert_true(is_valid_label(classify_cstr("\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c")));

    size_t big = 1024 * 1024;
    char *buf = malloc(big);
    assert_non_null(buf);
    memset(buf, 'a', big);
    assert_true(is_valid_label(classify_text(buf, big)));
    memset(buf, ' ', big);
    assert_true(is_valid_label(classify_text(buf, big)));
    for (size_t i = 0; i < big; i++)
        buf[i] = "{(;= \n\t$#'\"\\-/.a_Z"[i % 19];
    assert_true(is_valid_label(classify_text(buf, big)));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_set_accuracy),
        cmocka_unit_test(test_named_cases),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_edge_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
