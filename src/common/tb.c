/* tb: a token bucket with time passed in (see tb.h). */
#include "tb.h"

static void refill(tb *b, double now)
{
    if (now > b->last) {
        b->tokens += (now - b->last) * b->rate;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last = now;
    }
}

void tb_init(tb *b, double rate, double burst, double now)
{
    b->rate = rate;
    b->burst = burst < 1 ? 1 : burst;
    b->tokens = b->burst;
    b->last = now;
}

void tb_configure(tb *b, double rate, double burst, double now)
{
    refill(b, now);
    b->rate = rate;
    b->burst = burst < 1 ? 1 : burst;
    if (b->tokens > b->burst)
        b->tokens = b->burst;
}

bool tb_take(tb *b, double now, double *retry_after)
{
    if (b->rate <= 0)
        return true;
    refill(b, now);
    /* The epsilon absorbs rounding: 0.1 s at 10/s must make one token. */
    if (b->tokens >= 1 - 1e-9) {
        b->tokens -= 1;
        return true;
    }
    *retry_after = (1 - b->tokens) / b->rate;
    return false;
}

bool tb_take_both(tb *own, tb *shared, double now, double *retry_after, const tb **refused_by)
{
    if (!tb_take(own, now, retry_after)) {
        *refused_by = own;
        return false;
    }
    if (shared && !tb_take(shared, now, retry_after)) {
        if (own->rate > 0) /* the token back: nothing was sent */
            own->tokens = own->tokens + 1 > own->burst ? own->burst : own->tokens + 1;
        *refused_by = shared;
        return false;
    }
    return true;
}
