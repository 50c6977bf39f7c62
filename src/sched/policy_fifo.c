/* fifo: arrival order, up to max_batch per batch; the usual micro-batching
 * baseline. It keeps no state of its own: the core's arrival list is its queue. */
#include "sched_impl.h"

static int fifo_init(sched *s)
{
    s->pstate = NULL;
    return 0;
}

static void fifo_fini(sched *s) {}

static void fifo_add(sched *s, sched_item *it) {}

static void fifo_remove(sched *s, sched_item *it) {}

static void fifo_pick(sched *s, double now, sched_pick *out)
{
    sched_fill_from(s, &s->arrivals, offsetof(sched_item, arrival), now, out);
}

const sched_policy_ops sched_fifo_ops = {"fifo",      fifo_init, fifo_fini, fifo_add,
                                         fifo_remove, fifo_pick, NULL};
