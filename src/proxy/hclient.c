/* hclient: strict HTTP/1.1 client connection (see hclient.h). */
#include "hclient.h"

#include "http1.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* The answer buffer is kept between exchanges (no allocation per answer),
 * unless an answer made it larger than this. */
#define HCLIENT_KEEP_BUF (64 * 1024)
/* A chunked body's framing (sizes, extensions, trailers) may take this
 * much on the wire beyond twice its data; more is refused as too large. */
#define HCLIENT_CHUNK_SLACK (64 * 1024)

enum hclient_state {
    HCLIENT_CLOSED, /* no connection, nothing owed */
    HCLIENT_IDLE,   /* a kept-alive connection, nothing owed */
    HCLIENT_BUSY    /* an exchange under way: a callback is owed */
};

struct hclient {
    struct event_base *base;
    struct evdns_base *dns; /* borrowed; may be NULL */
    addr_hostport hp;
    char hosthdr[ADDR_HOST_MAX + 16];
    char name[ADDR_HOST_MAX + ADDR_PATH_MAX + 32];
    struct sockaddr_storage sa; /* a numeric host's address */
    socklen_t salen;            /* 0: hp.host is a name to resolve */
    size_t max_answer;
    struct bufferevent *bev; /* NULL while closed */
    enum hclient_state state;
    struct event *deadline; /* the exchange's hard deadline */
    struct event *report;   /* reports a failure found inside hclient_request */
    bool in_request;        /* inside hclient_request: failures are deferred */
    bool reporting;         /* a failure is waiting for `report` */
    bool *freed;            /* set by hclient_free while a callback runs */
    hclient_cb cb;
    void *arg;
    double timeout;
    bool head_request;
    /* The answer so far: rbuf[0, rlen), with rcap > rlen (room for a NUL). */
    char *rbuf;
    size_t rlen, rcap;
    size_t scan;     /* where http1_head_end stopped looking */
    size_t body_off; /* where the body starts; 0 until the final head is in */
    int ninterim;
    http1_head head;
    http1_chunked chunked;
    char wbuf[ADDR_PATH_MAX * 2 + ADDR_HOST_MAX + 256]; /* the request head */
    char error[256];
};

static void on_read(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

static void close_conn(hclient *c)
{
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
}

static void answer_reset(hclient *c)
{
    c->rlen = 0;
    c->scan = 0;
    c->body_off = 0;
    c->ninterim = 0;
}

/* Ends the exchange and calls its callback; the connection stays open only
 * if the caller left it so. The callback may start the next exchange or
 * free the client. */
static void deliver(hclient *c, int status, const char *body, size_t len, const char *error)
{
    evtimer_del(c->deadline);
    c->state = c->bev ? HCLIENT_IDLE : HCLIENT_CLOSED;
    answer_reset(c);
    hclient_cb cb = c->cb;
    c->cb = NULL;
    bool freed = false;
    c->freed = &freed;
    cb(c->arg, status, body, len, error);
    if (freed)
        return;
    c->freed = NULL;
    /* No answer is being read now (the next exchange, if any, has had no
     * loop turn yet): an oversized buffer can go. */
    if (c->rcap > HCLIENT_KEEP_BUF && c->rlen == 0) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
}

/* The exchange failed: the connection is closed (whatever is on it can't
 * be matched to a request any more) and the callback gets status 0. */
static void fail(hclient *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(hclient *c, const char *fmt, ...)
{
    if (c->state != HCLIENT_BUSY || c->reporting)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    close_conn(c);
    evtimer_del(c->deadline);
    if (c->in_request) {
        c->reporting = true;
        event_active(c->report, EV_TIMEOUT, 1);
        return;
    }
    deliver(c, 0, "", 0, c->error);
}

static void on_report(evutil_socket_t fd, short what, void *arg)
{
    hclient *c = arg;
    c->reporting = false;
    deliver(c, 0, "", 0, c->error);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    hclient *c = arg;
    fail(c, "timed out: no complete answer within %.3g s", c->timeout);
}

/* A complete answer whose body is rbuf[body_off, body_off + len) and which
 * ends at rbuf[end]. Bytes after it were not asked for: the exchange is not
 * clean, and its answer is not trusted either. */
static void complete(hclient *c, size_t len, size_t end)
{
    if (end < c->rlen) {
        fail(c, "%zu unexpected bytes after the answer (status %d): not trusted", c->rlen - end,
             c->head.status);
        return;
    }
    if (!c->head.keep_alive || c->head.framing == HTTP1_BODY_UNTIL_CLOSE)
        close_conn(c);
    char *body = c->rbuf + c->body_off;
    body[len] = '\0';
    deliver(c, c->head.status, body, len, NULL);
}

/* Skips an interim (1xx) head of `end` bytes at the front of rbuf. */
static bool skip_interim(hclient *c, size_t end)
{
    if (c->head.status == 101) {
        fail(c, "malformed answer: 101 Switching Protocols, which was not asked for");
        return false;
    }
    if (++c->ninterim > HCLIENT_MAX_INTERIM) {
        fail(c, "malformed answer: more than %d interim (1xx) answers", HCLIENT_MAX_INTERIM);
        return false;
    }
    memmove(c->rbuf, c->rbuf + end, c->rlen - end);
    c->rlen -= end;
    c->scan = 0;
    return true;
}

/* Parses the final head once it is in (interim ones skipped). False when
 * it isn't in yet, or the exchange failed. */
static bool parse_head(hclient *c)
{
    while (!c->body_off) {
        size_t end = http1_head_end(c->rbuf, c->rlen, &c->scan);
        if (end == 0 ? c->rlen > HCLIENT_MAX_HEAD : end > HCLIENT_MAX_HEAD) {
            fail(c, "answer head larger than %d bytes", HCLIENT_MAX_HEAD);
            return false;
        }
        if (end == 0)
            return false;
        char err[160];
        if (http1_parse_response(c->rbuf, end, c->head_request, &c->head, err, sizeof err) !=
            HTTP1_OK) {
            fail(c, "malformed answer head: %s", err);
            return false;
        }
        if (c->head.status < 200) {
            if (!skip_interim(c, end))
                return false;
            continue;
        }
        if (c->head.framing == HTTP1_BODY_LENGTH && c->head.content_length > c->max_answer) {
            fail(c, "answer too large: Content-Length %llu over the %zu-byte limit",
                 (unsigned long long)c->head.content_length, c->max_answer);
            return false;
        }
        if (c->head.framing == HTTP1_BODY_CHUNKED)
            http1_chunked_init(&c->chunked);
        c->body_off = end;
    }
    return true;
}

/* Looks at what has arrived: completes the exchange when the whole answer
 * is in, fails it when it can't be one. */
static void parse(hclient *c)
{
    if (!parse_head(c))
        return;
    const char *body = c->rbuf + c->body_off;
    size_t have = c->rlen - c->body_off;
    char err[160];
    switch (c->head.framing) {
    case HTTP1_BODY_NONE:
        complete(c, 0, c->body_off);
        return;
    case HTTP1_BODY_LENGTH:
        if (have >= c->head.content_length)
            complete(c, (size_t)c->head.content_length,
                     c->body_off + (size_t)c->head.content_length);
        return;
    case HTTP1_BODY_CHUNKED:
        switch (http1_chunked_scan(&c->chunked, body, have, c->max_answer, err, sizeof err)) {
        case HTTP1_INCOMPLETE:
            return;
        case HTTP1_ERROR:
            fail(c, "malformed chunked answer: %s", err);
            return;
        case HTTP1_OK:
            http1_chunked_decode(body, c->chunked.pos, c->rbuf + c->body_off);
            complete(c, (size_t)c->chunked.size, c->body_off + c->chunked.pos);
            return;
        }
        return;
    case HTTP1_BODY_UNTIL_CLOSE: /* complete at the close (on_event) */
        if (have > c->max_answer)
            fail(c, "answer too large: over the %zu-byte limit", c->max_answer);
        return;
    }
}

/* Moves n bytes of input into rbuf, within the bound on an answer's bytes
 * on the wire. */
static bool take_input(hclient *c, struct evbuffer *in, size_t n)
{
    size_t limit = HCLIENT_MAX_HEAD + 2 * c->max_answer + HCLIENT_CHUNK_SLACK;
    if (c->rlen + n > limit) {
        fail(c, "answer too large: over %zu bytes on the wire", limit);
        return false;
    }
    if (c->rlen + n >= c->rcap) {
        size_t cap = c->rcap ? c->rcap : 4096;
        while (cap <= c->rlen + n)
            cap *= 2;
        char *p = realloc(c->rbuf, cap);
        if (!p) {
            fail(c, "out of memory reading the answer");
            return false;
        }
        c->rbuf = p;
        c->rcap = cap;
    }
    evbuffer_remove(in, c->rbuf + c->rlen, n);
    c->rlen += n;
    return true;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    hclient *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    if (c->state != HCLIENT_BUSY) {
        log_warn("%s: %zu unsolicited bytes while no answer was due; connection closed", c->name,
                 n);
        close_conn(c);
        c->state = HCLIENT_CLOSED;
        return;
    }
    if (take_input(c, in, n))
        parse(c);
}

static const char *socket_error(int e, char *buf, size_t len)
{
    switch (e) {
    case ECONNREFUSED:
        return "connection refused";
    case ECONNRESET:
    case EPIPE:
        return "connection reset";
    case 0:
        return "connection failed";
    default:
        snprintf(buf, len, "connection failed: %s", evutil_socket_error_to_string(e));
        return buf;
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    hclient *c = arg;
    int e = EVUTIL_SOCKET_ERROR();
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1; /* each request leaves in one write: don't hold its tail */
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return;
    }
    if (c->state != HCLIENT_BUSY) { /* the peer closed an idle connection */
        log_debug("%s: idle connection closed by the peer", c->name);
        close_conn(c);
        c->state = HCLIENT_CLOSED;
        return;
    }
    char buf[160];
    int dns = bufferevent_socket_get_dns_error(bev);
    if (dns)
        fail(c, "cannot resolve %s: %s", c->hp.host, evutil_gai_strerror(dns));
    else if (!(what & BEV_EVENT_EOF))
        fail(c, "%s", socket_error(e, buf, sizeof buf));
    else if (c->body_off && c->head.framing == HTTP1_BODY_UNTIL_CLOSE)
        complete(c, c->rlen - c->body_off, c->rlen);
    else if (c->rlen == 0)
        fail(c, "connection closed before an answer");
    else
        fail(c, "connection closed in the middle of the answer (%zu bytes in)", c->rlen);
}

/* Opens a new connection (the request is queued on it meanwhile). */
static bool open_conn(hclient *c)
{
    c->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        fail(c, "out of memory opening a connection");
        return false;
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    int r = c->salen ? bufferevent_socket_connect(c->bev, (struct sockaddr *)&c->sa, c->salen)
                     : bufferevent_socket_connect_hostname(c->bev, c->dns, AF_UNSPEC, c->hp.host,
                                                           c->hp.port);
    if (r != 0) { /* on_event may have reported it already: fail keeps the first */
        char buf[160];
        fail(c, "%s", socket_error(EVUTIL_SOCKET_ERROR(), buf, sizeof buf));
        return false;
    }
    return true;
}

/* Whether a kept-alive connection may carry the next request: everything
 * sent before has left, and nothing is waiting to be read (a stray answer
 * would be taken for this request's; a close means the peer is gone). */
static bool still_clean(hclient *c)
{
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        return false;
    char byte;
    ssize_t n = recv(bufferevent_getfd(c->bev), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
        log_warn("%s: unsolicited bytes were waiting on the kept-alive connection; closed",
                 c->name);
        return false;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

/* Writes the request on the open, idle connection now (no wait for a
 * readiness report); what the kernel doesn't take is left to the
 * bufferevent. False when the connection turned out broken before any of
 * it left. */
static bool write_now(hclient *c, size_t hlen, const char *body, size_t len)
{
    struct iovec iov[2] = {{c->wbuf, hlen}, {(void *)body, len}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
    ssize_t n = sendmsg(bufferevent_getfd(c->bev), &m, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return false;
        n = 0;
    }
    size_t sent = (size_t)n;
    int r = 0;
    if (sent < hlen)
        r = bufferevent_write(c->bev, c->wbuf + sent, hlen - sent);
    if (r == 0 && sent < hlen + len) {
        size_t from = sent > hlen ? sent - hlen : 0;
        r = bufferevent_write(c->bev, body + from, len - from);
    }
    if (r != 0)
        fail(c, "out of memory sending the request");
    return true;
}

static void send_request(hclient *c, size_t hlen, const char *body, size_t len)
{
    if (c->bev && !still_clean(c))
        close_conn(c);
    if (c->bev) {
        if (write_now(c, hlen, body, len))
            return;
        close_conn(c); /* closed while idle: a new connection takes it */
    }
    if (!open_conn(c))
        return;
    if (bufferevent_write(c->bev, c->wbuf, hlen) != 0 ||
        (len && bufferevent_write(c->bev, body, len) != 0))
        fail(c, "out of memory sending the request");
}

/* True when every byte of s is a visible ASCII character (or, with
 * spaces, also a space): nothing that could end a line or a field. */
static bool visible(const char *s, bool spaces)
{
    for (; *s; s++)
        if ((unsigned char)*s < (spaces ? 0x20 : 0x21) || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* The request head in wbuf; its length, or 0 when the request is unfit. */
static size_t format_head(hclient *c, const char *method, const char *target,
                          const char *content_type, const char *body, size_t len)
{
    if (!method || !*method || !visible(method, false) || !target || target[0] != '/' ||
        !visible(target, false) || (body && (!content_type || !visible(content_type, true))))
        return 0;
    int n = snprintf(c->wbuf, sizeof c->wbuf, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target,
                     c->hosthdr);
    if (n > 0 && (size_t)n < sizeof c->wbuf && body)
        n += snprintf(c->wbuf + n, sizeof c->wbuf - (size_t)n,
                      "Content-Type: %s\r\nContent-Length: %zu\r\n", content_type, len);
    if (n > 0 && (size_t)n < sizeof c->wbuf)
        n += snprintf(c->wbuf + n, sizeof c->wbuf - (size_t)n, "\r\n");
    return n > 0 && (size_t)n < sizeof c->wbuf ? (size_t)n : 0;
}

void hclient_request(hclient *c, const char *method, const char *target, const char *content_type,
                     const char *body, size_t len, double timeout, hclient_cb cb, void *arg)
{
    if (c->state == HCLIENT_BUSY) { /* one exchange at a time: a caller's bug */
        log_error("%s: a request while another is under way", c->name);
        abort();
    }
    c->state = HCLIENT_BUSY;
    c->cb = cb;
    c->arg = arg;
    c->timeout = timeout;
    c->head_request = method && strcmp(method, "HEAD") == 0;
    answer_reset(c);
    c->in_request = true;
    if (timeout < 0.001)
        timeout = 0.001;
    struct timeval tv = {(time_t)timeout, (suseconds_t)((timeout - floor(timeout)) * 1e6)};
    evtimer_add(c->deadline, &tv);
    size_t hlen = format_head(c, method, target, content_type, body, len);
    if (hlen == 0)
        fail(c, "bad request: method, target or content type unfit for HTTP/1.1, or too long");
    else
        send_request(c, hlen, body, body ? len : 0);
    c->in_request = false;
}

bool hclient_busy(const hclient *c)
{
    return c->state == HCLIENT_BUSY;
}

/* A numeric IPv4 or IPv6 host is connected to without a lookup. */
static void numeric_address(hclient *c)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)&c->sa;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->sa;
    if (evutil_inet_pton(AF_INET, c->hp.host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(c->hp.port);
        c->salen = sizeof *s4;
    } else if (evutil_inet_pton(AF_INET6, c->hp.host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(c->hp.port);
        c->salen = sizeof *s6;
    }
}

hclient *hclient_new(struct event_base *base, struct evdns_base *dns, const addr_hostport *hp,
                     size_t max_answer, const char *name)
{
    hclient *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base = base;
    c->dns = dns;
    c->hp = *hp;
    c->max_answer = max_answer;
    addr_format(hp, c->hosthdr, sizeof c->hosthdr);
    snprintf(c->name, sizeof c->name, "%s", name);
    numeric_address(c);
    c->deadline = evtimer_new(base, on_deadline, c);
    c->report = event_new(base, -1, 0, on_report, c);
    if (!c->deadline || !c->report) {
        hclient_free(c);
        return NULL;
    }
    return c;
}

void hclient_free(hclient *c)
{
    if (!c)
        return;
    if (c->freed)
        *c->freed = true;
    close_conn(c);
    if (c->deadline)
        event_free(c->deadline);
    if (c->report)
        event_free(c->report);
    free(c->rbuf);
    free(c);
}
