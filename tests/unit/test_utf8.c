/* Unit tests for utf8_length (code-point counting and strict validation),
 * utf8_next and utf8_printable. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "utf8.h"

#include <string.h>

/* Length of the NUL-terminated s, or (size_t)-1 if it is not valid UTF-8. */
static size_t len_of(const char *s)
{
    size_t n = 12345;
    if (!utf8_length(s, strlen(s), &n))
        return (size_t)-1;
    return n;
}

/* True if s[0..n) is rejected, and *len is left alone when it is. */
static bool rejected(const char *s, size_t n)
{
    size_t len = 777;
    bool ok = utf8_length(s, n, &len);
    assert_int_equal(len, 777);
    return !ok;
}

#define REJECTS(lit) assert_true(rejected(lit, sizeof(lit) - 1))

static void test_ascii(void **state)
{
    (void)state;
    assert_int_equal(len_of("a"), 1);
    assert_int_equal(len_of("hello world"), 11);
    assert_int_equal(len_of("def f(): pass"), 13);
    /* Every ASCII byte, controls included, is one code point. */
    char all[127];
    for (int i = 0; i < 127; i++)
        all[i] = (char)(i + 1);
    size_t n = 0;
    assert_true(utf8_length(all, sizeof all, &n));
    assert_int_equal(n, 127);
}

static void test_empty(void **state)
{
    (void)state;
    size_t n = 99;
    assert_true(utf8_length("", 0, &n));
    assert_int_equal(n, 0);
    /* A zero length means nothing is read, whatever the pointer holds. */
    assert_true(utf8_length("\xff", 0, &n));
    assert_int_equal(n, 0);
}

static void test_multibyte(void **state)
{
    (void)state;
    assert_int_equal(len_of("\xc3\xa9"), 1);         /* é U+00E9, 2 bytes */
    assert_int_equal(len_of("\xe2\x82\xac"), 1);     /* € U+20AC, 3 bytes */
    assert_int_equal(len_of("\xf0\x9f\x98\x80"), 1); /* 😀 U+1F600, 4 bytes */
    assert_int_equal(len_of("é"), 1);
    assert_int_equal(len_of("€"), 1);
    assert_int_equal(len_of("😀"), 1);
    /* The edges of each width. */
    assert_int_equal(len_of("\xc2\x80"), 1);         /* U+0080 */
    assert_int_equal(len_of("\xdf\xbf"), 1);         /* U+07FF */
    assert_int_equal(len_of("\xe0\xa0\x80"), 1);     /* U+0800 */
    assert_int_equal(len_of("\xed\x9f\xbf"), 1);     /* U+D7FF, just below the surrogates */
    assert_int_equal(len_of("\xee\x80\x80"), 1);     /* U+E000, just above them */
    assert_int_equal(len_of("\xef\xbf\xbf"), 1);     /* U+FFFF */
    assert_int_equal(len_of("\xf0\x90\x80\x80"), 1); /* U+10000 */
    assert_int_equal(len_of("\xf4\x8f\xbf\xbf"), 1); /* U+10FFFF, the last code point */
}

static void test_mixed(void **state)
{
    (void)state;
    assert_int_equal(len_of("café"), 4);
    assert_int_equal(len_of("5 €"), 3);
    assert_int_equal(len_of("hi 😀!"), 5);
    assert_int_equal(len_of("aé€😀z"), 5);
    assert_int_equal(len_of("日本語のテキスト"), 8);
    /* 20 "é" are 40 bytes but 20 code points. */
    char buf[64] = "";
    for (int i = 0; i < 20; i++)
        strcat(buf, "é");
    assert_int_equal(strlen(buf), 40);
    assert_int_equal(len_of(buf), 20);
}

static void test_embedded_nul(void **state)
{
    (void)state;
    size_t n = 0;
    assert_true(utf8_length("a\0b", 3, &n));
    assert_int_equal(n, 3);
    assert_true(utf8_length("\0", 1, &n));
    assert_int_equal(n, 1);
    assert_true(utf8_length("\xc3\xa9\0\xe2\x82\xac", 6, &n));
    assert_int_equal(n, 3);
    /* Validation continues past a NUL. */
    assert_false(utf8_length("a\0\xff", 3, &n));
}

static void test_len_may_be_null(void **state)
{
    (void)state;
    assert_true(utf8_length("abc\xc3\xa9", 5, NULL));
    assert_false(utf8_length("\xc3", 1, NULL));
}

static void test_lone_continuation(void **state)
{
    (void)state;
    REJECTS("\x80");
    REJECTS("\xbf");
    REJECTS("a\x80");
    REJECTS("\xc3\xa9\xa9"); /* one continuation too many */
}

static void test_truncated(void **state)
{
    (void)state;
    REJECTS("\xc3");
    REJECTS("\xe2\x82");
    REJECTS("\xe2");
    REJECTS("\xf0\x9f\x98");
    REJECTS("\xf0\x9f");
    REJECTS("\xf0");
    /* Truncated in the middle: the next byte is not a continuation. */
    REJECTS("\xc3"
            "a");
    REJECTS("\xe2\x82"
            "a");
    REJECTS("\xe2"
            "a"
            "\xac");
    REJECTS("\xf0\x9f\x98"
            "a");
    REJECTS("\xf0\x9f"
            "ab");
    /* A truncated sequence whose missing bytes lie beyond n, even if the
     * buffer goes on with valid bytes. */
    assert_true(rejected("\xe2\x82\xac", 2));
    assert_true(rejected("\xf0\x9f\x98\x80", 3));
}

static void test_overlong(void **state)
{
    (void)state;
    REJECTS("\xc0\x80");         /* NUL in two bytes */
    REJECTS("\xc0\xaf");         /* '/' in two bytes */
    REJECTS("\xc1\xbf");         /* U+007F in two bytes */
    REJECTS("\xe0\x80\x80");     /* NUL in three bytes */
    REJECTS("\xe0\x9f\xbf");     /* U+07FF in three bytes */
    REJECTS("\xf0\x80\x80\x80"); /* NUL in four bytes */
    REJECTS("\xf0\x8f\xbf\xbf"); /* U+FFFF in four bytes */
}

static void test_surrogates(void **state)
{
    (void)state;
    REJECTS("\xed\xa0\x80"); /* U+D800 */
    REJECTS("\xed\xaf\xbf"); /* U+DBFF */
    REJECTS("\xed\xb0\x80"); /* U+DC00 */
    REJECTS("\xed\xbf\xbf"); /* U+DFFF */
    /* A CESU-8 style surrogate pair for U+1F600. */
    REJECTS("\xed\xa0\xbd\xed\xb8\x80");
}

static void test_above_max(void **state)
{
    (void)state;
    REJECTS("\xf4\x90\x80\x80"); /* U+110000 */
    REJECTS("\xf4\xbf\xbf\xbf");
    REJECTS("\xf5\x80\x80\x80");
    REJECTS("\xf7\xbf\xbf\xbf");
    REJECTS("\xf8\x88\x80\x80\x80"); /* old 5-byte form */
    REJECTS("\xfc\x84\x80\x80\x80\x80");
}

static void test_bad_lead_bytes(void **state)
{
    (void)state;
    for (int b = 0xf5; b <= 0xff; b++) {
        char s[4] = {(char)b, '\x80', '\x80', '\x80'};
        assert_true(rejected(s, 1));
        assert_true(rejected(s, 4));
    }
    REJECTS("\xfe");
    REJECTS("\xff");
    REJECTS("abc\xff"
            "def");
}

static void test_bad_continuations(void **state)
{
    (void)state;
    /* The third or fourth byte, not only the second, must be 10xxxxxx. */
    REJECTS("\xe2\x82\xc3");
    REJECTS("\xf0\x9f\x98\xc3");
    REJECTS("\xf0\x9f\xc3\x80");
    REJECTS("\xe2\xc3\xa9");
}

/* utf8_next decodes what utf8_length counts, one code point at a time, and
 * refuses what it refuses without moving. */
static void test_next_decodes(void **state)
{
    (void)state;
    const char s[] = "a\0\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf";
    const uint32_t want[] = {'a', 0, 0xE9, 0x20AC, 0x1F600, 0x10FFFF};
    size_t n = sizeof s - 1, i = 0, k = 0;
    uint32_t cp;
    while (i < n) {
        assert_true(utf8_next(s, n, &i, &cp));
        assert_true(k < sizeof want / sizeof *want);
        assert_int_equal(cp, want[k++]);
    }
    assert_int_equal(k, sizeof want / sizeof *want);
    static const char *const bad[] = {"\x80", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                      "\xe2\x82"};
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        i = 0;
        assert_false(utf8_next(bad[b], strlen(bad[b]), &i, &cp));
        assert_int_equal(i, 0);
    }
}

/* utf8_printable keeps printable characters whole, turns controls and
 * each invalid byte into '?', reads exactly n bytes (not up to a NUL) and
 * never cuts a character to fit. */
static void test_printable(void **state)
{
    (void)state;
    char out[64];
    const char in[] = "ok \xc3\xa9\x01\x1b[1m\x7f\xc2\x85\xe2\x80\xae\0z\xff\xfe\xe2\x82";
    size_t n = utf8_printable(out, sizeof out, in, sizeof in - 1);
    assert_string_equal(out, "ok \xc3\xa9??[1m????z????");
    assert_int_equal(n, strlen(out));

    /* Only n bytes are read: what follows them is never looked at. */
    const char body[4] = {'a', 'b', 'c', 'd'};
    assert_int_equal(utf8_printable(out, sizeof out, body, 2), 2);
    assert_string_equal(out, "ab");

    /* 4 bytes of room: "x" and one é fit, the next é (2 bytes) doesn't. */
    assert_int_equal(utf8_printable(out, 5, "x\xc3\xa9\xc3\xa9", 5), 3);
    assert_string_equal(out, "x\xc3\xa9");
    assert_int_equal(utf8_printable(out, 1, "abc", 3), 0);
    assert_string_equal(out, "");

    /* In place. */
    char s[] = "a\x02\xc3\xa9\xff";
    assert_int_equal(utf8_printable(s, sizeof s, s, strlen(s)), 5);
    assert_string_equal(s, "a?\xc3\xa9?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_decodes),    cmocka_unit_test(test_ascii),
        cmocka_unit_test(test_empty),           cmocka_unit_test(test_multibyte),
        cmocka_unit_test(test_mixed),           cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_len_may_be_null), cmocka_unit_test(test_lone_continuation),
        cmocka_unit_test(test_truncated),       cmocka_unit_test(test_overlong),
        cmocka_unit_test(test_surrogates),      cmocka_unit_test(test_above_max),
        cmocka_unit_test(test_bad_lead_bytes),  cmocka_unit_test(test_bad_continuations),
        cmocka_unit_test(test_printable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
