/* drv, the driver: sends a planned trace to an HTTP endpoint on a libevent loop, open-loop.
 *
 * Each request leaves at its planned time whether or not earlier ones were
 * answered, on a connection of its own; timers on the loop, never a
 * blocking sleep. Every request ends with an outcome in its wl_request:
 * the HTTP status, WL_STATUS_CONN when the connection failed or closed
 * without an answer, or WL_STATUS_TIMEOUT when no answer came within the
 * timeout. So the run ends at most `timeout` seconds after the last
 * planned send. */
#ifndef BP_DRV_H
#define BP_DRV_H

#include "addr.h"
#include "wl.h"

#include <stdbool.h>

typedef struct drv_config {
    addr_url url;
    double timeout; /* seconds per request */
    bool progress;  /* one-line progress display on stderr */
} drv_config;

/* Runs the trace; fills status, sent and latency of every request. Returns
 * false (with a message logged) only when the loop can't be set up. */
bool drv_run(const drv_config *cfg, wl_trace *trace, const wl_client *clients);

#endif
