/* outcome: what the dispatcher does with the outcome of one batch attempt
 * (an answer, or why none came): hand out the labels, retry the batch (on
 * another free backend at once, on the pending list for the next backend
 * to free up, or on the same backend after a backoff), or fail every
 * member with a status and a detail; whether the attempt counts towards
 * ejecting the backend (health.h); and the attempt's kind for the metrics.
 *
 * Pure, as health.h is: no clock, no I/O, no randomness; the caller passes
 * `now`, the facts about the pool and a uniform draw for the jitter, then
 * carries the decision out (disp.c).
 *
 * The rules:
 * - a 200 whose body the codec reads into one result per member resolves
 *   the batch and resets the backend's failure count;
 * - any other 4xx than 429 means the backend refuses this input: sending it
 *   again would get the same answer, and it says nothing about the
 *   backend's health, so it is uncounted, and a lone member fails (502) at
 *   once; a batch of several is split, each member sent again alone: the
 *   text refused may be one member's (too long or empty for the model,
 *   perhaps sent by one client to fail the others'), and the others must
 *   not fail with it; but
 *   a status the protocol uses for the model's own failure (tei's 424,
 *   codec_backend_fault) counts as a 5xx does;
 * - every other failure counts towards ejection; once `retries` retries
 *   are spent (attempt > retries) the members fail (502, the detail names
 *   the attempts and the last failure); else the batch is retried: on
 *   another free backend at once if there is one, else on the pending list
 *   if this backend may not take it (ejected by this failure, or leaving),
 *   else on this backend after a delay drawn uniformly in
 *   [0, min(cap, base × 2^(attempt-1))] (full jitter);
 * - kinds: 200 unparsable, and an answer the transport refused as
 *   malformed, too large or followed by unexpected bytes, are bad answers;
 *   429 busy; 5xx server errors; other statuses rejections; no answer at
 *   all (refused, reset, closed, timed out) is no answer. */
#ifndef BP_OUTCOME_H
#define BP_OUTCOME_H

#include "codec.h"
#include "health.h"
#include "metrics.h"
#include "sched.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>

#define OUTCOME_BODY_MAX 120 /* bytes of a backend's 4xx body quoted in a detail */

enum outcome_action {
    OUTCOME_RESOLVE,       /* hand the results out */
    OUTCOME_FAIL,          /* every member fails with status and detail */
    OUTCOME_RETRY_OTHER,   /* at once, on the fastest other free backend */
    OUTCOME_RETRY_PENDING, /* the next backend to free up takes it */
    OUTCOME_RETRY_LATER,   /* on the same backend after `delay` (kept reserved meanwhile) */
    OUTCOME_SPLIT,         /* each member again, alone, on the pending list */
};

typedef struct outcome_in {
    /* The attempt's outcome, as upstream_cb gives it. */
    int status; /* 0: no complete, clean answer */
    const char *body;
    size_t len;
    const char *error;  /* why, when status is 0 */
    const codec *codec; /* the backend's protocol: reads the answer */
    /* The batch. */
    size_t n;    /* its members: the results expected */
    int attempt; /* attempts made, this one included (from 1) */
    int retries; /* retries allowed after the first attempt */
    /* The backend and the pool. */
    const char *name;     /* the backend's "HOST:PORT/PATH", for details */
    const char *hostport; /* its "HOST:PORT" */
    health ejection;      /* its ejection state before this outcome */
    bool leaving;         /* removed from the pool, finishing its batch */
    bool others_usable;   /* another backend may be given batches (may this one be ejected) */
    bool other_free;      /* another usable backend is free now */
    double now;
    double backoff_base, backoff_cap; /* seconds */
    double jitter;                    /* a uniform draw in [0, 1) */
} outcome_in;

typedef struct outcome {
    enum outcome_action action;
    enum metrics_attempt kind;
    result *results[SCHED_MAX_BATCH]; /* OUTCOME_RESOLVE: one per member, the
                                         caller's references */
    char why[200];                    /* a failure: what went wrong */
    int status;                       /* OUTCOME_FAIL: every member's answer... */
    char detail[320];                 /* ...and its detail */
    health ejection;                  /* the backend's ejection state after */
    bool ejected;                     /* this failure ejected the backend */
    double delay;                     /* OUTCOME_RETRY_LATER: seconds */
} outcome;

void outcome_decide(const outcome_in *in, outcome *out);

#endif
