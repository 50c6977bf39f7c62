/* Unit tests of the invariant checks that run: jobs_check and cache_check
 * after every operation on the proxy's job table and result cache, that
 * each check names the invariant a corrupted structure breaks, and that
 * BP_ASSERT stops the process (in every build) where a broken invariant
 * would otherwise corrupt state silently. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cache.h"
#include "jobs.h"
#include "sched.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void jobs_ok(const jobs *j)
{
    const char *why = jobs_check(j);
    if (why)
        fail_msg("%s", why);
}

static void cache_ok(const cache *c)
{
    const char *why = cache_check(c);
    if (why)
        fail_msg("%s", why);
}

static void expect_broken(const char *why, const char *words)
{
    assert_non_null(why);
    if (!strstr(why, words))
        fail_msg("'%s' does not name '%s'", why, words);
}

static sched *new_sched(void)
{
    sched_config cfg = sched_config_default();
    char err[128];
    sched *s = sched_new(&cfg, err, sizeof err);
    assert_non_null(s);
    return s;
}

/* A queued job as front.c makes one: created, queued in the scheduler, a
 * first waiter attached; checked once at rest. */
static job *queue_job(jobs *j, sched *s, const char *text, waiter *w)
{
    job *jb = jobs_create(j, text, strlen(text), strlen(text), 0, 0);
    assert_non_null(jb);
    jb->item = sched_enqueue(s, jb, jb->len, 0, 0, 1e9);
    assert_non_null(jb->item);
    *w = (waiter){0};
    jobs_attach(jb, w);
    jobs_ok(j);
    return jb;
}

/* Detaches w and, as front_release does, cancels and destroys an orphan. */
static void release(jobs *j, sched *s, waiter *w)
{
    job *orphan = jobs_detach(w);
    if (orphan) {
        sched_cancel(s, orphan->item);
        jobs_destroy(j, orphan);
    }
    jobs_ok(j);
}

static void test_jobs_checked_through_coalescing(void **state)
{
    enum { TEXTS = 40, WAITERS = 400 };
    jobs j;
    assert_true(jobs_init(&j));
    sched *s = new_sched();
    static waiter w[WAITERS];
    job *jb[TEXTS] = {0};
    /* Each text is wanted by every TEXTS-th waiter: the first queues it,
     * the others join. */
    for (size_t i = 0; i < WAITERS; i++) {
        char text[16];
        snprintf(text, sizeof text, "text %zu", i % TEXTS);
        job *found = jobs_find(&j, text, strlen(text));
        assert_ptr_equal(found, jb[i % TEXTS]);
        if (!found) {
            jb[i % TEXTS] = queue_job(&j, s, text, &w[i]);
        } else {
            w[i] = (waiter){0};
            jobs_attach(found, &w[i]);
            jobs_ok(&j);
        }
    }
    assert_int_equal(jobs_count(&j), TEXTS);
    /* The even texts go in flight (as disp.c marks a batch's jobs). */
    for (size_t t = 0; t < TEXTS; t += 2) {
        sched_cancel(s, jb[t]->item);
        jb[t]->state = JOB_INFLIGHT;
        jb[t]->item = NULL;
        jobs_ok(&j);
    }
    /* Every waiter leaves, middle ones first: the queued jobs go with
     * their last waiter, the in-flight ones stay for the dispatcher. */
    for (size_t i = WAITERS; i-- > 0;)
        if (i % 3 == 1)
            release(&j, s, &w[i]);
    for (size_t i = 0; i < WAITERS; i++)
        if (i % 3 != 1)
            release(&j, s, &w[i]);
    assert_int_equal(jobs_count(&j), TEXTS / 2);
    assert_int_equal(sched_queued(s), 0);
    for (size_t t = 0; t < TEXTS; t += 2) {
        assert_int_equal(jb[t]->nwaiters, 0);
        jobs_destroy(&j, jb[t]);
        jobs_ok(&j);
    }
    assert_int_equal(jobs_count(&j), 0);
    jobs_fini(&j);
    sched_free(s);
}

static void test_jobs_check_names_the_broken_invariant(void **state)
{
    jobs j;
    assert_true(jobs_init(&j));
    sched *s = new_sched();
    waiter w1, w2, w3 = {0};
    job *a = queue_job(&j, s, "alpha", &w1);
    job *b = queue_job(&j, s, "beta", &w2);
    jobs_attach(a, &w3);
    jobs_ok(&j);

    a->nwaiters++;
    expect_broken(jobs_check(&j), "nwaiters");
    a->nwaiters--;

    w3.job = b; /* on a's list, naming b */
    expect_broken(jobs_check(&j), "names that job");
    w3.job = a;

    w3.prev = &w2;
    expect_broken(jobs_check(&j), "doubly linked");
    w3.prev = &w1;

    a->waiters->prev = &w1; /* the first's prev must be the last (w3) */
    expect_broken(jobs_check(&j), "prev is the last");
    a->waiters->prev = &w3;

    sched_item *item = b->item;
    b->item = NULL;
    expect_broken(jobs_check(&j), "at rest, a queued job");
    b->state = JOB_INFLIGHT;
    jobs_ok(&j); /* in flight: no item, as it should */
    b->item = item;
    expect_broken(jobs_check(&j), "in-flight job has no scheduler item");
    b->state = JOB_QUEUED;

    j.table.count++;
    expect_broken(jobs_check(&j), "htab: count");
    j.table.count--;

    b->node.hash ^= 1;
    expect_broken(jobs_check(&j), "htab");
    b->node.hash ^= 1;
    jobs_ok(&j);

    release(&j, s, &w3);
    release(&j, s, &w1);
    release(&j, s, &w2);
    assert_int_equal(jobs_count(&j), 0);
    jobs_fini(&j);
    sched_free(s);
}

static void test_cache_checked_through_eviction_and_expiry(void **state)
{
    cache c;
    assert_true(cache_init(&c, 8, 10));
    cache_ok(&c);
    result *code = result_new("\"code\"", 6), *other = result_new("\"not code\"", 10);
    for (int i = 0; i < 50; i++) {
        char text[16];
        snprintf(text, sizeof text, "t%d", i % 13);
        cache_put(&c, text, strlen(text), i % 2 ? code : other, i);
        cache_ok(&c);
        snprintf(text, sizeof text, "t%d", (i * 7) % 13);
        cache_get(&c, text, strlen(text), i);
        cache_ok(&c);
        assert_true(cache_size(&c) <= 8);
    }
    /* Everything expires: each get drops its entry. */
    for (int i = 0; i < 13; i++) {
        char text[16];
        snprintf(text, sizeof text, "t%d", i);
        assert_null(cache_get(&c, text, strlen(text), 1000));
        cache_ok(&c);
    }
    assert_int_equal(cache_size(&c), 0);
    cache_fini(&c);

    cache off;
    assert_true(cache_init(&off, 0, 0));
    cache_put(&off, "x", 1, code, 0);
    cache_ok(&off);
    assert_int_equal(cache_size(&off), 0);
    cache_fini(&off);
    /* The cache held references of its own: ours are the last. */
    assert_int_equal(code->refs, 1);
    assert_int_equal(other->refs, 1);
    result_unref(code);
    result_unref(other);
}

static void test_cache_check_names_the_broken_invariant(void **state)
{
    cache c;
    assert_true(cache_init(&c, 4, 0));
    result *code = result_new("\"code\"", 6);
    cache_put(&c, "a", 1, code, 0);
    cache_put(&c, "b", 1, code, 0);
    cache_put(&c, "c", 1, code, 0);
    result_unref(code);
    cache_ok(&c);

    c.capacity = 2;
    expect_broken(cache_check(&c), "at most `capacity`");
    c.capacity = 4;

    cache_entry *newest = c.newest;
    c.newest = NULL;
    expect_broken(cache_check(&c), "newest is NULL iff");
    c.newest = newest;

    c.table.count--;
    expect_broken(cache_check(&c), "count");
    c.table.count++;
    cache_ok(&c);
    cache_fini(&c);
}

/* Runs fn in a child process and expects it to abort after printing
 * `expect` on stderr. */
static void expect_abort(void (*fn)(void), const char *expect)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    char out[4096];
    size_t used = 0;
    ssize_t got;
    while (used < sizeof out - 1 && (got = read(fds[0], out + used, sizeof out - 1 - used)) > 0)
        used += (size_t)got;
    out[used] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        fail_msg("no abort (status %d); stderr: %s", status, out);
    if (!strstr(out, expect))
        fail_msg("stderr does not name '%s': %s", expect, out);
}

static void attach_twice(void)
{
    jobs j;
    jobs_init(&j);
    job *a = jobs_create(&j, "a", 1, 1, 0, 0), *b = jobs_create(&j, "b", 1, 1, 0, 0);
    waiter w = {0};
    jobs_attach(a, &w);
    jobs_attach(b, &w);
}

static void destroy_with_waiters(void)
{
    jobs j;
    jobs_init(&j);
    job *a = jobs_create(&j, "a", 1, 1, 0, 0);
    waiter w = {0};
    jobs_attach(a, &w);
    jobs_destroy(&j, a);
}

static void enqueue_for_a_group(void)
{
    sched *s = new_sched();
    sched_set_group(s, 2, 5); /* client 5 is a group now */
    sched_enqueue(s, NULL, 3, 5, 0, 1e9);
}

static void charge_negative_time(void)
{
    sched *s = new_sched();
    sched_batch b = {.n = 1, .longest = 3, .e = {{.len = 3, .client = 1}}};
    sched_done(s, 0, &b, 0, -1, true);
}

static void test_asserts_stop_silent_corruption(void **state)
{
    expect_abort(attach_twice, "assertion failed: !w->job");
    expect_abort(destroy_with_waiters, "assertion failed: !jb->waiters");
    expect_abort(enqueue_for_a_group, "assertion failed: !s->share.t[tenant].is_group");
    expect_abort(charge_negative_time, "assertion failed: seconds >= 0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_checked_through_coalescing),
        cmocka_unit_test(test_jobs_check_names_the_broken_invariant),
        cmocka_unit_test(test_cache_checked_through_eviction_and_expiry),
        cmocka_unit_test(test_cache_check_names_the_broken_invariant),
        cmocka_unit_test(test_asserts_stop_silent_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
