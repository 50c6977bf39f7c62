/* tcheck: tproc helpers that fail the running cmocka test when what they
 * expect does not happen: starting a server, running loadgen for its JSON
 * report, summing /metrics series, waiting for a batch to be in flight,
 * checking an error answer. Header-only (static functions) because every
 * tests/proc/test_*.c is its own program. */
#ifndef BP_TCHECK_H
#define BP_TCHECK_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tproc.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Starts prog with args; fails the test if it does not come up. */
static inline void tcheck_start(tproc *p, const char *prog, const char *const *args)
{
    if (!tproc_start(p, prog, args))
        fail_msg("%s did not start", prog);
}

/* The sum of every series of `name` whose labels contain `label` (or all
 * when label is NULL) in batchproxy's /metrics. */
static inline double tcheck_metric_sum(int port, const char *name, const char *label)
{
    thttp_resp r;
    assert_true(thttp_request(port, "GET", "/metrics", NULL, NULL, &r, 5));
    assert_int_equal(r.status, 200);
    double v = 0;
    size_t n = strlen(name);
    for (char *line = r.body; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, name, n) != 0 || (line[n] != '{' && line[n] != ' '))
            continue;
        char *end = strchr(line, '\n');
        char *sp = line;
        for (char *q = line; q < (end ? end : line + strlen(line)); q++)
            if (*q == ' ')
                sp = q;
        if (label) {
            char *hit = strstr(line, label);
            if (!hit || (end && hit > end))
                continue;
        }
        v += strtod(sp + 1, NULL);
    }
    thttp_resp_free(&r);
    return v;
}

/* Waits (up to 10 s) until batchproxy on `port` has a batch in flight at a
 * backend and nothing queued: a request sent before is no longer waiting
 * in the queue. Needs --metrics-cache-ms 0 (fresh values). */
static inline bool tcheck_batch_in_flight(void *port)
{
    int p = *(const int *)port;
    return thttp_metric(p, "batchproxy_inflight_requests") >= 1 &&
           thttp_metric(p, "batchproxy_queue_depth") == 0;
}

static inline void tcheck_await_batch_in_flight(int port)
{
    if (!tproc_wait_for(tcheck_batch_in_flight, &port, 10))
        fail_msg("no batch in flight with nothing queued within 10 s");
}

/* Runs loadgen with args (plus --json) and returns its report, or fails.
 * It may run at most `limit` seconds. */
static inline json_t *tcheck_loadgen(const char *tag, const char *const *args, double limit)
{
    char out[300], err[300];
    mkdir(BP_BUILD_DIR "/tests/logs", 0755);
    snprintf(out, sizeof out, "%s/tests/logs/chaos-%s-%d.json", BP_BUILD_DIR, tag, (int)getpid());
    snprintf(err, sizeof err, "%s/tests/logs/chaos-%s-%d.err", BP_BUILD_DIR, tag, (int)getpid());
    const char *argv[64];
    int n = 0;
    for (; *args && n < 62; args++)
        argv[n++] = *args;
    argv[n++] = "--json";
    argv[n] = NULL;
    int rc = tproc_run("loadgen", argv, out, err, limit);
    if (rc != 0)
        fail_msg("loadgen (%s) failed or ran longer than %.0f s (exit %d); see %s", tag, limit, rc,
                 err);
    json_error_t je;
    json_t *j = json_load_file(out, 0, &je);
    if (!j)
        fail_msg("loadgen (%s) printed no JSON: %s", tag, je.text);
    return j;
}

static inline long tcheck_jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("no integer '%s' in the loadgen report", key);
    return (long)json_integer_value(v);
}

/* Checks an error answer: a 5xx with a JSON {"detail": "..."}. */
static inline void tcheck_5xx_detail(const thttp_resp *r)
{
    if (r->status < 500 || r->status > 599)
        fail_msg("error status %d is not a 5xx: %s", r->status, r->body);
    json_t *j = json_loads(r->body, 0, NULL);
    const char *d = j ? json_string_value(json_object_get(j, "detail")) : NULL;
    if (!d || !*d)
        fail_msg("error %d without a detail: %s", r->status, r->body);
    json_decref(j);
}

#endif
