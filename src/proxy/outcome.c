/* outcome: the dispatcher's decision on one batch attempt (see outcome.h). */
#include "outcome.h"

#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The transport's reasons (hclient.c) for an answer that came but can't be
 * used: the backend spoke, wrongly. Its other reasons (refused, reset,
 * closed, timed out, out of memory) mean no answer. */
static const char *const bad_answer_marks[] = {
    "malformed",                         /* a head, a chunk, a 101, too many 1xx */
    "answer head larger than",           /* over HCLIENT_MAX_HEAD */
    "answer too large",                  /* over the answer bound, however framed */
    "unexpected bytes after the answer", /* more than was asked: not trusted */
};

static bool transport_bad_answer(const char *error)
{
    for (size_t i = 0; i < sizeof bad_answer_marks / sizeof *bad_answer_marks; i++)
        if (error && strstr(error, bad_answer_marks[i]))
            return true;
    return false;
}

/* The kind of a failed attempt, and what went wrong in words. parse_error
 * is the parser's message for a 200 that didn't parse. */
static enum metrics_attempt classify(const outcome_in *in, const char *parse_error, char *why,
                                     size_t len)
{
    if (in->status == 200) {
        /* jansson's message may quote the answer's bytes (controls too). */
        utf8_printable(why, len, parse_error, strlen(parse_error));
        return ATTEMPT_BAD_ANSWER;
    }
    if (in->status == 429) {
        snprintf(why, len, "backend %s answered 429 (busy)", in->hostport);
        return ATTEMPT_BUSY;
    }
    if (in->status >= 500 || codec_backend_fault(in->codec, in->status)) {
        /* The protocol's error message, when the body is one (oip, tei,
         * json), says what failed. */
        char msg[OUTCOME_BODY_MAX + 1];
        if (codec_error_text(in->codec, in->body, in->len, msg, sizeof msg))
            snprintf(why, len, "backend %s answered %d: %s", in->hostport, in->status, msg);
        else
            snprintf(why, len, "backend %s answered %d", in->hostport, in->status);
        return ATTEMPT_SERVER_ERROR;
    }
    if (in->status > 0) {
        /* The body is the backend's bytes, not a C string: at most
         * OUTCOME_BODY_MAX of them, printable, reach the client and the log. */
        int k = snprintf(why, len, "backend rejected the batch with %d: ", in->status);
        size_t room = len - (size_t)k;
        codec_error_text(in->codec, in->body, in->len, why + k,
                         room < OUTCOME_BODY_MAX + 1 ? room : OUTCOME_BODY_MAX + 1);
        return ATTEMPT_REJECTED;
    }
    snprintf(why, len, "backend %s: %s", in->name, in->error ? in->error : "no answer");
    return transport_bad_answer(in->error) ? ATTEMPT_BAD_ANSWER : ATTEMPT_NO_ANSWER;
}

/* Where a failed attempt that may be retried goes next. */
static void retry(const outcome_in *in, outcome *out)
{
    if (in->other_free) {
        out->action = OUTCOME_RETRY_OTHER;
    } else if (in->leaving || !health_usable(&out->ejection)) {
        out->action = OUTCOME_RETRY_PENDING;
    } else {
        /* The backend stays reserved for this batch meanwhile (a 429 says
         * it is still busy: new work would meet the same). */
        double ceiling = fmin(in->backoff_cap, in->backoff_base * pow(2, in->attempt - 1));
        out->action = OUTCOME_RETRY_LATER;
        out->delay = ceiling * in->jitter;
    }
}

void outcome_decide(const outcome_in *in, outcome *out)
{
    char parse_error[200] = "";
    *out = (outcome){.ejection = in->ejection};
    if (in->status == 200 && codec_parse(in->codec, in->body, in->len, in->n, out->results,
                                         parse_error, sizeof parse_error)) {
        out->action = OUTCOME_RESOLVE;
        out->kind = ATTEMPT_OK;
        health_success(&out->ejection);
        return;
    }
    out->kind = classify(in, parse_error, out->why, sizeof out->why);
    if (out->kind != ATTEMPT_REJECTED)
        out->ejected = health_failure(&out->ejection, in->now, in->others_usable);
    if (out->kind == ATTEMPT_REJECTED && in->n > 1) {
        out->action = OUTCOME_SPLIT;
        return;
    }
    if (out->kind == ATTEMPT_REJECTED || in->attempt > in->retries) {
        out->action = OUTCOME_FAIL;
        out->status = 502;
        snprintf(out->detail, sizeof out->detail, "backend failed after %d attempt%s: %s",
                 in->attempt, in->attempt == 1 ? "" : "s", out->why);
        return;
    }
    retry(in, out);
}
