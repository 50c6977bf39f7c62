/* checked: the scheduler's and the fair-share table's operations, each
 * followed by its invariant check (sched_check, share_check); a broken
 * invariant fails the test with the check's sentence. A unit test includes
 * this after cmocka.h, scheduler.h and share.h: the macros below route each
 * of its calls through the wrappers, so every operation a test makes is
 * checked without the test saying so. */
#ifndef BP_TEST_CHECKED_H
#define BP_TEST_CHECKED_H

#include "scheduler.h"
#include "share.h"

static inline void checked_sched(const sched *s)
{
    const char *why = sched_check(s);
    if (why)
        fail_msg("%s", why);
}

static inline void checked_share(const share_table *tab)
{
    const char *why = share_check(tab);
    if (why)
        fail_msg("%s", why);
}

/* Each wrapper calls the real function (the parentheses keep the macro of
 * the same name from expanding) and checks what it changed. */
#define CHECKED_SCHED(ret, name, params, args)                                                     \
    static inline ret checked_##name params                                                        \
    {                                                                                              \
        ret r = (name)args;                                                                        \
        checked_sched(s);                                                                          \
        return r;                                                                                  \
    }
#define CHECKED_SCHED_VOID(name, params, args)                                                     \
    static inline void checked_##name params                                                       \
    {                                                                                              \
        (name) args;                                                                               \
        checked_sched(s);                                                                          \
    }

static inline sched *checked_sched_new(const sched_config *cfg, char *err, size_t errlen)
{
    sched *s = (sched_new)(cfg, err, errlen);
    if (s)
        checked_sched(s);
    return s;
}

CHECKED_SCHED(sched_item *, sched_enqueue,
              (sched * s, void *owner, size_t len, int client, double now, double deadline),
              (s, owner, len, client, now, deadline))
CHECKED_SCHED_VOID(sched_cancel, (sched * s, sched_item *it), (s, it))
CHECKED_SCHED_VOID(sched_extend_deadline, (sched * s, sched_item *it, double deadline),
                   (s, it, deadline))
CHECKED_SCHED(int, sched_add_backend, (sched * s), (s))
CHECKED_SCHED_VOID(sched_backend_prior, (sched * s, int backend, double a, double lin, double b),
                   (s, backend, a, lin, b))
CHECKED_SCHED_VOID(sched_backend_set_up, (sched * s, int backend, bool up), (s, backend, up))
CHECKED_SCHED(enum sched_verdict, sched_next,
              (sched * s, int backend, double now, sched_batch *out, double *wake),
              (s, backend, now, out, wake))
CHECKED_SCHED_VOID(sched_done,
                   (sched * s, int backend, const sched_batch *b, double now, double seconds,
                    bool ok),
                   (s, backend, b, now, seconds, ok))
CHECKED_SCHED(bool, sched_set_weight, (sched * s, int client, double weight), (s, client, weight))
CHECKED_SCHED(bool, sched_set_group, (sched * s, int client, int group), (s, client, group))
CHECKED_SCHED(bool, sched_set_group_limit, (sched * s, int group, size_t max_queued),
              (s, group, max_queued))
CHECKED_SCHED(double, sched_drain_time, (sched * s, int client, size_t len), (s, client, len))
CHECKED_SCHED(double, sched_estimate, (sched * s, int client, size_t len), (s, client, len))
CHECKED_SCHED(enum sched_admission, sched_admit,
              (sched * s, int client, size_t n, size_t longest, size_t client_max, double budget,
               double *retry_after),
              (s, client, n, longest, client_max, budget, retry_after))
CHECKED_SCHED_VOID(sched_expire,
                   (sched * s, double now, void (*expired)(void *owner, void *arg), void *arg),
                   (s, now, expired, arg))

#define sched_new(...) checked_sched_new(__VA_ARGS__)
#define sched_enqueue(...) checked_sched_enqueue(__VA_ARGS__)
#define sched_cancel(...) checked_sched_cancel(__VA_ARGS__)
#define sched_extend_deadline(...) checked_sched_extend_deadline(__VA_ARGS__)
#define sched_add_backend(...) checked_sched_add_backend(__VA_ARGS__)
#define sched_backend_prior(...) checked_sched_backend_prior(__VA_ARGS__)
#define sched_backend_set_up(...) checked_sched_backend_set_up(__VA_ARGS__)
#define sched_next(...) checked_sched_next(__VA_ARGS__)
#define sched_done(...) checked_sched_done(__VA_ARGS__)
#define sched_set_weight(...) checked_sched_set_weight(__VA_ARGS__)
#define sched_set_group(...) checked_sched_set_group(__VA_ARGS__)
#define sched_set_group_limit(...) checked_sched_set_group_limit(__VA_ARGS__)
#define sched_drain_time(...) checked_sched_drain_time(__VA_ARGS__)
#define sched_estimate(...) checked_sched_estimate(__VA_ARGS__)
#define sched_admit(...) checked_sched_admit(__VA_ARGS__)
#define sched_expire(...) checked_sched_expire(__VA_ARGS__)

/* The share table's operations, for the tests that drive it directly. */
#define CHECKED_SHARE(ret, name, params, args)                                                     \
    static inline ret checked_##name params                                                        \
    {                                                                                              \
        ret r = (name)args;                                                                        \
        checked_share(tab);                                                                        \
        return r;                                                                                  \
    }
#define CHECKED_SHARE_VOID(name, params, args)                                                     \
    static inline void checked_##name params                                                       \
    {                                                                                              \
        (name) args;                                                                               \
        checked_share(tab);                                                                        \
    }

CHECKED_SHARE_VOID(share_init, (share_table * tab, size_t threshold), (tab, threshold))
CHECKED_SHARE(long, share_tenant_of, (share_table * tab, int client, size_t len),
              (tab, client, len))
CHECKED_SHARE(bool, share_set_weight, (share_table * tab, int client, double weight),
              (tab, client, weight))
CHECKED_SHARE(bool, share_set_group, (share_table * tab, int client, int group),
              (tab, client, group))
CHECKED_SHARE_VOID(share_enqueued, (share_table * tab, long tenant, double work),
                   (tab, tenant, work))
CHECKED_SHARE_VOID(share_dequeued, (share_table * tab, long tenant, double work),
                   (tab, tenant, work))
CHECKED_SHARE_VOID(share_charge,
                   (share_table * tab, const long *tenant, const size_t *len, size_t n,
                    double seconds, const cost_model *cm),
                   (tab, tenant, len, n, seconds, cm))

#define share_init(...) checked_share_init(__VA_ARGS__)
#define share_tenant_of(...) checked_share_tenant_of(__VA_ARGS__)
#define share_set_weight(...) checked_share_set_weight(__VA_ARGS__)
#define share_set_group(...) checked_share_set_group(__VA_ARGS__)
#define share_enqueued(...) checked_share_enqueued(__VA_ARGS__)
#define share_dequeued(...) checked_share_dequeued(__VA_ARGS__)
#define share_charge(...) checked_share_charge(__VA_ARGS__)

#endif
