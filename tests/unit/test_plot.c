/* Tests for plot: well-formed SVG, legends, monotone CDF staircases, empty series, determinism. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Renders into a malloc'd string. */
static char *render(const char *title, const char *sub, const plot_panel *p, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_true(plot_cdf_svg(f, title, sub, p, n));
    assert_int_equal(fclose(f), 0);
    return buf;
}

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Parse-ish checks: one root element, closed at the end, balanced groups
 * and texts, no raw '<' or '&' in text content. */
static void assert_well_formed(const char *svg)
{
    assert_true(strncmp(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44) == 0);
    size_t n = strlen(svg);
    assert_true(n > 7 && strcmp(svg + n - 7, "</svg>\n") == 0);
    assert_int_equal(count(svg, "<svg"), 1);
    assert_int_equal(count(svg, "<g"), count(svg, "</g>"));
    assert_int_equal(count(svg, "<text"), count(svg, "</text>"));
    /* Every '&' starts an entity. */
    for (const char *p = strchr(svg, '&'); p; p = strchr(p + 1, '&'))
        assert_true(strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&lt;", 4) == 0 ||
                    strncmp(p, "&gt;", 4) == 0 || strncmp(p, "&quot;", 6) == 0 ||
                    strncmp(p, "&apos;", 6) == 0 || strncmp(p, "&#", 2) == 0);
    /* Between '>' and the next '<' there is never another '<' (tags nest). */
    int depth = 0;
    for (const char *p = svg; *p; p++) {
        if (*p == '<')
            depth++;
        else if (*p == '>')
            depth--;
        assert_true(depth == 0 || depth == 1);
    }
    assert_int_equal(depth, 0);
}

/* The d="..." of each CDF path: x never decreases, y (SVG: down) never
 * increases, and it ends at the top (fraction 1). Returns the paths seen. */
static size_t check_paths(const char *svg)
{
    size_t paths = 0;
    for (const char *p = strstr(svg, "<path class=\"cdf\""); p;
         p = strstr(p + 1, "<path class=\"cdf\"")) {
        const char *d = strstr(p, " d=\"");
        assert_non_null(d);
        d += 4;
        assert_true(*d == 'M');
        double px = -1, py = 1e9, first_y = -1, y = 0;
        int pts = 0;
        while (*d && *d != '"') {
            char cmd = *d++;
            assert_true(cmd == 'M' || cmd == 'L');
            char *end;
            double x = strtod(d, &end);
            y = strtod(end, &end);
            d = end;
            while (*d == ' ')
                d++;
            if (pts == 0)
                first_y = y;
            assert_true(x >= px - 1e-9);
            assert_true(y <= py + 1e-9);
            px = x;
            py = y;
            pts++;
        }
        assert_true(pts >= 3);
        assert_true(first_y > y); /* it rose from 0 to 1 */
        paths++;
    }
    return paths;
}

static void test_series_and_legend(void **state)
{
    double a[] = {0.010, 0.005, 0.020, 0.020, 0.300, NAN, 0.001};
    double b[200];
    for (int i = 0; i < 200; i++)
        b[i] = 0.050 + 0.001 * (i * 37 % 200);
    plot_series s[] = {{"alpha", a, 7}, {"beta<&>", b, 200}};
    plot_panel p = {"per client", s, 2};
    char *svg = render("loadgen: latency", "seed 1", &p, 1);
    assert_well_formed(svg);
    assert_int_equal(check_paths(svg), 2);
    /* Legend rows name the series (escaped) with their counts; NaN skipped. */
    assert_non_null(strstr(svg, ">alpha  (n = 6, p50 10.0 ms, p99 300 ms)"));
    assert_non_null(strstr(svg, ">beta&lt;&amp;&gt;  (n = 200,"));
    assert_non_null(strstr(svg, "latency (ms, log scale)"));
    assert_non_null(strstr(svg, "fraction of successful requests"));
    assert_non_null(strstr(svg, "<title>loadgen: latency</title>"));
    assert_non_null(strstr(svg, ">seed 1</text>"));
    /* Decade ticks from 1 ms (the smallest sample) to 1000 ms. */
    assert_non_null(strstr(svg, ">1</text>"));
    assert_non_null(strstr(svg, ">1000</text>"));
    assert_null(strstr(svg, ">0.1</text>"));
    free(svg);
}

static void test_empty_series_and_panels(void **state)
{
    double one[] = {0.25};
    plot_series s[] = {{"none", NULL, 0}, {"one", one, 1}};
    plot_panel p[] = {{"empty", s, 1}, {"mixed", s, 2}, {"nothing at all", NULL, 0}};
    char *svg = render("t", NULL, p, 3);
    assert_well_formed(svg);
    assert_int_equal(check_paths(svg), 1);
    assert_int_equal(count(svg, "(no successful requests)"), 2);
    assert_int_equal(count(svg, ">no successful requests</text>"), 2);
    assert_int_equal(count(svg, "class=\"panel\""), 3);
    free(svg);

    /* No panel with data at all still makes a valid document. */
    svg = render("t", NULL, p, 1);
    assert_well_formed(svg);
    assert_int_equal(check_paths(svg), 0);
    free(svg);
    svg = render("t", NULL, NULL, 0);
    assert_well_formed(svg);
    free(svg);
}

static void test_zero_and_large(void **state)
{
    /* 0 s (an answer from a cache) sits at the left edge; many samples
     * collapse to a bounded number of vertices. */
    size_t n = 100000;
    double *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = i % 10 == 0 ? 0 : (double)(i % 5000) / 1000.0;
    plot_series s = {"many", v, n};
    plot_panel p = {"p", &s, 1};
    char *svg = render("t", NULL, &p, 1);
    assert_well_formed(svg);
    assert_int_equal(check_paths(svg), 1);
    assert_true(strlen(svg) < 200000);
    free(svg);
    free(v);
}

static void test_deterministic(void **state)
{
    double a[] = {0.3, 0.1, 0.2};
    plot_series s[] = {{"x", a, 3}};
    plot_panel p = {"p", s, 1};
    char *one = render("t", "s", &p, 1), *two = render("t", "s", &p, 1);
    assert_string_equal(one, two);
    free(one);
    free(two);
}

static void test_file(void **state)
{
    char err[256];
    plot_panel p = {"p", NULL, 0};
    assert_false(plot_cdf_file("/nonexistent-dir/x.svg", "t", NULL, &p, 1, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent-dir/x.svg"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_and_legend),
        cmocka_unit_test(test_empty_series_and_panels),
        cmocka_unit_test(test_zero_and_large),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
