/* Scaling out: HAProxy (deploy/haproxy.cfg, ports replaced by free ones) in
 * front of 2 batchproxy, each with 2 classifyd of its own. One batchproxy
 * is killed with SIGKILL once it has served a share of the clients, who go
 * on until each has been served after the kill: HAProxy moves its clients
 * to the other,
 * only the requests in flight on the killed proxy fail, and every request
 * is accounted for. Skipped (exit 77, which ctest reports as not run) when
 * haproxy is not installed; scripts/deps.sh check installs it. */
#include "tcheck.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#define HAPROXY "/usr/sbin/haproxy"
#define CLIENTS 16
#define RUN_CAP_S 60.0        /* the clients stop by then whatever happens */
#define SERVED_BEFORE_KILL 40 /* requests bp1 answers before it is killed */

typedef struct fix {
    tproc be[4], bp[2], haproxy;
    int port;
    char cfg[256], log[256];
} fix;

static int setup(void **state)
{
    *state = calloc(1, sizeof(fix));
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    fix *f = *state;
    tproc_stop(&f->haproxy, 5);
    for (int i = 0; i < 2; i++)
        tproc_stop(&f->bp[i], 5);
    for (int i = 0; i < 4; i++)
        tproc_stop(&f->be[i], 5);
    if (f->cfg[0])
        unlink(f->cfg);
    if (f->log[0])
        unlink(f->log);
    free(f);
    return 0;
}

/* A free loopback port: bind port 0, read it back, close. HAProxy can't be
 * told to pick one itself; the short race with other programs is accepted. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* deploy/haproxy.cfg with its three addresses replaced. */
static void write_config(fix *f, int p1, int p2)
{
    FILE *in = fopen(BP_SOURCE_DIR "/deploy/haproxy.cfg", "r");
    assert_non_null(in);
    snprintf(f->cfg, sizeof f->cfg, "/tmp/bp-haproxy-%d.cfg", (int)getpid());
    FILE *out = fopen(f->cfg, "w");
    assert_non_null(out);
    char line[1024];
    const char *from[] = {"127.0.0.1:8000", "127.0.0.1:8101", "127.0.0.1:8102"};
    int to[] = {f->port, p1, p2};
    while (fgets(line, sizeof line, in)) {
        for (int k = 0; k < 3; k++) {
            char *at = strstr(line, from[k]);
            if (at) {
                char rest[1024];
                snprintf(rest, sizeof rest, "%s", at + strlen(from[k]));
                snprintf(at, sizeof line - (size_t)(at - line), "127.0.0.1:%d%s", to[k], rest);
            }
        }
        fputs(line, out);
    }
    fclose(in);
    fclose(out);
}

/* HAProxy on *port answers /healthz 200 (both proxies are up behind it). */
static bool haproxy_ready(void *port)
{
    thttp_resp r;
    if (!thttp_request(*(const int *)port, "GET", "/healthz", NULL, NULL, &r, 2))
        return false;
    int st = r.status;
    thttp_resp_free(&r);
    return st == 200;
}

static void start_haproxy(fix *f)
{
    snprintf(f->log, sizeof f->log, "/tmp/bp-haproxy-%d.log", (int)getpid());
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(HAPROXY, "haproxy", "-db", "-f", f->cfg, (char *)NULL);
        _exit(127);
    }
    f->haproxy.pid = pid;
    if (!tproc_wait_for(haproxy_ready, &f->port, 10))
        fail_msg("haproxy did not come up (log %s)", f->log);
}

typedef struct outcome {
    double sent, done;
    int status;
    int by; /* 1 or 2: the X-Served-By proxy, 0 if none */
} outcome;

/* Set by the test's thread, read by the clients'. */
static atomic_bool bp1_dead, clients_stop;

typedef struct client {
    int port, idx;
    double t0;
    outcome out[2000];
    int n;
    atomic_bool served_after_kill; /* a request sent once bp1 was dead got its 200 */
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    char hdr[64];
    snprintf(hdr, sizeof hdr, "X-Client-Id: c%02d\r\n", c->idx);
    while (!atomic_load(&clients_stop) && tnow() - c->t0 < RUN_CAP_S && c->n < 2000) {
        bool after = atomic_load(&bp1_dead);
        char body[128];
        snprintf(body, sizeof body, "{\"sequence\": \"ha c%02d r%04d\"}", c->idx, c->n);
        outcome *o = &c->out[c->n++];
        o->sent = tnow() - c->t0;
        thttp_resp r;
        if (!thttp_request(c->port, "POST", "/proxy_classify", hdr, body, &r, 15)) {
            o->status = -1;
        } else {
            o->status = r.status;
            char v[32];
            const char *by = thttp_header(&r, "X-Served-By", v, sizeof v);
            o->by = by && strcmp(by, "bp1") == 0 ? 1 : by && strcmp(by, "bp2") == 0 ? 2 : 0;
            thttp_resp_free(&r);
            if (after && o->status == 200)
                atomic_store(&c->served_after_kill, true);
        }
        o->done = tnow() - c->t0;
    }
    return NULL;
}

static bool bp1_served_enough(void *port)
{
    return tcheck_metric_sum(*(const int *)port, "batchproxy_requests_total", NULL) >=
           SERVED_BEFORE_KILL;
}

static bool all_served_after_kill(void *clients)
{
    client *cs = clients;
    for (int i = 0; i < CLIENTS; i++)
        if (!atomic_load(&cs[i].served_after_kill))
            return false;
    return true;
}

static void test_haproxy_failover(void **state)
{
    fix *f = *state;
    const char *cargs[] = {"--cost", "0.0005", "--quiet", NULL};
    for (int i = 0; i < 4; i++)
        tcheck_start(&f->be[i], "classifyd", cargs);
    for (int p = 0; p < 2; p++) {
        char b0[64], b1[64];
        snprintf(b0, sizeof b0, "http://127.0.0.1:%d", f->be[2 * p].port);
        snprintf(b1, sizeof b1, "http://127.0.0.1:%d", f->be[2 * p + 1].port);
        const char *args[] = {"--backend", b0, "--backend", b1, "--log-level", "warn", NULL};
        tcheck_start(&f->bp[p], "batchproxy", args);
    }
    f->port = free_port();
    write_config(f, f->bp[0].port, f->bp[1].port);
    start_haproxy(f);

    static client cs[CLIENTS];
    pthread_t th[CLIENTS];
    double t0 = tnow();
    for (int i = 0; i < CLIENTS; i++) {
        cs[i] = (client){.port = f->port, .idx = i, .t0 = t0};
        pthread_create(&th[i], NULL, client_main, &cs[i]);
    }
    /* Killed mid-run: once it has served its share of clients for a while;
     * the run goes on until every client has been served after that. */
    assert_true(tproc_wait_for(bp1_served_enough, &f->bp[0].port, 30));
    double killed = tnow() - t0;
    assert_true(tproc_signal(&f->bp[0], SIGKILL));
    tproc_wait(&f->bp[0], 5);
    double dead = tnow() - t0;
    atomic_store(&bp1_dead, true);
    bool all_served = tproc_wait_for(all_served_after_kill, cs, 30);
    atomic_store(&clients_stop, true);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    assert_true(all_served);

    int sent = 0, ok = 0, failed = 0, by2 = 0, moved = 0, on1 = 0;
    for (int i = 0; i < CLIENTS; i++) {
        bool was_on1 = false, later_on2 = false;
        int fails = 0;
        for (int k = 0; k < cs[i].n; k++) {
            const outcome *o = &cs[i].out[k];
            sent++;
            if (o->status == 200) {
                ok++;
                by2 += o->by == 2;
                if (o->by == 1) {
                    /* bp1 never answers after it died. */
                    assert_true(o->sent < dead);
                    was_on1 = true;
                }
                if (o->by == 2 && o->sent > dead)
                    later_on2 = true;
                /* Consistent hashing: before the kill, each client sticks to
                 * one proxy. (A request in flight at the kill may be resent
                 * to the other proxy by HAProxy's retry-on, so only those
                 * answered before it count.) */
                if (o->done < killed && k > 0 && cs[i].out[k - 1].status == 200)
                    assert_int_equal(o->by, cs[i].out[k - 1].by);
                continue;
            }
            /* A failure is a request that was in flight on bp1 when it died. */
            failed++;
            fails++;
            if (o->sent > dead || o->done < killed)
                fail_msg("client %d request %d: status %d, sent at %.3f s, done %.3f s, kill at "
                         "%.3f s, dead at %.3f s",
                         i, k, o->status, o->sent, o->done, killed, dead);
            assert_true(o->status == 502 || o->status == 503 || o->status == -1);
        }
        assert_true(fails <= 1); /* one request in flight per client */
        on1 += was_on1;
        moved += was_on1 && later_on2;
    }
    printf("# %d clients: %d on bp1 before the kill, %d moved to bp2; %d requests sent, %d "
           "served, %d failed (in flight on bp1)\n",
           CLIENTS, on1, moved, sent, ok, failed);
    assert_true(on1 >= 1);
    assert_int_equal(moved, on1);
    assert_true(failed <= on1);
    assert_int_equal(sent, ok + failed);
    /* bp2 counted every request it answered. */
    double counted = tcheck_metric_sum(f->bp[1].port, "batchproxy_requests_total", NULL);
    assert_true(counted == by2);

    tproc_stop(&f->haproxy, 5);
    assert_true(tproc_stop_clean(&f->bp[1], 10));
    for (int i = 0; i < 4; i++)
        assert_true(tproc_stop_clean(&f->be[i], 10));
}

int main(void)
{
    if (access(HAPROXY, X_OK) != 0) {
        printf("SKIP: %s is not installed (scripts/deps.sh check installs it)\n", HAPROXY);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_haproxy_failover, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
