/* fault: classifyd's injected faults (see fault.h). */
#include "fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool fault_config_valid(const fault_config *cfg, char *err, size_t errlen)
{
    double sum =
        cfg->fail_rate + cfg->drop_rate + cfg->hang_rate + cfg->slow_rate + cfg->garbage_rate;
    if (sum > 1 + 1e-9) {
        snprintf(err, errlen, "the fault rates add up to %.3f; at most 1 is possible", sum);
        return false;
    }
    return true;
}

bool fault_enabled(const fault_config *cfg)
{
    return cfg->fail_rate > 0 || cfg->drop_rate > 0 || cfg->hang_rate > 0 || cfg->slow_rate > 0 ||
           cfg->garbage_rate > 0;
}

/* splitmix64: tiny, seedable with any value (0 included), good enough to
 * spread faults; reproducibility is what matters here. */
static uint64_t next_u64(fault_state *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform01(fault_state *s)
{
    return (double)(next_u64(s) >> 11) / 9007199254740992.0;
}

void fault_init(fault_state *s, const fault_config *cfg)
{
    s->cfg = *cfg;
    s->rng = cfg->seed;
}

enum fault_kind fault_decide(fault_state *s)
{
    if (!fault_enabled(&s->cfg))
        return FAULT_NONE;
    const double rates[] = {s->cfg.fail_rate, s->cfg.drop_rate, s->cfg.hang_rate, s->cfg.slow_rate,
                            s->cfg.garbage_rate};
    const enum fault_kind kinds[] = {FAULT_FAIL, FAULT_DROP, FAULT_HANG, FAULT_SLOW, FAULT_GARBAGE};
    double u = uniform01(s), edge = 0;
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        edge += rates[i];
        if (u < edge)
            return kinds[i];
    }
    return FAULT_NONE;
}

const char *fault_name(enum fault_kind kind)
{
    static const char *const names[] = {"none", "fail", "drop", "hang", "slow", "garbage"};
    return kind <= FAULT_GARBAGE ? names[kind] : "?";
}

char *fault_garbage(fault_state *s, fault_answer_fn answer, const void *ctx,
                    const enum wire_label *labels, size_t n)
{
    switch (next_u64(s) % 5) {
    case 0: { /* the right answer, cut off half way */
        char *full = answer(ctx, labels, n, PROTO_RIGHT);
        if (full)
            full[strlen(full) / 2] = '\0';
        return full;
    }
    case 1:
        return strdup("<html><body>502 upstream hiccup</body></html>");
    case 2: { /* one result too many: the count must be checked */
        enum wire_label more[6] = {0};
        for (size_t i = 0; i < n && i < 5; i++)
            more[i] = labels[i];
        return answer(ctx, more, (n < 5 ? n : 5) + 1, PROTO_RIGHT);
    }
    case 3: /* a label that is neither "code" nor "not code" */
        return answer(ctx, labels, n, PROTO_BAD_LABEL);
    default:
        return answer(ctx, labels, n, PROTO_BAD_SHAPE);
    }
}

/* A held request's client: gone (the server frees the request), or
 * half-closed, after which nothing more can arrive on it and the held
 * request would never end: close it, as a handler that lost its request
 * would leave the socket to the client's close. */
static void on_peer(httpd_req *req, enum httpd_peer what, void *arg)
{
    if (what == HTTPD_PEER_HALF_CLOSED)
        httpd_req_close(req);
}

void fault_hold_request(httpd_req *req)
{
    if (httpd_req_half_closed(req))
        httpd_req_close(req);
    else
        httpd_req_on_peer(req, on_peer, NULL);
}
