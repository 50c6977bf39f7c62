/* sjf: shortest sequences first. Batches are filled from the shortest
 * non-empty length bucket upwards, oldest first within a length. It can
 * starve long sequences under sustained short traffic; it is here as a
 * reference point, not as a default. */
#include "sched_impl.h"

#include <stdint.h>

static int sjf_init(sched *s)
{
    s->pstate = NULL;
    return 0;
}

static void sjf_fini(sched *s) {}

static void sjf_add(sched *s, sched_item *it) {}

static void sjf_remove(sched *s, sched_item *it) {}

static void sjf_pick(sched *s, double now, sched_pick *out)
{
    for (size_t b = sched_next_bucket(s, 0); b != SIZE_MAX && out->n < s->cfg.max_batch;
         b = sched_next_bucket(s, b + 1))
        sched_fill_from(s, &s->buckets[b], offsetof(sched_item, blink), now, out);
}

const sched_policy_ops sched_sjf_ops = {"sjf",      sjf_init, sjf_fini, sjf_add,
                                        sjf_remove, sjf_pick, NULL};
