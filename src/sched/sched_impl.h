/* sched_impl: what the scheduler core shares with its policies. Private to
 * src/sched; nothing outside this folder includes it.
 *
 * Invariants kept by sched.c:
 * - every queued item is counted in its tenant's `queued` (share.h) from
 *   enqueue to unlink;
 * - every queued item is on exactly two core lists: `arrivals` (oldest
 *   first) and the bucket of its clamped length (oldest first); `queued`
 *   counts them and bit b of `nonempty` is set iff bucket b is non-empty;
 * - a policy's add() sees each item once after it is on the core lists, and
 *   its remove() sees it once before it leaves them, whatever the reason
 *   (sent, cancelled, expired); the policy may use `plink` and `pclass` freely;
 * - pick() only proposes: it fills `out` with items that fit (sched_item_fits:
 *   live, and within max_batch_cost on the lane being filled) and never
 *   unlinks anything; the core removes the chosen ones if it sends, and
 *   drops from the proposal any that don't fit, so the bound holds whatever
 *   a policy does;
 * - during pick(), `filling` is the lane being filled (a valid id); a
 *   pick that leaves `out` empty on purpose, to keep the work for a faster
 *   lane, sets `defer_until` (> now) to when that lane frees up;
 * - a lane is `busy` from the SCHED_SEND that filled it to its
 *   sched_done, and `free_at` is then its batch's predicted end.
 * And, checked with the above by sched_check (sched.h):
 * - `queued` <= max_queue; the arrivals list and each bucket are in enqueue
 *   order, so in order of `enqueued` (the callers' `now` never goes back):
 *   the first live item on arrivals is the oldest (oldest_live, the cost
 *   policy's starvation rule rely on it);
 * - an item's `bucket` is min(len, max_length), its `tenant` its client's
 *   (the anonymous class by length for client 0), never a group, and its
 *   `work` (fixed when queued, so a dequeue takes back what the enqueue
 *   added) finite and >= 0;
 * - each tenant's queued and work are its queued items' count and sum
 *   (share.h's own invariants hold too);
 * - the lane array holds nlanes >= 1 lanes (ids 0..nlanes-1, never reused),
 *   `filling` < nlanes, and every cost curve keeps cost.h's invariants;
 * - a policy with a check() keeps its own invariants (priority: every item
 *   on the queue of its class). */
#ifndef BP_SCHED_IMPL_H
#define BP_SCHED_IMPL_H

#include "sched.h"
#include "share.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct slink {
    struct slink *prev, *next;
} slink;

#define SLINK_ITEM(ptr, field) ((sched_item *)((char *)(ptr)-offsetof(sched_item, field)))

static inline void slink_init(slink *head)
{
    head->prev = head->next = head;
}
static inline int slink_empty(const slink *head)
{
    return head->next == head;
}
static inline void slink_push_back(slink *head, slink *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}
static inline void slink_remove(slink *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
}

struct sched_item {
    sched_entry e;
    size_t bucket; /* min(len, max_length) */
    slink arrival; /* on sched.arrivals */
    slink blink;   /* on sched.buckets[bucket] */
    slink plink;   /* the policy's own */
    int pclass;    /* the policy's own */
    long tenant;   /* its fair-share tenant (share.h) */
    double work;   /* its predicted share of backend time when queued */
};

/* A candidate batch: pointers to queued items, in batch order. */
typedef struct sched_pick {
    size_t n;
    sched_item *it[SCHED_MAX_BATCH];
} sched_pick;

typedef struct sched_policy_ops {
    const char *name;
    int (*init)(sched *s);  /* 0 on success; sets s->pstate */
    void (*fini)(sched *s); /* frees s->pstate */
    void (*add)(sched *s, sched_item *it);
    void (*remove)(sched *s, sched_item *it);
    /* Fills out with up to cfg.max_batch live items; may leave it empty. */
    void (*pick)(sched *s, double now, sched_pick *out);
    /* NULL when the policy's own invariants hold, else the broken one;
     * NULL (the member) for a policy that keeps nothing to check. */
    const char *(*check)(const sched *s);
} sched_policy_ops;

/* A lane (sched.h): one backend as the scheduler sees it, its own learned
 * cost curve and what is in flight on it. */
typedef struct sched_lane {
    cost_model cost;
    bool up;
    bool busy;
    double free_at; /* predicted end of its batch in flight, when busy */
} sched_lane;

struct sched {
    sched_config cfg;
    const sched_policy_ops *ops;
    void *pstate;
    size_t queued;
    slink arrivals;
    slink *buckets;  /* cfg.max_length + 1 FIFO lists, index = clamped length */
    cost_model cost; /* pooled over every lane */
    sched_lane *lanes;
    size_t nlanes, caplanes;
    size_t filling;     /* the lane sched_next is filling */
    double defer_until; /* set by a pick that keeps its work for a faster lane */
    share_table share;
    uint64_t *nonempty;
    size_t check_skip; /* BP_CHECK_INVARIANTS: operations until the next full check */
};

/* True if the item may still be sent at `now`. */
static inline int sched_item_live(const sched_item *it, double now)
{
    return it->e.deadline > now;
}

/* True if a batch whose longest member has `len` code points is predicted
 * to take at most max_batch_cost on lane `lane` (always, without a
 * bound). */
static inline bool sched_cost_fits(const sched *s, size_t lane, size_t len)
{
    return s->cfg.max_batch_cost <= 0 ||
           cost_predict(&s->lanes[lane].cost, len) <= s->cfg.max_batch_cost;
}

/* True if the item may go into the batch being filled (lane `filling`)
 * at `now`: live, and its own batch cost there within max_batch_cost. A
 * batch costs what its longest member costs, so a batch of items that each
 * fit fits too: a long item is never put with others that would push the
 * batch over the bound, as none can. */
static inline bool sched_item_fits(const sched *s, const sched_item *it, double now)
{
    return sched_item_live(it, now) && sched_cost_fits(s, s->filling, it->e.len);
}

/* The number of links on the list `head`, if it is well linked (every
 * link's neighbours point back at it) and holds at most `max`; else
 * SIZE_MAX. For the checks. */
size_t slink_length(const slink *head, size_t max);

/* The smallest non-empty bucket index >= from, or SIZE_MAX. */
size_t sched_next_bucket(const sched *s, size_t from);

/* Appends items that fit (sched_item_fits) from the FIFO list `head` (linked through the field at
 * byte offset `link_off` of sched_item) until `out` is full. */
void sched_fill_from(const sched *s, slink *head, size_t link_off, double now, sched_pick *out);

extern const sched_policy_ops sched_fifo_ops, sched_priority_ops, sched_sjf_ops, sched_cost_ops;

#endif
