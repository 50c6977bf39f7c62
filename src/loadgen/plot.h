/* plot: latency distributions (empirical CDFs) as standalone SVG files.
 *
 * Shared by loadgen (one series per client) and schedsim (one series per
 * policy, a panel per client). No libevent, no clock, no locale: the same
 * input always writes the same bytes.
 *
 * Every panel has the same axes so panels compare at a glance: x is the
 * latency in milliseconds on a log scale (decades from the smallest to the
 * largest sample; samples below the left edge, e.g. 0 for an answer from a
 * cache, are drawn at the edge), y the fraction of the series' samples at
 * or below x, 0 to 1. The legend gives each series' n, p50 and p99
 * (nearest-rank, as in the reports). */
#ifndef BP_PLOT_H
#define BP_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Panels are laid out in this many columns at most. */
#define PLOT_COLUMNS 2

typedef struct plot_series {
    const char *name;
    const double *values; /* latencies in seconds, any order; NaN are skipped */
    size_t n;
} plot_series;

typedef struct plot_panel {
    const char *title;
    const plot_series *series;
    size_t nseries;
} plot_panel;

/* Writes the SVG document: a title, an optional subtitle (NULL for none)
 * and the panels. Returns false when out of memory or a write failed. */
bool plot_cdf_svg(FILE *out, const char *title, const char *subtitle, const plot_panel *panels,
                  size_t npanels);

/* The same into a file; false with a message in err on failure. */
bool plot_cdf_file(const char *path, const char *title, const char *subtitle,
                   const plot_panel *panels, size_t npanels, char *err, size_t errlen);

#endif
