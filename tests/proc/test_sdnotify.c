/* The readiness protocol of systemd's Type=notify (src/net/sdnotify.c):
 * datagrams reach the socket $NOTIFY_SOCKET names, a path or an abstract
 * one, and nothing happens without it; batchproxy says READY=1 once it
 * serves, RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a SIGHUP
 * reload and STOPPING=1 when it drains; classifyd says READY=1 and
 * STOPPING=1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "sdnotify.h"
#include "tproc.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

typedef struct listener {
    int fd;
    char path[108];
} listener;

/* A datagram socket bound to a fresh path (or, abstract, to "@name"), and
 * NOTIFY_SOCKET naming it for this process and the children it starts. */
static void listen_notify(listener *l, bool abstract)
{
    static int seq;
    snprintf(l->path, sizeof l->path, "%s/bp-notify-%d-%d", abstract ? "@" : "/tmp", (int)getpid(),
             seq++);
    l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(l->fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(l->path);
    memcpy(sa.sun_path, l->path, n);
    if (abstract)
        sa.sun_path[0] = '\0';
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + !abstract);
    unlink(l->path);
    assert_int_equal(bind(l->fd, (struct sockaddr *)&sa, len), 0);
    setenv("NOTIFY_SOCKET", l->path, 1);
}

static void close_notify(listener *l)
{
    close(l->fd);
    if (l->path[0] == '/')
        unlink(l->path);
    unsetenv("NOTIFY_SOCKET");
}

/* The next datagram within `limit` seconds, into buf; false if none came. */
static bool next_message(const listener *l, char *buf, size_t size, double limit)
{
    struct pollfd p = {.fd = l->fd, .events = POLLIN};
    if (poll(&p, 1, (int)(limit * 1000)) != 1)
        return false;
    ssize_t n = recv(l->fd, buf, size - 1, 0);
    if (n < 0)
        return false;
    buf[n] = '\0';
    return true;
}

static void expect_message(const listener *l, const char *want)
{
    char got[256];
    assert_true(next_message(l, got, sizeof got, 15));
    assert_string_equal(got, want);
}

static void test_sends_to_path_and_abstract_sockets(void **state)
{
    (void)state;
    for (int abstract = 0; abstract <= 1; abstract++) {
        listener l;
        listen_notify(&l, abstract);
        assert_true(sdnotify_ready());
        expect_message(&l, "READY=1");
        assert_true(sdnotify_stopping());
        expect_message(&l, "STOPPING=1");
        close_notify(&l);
    }
}

/* RELOADING=1 carries the monotonic time in microseconds, as systemd wants
 * it to tell this reload from an earlier one. */
static void test_reloading_carries_monotonic_usec(void **state)
{
    (void)state;
    listener l;
    listen_notify(&l, false);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long before = (unsigned long long)ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
    assert_true(sdnotify_reloading());
    char got[256];
    assert_true(next_message(&l, got, sizeof got, 5));
    unsigned long long usec = 0;
    assert_int_equal(sscanf(got, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
    assert_true(usec >= before && usec < before + 60000000ULL);
    close_notify(&l);
}

static void test_without_socket_does_nothing(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_true(sdnotify_ready());
    setenv("NOTIFY_SOCKET", "", 1);
    assert_true(sdnotify_ready());
    /* A name that is neither a path nor abstract, or a socket that isn't
     * there, is a failure to say so, not a crash. */
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_false(sdnotify_ready());
    setenv("NOTIFY_SOCKET", "/nonexistent/bp-notify", 1);
    assert_false(sdnotify_ready());
    unsetenv("NOTIFY_SOCKET");
}

static void test_batchproxy_ready_reload_stopping(void **state)
{
    (void)state;
    listener l;
    listen_notify(&l, false);
    tproc be = {0}, px = {0};
    assert_true(tproc_start(&be, "classifyd", (const char *[]){"--cost", "0", NULL}));
    expect_message(&l, "READY=1");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", be.port);
    assert_true(tproc_start(&px, "batchproxy", (const char *[]){"--backend", url, NULL}));
    expect_message(&l, "READY=1");
    /* Ready means serving. */
    thttp_resp r;
    assert_true(thttp_request(px.port, "GET", "/healthz", NULL, NULL, &r, 5));
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);

    assert_true(tproc_signal(&px, SIGHUP));
    char got[256];
    assert_true(next_message(&l, got, sizeof got, 15));
    assert_non_null(strstr(got, "RELOADING=1\nMONOTONIC_USEC="));
    expect_message(&l, "READY=1");

    assert_true(tproc_signal(&px, SIGTERM));
    expect_message(&l, "STOPPING=1");
    assert_int_equal(tproc_wait(&px, 15), 0);
    assert_true(tproc_signal(&be, SIGTERM));
    expect_message(&l, "STOPPING=1");
    assert_int_equal(tproc_wait(&be, 15), 0);
    close_notify(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sends_to_path_and_abstract_sockets),
        cmocka_unit_test(test_reloading_carries_monotonic_usec),
        cmocka_unit_test(test_without_socket_does_nothing),
        cmocka_unit_test(test_batchproxy_ready_reload_stopping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
