/* priority: the seed write-up's design. Two FIFO queues: high for short,
 * bursty traffic, low for long, steady traffic. Each batch takes from the
 * high queue first and fills the free slots from the low queue.
 *
 * The class is fixed when an item is queued. An anonymous item (client 0)
 * is high when its own length is at most the threshold. An item from a
 * named client is classed by that client's profile: an exponentially
 * weighted mean of the lengths it has sent (weight ALPHA for the newest),
 * so one long string from a client of short strings doesn't demote it.
 * Low items can wait without bound while high traffic saturates the
 * backend: that is the design's known weakness, kept for comparison. */
#include "sched_impl.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define PRIORITY_ALPHA 0.2

enum { PRIO_HIGH = 0, PRIO_LOW = 1 };

typedef struct prio_state {
    slink queue[2];
    double *mean_len; /* per client id, 0 = not seen yet */
    size_t nclients;
} prio_state;

static int prio_init(sched *s)
{
    prio_state *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    slink_init(&p->queue[PRIO_HIGH]);
    slink_init(&p->queue[PRIO_LOW]);
    s->pstate = p;
    return 0;
}

static void prio_fini(sched *s)
{
    prio_state *p = s->pstate;
    free(p->mean_len);
    free(p);
}

/* Updates the client's profile with len and returns its mean length; falls
 * back to len itself if the table can't grow. */
static double client_mean(prio_state *p, int client, size_t len)
{
    size_t c = (size_t)client;
    if (c >= p->nclients) {
        size_t n = c + 16;
        double *m = realloc(p->mean_len, n * sizeof *m);
        if (!m)
            return (double)len;
        for (size_t i = p->nclients; i < n; i++)
            m[i] = 0;
        p->mean_len = m;
        p->nclients = n;
    }
    double *mean = &p->mean_len[c];
    *mean = *mean == 0 ? (double)len : (1 - PRIORITY_ALPHA) * *mean + PRIORITY_ALPHA * (double)len;
    return *mean;
}

static void prio_add(sched *s, sched_item *it)
{
    prio_state *p = s->pstate;
    double len = it->e.client > 0 ? client_mean(p, it->e.client, it->e.len) : (double)it->e.len;
    it->pclass = len <= (double)s->cfg.priority_threshold ? PRIO_HIGH : PRIO_LOW;
    slink_push_back(&p->queue[it->pclass], &it->plink);
}

static void prio_remove(sched *s, sched_item *it)
{
    slink_remove(&it->plink);
}

static void prio_pick(sched *s, double now, sched_pick *out)
{
    prio_state *p = s->pstate;
    sched_fill_from(s, &p->queue[PRIO_HIGH], offsetof(sched_item, plink), now, out);
    sched_fill_from(s, &p->queue[PRIO_LOW], offsetof(sched_item, plink), now, out);
}

/* Every queued item is on the queue of its class, in enqueue order. */
static const char *prio_check(const sched *s)
{
    const prio_state *p = s->pstate;
    size_t total = 0;
    for (int c = PRIO_HIGH; c <= PRIO_LOW; c++) {
        size_t n = slink_length(&p->queue[c], s->queued - total);
        if (n == SIZE_MAX)
            return "priority: each class's queue is well linked and holds queued items only";
        double last = -INFINITY;
        for (const slink *l = p->queue[c].next; l != &p->queue[c]; l = l->next) {
            const sched_item *it = SLINK_ITEM(l, plink);
            if (it->pclass != c)
                return "priority: an item is on the queue of its class";
            if (it->e.enqueued < last)
                return "priority: each class's queue is in order of enqueue time";
            last = it->e.enqueued;
        }
        total += n;
    }
    return total == s->queued ? NULL : "priority: every queued item is on one of the two queues";
}

const sched_policy_ops sched_priority_ops = {"priority",  prio_init, prio_fini, prio_add,
                                             prio_remove, prio_pick, prio_check};
