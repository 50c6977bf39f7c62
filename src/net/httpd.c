/* httpd: the HTTP/1.1 server (see httpd.h).
 *
 * Each connection (hconn) has its socket, an input buffer, an output
 * buffer for what the kernel didn't take, three events and one embedded
 * request. States:
 *   IDLE     no byte of a request yet: the idle clock (io_timeout) runs;
 *   HEAD     a request began: the request clock (request_timeout) runs;
 *   BODY     the head is accepted, the body is being read (same clock);
 *   SERVING  the application has the request; no clock. The socket is only
 *            peeked at: end of file is a half-close (the request is still
 *            answered), an error a hang-up; data (a pipelined request)
 *            stops the watch until the answer is out;
 *   LINGER   answered with "close" while the client may still be sending:
 *            our side is shut down and input is discarded for a short
 *            while, so that the client reads our answer instead of a reset.
 *
 * Writes: an answer is written to the socket at once, in the call that
 * sends it; only what the kernel refuses waits for the socket to become
 * writable (with io_timeout as the deadline: a client that doesn't read is
 * cut off). What follows an answer (the next pipelined request, or the
 * close) runs from the write event, activated in the same loop turn, so
 * that no application callback is ever entered from inside another.
 *
 * Invariants:
 * - a connection is freed only from its own event callbacks or httpd_free,
 *   never under an application callback; requests on it are embedded, so a
 *   request is valid until it is answered (or its peer callback reported
 *   HTTPD_PEER_GONE);
 * - s->buffered is the sum of the capacities of every connection's input
 *   and output buffers; input grows only within s->budget (a connection
 *   that can't grow waits on s->waiting with its reading stopped), output
 *   always (an answer is never held back), and s->budget leaves room for it;
 * - s->idle lists, oldest first, the connections in IDLE with no byte
 *   buffered: the ones closed first at max_connections;
 * - the listener is watched unless the connection limit is reached or
 *   accept failed for want of descriptors (then a back-off timer runs). */
#include "httpd.h"

#include "addr.h"
#include "http1.h"
#include "log.h"
#include "mono.h"
#include "utf8.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define IN_BASE 4096             /* input buffer a connection starts with */
#define OUT_HEADERS 1024         /* bytes of headers the application may add */
#define LINGER_BYTES (256 << 10) /* input discarded after a closing answer */
#define ACCEPT_BACKOFF_MS 100    /* pause after accept ran out of descriptors */
#define ACCEPT_LOG_INTERVAL 10.0 /* seconds between two such log lines */
#define ACCEPT_BATCH 64          /* connections accepted per readable event */

enum cstate { ST_IDLE, ST_HEAD, ST_BODY, ST_SERVING, ST_LINGER };

typedef struct hconn hconn;

struct httpd_req {
    hconn *c;
    http1_head head;
    const char *method; /* NUL-terminated in the input buffer */
    const char *path;   /* idem, or a static string */
    const char *body;
    size_t body_len;
    bool is_head;           /* HEAD: answered without a body */
    bool parsed;            /* head fields are valid */
    bool answered;          /* httpd_send_* was called */
    bool half_closed;       /* end of file seen after the request */
    int status;             /* of the answer sent */
    size_t hdr_len;         /* bytes used in hdrs */
    char hdrs[OUT_HEADERS]; /* "Name: value\r\n" lines added by the application */
    httpd_peer_cb peer_cb;
    void *peer_arg;
    void *data; /* the application's */
};

struct hconn {
    httpd *s;
    int fd;
    enum cstate state;
    struct event *rev, *wev, *tev; /* readable; writable or deferred work; clock */
    char *in;
    size_t in_len, in_cap;
    size_t scan;    /* where http1_head_end stopped looking */
    size_t lf_scan; /* bytes checked for a bare LF */
    size_t req_end; /* offset just past the current request (SERVING) */
    http1_chunked chunk;
    char *out;
    size_t out_off, out_len, out_cap;
    size_t lingered;  /* bytes discarded in LINGER */
    size_t want;      /* input capacity asked for while waiting */
    bool eof;         /* the client's end of file was read */
    bool close_after; /* close once the answer is out */
    bool sent_continue;
    bool idle_listed, waiting, stalled, write_failed;
    hconn *prev, *next;   /* s->conns */
    hconn *iprev, *inext; /* s->idle */
    hconn *wprev, *wnext; /* s->waiting */
    httpd_req req;
};

struct httpd {
    struct event_base *base;
    httpd_handlers h;
    int lfd;
    struct event *lev, *backoff;
    size_t max_body, max_headers, max_conns, budget, buffered, nconns;
    struct timeval io_timeout, request_timeout, linger;
    hconn *conns;
    hconn *idle_head, *idle_tail;
    hconn *wait_head, *wait_tail;
    bool listening, full, draining;
    char drain_detail[200];
    double accept_logged;
    unsigned long accept_failures;
};

/* --- lists --- */

static void idle_add(hconn *c)
{
    httpd *s = c->s;
    if (c->idle_listed)
        return;
    c->iprev = s->idle_tail;
    c->inext = NULL;
    if (s->idle_tail)
        s->idle_tail->inext = c;
    else
        s->idle_head = c;
    s->idle_tail = c;
    c->idle_listed = true;
}

static void idle_remove(hconn *c)
{
    httpd *s = c->s;
    if (!c->idle_listed)
        return;
    if (c->iprev)
        c->iprev->inext = c->inext;
    else
        s->idle_head = c->inext;
    if (c->inext)
        c->inext->iprev = c->iprev;
    else
        s->idle_tail = c->iprev;
    c->idle_listed = false;
}

static void wait_add(hconn *c)
{
    httpd *s = c->s;
    if (c->waiting)
        return;
    c->wprev = s->wait_tail;
    c->wnext = NULL;
    if (s->wait_tail)
        s->wait_tail->wnext = c;
    else
        s->wait_head = c;
    s->wait_tail = c;
    c->waiting = c->stalled = true;
    event_del(c->rev);
}

static void wait_remove(hconn *c)
{
    httpd *s = c->s;
    if (!c->waiting)
        return;
    if (c->wprev)
        c->wprev->wnext = c->wnext;
    else
        s->wait_head = c->wnext;
    if (c->wnext)
        c->wnext->wprev = c->wprev;
    else
        s->wait_tail = c->wprev;
    c->waiting = false;
}

/* --- the clock --- */

static void clock_start(hconn *c, bool receiving)
{
    event_add(c->tev, receiving ? &c->s->request_timeout : &c->s->io_timeout);
}

static void clock_stop(hconn *c)
{
    event_del(c->tev);
}

/* --- buffers and the budget --- */

static void budget_wake(httpd *s);

/* Moves the input into a buffer of cap bytes (cap >= in_len). Pointers of a
 * parsed head move with it. False when the budget or memory is short. */
static bool in_resize(hconn *c, size_t cap)
{
    httpd *s = c->s;
    if (cap > c->in_cap && s->buffered - c->in_cap + cap > s->budget)
        return false;
    char *n = malloc(cap);
    if (!n)
        return false;
    if (c->in_len)
        memcpy(n, c->in, c->in_len);
    httpd_req *r = &c->req;
    if (r->parsed) { /* rebase what points into the old buffer */
        const char *old = c->in;
#define REBASE(p)                                                                                  \
    do {                                                                                           \
        if ((uintptr_t)(p) >= (uintptr_t)old && (uintptr_t)(p) < (uintptr_t)old + c->in_cap)       \
            (p) = n + ((p)-old);                                                                   \
    } while (0)
        REBASE(r->method);
        REBASE(r->path);
        REBASE(r->head.method.p);
        REBASE(r->head.target.p);
        for (size_t i = 0; i < r->head.nfields; i++) {
            REBASE(r->head.fields[i].name.p);
            REBASE(r->head.fields[i].value.p);
        }
#undef REBASE
    }
    free(c->in);
    bool shrunk = cap < c->in_cap;
    s->buffered = s->buffered - c->in_cap + cap;
    c->in = n;
    c->in_cap = cap;
    if (shrunk)
        budget_wake(s);
    return true;
}

/* Makes room for at least `need` bytes of input, or puts the connection on
 * the waiting list (reading stopped) until the budget allows it. */
static bool in_reserve(hconn *c, size_t need)
{
    if (need > c->in_cap && !in_resize(c, need)) {
        c->want = need;
        wait_add(c);
        return false;
    }
    wait_remove(c);
    if (c->stalled) {
        c->stalled = false;
        event_add(c->rev, NULL);
    }
    return true;
}

/* Gives back what a large request took: the connection keeps IN_BASE bytes
 * (more only if what is buffered needs it). */
static void in_shrink(hconn *c)
{
    if (c->in_cap > IN_BASE && c->in_len <= IN_BASE)
        in_resize(c, IN_BASE);
}

static void out_append(hconn *c, const char *p, size_t n)
{
    if (!n)
        return;
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_len + n;
        char *o = realloc(c->out, cap);
        if (!o) { /* out of memory: the answer can't be delivered */
            c->write_failed = true;
            return;
        }
        c->s->buffered += cap - c->out_cap;
        c->out = o;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void out_release(hconn *c)
{
    if (c->out_cap) {
        free(c->out);
        c->s->buffered -= c->out_cap;
        c->out = NULL;
        c->out_cap = c->out_off = c->out_len = 0;
        budget_wake(c->s);
    }
}

static bool would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Writes head and body now, as far as the kernel takes them; the rest goes
 * to the output buffer behind anything already waiting there. */
static void conn_write(hconn *c, const char *head, size_t hlen, const char *body, size_t blen)
{
    if (c->out_off == c->out_len && !c->write_failed) {
        struct iovec iov[2] = {{(void *)head, hlen}, {(void *)body, blen}};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = blen ? 2 : 1};
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && !would_block()) {
            c->write_failed = true;
            return;
        }
        size_t done = n > 0 ? (size_t)n : 0;
        size_t h = done < hlen ? done : hlen;
        head += h;
        hlen -= h;
        done -= h;
        body += done;
        blen -= done;
    }
    out_append(c, head, hlen);
    out_append(c, body, blen);
}

/* Writes what waits in the output buffer. False on a socket error. */
static bool out_flush(hconn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0)
            return would_block();
        c->out_off += (size_t)n;
    }
    out_release(c);
    return true;
}

static bool out_pending(const hconn *c)
{
    return c->out_off < c->out_len;
}

/* --- connections --- */

static void accept_resume(httpd *s);

static void conn_free(hconn *c)
{
    httpd *s = c->s;
    idle_remove(c);
    wait_remove(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    event_free(c->rev);
    event_free(c->wev);
    event_free(c->tev);
    close(c->fd);
    s->buffered -= c->in_cap + c->out_cap;
    free(c->in);
    free(c->out);
    free(c);
    s->nconns--;
    budget_wake(s);
    if (s->full && s->nconns < s->max_conns) {
        s->full = false;
        accept_resume(s);
    }
}

/* The client of an outstanding request hung up: tell the application,
 * which lets go of the request, then free the connection. Without a peer
 * callback the request stays owed: reading stops, and the answer's write
 * error frees the connection. */
static void conn_gone(hconn *c)
{
    httpd_req *r = &c->req;
    if (r->peer_cb) {
        httpd_peer_cb cb = r->peer_cb;
        r->peer_cb = NULL;
        cb(r, HTTPD_PEER_GONE, r->peer_arg);
        conn_free(c);
        return;
    }
    event_del(c->rev);
    c->eof = true;
}

/* Runs the deferred work (after an answer, a drop, a write error) in this
 * loop turn, from the write event. */
static void conn_defer(hconn *c)
{
    if (!event_pending(c->wev, EV_WRITE | EV_TIMEOUT, NULL))
        event_active(c->wev, EV_WRITE, 1);
}

/* After an answer sent with "close" while the client may still be
 * sending: our side is shut, and what arrives is read and dropped for a
 * moment, so that the client sees the answer rather than a reset. */
static void conn_linger(hconn *c)
{
    if (c->eof || shutdown(c->fd, SHUT_WR) != 0) {
        conn_free(c);
        return;
    }
    c->state = ST_LINGER;
    c->lingered = 0;
    c->in_len = 0;
    in_shrink(c);
    wait_remove(c);
    event_add(c->tev, &c->s->linger);
    event_add(c->rev, NULL);
}

static void linger_read(hconn *c)
{
    char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0 && would_block())
        return;
    c->lingered += n > 0 ? (size_t)n : 0;
    if (n <= 0 || c->lingered > LINGER_BYTES)
        conn_free(c);
}

/* --- answers --- */

/* The Date header every reply carries, formatted once a second. */
static const char *http_date(void)
{
    static char date[40];
    static time_t shown = (time_t)-1;
    time_t now = time(NULL);
    if (now != shown) {
        struct tm tm;
        if (!gmtime_r(&now, &tm) ||
            strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
            return "Thu, 01 Jan 1970 00:00:00 GMT";
        shown = now;
    }
    return date;
}

const char *httpd_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

bool httpd_set_header(httpd_req *r, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    if (r->hdr_len + nl + vl + 4 > sizeof r->hdrs)
        return false;
    char *p = r->hdrs + r->hdr_len;
    memcpy(p, name, nl);
    memcpy(p + nl, ": ", 2);
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 2);
    r->hdr_len += nl + vl + 4;
    return true;
}

/* Whether the connection closes after this answer: the client asked for
 * it, or its request was refused before its body was read (what follows
 * on the socket can't be framed), or the server drains, or the client
 * half-closed. */
static bool closes_after(const hconn *c)
{
    const httpd_req *r = &c->req;
    return c->close_after || c->state != ST_SERVING || c->s->draining || c->eof || !r->parsed ||
           !r->head.keep_alive;
}

void httpd_send_text(httpd_req *r, int status, const char *content_type, const char *body,
                     size_t len)
{
    hconn *c = r->c;
    if (r->answered)
        return; /* one answer per request */
    r->answered = true;
    r->status = status;
    c->close_after = closes_after(c);
    const char *conn = c->close_after                        ? "Connection: close\r\n"
                       : r->head.minor == 0 /* keep-alive */ ? "Connection: keep-alive\r\n"
                                                             : "";
    char head[256 + OUT_HEADERS];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: "
                     "%zu\r\n%.*s%s\r\n",
                     status, httpd_reason(status), http_date(), content_type, len, (int)r->hdr_len,
                     r->hdrs, conn);
    if (n < 0 || (size_t)n >= sizeof head)
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
                     httpd_reason(status), len);
    if (c->state == ST_HEAD || c->state == ST_BODY) { /* refused: read no more */
        clock_stop(c);
        event_del(c->rev);
        wait_remove(c);
        c->state = ST_SERVING;
    }
    conn_write(c, head, (size_t)n, body, r->is_head ? 0 : len);
    if (c->write_failed || !out_pending(c))
        conn_defer(c);
    else if (!event_pending(c->wev, EV_WRITE, NULL))
        event_add(c->wev, &c->s->io_timeout);
}

void httpd_send_json(httpd_req *r, int status, char *json)
{
    static const char oom[] = "{\"detail\":\"out of memory\"}";
    if (!json) {
        httpd_send_text(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    httpd_send_text(r, status, "application/json", json, strlen(json));
    free(json);
}

static void send_verror(httpd_req *r, int status, const char *fmt, va_list ap)
{
    char detail[512];
    vsnprintf(detail, sizeof detail, fmt, ap);
    /* A detail may quote client input (a raw request path) or be cut short
     * mid-character by vsnprintf; JSON strings must be valid UTF-8. */
    utf8_printable(detail, sizeof detail, detail, strlen(detail));
    httpd_send_json(r, status, wire_error_json(detail));
}

void httpd_send_error(httpd_req *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    send_verror(r, status, fmt, ap);
    va_end(ap);
}

bool httpd_require_method(httpd_req *r, const char *method)
{
    if (httpd_req_is(r, method))
        return true;
    bool get = strcmp(method, "GET") == 0;
    httpd_set_header(r, "Allow", get ? "GET, HEAD" : method);
    httpd_send_error(r, 405, "method %s not allowed; use %s", r->method,
                     get ? "GET or HEAD" : method);
    return false;
}

/* --- the request --- */

const char *httpd_req_method(const httpd_req *r)
{
    return r->method;
}

bool httpd_req_is(const httpd_req *r, const char *m)
{
    return strcmp(r->method, m) == 0 || (r->is_head && strcmp(m, "GET") == 0);
}

const char *httpd_req_path(const httpd_req *r)
{
    return r->path;
}

const char *httpd_req_header(const httpd_req *r, const char *name)
{
    if (!r->parsed)
        return NULL;
    const http1_str *v = http1_field_get(&r->head, name);
    return v ? (v->n ? v->p : "") : NULL;
}

const char *httpd_req_body(const httpd_req *r, size_t *len)
{
    *len = r->body_len;
    return r->body ? r->body : "";
}

int httpd_req_status(const httpd_req *r)
{
    return r->status;
}

void httpd_req_on_peer(httpd_req *r, httpd_peer_cb cb, void *arg)
{
    r->peer_cb = cb;
    r->peer_arg = arg;
}

void httpd_req_set_data(httpd_req *r, void *data)
{
    r->data = data;
}

void *httpd_req_data(const httpd_req *r)
{
    return r->data;
}

bool httpd_req_half_closed(const httpd_req *r)
{
    return r->half_closed;
}

void httpd_req_close(httpd_req *r)
{
    hconn *c = r->c;
    r->answered = true;
    r->peer_cb = NULL;
    c->write_failed = true; /* nothing more is written: the deferred work frees it */
    conn_defer(c);
}

/* --- reading requests --- */

static void req_reset(hconn *c)
{
    httpd_req *r = &c->req;
    r->c = c;
    r->method = r->path = "";
    r->body = NULL;
    r->body_len = 0;
    r->is_head = r->parsed = r->answered = r->half_closed = false;
    r->status = 0;
    r->hdr_len = 0;
    r->peer_cb = NULL;
    r->peer_arg = r->data = NULL;
    c->scan = c->lf_scan = c->req_end = 0;
    c->sent_continue = false;
    http1_chunked_init(&c->chunk);
}

/* An answer from the server itself (malformed or refused request, drain,
 * timeout): the connection closes after it. */
static void refuse(hconn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(hconn *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    send_verror(&c->req, status, fmt, ap);
    va_end(ap);
    if (c->s->h.on_refused)
        c->s->h.on_refused(status, c->s->h.arg);
}

/* Methods the application is asked about (a wrong one at an endpoint gets
 * its 405 with Allow); any other gets 501 from the server. */
static bool method_known(const char *m)
{
    static const char *const known[] = {"GET",    "HEAD",    "POST",  "PUT",
                                        "DELETE", "OPTIONS", "PATCH", "TRACE"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(m, known[i]) == 0)
            return true;
    return false;
}

/* The path of the request target, NUL-terminated in place (the byte after
 * the target is the space before the version): origin form "/p?q",
 * absolute form "http://host/p?q", or "*". False when it is none of these. */
static bool set_path(httpd_req *r)
{
    char *t = (char *)r->head.target.p;
    t[r->head.target.n] = '\0';
    if (t[0] == '/' || strcmp(t, "*") == 0) {
        r->path = t;
    } else {
        size_t scheme = strncasecmp(t, "http://", 7) == 0    ? 7
                        : strncasecmp(t, "https://", 8) == 0 ? 8
                                                             : 0;
        if (!scheme || t[scheme] == '\0')
            return false;
        char *p = strpbrk(t + scheme, "/?#");
        r->path = p && *p == '/' ? p : "/";
    }
    char *q = strpbrk((char *)r->path, "?#");
    if (q)
        *q = '\0';
    return true;
}

/* Checks a parsed head, NUL-terminates its strings in place and asks the
 * application. False after an answer (the connection then closes). */
static bool accept_head(hconn *c)
{
    httpd *s = c->s;
    httpd_req *r = &c->req;
    http1_head *h = &r->head;
    r->parsed = true;
    char *m = (char *)h->method.p;
    m[h->method.n] = '\0';
    r->method = m;
    for (size_t i = 0; i < h->nfields; i++)
        if (h->fields[i].value.n)
            ((char *)h->fields[i].value.p)[h->fields[i].value.n] = '\0';
    r->is_head = strcmp(m, "HEAD") == 0;
    if (!method_known(m) || strcmp(m, "CONNECT") == 0) {
        refuse(c, 501, "method %.32s is not supported", m);
        return false;
    }
    if (!set_path(r)) {
        refuse(c, 400, "malformed request target");
        return false;
    }
    if (s->draining) {
        httpd_set_header(r, "Retry-After", "1");
        refuse(c, 503, "%s", s->drain_detail);
        return false;
    }
    if (h->expect_other) {
        refuse(c, 417, "unsupported Expect header; only 100-continue is");
        return false;
    }
    if (h->framing == HTTP1_BODY_LENGTH && h->content_length > s->max_body) {
        refuse(c, 413, "request body is %llu bytes; the limit is %zu",
               (unsigned long long)h->content_length, s->max_body);
        return false;
    }
    if (s->h.on_head && !s->h.on_head(r, s->h.arg)) {
        if (!r->answered)
            refuse(c, 400, "request refused");
        return false;
    }
    return true;
}

/* Looks for the end of the head and parses it. True once the head is
 * accepted (state BODY). */
/* A line of a head ending in a bare LF is refused (http1 does), but then
 * the head has no CRLF CRLF to end it: look for one among the new bytes
 * rather than wait for the request clock. */
static bool bare_lf(hconn *c)
{
    for (size_t i = c->lf_scan; i < c->in_len; i++)
        if (c->in[i] == '\n' && (i == 0 || c->in[i - 1] != '\r'))
            return true;
    c->lf_scan = c->in_len;
    return false;
}

static bool head_step(hconn *c)
{
    httpd *s = c->s;
    size_t end = http1_head_end(c->in, c->in_len, &c->scan);
    if (end == 0 && bare_lf(c)) {
        refuse(c, 400, "malformed head: a line ends in a bare LF");
        return false;
    }
    if (end == 0 || end > s->max_headers) {
        if (end || c->in_len >= s->max_headers) {
            refuse(c, 431, "request head larger than %zu bytes", s->max_headers);
        } else if (c->in_len == c->in_cap) {
            size_t cap = c->in_cap * 2 < s->max_headers ? c->in_cap * 2 : s->max_headers;
            in_reserve(c, cap);
        }
        return false;
    }
    int status = 400;
    char err[200];
    if (http1_parse_request(c->in, end, &c->req.head, &status, err, sizeof err) != HTTP1_OK) {
        refuse(c, status, "%s", err);
        return false;
    }
    c->state = ST_BODY;
    return accept_head(c);
}

/* Expect: 100-continue is answered once the head is accepted and room for
 * the body is reserved, when the body hasn't come along anyway. */
static void maybe_continue(hconn *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    const httpd_req *r = &c->req;
    if (!r->head.expect_continue || c->sent_continue || r->head.minor < 1)
        return;
    c->sent_continue = true;
    conn_write(c, cont, sizeof cont - 1, NULL, 0);
    if (c->write_failed)
        conn_defer(c);
    else if (out_pending(c) && !event_pending(c->wev, EV_WRITE, NULL))
        event_add(c->wev, &c->s->io_timeout);
}

static bool body_length(hconn *c)
{
    httpd_req *r = &c->req;
    size_t h = r->head.head_len, need = h + (size_t)r->head.content_length;
    if (!in_reserve(c, need))
        return false;
    if (c->in_len < need) {
        maybe_continue(c);
        return false;
    }
    r->body = c->in + h;
    r->body_len = (size_t)r->head.content_length;
    c->req_end = need;
    return true;
}

/* A chunked body is read into a buffer that doubles up to max_body plus
 * room for its framing, and decoded in place once complete. */
static bool body_chunked(hconn *c)
{
    httpd *s = c->s;
    httpd_req *r = &c->req;
    size_t h = r->head.head_len;
    char err[200];
    enum http1_result res =
        http1_chunked_scan(&c->chunk, c->in + h, c->in_len - h, s->max_body, err, sizeof err);
    if (res == HTTP1_ERROR) {
        refuse(c, strstr(err, "too large") ? 413 : 400, "%s (the limit is %zu bytes)", err,
               s->max_body);
        return false;
    }
    if (res == HTTP1_INCOMPLETE) {
        size_t limit = h + s->max_body + s->max_body / 4 + 4096;
        if (c->in_len == c->in_cap) {
            if (c->in_cap >= limit) {
                refuse(c, 413, "chunked body over %zu bytes with its framing", limit - h);
                return false;
            }
            if (!in_reserve(c, c->in_cap * 2 < limit ? c->in_cap * 2 : limit))
                return false;
        }
        maybe_continue(c);
        return false;
    }
    http1_chunked_decode(c->in + h, c->chunk.pos, c->in + h);
    r->body = c->in + h;
    r->body_len = (size_t)c->chunk.size;
    c->req_end = h + c->chunk.pos;
    return true;
}

/* The complete request goes to the application; no clock runs until it is
 * answered. */
static void dispatch(hconn *c)
{
    c->state = ST_SERVING;
    clock_stop(c);
    c->req.half_closed = c->eof;
    c->s->h.on_request(&c->req, c->s->h.arg);
}

/* Advances the connection over what is buffered. */
static void process(hconn *c)
{
    if (c->state == ST_HEAD && !head_step(c)) {
        /* more to read, or answered */
    } else if (c->state == ST_BODY) {
        httpd_req *r = &c->req;
        bool done = r->head.framing == HTTP1_BODY_CHUNKED  ? body_chunked(c)
                    : r->head.framing == HTTP1_BODY_LENGTH ? body_length(c)
                                                           : (c->req_end = r->head.head_len, true);
        if (done) {
            dispatch(c);
            return;
        }
    }
    /* End of file before a complete request: a hang-up (or a plain close
     * between requests); nothing is owed. */
    if (c->eof && c->state != ST_SERVING && c->state != ST_LINGER)
        conn_free(c);
}

/* While the application has the request: end of file is a half-close, an
 * error a hang-up; data (the next request) waits for the answer. */
static void peer_check(hconn *c)
{
    httpd_req *r = &c->req;
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK);
    if (n < 0 && would_block())
        return;
    event_del(c->rev);
    if (n > 0)
        return;
    if (n == 0) {
        c->eof = true;
        if (!r->answered) {
            r->half_closed = true;
            if (r->peer_cb)
                r->peer_cb(r, HTTPD_PEER_HALF_CLOSED, r->peer_arg);
        }
        return;
    }
    if (r->answered) { /* its answer is still being written */
        c->write_failed = true;
        conn_defer(c);
        return;
    }
    conn_gone(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    hconn *c = arg;
    if (c->state == ST_LINGER) {
        linger_read(c);
        return;
    }
    if (c->state == ST_SERVING) {
        peer_check(c);
        return;
    }
    if (!c->in && !in_reserve(c, IN_BASE))
        return;
    if (c->in_len < c->in_cap) {
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0 && !would_block()) {
            conn_free(c); /* a hang-up; nothing is owed */
            return;
        }
        if (n == 0) {
            c->eof = true;
            event_del(c->rev);
        } else if (n > 0) {
            if (c->state == ST_IDLE) {
                c->state = ST_HEAD;
                idle_remove(c);
                clock_start(c, true);
            }
            c->in_len += (size_t)n;
        }
    }
    process(c);
}

/* The answer is out: close, or make the connection ready for the next
 * request (which may already be buffered). */
static void after_answer(hconn *c)
{
    if (c->close_after) {
        conn_linger(c);
        return;
    }
    size_t left = c->in_len - c->req_end;
    if (left)
        memmove(c->in, c->in + c->req_end, left);
    c->in_len = left;
    req_reset(c);
    in_shrink(c);
    if (left) {
        c->state = ST_HEAD;
        clock_start(c, true);
    } else {
        c->state = ST_IDLE;
        clock_start(c, false);
        idle_add(c);
    }
    if (!c->eof)
        event_add(c->rev, NULL);
    process(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    hconn *c = arg;
    /* A write error, a dropped connection, or a client that didn't read
     * for io_timeout. */
    if (c->write_failed || (what & EV_TIMEOUT) || !out_flush(c)) {
        conn_free(c);
        return;
    }
    if (out_pending(c))
        event_add(c->wev, &c->s->io_timeout);
    else if (c->state == ST_SERVING && c->req.answered)
        after_answer(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    hconn *c = arg;
    if (c->state == ST_HEAD || c->state == ST_BODY) /* slowloris, or budget long short */
        refuse(c, 408, "the request did not arrive within %ld s",
               (long)c->s->request_timeout.tv_sec);
    else if (c->state != ST_SERVING)
        conn_free(c); /* idle too long, or done lingering */
}

/* Wakes waiting connections, first come first served, while what they
 * asked for fits in the budget. */
static void budget_wake(httpd *s)
{
    size_t room = s->budget > s->buffered ? s->budget - s->buffered : 0;
    while (s->wait_head) {
        hconn *c = s->wait_head;
        size_t more = c->want > c->in_cap ? c->want - c->in_cap : 0;
        if (more > room)
            return;
        room -= more;
        wait_remove(c);
        event_active(c->rev, EV_READ, 1);
    }
}

/* --- accepting --- */

static bool conn_new(httpd *s, int fd)
{
    hconn *c = calloc(1, sizeof *c);
    if (!c)
        return false;
    int one = 1; /* an answer is one write; don't let it wait for an ACK */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->s = s;
    c->fd = fd;
    c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->wev = event_new(s->base, fd, EV_WRITE, on_write, c);
    c->tev = evtimer_new(s->base, on_timer, c);
    if (!c->rev || !c->wev || !c->tev || event_add(c->rev, NULL) != 0) {
        if (c->rev)
            event_free(c->rev);
        if (c->wev)
            event_free(c->wev);
        if (c->tev)
            event_free(c->tev);
        free(c);
        return false;
    }
    req_reset(c);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    idle_add(c);
    clock_start(c, false);
    return true;
}

static void accept_pause(httpd *s)
{
    if (s->listening) {
        event_del(s->lev);
        s->listening = false;
    }
}

static void accept_resume(httpd *s)
{
    if (!s->listening && !s->full && !evtimer_pending(s->backoff, NULL) &&
        event_add(s->lev, NULL) == 0)
        s->listening = true;
}

/* accept failed (out of descriptors, most likely): retrying at once would
 * spin, so accepting pauses for a moment while the open connections are
 * served; one log line per interval says how often it happened. */
static void accept_failed(httpd *s, int err)
{
    accept_pause(s);
    struct timeval tv = {0, ACCEPT_BACKOFF_MS * 1000};
    evtimer_add(s->backoff, &tv);
    s->accept_failures++;
    double now = mono_now();
    if (now - s->accept_logged >= ACCEPT_LOG_INTERVAL) {
        log_warn("cannot accept connections: %s (%lu times since the last such line); "
                 "pausing accepts for %d ms at a time, open connections are served",
                 strerror(err), s->accept_failures, ACCEPT_BACKOFF_MS);
        s->accept_logged = now;
        s->accept_failures = 0;
    }
}

static void on_backoff(evutil_socket_t fd, short what, void *arg)
{
    accept_resume(arg);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    httpd *s = arg;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (s->nconns >= s->max_conns && !s->idle_head) {
            s->full = true; /* resumed when a connection closes */
            accept_pause(s);
            return;
        }
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                accept_failed(s, errno);
            return;
        }
        if (s->nconns >= s->max_conns)
            conn_free(s->idle_head); /* the oldest idle one makes room */
        if (!conn_new(s, fd))
            close(fd);
    }
}

/* --- the server --- */

void httpd_global_init(void)
{
    event_set_mem_functions(malloc, realloc, free);
    /* A fixed threshold: request buffers of 128 KiB and more are mapped and
     * go back to the system when freed (glibc would otherwise raise the
     * threshold after the first such free and keep them in the heap). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

long httpd_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return -1;
    }
    return rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
}

/* A non-blocking listening socket on hp (the first address the name
 * resolves to), or -1 with the reason in err. */
static int listen_socket(const addr_hostport *hp, const char *spec, char *err, size_t errlen)
{
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)hp->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(hp->host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", spec, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void print_listening(int fd, addr_hostport *hp, const char *name)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            hp->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            hp->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    char bound[ADDR_HOST_MAX + 16];
    addr_format(hp, bound, sizeof bound);
    log_announce("%s%slistening on %s", name ? name : "", name ? " " : "", bound);
}

httpd *httpd_listen(struct event_base *base, const char *spec, const httpd_limits *lim,
                    const httpd_handlers *h, char *err, size_t errlen)
{
    addr_hostport hp;
    if (!addr_parse_hostport(spec, &hp, err, errlen))
        return NULL;
    httpd *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    s->h = *h;
    s->max_body = lim->max_body;
    s->max_headers = lim->max_headers;
    s->max_conns = lim->max_connections ? lim->max_connections : HTTPD_DEFAULT_MAX_CONNECTIONS;
    size_t four = 4 * (lim->max_body + lim->max_headers);
    s->budget = lim->max_buffered                    ? lim->max_buffered
                : four > HTTPD_DEFAULT_BUFFER_BUDGET ? four
                                                     : HTTPD_DEFAULT_BUFFER_BUDGET;
    int rt = lim->request_timeout_s > 0 ? lim->request_timeout_s : lim->io_timeout_s;
    s->io_timeout = (struct timeval){lim->io_timeout_s, 0};
    s->request_timeout = (struct timeval){rt, 0};
    s->linger = (struct timeval){lim->io_timeout_s < 2 ? lim->io_timeout_s : 2, 0};
    s->accept_logged = -1e9;
    s->lfd = listen_socket(&hp, spec, err, errlen);
    if (s->lfd < 0) {
        free(s);
        return NULL;
    }
    s->lev = event_new(base, s->lfd, EV_READ | EV_PERSIST, on_accept, s);
    s->backoff = evtimer_new(base, on_backoff, s);
    if (!s->lev || !s->backoff) {
        snprintf(err, errlen, "out of memory");
        httpd_free(s);
        return NULL;
    }
    accept_resume(s);
    print_listening(s->lfd, &hp, h->name);
    return s;
}

void httpd_drain(httpd *s, const char *detail)
{
    s->draining = true;
    snprintf(s->drain_detail, sizeof s->drain_detail, "%s", detail);
}

void httpd_free(httpd *s)
{
    if (!s)
        return;
    s->full = false; /* nothing is resumed from here on */
    while (s->conns) {
        hconn *c = s->conns;
        httpd_req *r = &c->req;
        if (c->state == ST_SERVING && !r->answered && r->peer_cb) {
            httpd_peer_cb cb = r->peer_cb;
            r->peer_cb = NULL;
            cb(r, HTTPD_PEER_GONE, r->peer_arg);
        }
        conn_free(c);
    }
    if (s->lev)
        event_free(s->lev);
    if (s->backoff)
        event_free(s->backoff);
    close(s->lfd);
    free(s);
}
