/* connflood: many connections sending the largest bodies at once, and what
 * that costs the server in resident memory.
 *
 *   connflood --port PORT --pid PID [--connections N] [--body BYTES]
 *             [--path PATH] [--key KEY] [--seconds S]
 *
 * Opens N connections (default 1000) to 127.0.0.1:PORT together, each
 * sending one POST PATH (default /proxy_classify) whose body,
 * {"sequence": "aaa..."}, is BYTES long (default 1048576) and says so in
 * Content-Length, as fast as the server takes it (with KEY, as
 * "Authorization: Bearer KEY"). Meanwhile the server's VmRSS
 * (/proc/PID/status) is sampled every few milliseconds. A connection is
 * answered once a response head has arrived; it then stops sending and stays
 * open (unless the server closes it). The run ends when no connection waits
 * any more, or after S seconds (default 60), which bounds it however the
 * server behaves. Then every connection is closed and, once the server holds
 * no more descriptors than before the flood (it has seen the closes; 10 s at
 * most), its RSS is taken again.
 *
 * Prints the figures, then one line "RESULT NAME=VALUE ..." for scripts
 * (bench/connflood.sh). Exits 0 when the run was measured, whatever the
 * server answered; 1 when it could not be (no such process, no sockets), 2
 * on bad usage. */
#include "cli.h"
#include "httpd.h" /* httpd_raise_fd_limit */
#include "mono.h"
#include "opt.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CF_PROG "connflood"
#define CF_HEAD_KEEP 2048    /* response bytes kept to find the end of its head */
#define CF_WRITE_CHUNK 65536 /* at most a write, so one connection can't hold up the others */
#define CF_SAMPLE_S 0.005    /* RSS sampling period while the flood runs */
#define CF_SETTLE_S 10.0     /* how long the server may take to see the closes */
#define CF_MIN_BODY 16       /* {"sequence": ""} */
#define CF_EXTRA_FDS 16      /* the driver's own descriptors besides the flood */
#define CF_MAX_STATUS 600
#define CF_SAMPLE_BODY 100 /* bytes of an answer's body shown for each status */

/* What became of a connection. Only CF_WAITING ones are still owed an answer. */
enum cf_state { CF_WAITING, CF_ANSWERED, CF_RESET, CF_CLOSED, CF_NOCONNECT, CF_NSTATES };

typedef struct cf_conn {
    int fd; /* -1 once closed */
    enum cf_state state;
    size_t sent;                 /* bytes of the request written */
    size_t got;                  /* bytes of the response kept in head (while waiting) */
    char head[CF_HEAD_KEEP + 1]; /* NUL-terminated */
} cf_conn;

typedef struct cf_opts {
    int port;
    int pid;
    size_t conns;
    size_t body;
    const char *path;
    const char *key;
    double seconds;
} cf_opts;

typedef struct cf_run {
    cf_opts o;
    char *req; /* the request, head and body, the same for every connection */
    size_t req_len;
    cf_conn *c;
    int ep;
    size_t waiting; /* connections in CF_WAITING; the run ends at 0 */
    size_t n[CF_NSTATES];
    size_t status[CF_MAX_STATUS]; /* answers by status code (0: unreadable) */
    char *sample[CF_MAX_STATUS];  /* the start of the first answer's body of each status */
    double t0, first, last;       /* start; first and last answer, from t0 */
    long rss_start, rss_peak, rss_after;
    long fds_start, fds_after;
    double settle_s;   /* how long the server took to see the closes */
    size_t sent_total; /* request bytes written, over every connection */
} cf_run;

/* The server's resident set in kB, or -1 when it can't be read. */
static long cf_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

/* The server's open descriptors, or -1 when they can't be listed. */
static long cf_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void cf_sample(cf_run *r)
{
    long kb = cf_rss_kb(r->o.pid);
    if (kb > r->rss_peak)
        r->rss_peak = kb;
}

/* Builds the request: the head, then {"sequence": "aaa..."} of exactly
 * o.body bytes. */
static bool cf_build_request(cf_run *r)
{
    char auth[300] = "";
    if (r->o.key)
        snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", r->o.key);
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                      "%sContent-Length: %zu\r\n\r\n",
                      r->o.path, r->o.port, auth, r->o.body);
    if (hl < 0 || (size_t)hl >= sizeof head)
        return false;
    r->req_len = (size_t)hl + r->o.body;
    r->req = malloc(r->req_len);
    if (!r->req)
        return false;
    char *b = r->req + hl;
    memcpy(r->req, head, (size_t)hl);
    memcpy(b, "{\"sequence\": \"", 14);
    memset(b + 14, 'a', r->o.body - CF_MIN_BODY);
    memcpy(b + r->o.body - 2, "\"}", 2);
    return true;
}

static void cf_watch(cf_run *r, cf_conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)(c - r->c)};
    epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* A waiting connection is settled: answered, or gone without an answer. */
static void cf_settle(cf_run *r, cf_conn *c, enum cf_state s)
{
    c->state = s;
    r->n[s]++;
    r->waiting--;
}

/* Keeps the start of the response; once its head is complete (or more than
 * we keep has come), the connection is answered and stops sending. */
static void cf_take(cf_run *r, cf_conn *c, const char *data, size_t len)
{
    size_t room = CF_HEAD_KEEP - c->got;
    size_t n = len < room ? len : room;
    memcpy(c->head + c->got, data, n);
    c->got += n;
    c->head[c->got] = '\0';
    if (!strstr(c->head, "\r\n\r\n") && c->got < CF_HEAD_KEEP)
        return;
    int code = 0;
    if (sscanf(c->head, "HTTP/1.%*d %d", &code) != 1 || code < 100 || code >= CF_MAX_STATUS)
        code = 0;
    r->status[code]++;
    const char *body = strstr(c->head, "\r\n\r\n");
    if (!r->sample[code] && body && (r->sample[code] = strndup(body + 4, CF_SAMPLE_BODY)))
        for (char *p = r->sample[code]; *p; p++) /* on one line */
            *p = (unsigned char)*p < ' ' ? ' ' : *p;
    double t = mono_now() - r->t0;
    if (r->n[CF_ANSWERED] == 0)
        r->first = t;
    r->last = t;
    cf_settle(r, c, CF_ANSWERED);
    cf_watch(r, c, EPOLLIN);
}

/* Reads what the server sent until the socket is empty; an end of file or
 * an error closes the connection (settling it if it still waited). */
static void cf_read(cf_run *r, cf_conn *c)
{
    char buf[16384];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n > 0) {
            if (c->state == CF_WAITING)
                cf_take(r, c, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (c->state == CF_WAITING)
            cf_settle(r, c, n == 0 ? CF_CLOSED : errno == ECONNREFUSED ? CF_NOCONNECT : CF_RESET);
        close(c->fd); /* also leaves the epoll set */
        c->fd = -1;
        return;
    }
}

/* Writes as much of the request as the socket takes. A failed write stops
 * the writing; the read side then finds the answer or the error. */
static void cf_write(cf_run *r, cf_conn *c)
{
    size_t left = r->req_len - c->sent;
    ssize_t w =
        send(c->fd, r->req + c->sent, left < CF_WRITE_CHUNK ? left : CF_WRITE_CHUNK, MSG_NOSIGNAL);
    if (w > 0) {
        c->sent += (size_t)w;
        r->sent_total += (size_t)w;
        if (c->sent == r->req_len)
            cf_watch(r, c, EPOLLIN);
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        cf_watch(r, c, EPOLLIN);
    }
}

/* Opens every connection (non-blocking: the server's backlog may be full). */
static bool cf_connect_all(cf_run *r)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->o.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (size_t i = 0; i < r->o.conns; i++) {
        cf_conn *c = &r->c[i];
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            fprintf(stderr, CF_PROG ": socket %zu: %s\n", i + 1, strerror(errno));
            return false;
        }
        r->waiting++;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
        epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev);
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
            cf_settle(r, c, CF_NOCONNECT);
            close(c->fd);
            c->fd = -1;
        }
    }
    return true;
}

/* Runs until no connection waits or the time is up, sampling RSS. */
static void cf_loop(cf_run *r)
{
    struct epoll_event ev[256];
    double end = r->t0 + r->o.seconds, next_sample = 0;
    while (r->waiting > 0) {
        double now = mono_now();
        if (now >= end)
            break;
        if (now >= next_sample) {
            cf_sample(r);
            next_sample = now + CF_SAMPLE_S;
        }
        double until = next_sample < end ? next_sample : end;
        int k = epoll_wait(r->ep, ev, 256, (int)((until - now) * 1000) + 1);
        for (int i = 0; i < k; i++) {
            cf_conn *c = &r->c[ev[i].data.u32];
            if (c->fd >= 0 && (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                cf_read(r, c);
            if (c->fd >= 0 && c->state == CF_WAITING && c->sent < r->req_len &&
                (ev[i].events & EPOLLOUT))
                cf_write(r, c);
        }
    }
    cf_sample(r);
}

/* Closes every connection, waits until the server's descriptors are back
 * to where they were before the flood (bounded), and takes its RSS. */
static void cf_close_all(cf_run *r)
{
    for (size_t i = 0; i < r->o.conns; i++)
        if (r->c[i].fd >= 0) {
            close(r->c[i].fd);
            r->c[i].fd = -1;
        }
    double t = mono_now();
    for (;;) {
        cf_sample(r); /* a server may go on growing on what it had buffered */
        r->fds_after = cf_fd_count(r->o.pid);
        r->settle_s = mono_now() - t;
        if (r->fds_after <= r->fds_start || r->settle_s >= CF_SETTLE_S)
            break;
        usleep(20000);
    }
    r->rss_after = cf_rss_kb(r->o.pid);
    if (r->rss_after > r->rss_peak)
        r->rss_peak = r->rss_after;
}

static double cf_mb(double bytes)
{
    return bytes / 1e6;
}

/* The figures for people, then the RESULT line. */
static void cf_report(const cf_run *r)
{
    const cf_opts *o = &r->o;
    double total = (double)r->req_len * (double)o->conns;
    printf("%zu connections, each POST %s with a %zu-byte body%s, to 127.0.0.1:%d (pid %d)\n",
           o->conns, o->path, o->body, o->key ? " and a key" : "", o->port, (int)o->pid);
    printf("  RSS: start %.1f MB, peak %.1f MB (+%.1f MB), after the connections closed %.1f MB\n",
           r->rss_start / 1e3, r->rss_peak / 1e3, (r->rss_peak - r->rss_start) / 1e3,
           r->rss_after / 1e3);
    printf("  answered %zu of %zu", r->n[CF_ANSWERED], o->conns);
    if (r->n[CF_ANSWERED])
        printf(" in %.2f s (first after %.3f s):", r->last, r->first);
    char statuses[256] = "";
    size_t len = 0;
    for (int s = 0; s < CF_MAX_STATUS && len < sizeof statuses - 16; s++)
        if (r->status[s])
            len += (size_t)snprintf(statuses + len, sizeof statuses - len, "%s%d:%zu",
                                    len ? "," : "", s, r->status[s]);
    for (int s = 0; s < CF_MAX_STATUS; s++)
        if (r->status[s])
            printf(" %zu x %d", r->status[s], s);
    printf("\n");
    for (int s = 0; s < CF_MAX_STATUS; s++)
        if (r->sample[s])
            printf("    %d: %s%s\n", s, r->sample[s],
                   strlen(r->sample[s]) == CF_SAMPLE_BODY ? "..." : "");
    printf("  not answered: %zu reset, %zu closed, %zu could not connect, %zu still waiting "
           "after %.0f s\n",
           r->n[CF_RESET], r->n[CF_CLOSED], r->n[CF_NOCONNECT], r->waiting, o->seconds);
    printf(
        "  the clients wrote %.1f of the requests' %.1f MB (the kernel's socket buffers take "
        "much of it unread); the server's descriptors: %ld before, %ld %.2f s after the closes\n",
        cf_mb((double)r->sent_total), cf_mb(total), r->fds_start, r->fds_after, r->settle_s);
    printf("RESULT connections=%zu body=%zu rss_start_kb=%ld rss_peak_kb=%ld rss_after_kb=%ld "
           "answered=%zu answered_s=%.2f first_s=%.3f statuses=%s reset=%zu closed=%zu "
           "noconnect=%zu waiting=%zu sent_mb=%.1f\n",
           o->conns, o->body, r->rss_start, r->rss_peak, r->rss_after, r->n[CF_ANSWERED], r->last,
           r->first, len ? statuses : "none", r->n[CF_RESET], r->n[CF_CLOSED], r->n[CF_NOCONNECT],
           r->waiting, cf_mb((double)r->sent_total));
}

static const opt_entry cf_table[] = {
    {.name = "port",
     .type = OPT_INT,
     OPT_FIELD(cf_opts, port),
     .lo = 1,
     .hi = 65535,
     .arg = "PORT",
     .help = "the server's port on 127.0.0.1 (required)"},
    {.name = "pid",
     .type = OPT_INT,
     OPT_FIELD(cf_opts, pid),
     .lo = 1,
     .hi = 1 << 30,
     .arg = "PID",
     .help = "the process whose RSS and descriptors are watched (required)"},
    {.name = "connections",
     .type = OPT_SIZE,
     OPT_FIELD(cf_opts, conns),
     .lo = 1,
     .hi = 100000,
     .def = "1000",
     .arg = "N",
     .help = "connections opened at once"},
    {.name = "body",
     .type = OPT_SIZE,
     OPT_FIELD(cf_opts, body),
     .lo = CF_MIN_BODY,
     .hi = 1 << 30,
     .def = "1048576",
     .arg = "BYTES",
     .help = "each request's body size"},
    {.name = "path",
     .type = OPT_STR,
     OPT_FIELD(cf_opts, path),
     .def = "/proxy_classify",
     .arg = "PATH",
     .help = "the path every request POSTs to"},
    {.name = "key",
     .type = OPT_STR,
     OPT_FIELD(cf_opts, key),
     .arg = "KEY",
     .help = "send 'Authorization: Bearer KEY' (default: no key)"},
    {.name = "seconds",
     .type = OPT_DOUBLE,
     OPT_FIELD(cf_opts, seconds),
     .dlo = 0.1,
     .dhi = 3600,
     .def = "60",
     .arg = "S",
     .help = "the longest the flood may last"},
    {0}};

static const opt_program cf_program = {
    .name = CF_PROG,
    .usage = "Usage: " CF_PROG " --port PORT --pid PID [OPTIONS]\n"
             "N connections to 127.0.0.1:PORT each POST a BYTES-long body, all at once;\n"
             "reports PID's RSS before, at its peak and after the closes, and the answers.\n",
    .table = cf_table,
    .column = 24};

/* Parses the options into o. Returns 0, or the exit status (OPT_EXIT: 0). */
static int cf_parse(int argc, char **argv, cf_opts *o)
{
    int rc = opt_parse(&cf_program, o, argc, argv, NULL);
    if (rc)
        return rc == OPT_EXIT ? 0 : rc;
    if (!o->port || !o->pid) {
        fprintf(stderr, CF_PROG ": --port and --pid are needed (see --help)\n");
        return 2;
    }
    if (o->path[0] != '/' || strpbrk(o->path, " \r\n") ||
        (o->key && (strlen(o->key) >= 256 || strpbrk(o->key, "\r\n")))) {
        fprintf(stderr, CF_PROG ": --path must start with '/'; neither it nor --key may hold "
                                "spaces or line breaks\n");
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    cf_run r = {.ep = -1};
    int rc = cf_parse(argc, argv, &r.o);
    if (rc >= 0)
        return rc;
    long limit = httpd_raise_fd_limit(); /* one descriptor per connection */
    if (limit < (long)(r.o.conns + CF_EXTRA_FDS)) {
        fprintf(stderr, CF_PROG ": %zu connections need %zu descriptors; the limit is %ld\n",
                r.o.conns, r.o.conns + CF_EXTRA_FDS, limit);
        return 1;
    }
    r.rss_start = r.rss_peak = cf_rss_kb(r.o.pid);
    r.fds_start = cf_fd_count(r.o.pid);
    if (r.rss_start < 0 || r.fds_start < 0) {
        fprintf(stderr, CF_PROG ": can't read /proc/%d (status, fd): is it running?\n",
                (int)r.o.pid);
        return 1;
    }
    r.c = calloc(r.o.conns, sizeof *r.c);
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    if (!r.c || r.ep < 0 || !cf_build_request(&r)) {
        fprintf(stderr, CF_PROG ": out of memory or descriptors\n");
        return 1;
    }
    r.t0 = mono_now();
    bool ok = cf_connect_all(&r);
    if (ok)
        cf_loop(&r);
    cf_close_all(&r);
    if (ok)
        cf_report(&r);
    close(r.ep);
    for (int s = 0; s < CF_MAX_STATUS; s++)
        free(r.sample[s]);
    free(r.c);
    free(r.req);
    return cli_flush_stdout(CF_PROG, ok ? 0 : 1);
}
