/* Unit tests of batchproxy's dispatcher in-process: its invariant check
 * (disp_check) on a real pool and batch, and that it names a broken
 * invariant; a batch whose backend refuses the connection fails its
 * waiters through their own callbacks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "disp.h"
#include "mono.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A port on 127.0.0.1 that nothing listens on (bound, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

typedef struct told {
    int done, failed, status;
    char detail[256];
} told;

static void on_done(waiter *w, result *value)
{
    ((told *)w->owner)->done++;
}

static void on_failed(waiter *w, int status, const char *detail)
{
    told *t = w->owner;
    t->failed++;
    t->status = status;
    snprintf(t->detail, sizeof t->detail, "%s", detail);
}

static const waiter_ops ops = {.done = on_done, .failed = on_failed};

static void test_check_holds_and_names_a_broken_invariant(void **state)
{
    struct event_base *base = event_base_new();
    sched_config sc = sched_config_default();
    char err[200];
    sched *s = sched_new(&sc, err, sizeof err);
    jobs j;
    cache c;
    metrics *m = metrics_new(5, 0);
    assert_true(s && m && jobs_init(&j) && cache_init(&c, 16, 0));
    codec proto;
    codec_config cc = {.protocol = CODEC_CLASSIFY, .max_result = 64};
    assert_true(codec_init(&proto, &cc, err, sizeof err));
    disp_config dc = {.codec = &proto,
                      .health = {.failures = 3, .base = 1, .max = 10},
                      .backend_timeout = 2,
                      .retries = 0,
                      .backoff_base = 0.01,
                      .backoff_cap = 0.01};
    disp *d = disp_new(base, &dc, s, &j, &c, m);
    assert_non_null(d);
    assert_null(disp_check(d));

    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/classify", closed_port());
    addr_url addr;
    assert_true(addr_parse_url(url, &addr, err, sizeof err));
    char *urls[] = {url};
    disp_sync r = disp_sync_pool(d, urls, &addr, 1, false);
    assert_int_equal(r.joined, 1);
    assert_int_equal(disp_pool_size(d), 1);
    assert_null(disp_check(d));

    double now = mono_now();
    job *jb = jobs_create(&j, "x = 1", 5, 5, 0, now);
    jb->item = sched_enqueue(s, jb, 5, 0, now, now + 10);
    told t = {0};
    waiter w = {.ops = &ops, .owner = &t, .deadline = now + 10};
    jobs_attach(jb, &w);
    disp_kick(d);
    event_base_loop(base, EVLOOP_ONCE); /* the batch leaves */
    assert_int_equal(jb->state, JOB_INFLIGHT);
    assert_null(disp_check(d));
    jb->state = JOB_QUEUED; /* as if someone else took it back */
    const char *why = disp_check(d);
    assert_non_null(why);
    assert_non_null(strstr(why, "JOB_INFLIGHT"));
    jb->state = JOB_INFLIGHT;
    assert_null(disp_check(d));

    /* Refused: no retry allowed, so the waiter fails through its callback. */
    for (int i = 0; i < 100 && !t.failed; i++)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(t.failed, 1);
    assert_int_equal(t.done, 0);
    assert_int_equal(t.status, 502);
    assert_non_null(strstr(t.detail, "backend failed after 1 attempt"));
    assert_int_equal(jobs_count(&j), 0);
    assert_null(disp_check(d));

    disp_free(d);
    codec_fini(&proto);
    cache_fini(&c);
    jobs_fini(&j);
    metrics_free(m);
    sched_free(s);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_holds_and_names_a_broken_invariant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
