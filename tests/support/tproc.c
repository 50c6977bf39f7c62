/* tproc: process-level test support (see tproc.h). */
#include "tproc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#ifndef BP_BUILD_DIR
#error "BP_BUILD_DIR must name the directory holding the programs"
#endif

double tnow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reads the port from the log's "listening on HOST:PORT" line, or 0. */
static int read_port(const char *log_path)
{
    FILE *f = fopen(log_path, "r");
    if (!f)
        return 0;
    char line[512];
    int port = 0;
    while (!port && fgets(line, sizeof line, f)) {
        char *at = strstr(line, "listening on ");
        char *colon = at ? strrchr(at, ':') : NULL;
        if (colon)
            port = atoi(colon + 1);
    }
    fclose(f);
    return port;
}

/* Forks BUILD_DIR/prog with args (NULL-terminated; "--listen
 * 127.0.0.1:0" appended when `listen` and args have none), stdout to
 * out_path and stderr to err_path (the same file when equal). The child
 * dies with the test process. Returns its pid, or -1. */
static pid_t spawn(const char *prog, const char *const *args, bool listen, const char *out_path,
                   const char *err_path)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", BP_BUILD_DIR, prog);
    const char *argv[64];
    int n = 0;
    argv[n++] = path;
    for (; args && *args && n < 60; args++)
        argv[n++] = *args;
    bool has_listen = false, has_cache = false;
    for (int i = 1; i < n; i++) {
        has_listen |= strcmp(argv[i], "--listen") == 0;
        has_cache |= strcmp(argv[i], "--metrics-cache-ms") == 0 || strcmp(argv[i], "--config") == 0;
    }
    if (listen && !has_listen) {
        argv[n++] = "--listen";
        argv[n++] = "127.0.0.1:0";
    }
    /* Tests read a counter right after what moves it: a page kept for a
     * second would show the one before. */
    if (listen && !has_cache && strcmp(prog, "batchproxy") == 0) {
        argv[n++] = "--metrics-cache-ms";
        argv[n++] = "0";
    }
    argv[n] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = strcmp(out_path, err_path) ? open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : out;
    if (out < 0 || err < 0)
        _exit(127);
    dup2(out, 1);
    dup2(err, 2);
    if (err != out && err > 2)
        close(err);
    if (out > 2)
        close(out);
    execv(path, (char *const *)argv);
    _exit(127);
}

bool tproc_start(tproc *p, const char *prog, const char *const *args)
{
    static int serial;
    memset(p, 0, sizeof *p);
    snprintf(p->log_path, sizeof p->log_path, "%s/tests/logs/%s-%d-%d.log", BP_BUILD_DIR, prog,
             (int)getpid(), serial++);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/tests/logs", BP_BUILD_DIR);
    mkdir(dir, 0755);

    pid_t pid = spawn(prog, args, true, p->log_path, p->log_path);
    if (pid < 0)
        return false;
    p->pid = pid;

    /* Wait for readiness: the line appears once the socket is bound. */
    double deadline = tnow() + 15;
    while (tnow() < deadline) {
        p->port = read_port(p->log_path);
        if (p->port > 0)
            return true;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            p->pid = 0;
            printf("%s exited before listening:\n", prog);
            tproc_dump_log(p);
            return false;
        }
        pause_ms(5);
    }
    printf("%s did not listen within 15 s:\n", prog);
    tproc_dump_log(p);
    tproc_stop(p, 0);
    return false;
}

long tproc_proc_value(pid_t pid, const char *file, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    FILE *f = fopen(path, "r");
    long value = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0)
            value = strtol(line + n, NULL, 10);
    if (f)
        fclose(f);
    return value;
}

int tpair_setup(void **state)
{
    tpair *p = calloc(1, sizeof *p);
    *state = p;
    return p ? 0 : -1;
}

int tpair_teardown(void **state)
{
    tpair *p = *state;
    bool clean = tproc_stop_clean(&p->proxy, 5);
    clean &= tproc_stop_clean(&p->backend, 5);
    free(p);
    return clean ? 0 : -1;
}

int tproc_run(const char *prog, const char *const *args, const char *out_path, const char *err_path,
              double limit)
{
    tproc child = {.pid = spawn(prog, args, false, out_path, err_path)};
    return tproc_wait(&child, limit);
}

bool tproc_signal(const tproc *p, int sig)
{
    return p->pid > 0 && kill(p->pid, sig) == 0;
}

int tproc_stop(tproc *p, double grace)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    return tproc_wait(p, grace);
}

int tproc_wait(tproc *p, double timeout)
{
    if (p->pid <= 0)
        return -1;
    double deadline = tnow() + timeout;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid)
            break;
        if (tnow() >= deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            p->pid = 0;
            return -1;
        }
        pause_ms(5);
    }
    p->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

bool tproc_stop_clean(tproc *p, double grace)
{
    if (p->pid <= 0)
        return true;
    int status = tproc_stop(p, grace);
    bool clean = status == 0 && !tproc_log_contains(p, "Sanitizer") &&
                 !tproc_log_contains(p, "runtime error");
    if (!clean) {
        printf("%s: exit status %d, log:\n", p->log_path, status);
        tproc_dump_log(p);
    }
    return clean;
}

bool tfile_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

bool tproc_log_contains(const tproc *p, const char *needle)
{
    return tfile_contains(p->log_path, needle);
}

void tproc_dump_log(const tproc *p)
{
    FILE *f = fopen(p->log_path, "r");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f))
        printf("  | %s", line);
    fclose(f);
}

int thttp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

bool thttp_send(int fd, const char *method, const char *path, const char *extra_headers,
                const char *body, size_t len)
{
    size_t cap = 1024 + (extra_headers ? strlen(extra_headers) : 0) + len;
    char *buf = malloc(cap);
    if (!buf)
        return false;
    int n =
        snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%sContent-Length: %zu\r\n\r\n",
                 method, path, body ? "Content-Type: application/json\r\n" : "",
                 extra_headers ? extra_headers : "", len);
    if (body)
        memcpy(buf + n, body, len);
    size_t total = (size_t)n + len, off = 0;
    while (off < total) {
        ssize_t w = send(fd, buf + off, total - off, MSG_NOSIGNAL);
        if (w <= 0) {
            free(buf);
            return false;
        }
        off += (size_t)w;
    }
    free(buf);
    return true;
}

/* Reads into buf until `want` bytes are there or the deadline passes. */
static bool read_until(int fd, char **buf, size_t *have, size_t *cap, size_t want, double deadline,
                       const char *marker)
{
    for (;;) {
        if (marker && *have && memmem(*buf, *have, marker, strlen(marker)))
            return true;
        if (!marker && *have >= want)
            return true;
        double left = deadline - tnow();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        if (*have + 4096 > *cap) {
            *cap = (*have + 4096) * 2;
            char *nb = realloc(*buf, *cap + 1);
            if (!nb)
                return false;
            *buf = nb;
        }
        ssize_t r = recv(fd, *buf + *have, *cap - *have, 0);
        if (r <= 0)
            return false;
        *have += (size_t)r;
    }
}

bool thttp_recv(int fd, thttp_resp *r, double timeout)
{
    memset(r, 0, sizeof *r);
    double start = tnow(), deadline = start + timeout;
    size_t have = 0, cap = 8192;
    char *buf = malloc(cap + 1);
    if (!buf)
        return false;
    if (!read_until(fd, &buf, &have, &cap, 0, deadline, "\r\n\r\n"))
        goto fail;
    char *end = memmem(buf, have, "\r\n\r\n", 4);
    size_t head_len = (size_t)(end - buf) + 4;
    size_t copy = head_len < sizeof r->headers ? head_len : sizeof r->headers - 1;
    memcpy(r->headers, buf, copy);
    r->headers[copy] = '\0';
    if (sscanf(r->headers, "HTTP/1.%*d %d", &r->status) != 1)
        goto fail;
    char cl[32];
    size_t body_len = thttp_header(r, "Content-Length", cl, sizeof cl) ? strtoul(cl, NULL, 10) : 0;
    if (!read_until(fd, &buf, &have, &cap, head_len + body_len, deadline, NULL))
        goto fail;
    r->body = malloc(body_len + 1);
    if (!r->body)
        goto fail;
    memcpy(r->body, buf + head_len, body_len);
    r->body[body_len] = '\0';
    r->body_len = body_len;
    r->elapsed = tnow() - start;
    free(buf);
    return true;
fail:
    free(buf);
    return false;
}

bool thttp_request(int port, const char *method, const char *path, const char *extra_headers,
                   const char *body, thttp_resp *r, double timeout)
{
    memset(r, 0, sizeof *r);
    int fd = thttp_connect(port);
    if (fd < 0)
        return false;
    double start = tnow();
    bool ok = thttp_send(fd, method, path, extra_headers, body, body ? strlen(body) : 0) &&
              thttp_recv(fd, r, timeout);
    if (ok)
        r->elapsed = tnow() - start;
    close(fd);
    return ok;
}

const char *thttp_header(const thttp_resp *r, const char *name, char *buf, size_t len)
{
    size_t nl = strlen(name);
    for (const char *line = strstr(r->headers, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r\n");
            if (vl >= len)
                vl = len - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
    }
    return NULL;
}

void thttp_resp_free(thttp_resp *r)
{
    free(r->body);
    r->body = NULL;
}

double thttp_metric(int port, const char *series)
{
    thttp_resp r;
    if (!thttp_request(port, "GET", "/metrics", NULL, NULL, &r, 5) || r.status != 200) {
        thttp_resp_free(&r);
        return NAN;
    }
    double v = 0;
    size_t n = strlen(series);
    for (const char *line = r.body; line && *line;) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            v = strtod(line + n + 1, NULL);
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    thttp_resp_free(&r);
    return v;
}

bool tproc_wait_for(bool (*cond)(void *arg), void *arg, double timeout)
{
    double end = tnow() + timeout;
    while (tnow() < end) {
        if (cond(arg))
            return true;
        pause_ms(5);
    }
    return cond(arg);
}

/* A metric awaited by thttp_await_metric(_at_most): the last value read. */
typedef struct metric_wait {
    int port;
    const char *series;
    double want, last;
    bool at_most;
} metric_wait;

static bool metric_reached(void *arg)
{
    metric_wait *w = arg;
    w->last = thttp_metric(w->port, w->series);
    return w->at_most ? w->last <= w->want : w->last >= w->want; /* false on NAN */
}

double thttp_await_metric(int port, const char *series, double want, double limit)
{
    metric_wait w = {port, series, want, NAN, false};
    tproc_wait_for(metric_reached, &w, limit);
    return w.last;
}

double thttp_await_metric_at_most(int port, const char *series, double want, double limit)
{
    metric_wait w = {port, series, want, NAN, true};
    tproc_wait_for(metric_reached, &w, limit);
    return w.last;
}

int tproc_log_count(const tproc *p, const char *needle)
{
    FILE *f = fopen(p->log_path, "r");
    if (!f)
        return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

typedef struct log_wait {
    const tproc *p;
    const char *needle;
    int n;
} log_wait;

static bool log_reached(void *arg)
{
    const log_wait *w = arg;
    return tproc_log_count(w->p, w->needle) >= w->n;
}

bool tproc_await_log_count(const tproc *p, const char *needle, int n, double timeout)
{
    log_wait w = {p, needle, n};
    return tproc_wait_for(log_reached, &w, timeout);
}

bool tproc_await_log(const tproc *p, const char *needle, double timeout)
{
    return tproc_await_log_count(p, needle, 1, timeout);
}

/* The receive queue of the IPv4 socket whose local address is `local` and
 * remote address `remote`, from /proc/net/tcp; -1 if there is none. */
static long peer_rx_queue(const struct sockaddr_in *local, const struct sockaddr_in *remote)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        return -1;
    char line[512];
    long rx = -1;
    while (rx < 0 && fgets(line, sizeof line, f)) {
        unsigned la, lp, ra, rp, st;
        unsigned long tx, rq;
        if (sscanf(line, " %*d: %x:%x %x:%x %x %lx:%lx", &la, &lp, &ra, &rp, &st, &tx, &rq) != 7)
            continue; /* the heading */
        /* Addresses are printed as the raw 32-bit word, ports in host order. */
        if (la == local->sin_addr.s_addr && lp == ntohs(local->sin_port) &&
            ra == remote->sin_addr.s_addr && rp == ntohs(remote->sin_port))
            rx = (long)rq;
    }
    fclose(f);
    return rx;
}

bool tsock_consumed(int fd)
{
    int unacked = -1;
    struct sockaddr_in self, peer;
    socklen_t sl = sizeof self, pl = sizeof peer;
    if (ioctl(fd, SIOCOUTQ, &unacked) != 0 || unacked != 0 ||
        getsockname(fd, (struct sockaddr *)&self, &sl) != 0 ||
        getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 || self.sin_family != AF_INET)
        return false;
    return peer_rx_queue(&peer, &self) == 0;
}

static bool consumed(void *arg)
{
    return tsock_consumed(*(const int *)arg);
}

bool tsock_await_consumed(int fd, double timeout)
{
    return tproc_wait_for(consumed, &fd, timeout);
}

bool tsock_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

void tpause(double s)
{
    pause_ms((int)(s * 1000));
}
