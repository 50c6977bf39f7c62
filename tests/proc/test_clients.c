/* Process-level tests of clients, fairness and overload in batchproxy:
 * API keys (401), rate limits and per-client queue limits (429 with
 * Retry-After), hopeless deadlines (503), reloading the clients file under
 * load, and a short flood. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tproc.h"

#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fixture {
    tproc backend, proxy;
    char clients_path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    mkdir(BP_BUILD_DIR "/tests", 0755);
    mkdir(BP_BUILD_DIR "/tests/logs", 0755);
    snprintf(f->clients_path, sizeof f->clients_path, "%s/tests/logs/clients-%d.ini", BP_BUILD_DIR,
             (int)getpid());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    bool clean = tproc_stop_clean(&f->proxy, 5);
    clean &= tproc_stop_clean(&f->backend, 5);
    unlink(f->clients_path);
    free(f);
    return clean ? 0 : -1;
}

static void write_clients(fixture *f, const char *text)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", f->clients_path);
    FILE *fp = fopen(tmp, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(rename(tmp, f->clients_path), 0); /* atomic, as an operator would */
}

/* classifyd with cost, then batchproxy with the clients file (if any) and extra args. */
static void start(fixture *f, const char *cost, bool with_file, const char *const *extra)
{
    const char *bargs[] = {"--cost", cost, "--quiet", NULL};
    assert_true(tproc_start(&f->backend, "classifyd", bargs));
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", f->backend.port);
    /* Fresh /metrics at every scrape: these tests read values right after
     * causing them. */
    const char *args[32] = {"--backend", url, "--metrics-cache-ms", "0"};
    int n = 4;
    if (with_file) {
        args[n++] = "--clients";
        args[n++] = f->clients_path;
    }
    for (; extra && *extra; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    assert_true(tproc_start(&f->proxy, "batchproxy", args));
}

static int post(int port, const char *headers, const char *body, thttp_resp *r)
{
    assert_true(thttp_request(port, "POST", "/proxy_classify", headers, body, r, 20));
    return r->status;
}

static void assert_detail_and_retry_after(const thttp_resp *r)
{
    json_t *j = json_loads(r->body, 0, NULL);
    assert_non_null(j);
    const char *d = json_string_value(json_object_get(j, "detail"));
    assert_true(d && *d);
    json_decref(j);
    char ra[16];
    assert_non_null(thttp_header(r, "Retry-After", ra, sizeof ra));
    assert_true(atoi(ra) >= 1);
}

static void test_api_keys(void **state)
{
    fixture *f = *state;
    write_clients(f, "[alice]\nkey = alice-key-0123456789\n[bob]\nkey = bob-key-0123456789ab\n");
    start(f, "0", true, NULL);
    const char *body = "{\"sequence\":\"x = 1\"}";
    thttp_resp r;
    assert_int_equal(post(f->proxy.port, NULL, body, &r), 401);
    char h[64];
    assert_non_null(thttp_header(&r, "WWW-Authenticate", h, sizeof h));
    thttp_resp_free(&r);
    assert_int_equal(post(f->proxy.port, "Authorization: Bearer nope-nope-nope-nope\r\n", body, &r),
                     401);
    thttp_resp_free(&r);
    /* With keys configured, a header alone proves nothing. */
    assert_int_equal(post(f->proxy.port, "X-Client-Id: alice\r\n", body, &r), 401);
    thttp_resp_free(&r);
    assert_int_equal(post(f->proxy.port,
                          "Authorization: Bearer alice-key-0123456789\r\nX-Client-Id: bob\r\n",
                          body, &r),
                     200);
    thttp_resp_free(&r);
    assert_true(thttp_metric(f->proxy.port, "batchproxy_client_admitted_total{client=\"alice\"}") ==
                1);
    assert_true(thttp_metric(f->proxy.port, "batchproxy_client_admitted_total{client=\"bob\"}") ==
                0);
    assert_true(
        thttp_metric(f->proxy.port,
                     "batchproxy_client_refused_total{client=\"-\",reason=\"unauthorized\"}") == 3);
}

/* The auth scheme is case-insensitive (RFC 9110): "bearer" and "BEARER"
 * name the key as "Bearer" does; the key itself is compared exactly. */
static void test_bearer_scheme_is_case_insensitive(void **state)
{
    fixture *f = *state;
    write_clients(f, "[alice]\nkey = alice-key-0123456789\n");
    start(f, "0", true, NULL);
    const char *body = "{\"sequence\":\"x = 1\"}";
    static const char *const good[] = {"Authorization: bearer alice-key-0123456789\r\n",
                                       "Authorization: BEARER alice-key-0123456789\r\n",
                                       "Authorization: bEaReR  alice-key-0123456789\r\n"};
    thttp_resp r;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        if (post(f->proxy.port, good[i], body, &r) != 200)
            fail_msg("%s: %d %s", good[i], r.status, r.body);
        thttp_resp_free(&r);
    }
    static const char *const bad[] = {"Authorization: bearer ALICE-KEY-0123456789\r\n",
                                      "Authorization: bearer\r\n",
                                      "Authorization: beareralice-key-0123456789\r\n",
                                      "Authorization: Basic alice-key-0123456789\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (post(f->proxy.port, bad[i], body, &r) != 401)
            fail_msg("%s: %d %s", bad[i], r.status, r.body);
        thttp_resp_free(&r);
    }
    assert_true(thttp_metric(f->proxy.port, "batchproxy_client_admitted_total{client=\"alice\"}") ==
                3);
}

/* A reload that would turn authentication off (a keyless or empty file, as
 * a half-written one looks) is refused and logged at error: the old keys
 * stay required, and X-Client-Id still proves nothing. */
static void test_reload_cannot_turn_keys_off(void **state)
{
    fixture *f = *state;
    write_clients(f, "[alice]\nkey = alice-key-0123456789\nrate = 0\n");
    start(f, "0", true, NULL);
    const char *body = "{\"sequence\":\"x = 1\"}";
    static const char *const files[] = {"[alice]\nrate = 0\n", ""};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        write_clients(f, files[i]);
        assert_true(tproc_signal(&f->proxy, SIGHUP));
        /* Wait for the refusal to be logged at error (one line per reload). */
        assert_true(
            tproc_await_log_count(&f->proxy, "would turn authentication off", (int)i + 1, 10));
        assert_int_equal(tproc_log_count(&f->proxy, "error: reload: "), (int)i + 1);
        assert_int_equal(tproc_log_count(&f->proxy, "keeping the settings in force"), (int)i + 1);
        thttp_resp r;
        assert_int_equal(post(f->proxy.port, NULL, body, &r), 401);
        thttp_resp_free(&r);
        assert_int_equal(post(f->proxy.port, "X-Client-Id: alice\r\n", body, &r), 401);
        thttp_resp_free(&r);
        assert_int_equal(
            post(f->proxy.port, "Authorization: Bearer alice-key-0123456789\r\n", body, &r), 200);
        thttp_resp_free(&r);
    }
    /* A file that keeps keys is still accepted. */
    write_clients(f, "[bob]\nkey = bob-key-0123456789ab\n");
    assert_true(tproc_signal(&f->proxy, SIGHUP));
    assert_true(tproc_await_log(&f->proxy, "reload: clients file", 10));
    thttp_resp r;
    assert_int_equal(
        post(f->proxy.port, "Authorization: Bearer bob-key-0123456789ab\r\n", body, &r), 200);
    thttp_resp_free(&r);
    assert_int_equal(
        post(f->proxy.port, "Authorization: Bearer alice-key-0123456789\r\n", body, &r), 401);
    thttp_resp_free(&r);
}

static void test_rate_limit_is_429_with_retry_after_and_fast(void **state)
{
    fixture *f = *state;
    write_clients(f, "[bob]\nrate = 1\nburst = 2\n");
    start(f, "0", true, NULL);
    thttp_resp r;
    for (int i = 0; i < 2; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"sequence\":\"burst %d\"}", i);
        assert_int_equal(post(f->proxy.port, "X-Client-Id: bob\r\n", body, &r), 200);
        thttp_resp_free(&r);
    }
    assert_int_equal(post(f->proxy.port, "X-Client-Id: bob\r\n", "{\"sequence\":\"one more\"}", &r),
                     429);
    assert_detail_and_retry_after(&r);
    assert_true(r.elapsed < 1); /* refused at once: an order of magnitude, not a tight bound */
    thttp_resp_free(&r);
    /* Other clients are not limited by bob's bucket; unlisted ones get the
     * defaults (no limit). */
    assert_int_equal(post(f->proxy.port, "X-Client-Id: carol\r\n", "{\"sequence\":\"hi\"}", &r),
                     200);
    thttp_resp_free(&r);
    assert_true(
        thttp_metric(f->proxy.port,
                     "batchproxy_client_refused_total{client=\"bob\",reason=\"rate_limit\"}") == 1);
}

static void test_client_queue_limit_is_429(void **state)
{
    fixture *f = *state;
    write_clients(f, "[carol]\nmax_queued = 2\n");
    start(f, "0.002", true, NULL);
    /* A long request keeps the backend busy; carol's queue fills. */
    int busy = thttp_connect(f->proxy.port);
    const char *b = "{\"sequence\":\"keeping the backend busy a while\"}";
    assert_true(thttp_send(busy, "POST", "/proxy_classify", NULL, b, strlen(b)));
    assert_true(thttp_await_metric(f->proxy.port, "batchproxy_inflight_requests", 1, 5) == 1);
    int q = thttp_connect(f->proxy.port);
    const char *two = "{\"sequences\":[\"carol one\",\"carol two\"]}";
    assert_true(
        thttp_send(q, "POST", "/proxy_classify", "X-Client-Id: carol\r\n", two, strlen(two)));
    assert_true(
        thttp_await_metric(f->proxy.port, "batchproxy_client_queued{client=\"carol\"}", 2, 5) == 2);
    thttp_resp r;
    assert_int_equal(post(f->proxy.port, "X-Client-Id: carol\r\n", "{\"sequence\":\"three\"}", &r),
                     429);
    assert_detail_and_retry_after(&r);
    thttp_resp_free(&r);
    /* Others still get in. */
    int other = thttp_connect(f->proxy.port);
    const char *d = "{\"sequence\":\"dave here\"}";
    assert_true(
        thttp_send(other, "POST", "/proxy_classify", "X-Client-Id: dave\r\n", d, strlen(d)));
    for (int fd = 0, fds[3] = {busy, q, other}; fd < 3; fd++) {
        assert_true(thttp_recv(fds[fd], &r, 20));
        assert_int_equal(r.status, 200);
        thttp_resp_free(&r);
        close(fds[fd]);
    }
}

static void test_hopeless_deadline_is_503_at_once(void **state)
{
    fixture *f = *state;
    start(f, "0.002", false, NULL);
    thttp_resp r;
    /* 40 characters cost 3.2 s at the backend: a 1 s deadline is hopeless
     * whatever the queue, and the detail says so, with no Retry-After
     * (trying again can't help). */
    assert_int_equal(post(f->proxy.port, "X-Timeout-Ms: 1000\r\n",
                          "{\"sequence\":\"0123456789012345678901234567890123456789\"}", &r),
                     503);
    assert_non_null(strstr(r.body, "own work (1 sequence) takes about 3"));
    char ra[16];
    assert_null(thttp_header(&r, "Retry-After", ra, sizeof ra));
    assert_true(r.elapsed < 1); /* at once, not at the 1 s deadline */
    thttp_resp_free(&r);
    /* A large request: one batch of 20 characters takes 0.8 s, within 2 s,
     * but its 25 sequences need about 0.8 + 24 x 0.8 / 5 = 4.6 s, and the
     * detail names that, not the one batch. */
    char many[1024] = "{\"sequences\":[";
    for (int i = 0; i < 25; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"%02d abcdefghijklmnopq\"",
                 i ? "," : "", i);
    strcat(many, "]}");
    assert_int_equal(post(f->proxy.port, "X-Timeout-Ms: 2000\r\n", many, &r), 503);
    if (!strstr(r.body, "own work (25 sequences) takes about 4"))
        fail_msg("detail: %s", r.body);
    assert_null(thttp_header(&r, "Retry-After", ra, sizeof ra));
    thttp_resp_free(&r);
    /* Work queued ahead counts too: ten 30-character sequences need about
     * 10 x 1.8 / 5 = 3.6 s; a short request behind them with 1 s can't make it. */
    int fd = thttp_connect(f->proxy.port);
    char body[1024] = "{\"sequences\":[";
    for (int i = 0; i < 10; i++)
        snprintf(body + strlen(body), sizeof body - strlen(body),
                 "%s\"%02d abcdefghijklmnopqrstuvwxyz.\"", i ? "," : "", i);
    strcat(body, "]}");
    assert_true(
        thttp_send(fd, "POST", "/proxy_classify", "X-Client-Id: eve\r\n", body, strlen(body)));
    assert_true(thttp_await_metric(f->proxy.port,
                                   "batchproxy_client_admitted_total{client=\"eve\"}", 1, 5) == 1);
    assert_int_equal(post(f->proxy.port, "X-Client-Id: eve\r\nX-Timeout-Ms: 1000\r\n",
                          "{\"sequence\":\"short\"}", &r),
                     503);
    assert_detail_and_retry_after(&r);
    thttp_resp_free(&r);
    assert_true(
        thttp_metric(f->proxy.port,
                     "batchproxy_client_refused_total{client=\"eve\",reason=\"deadline\"}") == 1);
    close(fd);
}

/* Traffic keeps flowing while the file is rewritten and reloaded (twice,
 * once with an error): every request sent gets an answer. */
static void test_reload_under_load_drops_nothing(void **state)
{
    fixture *f = *state;
    write_clients(f, "[frank]\nrate = 0\n");
    start(f, "0.0002", true, NULL);
    enum { N = 60 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"sequence\":\"reload traffic %02d\"}", i);
        fds[i] = thttp_connect(f->proxy.port);
        assert_true(fds[i] >= 0);
        assert_true(thttp_send(fds[i], "POST", "/proxy_classify", "X-Client-Id: frank\r\n", body,
                               strlen(body)));
        if (i == 20) { /* the first 21 admitted under the old settings, then the reload */
            assert_true(thttp_await_metric(f->proxy.port,
                                           "batchproxy_client_admitted_total{client=\"frank\"}", 21,
                                           10) == 21);
            write_clients(f, "[frank]\nrate = 1\nburst = 1\n");
            kill(f->proxy.pid, SIGHUP);
            assert_true(tproc_await_log(&f->proxy, "reload: clients file", 10));
        }
        if (i == 40) {
            write_clients(f, "[frank]\nrate = lots\n"); /* broken: the old settings stay */
            kill(f->proxy.pid, SIGHUP);
            assert_true(tproc_await_log(&f->proxy, "keeping the settings in force", 10));
        }
    }
    int ok = 0, limited = 0;
    for (int i = 0; i < N; i++) {
        thttp_resp r;
        assert_true(thttp_recv(fds[i], &r, 20));
        ok += r.status == 200;
        limited += r.status == 429;
        thttp_resp_free(&r);
        close(fds[i]);
    }
    assert_int_equal(ok + limited, N);
    assert_true(ok >= 21 && limited >= 30); /* the new limit took effect, and stayed */
    assert_true(tproc_log_contains(&f->proxy, "keeping the settings in force"));
}

/* A short flood: A sends far more than its rate allows; B keeps a steady
 * pace. Every B request succeeds, A's excess is refused with 429 at once. */
static void test_flood_is_refused_and_others_are_served(void **state)
{
    fixture *f = *state;
    write_clients(f, "[A]\nrate = 5\nburst = 5\nmax_queued = 20\n");
    start(f, "0.001", true, NULL);
    enum { NA = 150, NB = 8 };
    int a[NA], bfd[NB];
    int sent_b = 0;
    for (int i = 0; i < NA; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"sequence\":\"flood %03d\"}", i);
        a[i] = thttp_connect(f->proxy.port);
        assert_true(
            thttp_send(a[i], "POST", "/proxy_classify", "X-Client-Id: A\r\n", body, strlen(body)));
        if (i % 20 == 0 && sent_b < NB) {
            snprintf(body, sizeof body, "{\"sequence\":\"steady b %d here\"}", sent_b);
            bfd[sent_b] = thttp_connect(f->proxy.port);
            assert_true(thttp_send(bfd[sent_b], "POST", "/proxy_classify", "X-Client-Id: B\r\n",
                                   body, strlen(body)));
            sent_b++;
        }
        tpause(0.002); /* the flood's pace: what is exercised, not ordering */
    }
    int refused = 0, okA = 0;
    double slowest_refusal = 0;
    for (int i = 0; i < NA; i++) {
        thttp_resp r;
        assert_true(thttp_recv(a[i], &r, 30));
        if (r.status == 429) {
            refused++;
            assert_detail_and_retry_after(&r);
        } else {
            assert_int_equal(r.status, 200);
            okA++;
        }
        thttp_resp_free(&r);
        close(a[i]);
    }
    for (int i = 0; i < sent_b; i++) {
        thttp_resp r;
        assert_true(thttp_recv(bfd[i], &r, 30));
        assert_int_equal(r.status, 200);
        assert_true(r.elapsed < 5); /* an order of magnitude, not a tight bound */
        thttp_resp_free(&r);
        close(bfd[i]);
    }
    (void)slowest_refusal;
    assert_true(refused >= NA / 2);
    assert_true(okA >= 5);
    assert_int_equal(okA + refused, NA);
}

/* A sender keeping `inflight` requests in flight, each under the next of
 * `ids` rotating X-Client-Id values, until told to stop. */
typedef struct rotator {
    int port, inflight, ids;
    volatile int stop;
    int sent, ok, other;
    pthread_t th;
} rotator;

static int rotator_send(rotator *rt, int n)
{
    char hdr[64], body[64];
    snprintf(hdr, sizeof hdr, "X-Client-Id: rot-%d\r\n", n % rt->ids);
    snprintf(body, sizeof body, "{\"sequence\":\"rotating %07d xyz\"}", n); /* 20 long */
    int fd = thttp_connect(rt->port);
    if (fd >= 0 && !thttp_send(fd, "POST", "/proxy_classify", hdr, body, strlen(body))) {
        close(fd);
        fd = -1;
    }
    rt->sent++;
    return fd;
}

static void *rotator_run(void *arg)
{
    rotator *rt = arg;
    struct pollfd pfd[128];
    for (int i = 0; i < rt->inflight; i++)
        pfd[i] = (struct pollfd){.fd = rotator_send(rt, rt->sent), .events = POLLIN};
    while (!rt->stop) {
        if (poll(pfd, (nfds_t)rt->inflight, 100) <= 0)
            continue;
        for (int i = 0; i < rt->inflight; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            thttp_resp r;
            if (thttp_recv(pfd[i].fd, &r, 5)) {
                rt->ok += r.status == 200;
                rt->other += r.status != 200;
                thttp_resp_free(&r);
            }
            close(pfd[i].fd);
            pfd[i].fd = rotator_send(rt, rt->sent);
        }
    }
    for (int i = 0; i < rt->inflight; i++)
        if (pfd[i].fd >= 0)
            close(pfd[i].fd);
    return NULL;
}

/* Identities anyone can invent don't take what configured clients are
 * promised: a sender keeping 100 requests in flight under 200 rotating
 * X-Client-Id values is one client (the unlisted pool) to a configured
 * steady client, which keeps being served within a batch or two while the
 * pool is served too. (Without the pool each invented id was a client of
 * its own, and the steady client waited behind ~100 of them: 504s.) */
static void test_rotating_ids_do_not_crowd_out_a_configured_client(void **state)
{
    fixture *f = *state;
    write_clients(f, "[steady]\n");
    start(f, "0.0005", true, NULL); /* 20 code points: 0.2 s a batch */
    rotator rt = {.port = f->proxy.port, .inflight = 100, .ids = 200};
    assert_int_equal(pthread_create(&rt.th, NULL, rotator_run, &rt), 0);
    /* The rotating sender has most of its requests queued. */
    double depth = thttp_await_metric(f->proxy.port, "batchproxy_queue_depth", 60, 20);
    enum { N = 8 };
    int ok = 0;
    double worst = 0;
    for (int i = 0; i < N; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"sequence\":\"steady request %03d x\"}", i); /* 20 long */
        thttp_resp r;
        post(f->proxy.port, "X-Client-Id: steady\r\nX-Timeout-Ms: 3000\r\n", body, &r);
        ok += r.status == 200;
        worst = r.elapsed > worst ? r.elapsed : worst;
        thttp_resp_free(&r);
    }
    rt.stop = 1;
    pthread_join(rt.th, NULL);
    print_message("queue depth %.0f; steady: %d of %d answered 200, slowest %.2f s; rotating "
                  "ids: %d answered 200, %d otherwise, of %d sent\n",
                  depth, ok, N, worst, rt.ok, rt.other, rt.sent);
    assert_true(depth >= 60);
    assert_int_equal(ok, N);
    assert_true(worst < 1.5); /* about 0.4 s; ~100 items ahead of it would be ~4 s */
    assert_true(rt.ok >= N);  /* the pool was served meanwhile, not shut out */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_api_keys),
        T(test_bearer_scheme_is_case_insensitive),
        T(test_reload_cannot_turn_keys_off),
        T(test_rate_limit_is_429_with_retry_after_and_fast),
        T(test_client_queue_limit_is_429),
        T(test_hopeless_deadline_is_503_at_once),
        T(test_reload_under_load_drops_nothing),
        T(test_flood_is_refused_and_others_are_served),
        T(test_rotating_ids_do_not_crowd_out_a_configured_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
