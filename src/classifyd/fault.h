/* fault: deliberate, reproducible misbehaviour of classifyd for chaos tests.
 *
 * Each request classifyd accepts (one that takes the server's one-at-a-time
 * slot) draws one decision from a seeded PRNG, so the same --fault-seed and
 * the same sequence of accepted requests give the same faults. What a fault
 * does, always once the modelled cost c * L^2 has elapsed:
 *
 *   fail     answer the protocol's model failure (500, or tei's 424) with
 *            "injected fault" in its error shape
 *   drop     close the connection without answering
 *   hang     never answer; the server is free again after the modelled cost
 *            (like a handler that lost its request), and the connection is
 *            closed only when the client hangs up or the server exits
 *   slow     answer correctly, but after slow_factor times the modelled cost
 *   garbage  answer 200 with a body a strict client must reject: truncated
 *            JSON, not JSON, the wrong number of results, an unknown label or
 *            the wrong shape, in the protocol's answer where one is built
 *
 * The decision is pure (fault_decide); fault_hold_request keeps a hung one. */
#ifndef BP_FAULT_H
#define BP_FAULT_H

#include "httpd.h"
#include "protocol.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fault_kind { FAULT_NONE, FAULT_FAIL, FAULT_DROP, FAULT_HANG, FAULT_SLOW, FAULT_GARBAGE };

typedef struct fault_config {
    double fail_rate, drop_rate, hang_rate, slow_rate, garbage_rate; /* each in [0, 1] */
    double slow_factor; /* slow answers take this many times the modelled cost */
    uint64_t seed;
} fault_config;

typedef struct fault_state {
    fault_config cfg;
    uint64_t rng;
} fault_state;

/* Checks that the rates add up to at most 1; writes why not into err. */
bool fault_config_valid(const fault_config *cfg, char *err, size_t errlen);

/* True if any fault can happen. */
bool fault_enabled(const fault_config *cfg);

void fault_init(fault_state *s, const fault_config *cfg);

/* The fate of the next accepted request: one uniform draw, the rates taken
 * in the order fail, drop, hang, slow, garbage. */
enum fault_kind fault_decide(fault_state *s);

/* "none", "fail", "drop", "hang", "slow", "garbage". */
const char *fault_name(enum fault_kind kind);

/* Builds the server's answer to n texts labelled labels[0..n), right or
 * wrong in the given way, in the protocol it speaks (protocol.h). */
typedef char *(*fault_answer_fn)(const void *ctx, const enum wire_label *labels, size_t n,
                                 enum proto_shape shape);

/* A malformed answer to a request of n sequences whose true labels are
 * labels[0..n), in the shape answer builds: malloc'd NUL-terminated text,
 * or NULL when out of memory. Which kind of garbage comes from the same
 * PRNG. answer may be called with n + 1 labels (at most 6). */
char *fault_garbage(fault_state *s, fault_answer_fn answer, const void *ctx,
                    const enum wire_label *labels, size_t n);

/* Holds a hung request unanswered: the server closes its connection when
 * the client hangs up or half-closes, and at exit (httpd_free). */
void fault_hold_request(httpd_req *req);

#endif
