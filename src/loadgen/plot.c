/* plot: empirical latency CDFs written as SVG (see plot.h). */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Geometry of one panel, in SVG user units (px). */
#define PANEL_W 560.0
#define PLOT_L 64.0 /* left margin: y tick labels and the y axis label */
#define PLOT_R 44.0 /* right margin: the p95/p99 marks */
#define PLOT_T 34.0 /* panel title */
#define PLOT_H 250.0
#define AXIS_B 44.0 /* x tick labels and the x axis label */
#define LEGEND_ROW 18.0
#define HEAD_H 58.0 /* document title and subtitle */

/* Distinct colours first; past them the same colours come back dashed. */
static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define NCOLOURS (sizeof colours / sizeof *colours)
static const char *const dashes[] = {"", "7 4", "2 3"};

static void xml_text(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&apos;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The series' finite values, sorted, in milliseconds. */
static double *sorted_ms(const plot_series *s, size_t *n)
{
    double *v = malloc((s->n ? s->n : 1) * sizeof *v);
    if (!v)
        return NULL;
    *n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (isfinite(s->values[i]))
            v[(*n)++] = s->values[i] * 1000;
    qsort(v, *n, sizeof *v, cmp_double);
    return v;
}

/* Nearest-rank percentile of ascending v[0..n), as report.c computes it. */
static double rank_pct(const double *v, size_t n, double p)
{
    size_t k = (size_t)ceil(p / 100 * (double)n);
    return v[k ? k - 1 : 0];
}

/* A latency in ms for labels: 3 significant digits, no exponent. */
static void fmt_ms(char *buf, size_t len, double ms)
{
    if (ms >= 100)
        snprintf(buf, len, "%.0f ms", ms);
    else if (ms >= 10)
        snprintf(buf, len, "%.1f ms", ms);
    else if (ms >= 1)
        snprintf(buf, len, "%.2f ms", ms);
    else
        snprintf(buf, len, "%.3f ms", ms);
}

/* A tick value in ms: 0.001 ... 100000, without trailing zeros. */
static void fmt_tick(char *buf, size_t len, double v)
{
    snprintf(buf, len, "%.3f", v);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *e = buf + strlen(buf) - 1;
        while (e > dot && *e == '0')
            *e-- = '\0';
        if (e == dot)
            *e = '\0';
    }
}

typedef struct axis {
    double lo, hi; /* ms, powers of ten */
} axis;

static double x_of(const axis *a, double ms, double x0)
{
    if (ms < a->lo)
        ms = a->lo;
    return x0 +
           (log10(ms) - log10(a->lo)) / (log10(a->hi) - log10(a->lo)) * (PANEL_W - PLOT_L - PLOT_R);
}

static double y_of(double frac, double y0)
{
    return y0 + PLOT_H - frac * PLOT_H;
}

/* The staircase of one sorted series as a polyline path, one vertex pair
 * per distinct horizontal position (at a tenth of a pixel), so a million
 * samples still draw in a few hundred points. */
static void cdf_path(FILE *out, const axis *a, const double *v, size_t n, double x0, double y0)
{
    fprintf(out, "M%.1f %.1f", x_of(a, v[0], x0), y_of(0, y0));
    for (size_t i = 0; i < n;) {
        double x = round(x_of(a, v[i], x0) * 10) / 10;
        size_t j = i;
        while (j < n && round(x_of(a, v[j], x0) * 10) / 10 == x)
            j++;
        fprintf(out, " L%.1f %.1f L%.1f %.1f", x, y_of((double)i / (double)n, y0), x,
                y_of((double)j / (double)n, y0));
        i = j;
    }
    fprintf(out, " L%.1f %.1f", x0 + PANEL_W - PLOT_L - PLOT_R, y_of(1, y0));
}

/* The panel's legend from y = ly down, one row per series: its line, its
 * name, and its count and quantiles. */
static void legend(FILE *out, const plot_panel *p, double *const *vals, const size_t *nvals,
                   double x0, double ly)
{
    for (size_t s = 0; s < p->nseries; s++) {
        double y = ly + (double)s * LEGEND_ROW;
        fprintf(out,
                "<g class=\"legend\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"%s\"",
                x0, y, x0 + 22, y, colours[s % NCOLOURS]);
        if (*dashes[s / NCOLOURS % 3])
            fprintf(out, " stroke-dasharray=\"%s\"", dashes[s / NCOLOURS % 3]);
        fprintf(out, "/><text x=\"%.1f\" y=\"%.1f\">", x0 + 28, y + 4);
        xml_text(out, p->series[s].name);
        if (nvals[s]) {
            char p50[32], p99[32];
            fmt_ms(p50, sizeof p50, rank_pct(vals[s], nvals[s], 50));
            fmt_ms(p99, sizeof p99, rank_pct(vals[s], nvals[s], 99));
            fprintf(out, "  (n = %zu, p50 %s, p99 %s)", nvals[s], p50, p99);
        } else {
            fputs("  (no successful requests)", out);
        }
        fputs("</text></g>\n", out);
    }
}

static void panel(FILE *out, const plot_panel *p, double *const *vals, const size_t *nvals,
                  const axis *a, double ox, double oy)
{
    double x0 = ox + PLOT_L, y0 = oy + PLOT_T, pw = PANEL_W - PLOT_L - PLOT_R;
    char buf[64];
    fputs("<g class=\"panel\">\n", out);
    fprintf(out, "<text class=\"ptitle\" x=\"%.1f\" y=\"%.1f\">", x0, oy + 20);
    xml_text(out, p->title);
    fputs("</text>\n", out);

    /* Grid and ticks: y every quarter, x every decade (2 and 5 between
     * them when the range is short enough to label them). */
    fputs("<g class=\"grid\">\n", out);
    for (int k = 0; k <= 4; k++) {
        double y = y_of(k / 4.0, y0);
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x0, y, x0 + pw,
                y);
    }
    double decades = log10(a->hi) - log10(a->lo);
    for (double d = a->lo; d <= a->hi * 1.0001; d *= 10)
        for (int m = 1; m <= 5; m += m == 1 ? 1 : 3) {
            double v = d * m;
            if (v > a->hi * 1.0001)
                break;
            double x = x_of(a, v, x0);
            fprintf(out, "<line%s x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                    m == 1 ? "" : " class=\"minor\"", x, y0, x, y0 + PLOT_H);
        }
    fputs("</g>\n<g class=\"marks\">\n", out);
    static const double marks[] = {0.95, 0.99};
    for (size_t k = 0; k < 2; k++) {
        double y = y_of(marks[k], y0);
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text x=\"%.1f\" y=\"%.1f\">p%.0f</text>\n",
                x0, y, x0 + pw, y, x0 + pw + 4, y + (k ? -1 : 8), marks[k] * 100);
    }
    fputs("</g>\n<g class=\"axis\">\n", out);
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x0, y0 + PLOT_H,
            x0 + pw, y0 + PLOT_H);
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", x0, y0, x0,
            y0 + PLOT_H);
    for (int k = 0; k <= 4; k++)
        fprintf(out, "<text class=\"yt\" x=\"%.1f\" y=\"%.1f\">%.2f</text>\n", x0 - 6,
                y_of(k / 4.0, y0) + 4, k / 4.0);
    for (double d = a->lo; d <= a->hi * 1.0001; d *= 10)
        for (int m = 1; m <= 5; m += m == 1 ? 1 : 3) {
            double v = d * m;
            if (v > a->hi * 1.0001 || (m != 1 && decades > 2))
                continue;
            fmt_tick(buf, sizeof buf, v);
            fprintf(out, "<text class=\"xt\" x=\"%.1f\" y=\"%.1f\">%s</text>\n", x_of(a, v, x0),
                    y0 + PLOT_H + 16, buf);
        }
    fprintf(out, "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">latency (ms, log scale)</text>\n",
            x0 + pw / 2, y0 + PLOT_H + 36);
    fprintf(out,
            "<text class=\"yl\" transform=\"rotate(-90)\" x=\"%.1f\" y=\"%.1f\">fraction of "
            "successful requests &#8804; x</text>\n",
            -(y0 + PLOT_H / 2), ox + 16);
    fputs("</g>\n", out);

    bool any = false;
    for (size_t s = 0; s < p->nseries; s++) {
        if (!nvals[s])
            continue;
        any = true;
        fprintf(out, "<path class=\"cdf\" data-series=\"");
        xml_text(out, p->series[s].name);
        /* Earlier series are drawn wider, so a later one lying exactly on
         * top of one (two policies that behave alike) still lets it show. */
        size_t above = p->nseries - 1 - s;
        fprintf(out, "\" stroke=\"%s\" stroke-width=\"%.1f\"", colours[s % NCOLOURS],
                1.6 + 0.8 * (double)(above < 3 ? above : 3));
        if (*dashes[s / NCOLOURS % 3])
            fprintf(out, " stroke-dasharray=\"%s\"", dashes[s / NCOLOURS % 3]);
        fputs(" d=\"", out);
        cdf_path(out, a, vals[s], nvals[s], x0, y0);
        fputs("\"/>\n", out);
    }
    if (!any)
        fprintf(out, "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\">no successful requests</text>\n",
                x0 + pw / 2, y0 + PLOT_H / 2);

    legend(out, p, vals, nvals, x0, y0 + PLOT_H + AXIS_B + 8);
    fputs("</g>\n", out);
}

/* Decades that hold every sample of every panel (1 ms to 1 s if none). */
static axis shared_axis(double *const *const *vals, const size_t *const *nvals,
                        const plot_panel *panels, size_t npanels)
{
    double lo = INFINITY, hi = 0;
    for (size_t p = 0; p < npanels; p++)
        for (size_t s = 0; s < panels[p].nseries; s++) {
            size_t n = nvals[p][s];
            for (size_t i = 0; i < n; i++)
                if (vals[p][s][i] > 0) {
                    lo = fmin(lo, vals[p][s][i]);
                    break;
                }
            if (n && vals[p][s][n - 1] > hi)
                hi = vals[p][s][n - 1];
        }
    if (!(hi > 0))
        return (axis){1, 1000};
    axis a = {pow(10, floor(log10(fmax(lo, 0.001)))), pow(10, ceil(log10(hi)))};
    if (a.hi <= a.lo * 1.0001)
        a.hi = a.lo * 10;
    return a;
}

bool plot_cdf_svg(FILE *out, const char *title, const char *subtitle, const plot_panel *panels,
                  size_t npanels)
{
    double ***vals = calloc(npanels ? npanels : 1, sizeof *vals);
    size_t **nvals = calloc(npanels ? npanels : 1, sizeof *nvals);
    bool ok = vals && nvals;
    size_t maxseries = 0;
    for (size_t p = 0; ok && p < npanels; p++) {
        size_t ns = panels[p].nseries;
        maxseries = ns > maxseries ? ns : maxseries;
        vals[p] = calloc(ns ? ns : 1, sizeof **vals);
        nvals[p] = calloc(ns ? ns : 1, sizeof **nvals);
        ok = vals[p] && nvals[p];
        for (size_t s = 0; ok && s < ns; s++)
            ok = (vals[p][s] = sorted_ms(&panels[p].series[s], &nvals[p][s])) != NULL;
    }
    if (ok) {
        axis a = shared_axis((double *const *const *)vals, (const size_t *const *)nvals, panels,
                             npanels);
        size_t cols = npanels < PLOT_COLUMNS ? (npanels ? npanels : 1) : PLOT_COLUMNS;
        size_t rows = (npanels + cols - 1) / cols;
        double panel_h = PLOT_T + PLOT_H + AXIS_B + 8 + (double)maxseries * LEGEND_ROW + 10;
        double w = (double)cols * PANEL_W + 20, h = HEAD_H + (double)rows * panel_h;
        fprintf(out,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, "
                "sans-serif\" font-size=\"12\">\n",
                w, h, w, h);
        fputs("<style>\n"
              ".grid line{stroke:#e3e6ea;stroke-width:1}.grid line.minor{stroke:#f0f2f4}\n"
              ".marks line{stroke:#b9c0c7;stroke-width:1;stroke-dasharray:3 3}"
              ".marks text{fill:#7a838c;font-size:10px}\n"
              ".axis line{stroke:#59626b;stroke-width:1}.axis text{fill:#3a434c}\n"
              ".yt{text-anchor:end}.xt,.xl,.empty{text-anchor:middle}.yl{text-anchor:middle}\n"
              ".cdf{fill:none;stroke-linejoin:round}\n"
              ".legend line{stroke-width:2.5}.legend text{fill:#1d2329}\n"
              ".title{font-size:17px;font-weight:bold}.subtitle{fill:#59626b}"
              ".ptitle{font-size:14px;font-weight:bold}.empty{fill:#8a949e;font-size:14px}\n"
              "</style>\n",
              out);
        fprintf(out, "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n");
        fprintf(out, "<title>");
        xml_text(out, title);
        fputs("</title>\n<text class=\"title\" x=\"20\" y=\"26\">", out);
        xml_text(out, title);
        fputs("</text>\n", out);
        if (subtitle) {
            fputs("<text class=\"subtitle\" x=\"20\" y=\"46\">", out);
            xml_text(out, subtitle);
            fputs("</text>\n", out);
        }
        for (size_t p = 0; p < npanels; p++)
            panel(out, &panels[p], vals[p], nvals[p], &a, 10 + (double)(p % cols) * PANEL_W,
                  HEAD_H + (double)(p / cols) * panel_h);
        fputs("</svg>\n", out);
    }
    for (size_t p = 0; vals && nvals && p < npanels; p++) {
        for (size_t s = 0; vals[p] && s < panels[p].nseries; s++)
            free(vals[p][s]);
        free(vals[p]);
        free(nvals[p]);
    }
    free(vals);
    free(nvals);
    return ok && !ferror(out);
}

bool plot_cdf_file(const char *path, const char *title, const char *subtitle,
                   const plot_panel *panels, size_t npanels, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "--plot %s: cannot create it: %s", path, strerror(errno));
        return false;
    }
    bool ok = plot_cdf_svg(f, title, subtitle, panels, npanels);
    if (fclose(f) != 0)
        ok = false;
    if (!ok)
        snprintf(err, errlen, "--plot %s: write failed", path);
    return ok;
}
