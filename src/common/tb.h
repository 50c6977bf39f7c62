/* tb: a token bucket (rate limiting), with time passed in.
 *
 * The bucket holds up to `burst` tokens and refills at `rate` tokens per
 * second; each admitted request takes one. A rate of 0 means unlimited. */
#ifndef BP_TB_H
#define BP_TB_H

#include <stdbool.h>

typedef struct tb {
    double rate, burst;
    double tokens;
    double last; /* when tokens was last brought up to date */
} tb;

/* A full bucket at time now. */
void tb_init(tb *b, double rate, double burst, double now);

/* Changes rate and burst, keeping the tokens earned so far (capped). */
void tb_configure(tb *b, double rate, double burst, double now);

/* Takes one token at time now. Returns true if there was one; otherwise
 * false and *retry_after = seconds until one will be there. */
bool tb_take(tb *b, double now, double *retry_after);

/* Takes one token from each of `own` and `shared` (NULL: none) at time
 * now, or from neither: a request held both to its own rate and to a rate
 * it shares with others. Returns true if both had one; otherwise false,
 * *retry_after for the bucket that refused and *refused_by that bucket. */
bool tb_take_both(tb *own, tb *shared, double now, double *retry_after, const tb **refused_by);

#endif
