/* Tests of batchproxy's backend transport (upstream.c on hclient.c) against
 * a scripted HTTP server on the same event loop (127.0.0.1 or ::1, a free
 * port): each answer's bytes are written as the test says (at once, a byte
 * at a time, with unsolicited bytes after), and the server counts the
 * connections it accepts and the ones the client closes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "upstream.h"
#include "log.h"
#include "mono.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_ANSWERS 16
#define MAX_CONNS 16

typedef struct srv srv;

/* One accepted connection. */
typedef struct sconn {
    srv *s;
    evutil_socket_t fd;
    struct event *ev, *tick, *later;
    char in[65536];
    size_t inlen;
    const char *trickle; /* the answer being written a byte per tick */
    size_t trickle_pos;
    const char *stray; /* bytes to write a moment after the answer */
} sconn;

/* The script: answers[i] is written for the i-th request (counted over all
 * connections); NULL never answers. */
struct srv {
    struct event_base *base;
    struct evconnlistener *lis;
    int port;
    const char *answers[MAX_ANSWERS];
    bool trickle[MAX_ANSWERS]; /* a byte every 20 ms */
    bool close_after[MAX_ANSWERS];
    const char *later[MAX_ANSWERS]; /* unsolicited bytes 20 ms after the answer */
    int accepted, requests, client_closes;
    sconn *conns[MAX_CONNS];
    sconn *last; /* the connection of the latest request */
    char reqs[MAX_ANSWERS][4096];
};

typedef struct fix {
    struct event_base *base;
    srv s;
    upstream *b;
    char log_path[64];
    int saved_stderr;
} fix;

/* --- the scripted server --- */

static void sconn_close(sconn *sc)
{
    if (sc->fd < 0)
        return;
    event_free(sc->ev);
    event_free(sc->tick);
    event_free(sc->later);
    evutil_closesocket(sc->fd);
    sc->fd = -1;
}

static void swrite(sconn *sc, const char *p, size_t n)
{
    while (n > 0 && sc->fd >= 0) {
        ssize_t w = send(sc->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    sconn *sc = arg;
    swrite(sc, sc->trickle + sc->trickle_pos++, 1);
    if (sc->trickle[sc->trickle_pos] == '\0')
        event_del(sc->tick);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    sconn *sc = arg;
    swrite(sc, sc->stray, strlen(sc->stray));
}

static void answer(sconn *sc, int i)
{
    srv *s = sc->s;
    if (i >= MAX_ANSWERS || !s->answers[i])
        return;
    if (s->trickle[i]) {
        sc->trickle = s->answers[i];
        sc->trickle_pos = 0;
        struct timeval tv = {0, 20000};
        event_add(sc->tick, &tv);
        return;
    }
    swrite(sc, s->answers[i], strlen(s->answers[i]));
    if (s->later[i]) {
        sc->stray = s->later[i];
        struct timeval tv = {0, 20000};
        evtimer_add(sc->later, &tv);
    }
    if (s->close_after[i])
        sconn_close(sc);
}

/* Takes the complete requests out of sc->in and answers each. */
static void serve(sconn *sc)
{
    for (;;) {
        sc->in[sc->inlen] = '\0';
        char *end = strstr(sc->in, "\r\n\r\n");
        if (!end)
            return;
        size_t len = (size_t)(end + 4 - sc->in);
        const char *cl = strcasestr(sc->in, "\r\nContent-Length:");
        if (cl && cl < end)
            len += strtoul(cl + 17, NULL, 10);
        if (sc->inlen < len)
            return;
        srv *s = sc->s;
        int i = s->requests++;
        if (i < MAX_ANSWERS)
            snprintf(s->reqs[i], sizeof s->reqs[i], "%.*s", (int)len, sc->in);
        s->last = sc;
        memmove(sc->in, sc->in + len, sc->inlen - len);
        sc->inlen -= len;
        answer(sc, i);
        if (sc->fd < 0)
            return;
    }
}

static void on_sread(evutil_socket_t fd, short what, void *arg)
{
    sconn *sc = arg;
    ssize_t n = recv(fd, sc->in + sc->inlen, sizeof sc->in - 1 - sc->inlen, 0);
    if (n <= 0) {
        sc->s->client_closes++;
        sconn_close(sc);
        return;
    }
    sc->inlen += (size_t)n;
    serve(sc);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    srv *s = arg;
    assert_true(s->accepted < MAX_CONNS);
    sconn *sc = calloc(1, sizeof *sc);
    sc->s = s;
    sc->fd = fd;
    sc->ev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_sread, sc);
    sc->tick = event_new(s->base, -1, EV_PERSIST, on_tick, sc);
    sc->later = evtimer_new(s->base, on_later, sc);
    event_add(sc->ev, NULL);
    s->conns[s->accepted++] = sc;
}

/* Listens on host (127.0.0.1 or ::1), a free port. */
static void srv_start(srv *s, struct event_base *base, const char *host)
{
    s->base = base;
    struct sockaddr_storage ss = {0};
    int sl;
    if (strchr(host, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, host, &s6->sin6_addr), 1);
        sl = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, host, &s4->sin_addr), 1);
        sl = sizeof *s4;
    }
    s->lis = evconnlistener_new_bind(base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                     16, (struct sockaddr *)&ss, sl);
    assert_non_null(s->lis);
    sl = sizeof ss;
    getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&ss, (socklen_t *)&sl);
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
}

static void srv_stop(srv *s)
{
    if (s->lis)
        evconnlistener_free(s->lis);
    for (int i = 0; i < s->accepted; i++) {
        sconn_close(s->conns[i]);
        free(s->conns[i]);
    }
    memset(s, 0, sizeof *s);
}

/* --- the client side --- */

typedef struct res {
    bool done;
    int status;
    char body[2048];
    size_t len;
    bool nul; /* body[len] was '\0' */
    char error[256];
    double at;
    /* When set, called from the callback (as the dispatcher sends the next
     * batch from inside it). */
    void (*then)(struct res *r);
    fix *f;
} res;

static void on_res(void *arg, int status, const char *body, size_t len, const char *error)
{
    res *r = arg;
    assert_false(r->done);
    r->done = true;
    r->status = status;
    r->len = len;
    r->nul = body[len] == '\0';
    snprintf(r->body, sizeof r->body, "%.*s", (int)len, body);
    snprintf(r->error, sizeof r->error, "%s", error ? error : "");
    r->at = mono_now();
    if (r->then)
        r->then(r);
}

typedef struct check_res {
    bool done, ok;
    double at;
} check_res;

static void on_check(void *arg, bool ok)
{
    check_res *c = arg;
    c->done = true;
    c->ok = ok;
    c->at = mono_now();
}

/* Runs the loop until *flag is true or `limit` seconds have passed. */
static bool run_until(struct event_base *base, const bool *flag, double limit)
{
    double end = mono_now() + limit;
    while (!*flag && mono_now() < end) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
    return *flag;
}

/* Runs the loop until the server has seen `n` closes by the client. */
static bool run_until_closes(fix *f, int n, double limit)
{
    double end = mono_now() + limit;
    while (f->s.client_closes < n && mono_now() < end) {
        struct timeval tv = {0, 5000};
        event_base_loopexit(f->base, &tv);
        event_base_dispatch(f->base);
    }
    return f->s.client_closes >= n;
}

static void fix_backend(fix *f, const char *host, const char *path, size_t max_answer,
                        struct evdns_base *dns)
{
    char url[256], err[128];
    addr_url u;
    snprintf(url, sizeof url, strchr(host, ':') ? "http://[%s]:%d%s" : "http://%s:%d%s", host,
             f->s.port, path);
    assert_true(addr_parse_url(url, &u, err, sizeof err));
    f->b = upstream_new(f->base, dns, &u, max_answer, 0);
    assert_non_null(f->b);
}

/* The log (stderr) goes to a file while a test runs, for log_has. */
static int setup(void **state)
{
    fix *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    srv_start(&f->s, f->base, "127.0.0.1");
    fix_backend(f, "127.0.0.1", "/classify", 1 << 20, NULL);
    snprintf(f->log_path, sizeof f->log_path, "/tmp/test_upstream.%d.log", (int)getpid());
    fflush(stderr);
    f->saved_stderr = dup(2);
    FILE *lf = fopen(f->log_path, "w");
    dup2(fileno(lf), 2);
    fclose(lf);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fix *f = *state;
    /* What went to the file (the log, cmocka's failure messages) is shown. */
    fflush(stderr);
    dup2(f->saved_stderr, 2);
    close(f->saved_stderr);
    FILE *lf = fopen(f->log_path, "r");
    char line[1024];
    while (lf && fgets(line, sizeof line, lf))
        fputs(line, stderr);
    if (lf)
        fclose(lf);
    unlink(f->log_path);
    upstream_free(f->b);
    srv_stop(&f->s);
    event_base_free(f->base);
    free(f);
    return 0;
}

static bool log_has(fix *f, const char *needle)
{
    fflush(stderr);
    FILE *lf = fopen(f->log_path, "r");
    char line[1024];
    bool found = false;
    while (!found && lf && fgets(line, sizeof line, lf))
        found = strstr(line, needle) != NULL;
    if (lf)
        fclose(lf);
    return found;
}

#define OK(body) "HTTP/1.1 200 OK\r\nContent-Length: " #body "\r\n\r\n"
static const char ANS_ONE[] = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n[\"one\"]\r\n";
static const char ANS_TWO[] = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n[\"two\"]\r\n";
static const char ANS_LIE[] = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n[\"lie\"]\r\n";

/* A batch POST and its answer, within `limit` seconds. */
static void post(fix *f, res *r, double timeout, double limit)
{
    r->f = f;
    upstream_request(f->b, "POST", NULL, "{\"sequences\": [\"x\"]}", 20, timeout, on_res, r);
    assert_false(r->done); /* never from inside the call */
    assert_true(run_until(f->base, &r->done, limit));
}

/* --- tests --- */

static void test_clean_exchanges_share_one_connection(void **state)
{
    fix *f = *state;
    for (int i = 0; i < 3; i++)
        f->s.answers[i] = i == 1 ? ANS_TWO : ANS_ONE;
    for (int i = 0; i < 3; i++) {
        res r = {0};
        post(f, &r, 5, 5);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, i == 1 ? "[\"two\"]\r\n" : "[\"one\"]\r\n");
        assert_int_equal(r.len, 9);
        assert_true(r.nul);
    }
    assert_int_equal(f->s.accepted, 1);
    assert_int_equal(f->s.requests, 3);
    char want[512];
    snprintf(want, sizeof want,
             "POST /classify HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
             "Content-Length: 20\r\n\r\n{\"sequences\": [\"x\"]}",
             f->s.port);
    assert_string_equal(f->s.reqs[0], want);
    assert_true(upstream_last_contact(f->b) > 0);
}

/* Item 2 of the review: one more well-formed answer right after the first,
 * in the same read. The first exchange is not clean (failed, connection
 * closed); the next batch goes on a fresh connection and gets its own
 * answer, not the leftover. */
static void test_extra_answer_in_the_same_read_fails_the_exchange(void **state)
{
    fix *f = *state;
    static char both[256];
    snprintf(both, sizeof both, "%s%s", ANS_ONE, ANS_LIE);
    f->s.answers[0] = both;
    f->s.answers[1] = ANS_TWO;
    res r1 = {0}, r2 = {0};
    post(f, &r1, 5, 5);
    assert_int_equal(r1.status, 0);
    assert_non_null(strstr(r1.error, "unexpected bytes after the answer"));
    post(f, &r2, 5, 5);
    assert_int_equal(r2.status, 200);
    assert_string_equal(r2.body, "[\"two\"]\r\n");
    assert_int_equal(f->s.accepted, 2);
}

/* The extra answer comes a moment later, while the connection is idle: the
 * client closes it (warn), and the next batch gets its own answer. */
static void test_bytes_on_an_idle_connection_close_it(void **state)
{
    fix *f = *state;
    f->s.answers[0] = ANS_ONE;
    f->s.later[0] = ANS_LIE;
    f->s.answers[1] = ANS_TWO;
    res r1 = {0}, r2 = {0};
    post(f, &r1, 5, 5);
    assert_int_equal(r1.status, 200);
    assert_string_equal(r1.body, "[\"one\"]\r\n");
    assert_true(run_until_closes(f, 1, 5));
    assert_true(log_has(f, "unsolicited bytes while no answer was due"));
    assert_true(log_has(f, " warn: "));
    post(f, &r2, 5, 5);
    assert_int_equal(r2.status, 200);
    assert_string_equal(r2.body, "[\"two\"]\r\n");
    assert_int_equal(f->s.accepted, 2);
}

/* As the dispatcher does, the next batch is sent from inside the answer's
 * callback; the stray answer is already waiting in the socket then. */
static res *next_res;
static void send_next_after_stray(res *r)
{
    sconn *sc = r->f->s.last;
    swrite(sc, ANS_LIE, strlen(ANS_LIE));
    /* Until the client's kernel has it (acknowledged: nothing left unsent
     * or unacknowledged on our side). */
    int unacked = 1;
    double end = mono_now() + 2;
    while (ioctl(sc->fd, TIOCOUTQ, &unacked) == 0 && unacked > 0 && mono_now() < end)
        usleep(1000);
    assert_int_equal(unacked, 0);
    upstream_request(r->f->b, "POST", NULL, "{\"sequences\": [\"x\"]}", 20, 5, on_res, next_res);
}

static void test_stray_answer_waiting_at_the_next_send_is_not_taken(void **state)
{
    fix *f = *state;
    f->s.answers[0] = ANS_ONE;
    f->s.answers[1] = ANS_TWO;
    res r1 = {.then = send_next_after_stray}, r2 = {0};
    next_res = &r2;
    post(f, &r1, 5, 5);
    assert_int_equal(r1.status, 200);
    assert_true(run_until(f->base, &r2.done, 5));
    assert_int_equal(r2.status, 200);
    assert_string_equal(r2.body, "[\"two\"]\r\n");
    assert_int_equal(f->s.accepted, 2);
    assert_true(log_has(f, "unsolicited bytes were waiting"));
}

/* Item 4 of the review: an answer trickled a byte every 20 ms (about 1 s in
 * all) fails at the attempt's hard deadline, not at the last byte; the next
 * request goes on a fresh connection. */
static void trickled(fix *f, const char *answer)
{
    f->s.answers[0] = answer;
    f->s.trickle[0] = true;
    f->s.answers[1] = ANS_TWO;
    res r1 = {0}, r2 = {0};
    double t0 = mono_now();
    post(f, &r1, 0.3, 10);
    assert_int_equal(r1.status, 0);
    assert_non_null(strstr(r1.error, "timed out"));
    assert_true(r1.at - t0 >= 0.25);
    assert_true(r1.at - t0 < 0.9); /* the trickle alone takes 1.1 s or more */
    post(f, &r2, 5, 5);
    assert_int_equal(r2.status, 200);
    assert_int_equal(f->s.accepted, 2);
}

static void test_trickled_head_fails_at_the_deadline(void **state)
{
    trickled(*state, "HTTP/1.1 200 OK\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaa\r\nContent-Length: 2\r\n"
                     "\r\nok");
}

static void test_trickled_body_fails_at_the_deadline(void **state)
{
    static char a[256];
    snprintf(a, sizeof a, "HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n%060d", 7);
    trickled(*state, a);
}

static void test_silent_backend_fails_at_the_deadline(void **state)
{
    fix *f = *state;
    res r = {0};
    double t0 = mono_now();
    post(f, &r, 0.2, 5);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.error, "timed out"));
    assert_true(r.at - t0 >= 0.15 && r.at - t0 < 2);
}

static void test_chunked_answers(void **state)
{
    fix *f = *state;
    f->s.answers[0] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\n[\"o\r\n4;ext=1\r\nne\"]\r\n0\r\nX-Trailer: t\r\n\r\n";
    f->s.answers[1] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    res r1 = {0}, r2 = {0};
    post(f, &r1, 5, 5);
    assert_int_equal(r1.status, 200);
    assert_int_equal(r1.len, 7);
    assert_string_equal(r1.body, "[\"one\"]");
    assert_true(r1.nul);
    post(f, &r2, 5, 5);
    assert_int_equal(r2.status, 200);
    assert_int_equal(r2.len, 0);
    assert_int_equal(f->s.accepted, 1);
}

static void test_malformed_chunked_answer_fails(void **state)
{
    fix *f = *state;
    f->s.answers[0] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n";
    res r = {0};
    post(f, &r, 5, 5);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.error, "malformed chunked answer"));
}

/* max_answer bounds the body however it is framed: exactly the limit
 * passes, one byte more fails. */
static void test_answers_over_the_size_limit_fail(void **state)
{
    fix *f = *state;
    upstream_free(f->b);
    fix_backend(f, "127.0.0.1", "/classify", 10, NULL);
    f->s.answers[0] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
    f->s.answers[1] = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789a";
    f->s.answers[2] = "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n";
    f->s.answers[3] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n";
    f->s.answers[4] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\n01234\r\n6\r\n56789a\r\n0\r\n\r\n";
    f->s.answers[5] = "HTTP/1.1 200 OK\r\n\r\n0123456789a";
    f->s.close_after[5] = true;
    const bool passes[] = {true, false, false, true, false, false};
    for (int i = 0; i < 6; i++) {
        res r = {0};
        post(f, &r, 5, 5);
        if (passes[i]) {
            assert_int_equal(r.status, 200);
            assert_string_equal(r.body, "0123456789");
        } else {
            assert_int_equal(r.status, 0);
            assert_non_null(strstr(r.error, "too large"));
        }
    }
}

static void test_interim_answers_are_skipped(void **state)
{
    fix *f = *state;
    f->s.answers[0] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                      "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n[\"one\"]\r\n";
    res r = {0};
    post(f, &r, 5, 5);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "[\"one\"]\r\n");
    /* ... but not without end, nor a 101 nobody asked for. */
    static char many[1024];
    many[0] = '\0';
    for (int i = 0; i < 9; i++)
        strcat(many, "HTTP/1.1 100 Continue\r\n\r\n");
    strcat(many, OK(2) "ok");
    f->s.answers[1] = many;
    f->s.answers[2] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n";
    for (int i = 0; i < 2; i++) {
        res rb = {0};
        post(f, &rb, 5, 5);
        assert_int_equal(rb.status, 0);
        assert_non_null(strstr(rb.error, "malformed answer"));
    }
}

/* An answer that doesn't keep the connection alive, or ends at the close,
 * is the connection's last; the next request opens another. */
static void test_connection_kept_only_when_the_answer_says_so(void **state)
{
    fix *f = *state;
    f->s.answers[0] = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
    f->s.answers[1] = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
    f->s.answers[2] = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok";
    f->s.answers[3] = "HTTP/1.1 200 OK\r\n\r\nuntil the close";
    f->s.close_after[3] = true;
    f->s.answers[4] = "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\nbusy";
    f->s.answers[5] = OK(2) "ok";
    const int conns_after[] = {1, 2, 3, 3, 4, 4};
    for (int i = 0; i < 6; i++) {
        res r = {0};
        post(f, &r, 5, 5);
        assert_int_equal(r.status, i == 4 ? 429 : 200);
        assert_string_equal(r.body, i == 3 ? "until the close" : i == 4 ? "busy" : "ok");
        assert_int_equal(f->s.accepted, conns_after[i]);
    }
}

static void test_closed_or_malformed_answers_fail(void **state)
{
    fix *f = *state;
    f->s.answers[0] = "";
    f->s.close_after[0] = true;
    f->s.answers[1] = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nshort";
    f->s.close_after[1] = true;
    f->s.answers[2] = "HTTP/1.1 200 OK\r\nContent-Length: 2\nX-Bare-LF: 1\r\n\r\nok";
    f->s.answers[3] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok";
    f->s.answers[4] = "HTTP/1.1 200 OK\r\n" OK(2) "ok";
    const char *why[] = {"closed before an answer", "closed in the middle of the answer",
                         "malformed answer head", "malformed answer head", "malformed answer head"};
    for (int i = 0; i < 5; i++) {
        res r = {0};
        post(f, &r, 5, 5);
        assert_int_equal(r.status, 0);
        if (!strstr(r.error, why[i]))
            fail_msg("answer %d: %s", i, r.error);
    }
    assert_int_equal(f->s.accepted, 5);
}

static void test_refused_connection_is_reported(void **state)
{
    fix *f = *state;
    upstream_free(f->b);
    f->b = NULL;
    int port = f->s.port;
    srv_stop(&f->s); /* nothing listens on the port any more */
    f->s.port = port;
    f->s.base = f->base;
    fix_backend(f, "127.0.0.1", "/classify", 1 << 20, NULL);
    res r = {0};
    post(f, &r, 5, 5);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.error, "connection refused");
    assert_true(upstream_last_contact(f->b) < 0);
}

static void test_paths_and_health_checks(void **state)
{
    fix *f = *state;
    upstream_free(f->b);
    fix_backend(f, "127.0.0.1", "/v2/models/m/", 1 << 20, NULL);
    for (int i = 0; i < 5; i++)
        f->s.answers[i] = OK(2) "ok";
    f->s.answers[3] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    res r1 = {0}, r2 = {0};
    r1.f = r2.f = f;
    upstream_request(f->b, "POST", "infer", "{}", 2, 5, on_res, &r1);
    assert_true(run_until(f->base, &r1.done, 5));
    upstream_request(f->b, "GET", "/health", NULL, 0, 5, on_res, &r2);
    assert_true(run_until(f->base, &r2.done, 5));
    assert_int_equal(r2.status, 200);
    check_res c1 = {0}, c2 = {0}, c3 = {0};
    upstream_check(f->b, 5, on_check, &c1);
    assert_false(c1.done);
    assert_true(run_until(f->base, &c1.done, 5));
    assert_true(c1.ok);
    assert_true(upstream_set_health_path(f->b, "ready"));
    upstream_check(f->b, 5, on_check, &c2);
    assert_true(run_until(f->base, &c2.done, 5));
    assert_false(c2.ok); /* 503 */
    assert_true(strncmp(f->s.reqs[0], "POST /v2/models/m/infer HTTP/1.1\r\n", 34) == 0);
    assert_true(strncmp(f->s.reqs[1], "GET /health HTTP/1.1\r\n", 22) == 0);
    assert_null(strstr(f->s.reqs[1], "Content-Length"));
    assert_true(strncmp(f->s.reqs[2], "GET /healthz HTTP/1.1\r\n", 23) == 0);
    assert_true(strncmp(f->s.reqs[3], "GET /v2/models/m/ready HTTP/1.1\r\n", 33) == 0);
    assert_int_equal(f->s.accepted, 2); /* batches and probes: one connection each */
    /* A probe that trickles fails at its deadline too. */
    f->s.trickle[4] = true;
    double t0 = mono_now();
    upstream_check(f->b, 0.2, on_check, &c3);
    assert_true(run_until(f->base, &c3.done, 5));
    assert_false(c3.ok);
    assert_true(c3.at - t0 < 0.5);
}

static void test_ipv6_literal_and_host_name(void **state)
{
    fix *f = *state;
    upstream_free(f->b);
    srv_stop(&f->s);
    srv_start(&f->s, f->base, "::1");
    fix_backend(f, "::1", "/classify", 1 << 20, NULL);
    f->s.answers[0] = ANS_ONE;
    f->s.answers[1] = ANS_TWO;
    res r1 = {0}, r2 = {0};
    post(f, &r1, 5, 5);
    assert_int_equal(r1.status, 200);
    assert_true(strstr(f->s.reqs[0], "\r\nHost: [::1]:") != NULL);
    upstream_free(f->b);
    srv_stop(&f->s);
    /* A name, resolved asynchronously (localhost: /etc/hosts). */
    struct evdns_base *dns = evdns_base_new(f->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                                         EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    assert_non_null(dns);
    srv_start(&f->s, f->base, "127.0.0.1");
    f->s.answers[0] = ANS_TWO;
    fix_backend(f, "localhost", "/classify", 1 << 20, dns);
    post(f, &r2, 5, 5);
    assert_int_equal(r2.status, 200);
    assert_string_equal(r2.body, "[\"two\"]\r\n");
    upstream_free(f->b);
    f->b = NULL;
    evdns_base_free(dns, 0);
}

int main(void)
{
    log_init("test_upstream", LOG_INFO);
    const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
        T(test_clean_exchanges_share_one_connection),
        T(test_extra_answer_in_the_same_read_fails_the_exchange),
        T(test_bytes_on_an_idle_connection_close_it),
        T(test_stray_answer_waiting_at_the_next_send_is_not_taken),
        T(test_trickled_head_fails_at_the_deadline),
        T(test_trickled_body_fails_at_the_deadline),
        T(test_silent_backend_fails_at_the_deadline),
        T(test_chunked_answers),
        T(test_malformed_chunked_answer_fails),
        T(test_answers_over_the_size_limit_fail),
        T(test_interim_answers_are_skipped),
        T(test_connection_kept_only_when_the_answer_says_so),
        T(test_closed_or_malformed_answers_fail),
        T(test_refused_connection_is_reported),
        T(test_paths_and_health_checks),
        T(test_ipv6_literal_and_host_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
