/* httpd: shared HTTP-server plumbing on evhttp (see httpd.h).
 *
 * Timeouts are ours, not evhttp's. evhttp 2.1 restarts its read timeout at
 * every byte and has no whole-request timeout (slowloris), and on a
 * kept-alive connection its read timeout keeps running from the previous
 * reply while the next request is served, so a slow answer was cut off.
 * evhttp's own timeouts are therefore set out of reach (EVHTTP_TIMEOUT_S)
 * and each connection has a clock: while no request is outstanding it runs
 * io_timeout from the moment the connection became idle (accepted, or its
 * last answer gone), then request_timeout from the first byte of a
 * request, and stops when evhttp hands the complete request to the server;
 * if it runs out, the connection is failed exactly as evhttp's own read
 * timeout fails it. Writing has its deadline on the `writable` event: a
 * reply the kernel can't take for io_timeout fails the connection.
 *
 * To see bytes arrive and, above all, to learn reliably when evhttp frees a
 * connection, every connection's bufferevent is ours (evhttp_set_bevcb): a
 * filter over a socket bufferevent. The filter's free_context is the one
 * destructor evhttp can't bypass, whichever path frees the connection (a
 * reply with "Connection: close", an error, a timeout, the servers' own
 * evhttp_connection_free, evhttp_free at shutdown with connections open).
 *
 * Invariants:
 * - Each connection owns one hconn: created with its bufferevent, freed only
 *   by that filter's free_context (filter_free), which libevent runs after
 *   the bufferevent is released, from the loop or from event_base_free.
 *   The hconn owns its two events and is in conn_table from creation to
 *   free, keyed by the filter bufferevent evhttp knows the connection by.
 * - evhttp releases the bufferevent (callbacks cleared) before the
 *   finalizer runs; our event callbacks check evhttp_owns() before touching
 *   it, since a release and our event can land in the same loop turn.
 * - outstanding counts requests handed to the server and not yet answered
 *   (evhttp's on_complete callback). The clock runs only while outstanding
 *   is 0, so a request being served, and a pipelined one behind it, are
 *   never cut: the next request's clock starts when the answer has gone out.
 * - Output: libevent 2.1's filter reports data as written once it is in the
 *   socket bufferevent's buffer, and it doesn't flush when evhttp enables
 *   writing, so a reply followed by a close could be lost or stall. Our
 *   output filter therefore writes straight to the socket, all of a reply
 *   at once from the `writable` event, and evhttp is told it is written only
 *   when the kernel has it. The socket bufferevent itself only reads.
 * - servers[] and conn_table are static: evhttp has no destructor hook for
 *   the server itself, and static storage needs none. */
#include "httpd.h"

#include "addr.h"
#include "utf8.h"
#include "wire.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <arpa/inet.h>

/* evhttp's own read/write timeouts, out of reach (see the top). */
#define EVHTTP_TIMEOUT_S (7 * 24 * 3600)

typedef struct httpd_server {
    void (*cb)(struct evhttp_request *, void *);
    void *arg;
    struct timeval io_timeout, request_timeout;
} httpd_server;

static httpd_server servers[HTTPD_MAX_SERVERS];
static size_t nservers;

typedef struct hconn {
    struct hconn *next;       /* conn_table chain */
    struct bufferevent *bev;  /* the filter evhttp uses: the key */
    struct bufferevent *sock; /* the socket bufferevent under it */
    const httpd_server *srv;
    struct event *deadline; /* pending while the clock runs */
    struct event *writable; /* writes the output; NULL until the first reply */
    evutil_socket_t fd;
    unsigned outstanding; /* requests handed over, not yet answered */
    bool clock;           /* deadline is pending */
    bool receiving;       /* the clock is the request's (a first byte came) */
    bool flushing;        /* inside on_writable: the output filter may write */
    bool write_failed;
} hconn;

#define CONN_BUCKETS 4096 /* a power of two */
static hconn *conn_table[CONN_BUCKETS];

static size_t conn_bucket(const struct bufferevent *bev)
{
    uint64_t h = (uint64_t)(uintptr_t)bev * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 52) & (CONN_BUCKETS - 1);
}

static hconn *conn_find(const struct bufferevent *bev)
{
    hconn *c = conn_table[conn_bucket(bev)];
    while (c && c->bev != bev)
        c = c->next;
    return c;
}

static void conn_unlink(hconn *c)
{
    for (hconn **p = &conn_table[conn_bucket(c->bev)]; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            return;
        }
    }
}

/* False once evhttp has released the bufferevent (bufferevent_free clears
 * the callbacks; evhttp always sets an event callback while it holds it). */
static bool evhttp_owns(const hconn *c)
{
    bufferevent_event_cb ecb = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, &ecb, NULL);
    return ecb != NULL;
}

/* Starts the clock: io_timeout for an idle connection, request_timeout
 * once a request's first byte is in (replacing the idle one). */
static void clock_start(hconn *c, bool receiving)
{
    bool switching = c->clock && !c->receiving && receiving; /* idle -> request */
    if (c->clock && !switching)
        return;
    const struct timeval *tv = receiving ? &c->srv->request_timeout : &c->srv->io_timeout;
    if (evtimer_add(c->deadline, tv) == 0) {
        c->clock = true;
        c->receiving = receiving;
    }
}

static void clock_stop(hconn *c)
{
    if (c->clock) {
        evtimer_del(c->deadline);
        c->clock = false;
    }
}

/* Idle too long, or the request took too long to arrive: fail the
 * connection the way evhttp's own read timeout does (it closes without an
 * answer and frees it). */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    hconn *c = arg;
    c->clock = false;
    if (c->outstanding == 0 && evhttp_owns(c))
        bufferevent_trigger_event(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, 0);
}

/* Socket bytes on their way to evhttp: the first of a request switches the
 * clock to the request's. */
static enum bufferevent_filter_result filter_in(struct evbuffer *src, struct evbuffer *dst,
                                                ev_ssize_t limit, enum bufferevent_flush_mode mode,
                                                void *ctx)
{
    hconn *c = ctx;
    size_t n = evbuffer_get_length(src);
    if (limit >= 0 && (size_t)limit < n)
        n = (size_t)limit;
    int moved = evbuffer_remove_buffer(src, dst, n);
    if (moved < 0)
        return BEV_ERROR;
    if (moved > 0 && c->outstanding == 0)
        clock_start(c, true);
    return BEV_OK;
}

static void on_writable(evutil_socket_t fd, short what, void *arg);

/* Creates the write event on the first output (the socket is known by
 * then). Without memory for it, the socket bufferevent writes instead, as
 * with libevent's plain filter: a reply followed by a close may then be
 * cut short, which beats not serving. */
static bool ensure_writable(hconn *c)
{
    if (c->writable)
        return true;
    if (c->fd < 0) {
        c->fd = bufferevent_getfd(c->sock);
        struct event_base *base = bufferevent_get_base(c->bev);
        c->writable = event_new(base, c->fd, EV_WRITE, on_writable, c);
        if (!c->writable)
            bufferevent_enable(c->sock, EV_WRITE);
        else
            event_priority_set(c->writable, event_base_get_npriorities(base) - 1);
    }
    return c->writable != NULL;
}

/* Schedules one write of the output. A fresh reply is written later in
 * this loop turn (event_active: no epoll registration, no wait for a
 * readiness report the socket almost never needs), after the callback that
 * made it has returned and the whole reply is there. Only what the kernel
 * refused (await_writable) waits for the socket to become writable. */
static void schedule_write(hconn *c, bool await_writable)
{
    if (event_pending(c->writable, EV_WRITE | EV_TIMEOUT, NULL))
        return;
    if (await_writable) /* the reader has io_timeout to make room */
        event_add(c->writable, &c->srv->io_timeout);
    else
        event_active(c->writable, EV_WRITE, 1);
}

/* Output, called by the filter as evhttp adds it (outside on_writable: just
 * schedule one write for the whole reply) or from on_writable (write it to
 * the socket; what the kernel doesn't take waits for the next turn). */
static enum bufferevent_filter_result filter_out(struct evbuffer *src, struct evbuffer *dst,
                                                 ev_ssize_t limit, enum bufferevent_flush_mode mode,
                                                 void *ctx)
{
    hconn *c = ctx;
    if (!ensure_writable(c)) { /* out of memory: libevent's plain filter */
        evbuffer_add_buffer(dst, src);
        return BEV_OK;
    }
    if (!c->flushing) {
        schedule_write(c, false);
        return BEV_NEED_MORE;
    }
    int n = evbuffer_write(src, c->fd);
    if (n > 0)
        return BEV_OK; /* the filter calls us again while output is left */
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        c->write_failed = true;
        return BEV_ERROR;
    }
    schedule_write(c, true);
    return BEV_NEED_MORE;
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    hconn *c = arg;
    if (!evhttp_owns(c))
        return;
    if (what & EV_TIMEOUT) { /* the client stopped reading */
        bufferevent_trigger_event(c->bev, BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT, 0);
        return;
    }
    c->flushing = true;
    /* May complete the reply, and evhttp may release the connection inside;
     * c itself lives until the finalizer, later in the loop. */
    bufferevent_flush(c->bev, EV_WRITE, BEV_NORMAL);
    c->flushing = false;
    if (c->write_failed && evhttp_owns(c)) {
        c->write_failed = false;
        bufferevent_trigger_event(c->bev, BEV_EVENT_WRITING | BEV_EVENT_ERROR, 0);
    }
}

/* evhttp adds output while writing is still disabled and then enables it,
 * which doesn't run the filter: make sure a write is scheduled. */
static void on_output_added(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    hconn *c = arg;
    if (info->n_added > 0 && ensure_writable(c))
        schedule_write(c, false);
}

static void filter_free(void *ctx)
{
    hconn *c = ctx;
    conn_unlink(c);
    event_free(c->deadline);
    if (c->writable)
        event_free(c->writable);
    free(c);
}

/* evhttp's bufferevent for a new connection. NULL (out of memory) makes
 * evhttp use a plain one: that connection just has no request deadline. */
static struct bufferevent *new_conn_bev(struct event_base *base, void *arg)
{
    hconn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = arg;
    c->fd = -1;
    c->deadline = evtimer_new(base, on_deadline, c);
    c->sock = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (c->sock && c->deadline)
        c->bev = bufferevent_filter_new(c->sock, filter_in, filter_out, BEV_OPT_CLOSE_ON_FREE,
                                        filter_free, c);
    if (!c->bev) {
        if (c->sock)
            bufferevent_free(c->sock);
        if (c->deadline)
            event_free(c->deadline);
        free(c);
        return NULL;
    }
    size_t b = conn_bucket(c->bev);
    c->next = conn_table[b];
    conn_table[b] = c;
    if (!evbuffer_add_cb(bufferevent_get_output(c->bev), on_output_added, c)) {
        bufferevent_free(c->bev); /* frees c and the socket bufferevent */
        return NULL;
    }
    /* The socket never writes itself (on_writable does); sparing it the
     * write event also spares a wakeup per connection. */
    bufferevent_disable(c->sock, EV_WRITE);
    clock_start(c, false); /* idle from the accept */
    return c->bev;
}

/* The answer has gone out (evhttp's on_complete). */
static void on_answered(struct evhttp_request *req, void *arg)
{
    hconn *c = arg;
    if (c->outstanding > 0)
        c->outstanding--;
    /* Idle again; bytes already here belong to the next request. */
    if (c->outstanding == 0)
        clock_start(c, evbuffer_get_length(bufferevent_get_input(c->bev)) > 0);
}

/* evhttp hands over a complete request: its clock stops, and no clock runs
 * on this connection until it is answered. */
static void on_request(struct evhttp_request *req, void *arg)
{
    const httpd_server *srv = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    hconn *c = evcon ? conn_find(evhttp_connection_get_bufferevent(evcon)) : NULL;
    if (c) {
        c->outstanding++;
        clock_stop(c);
        evhttp_request_set_on_complete_cb(req, on_answered, c);
    }
    srv->cb(req, srv->arg);
}

const char *httpd_reason(int status)
{
    switch (status) {
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
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

void httpd_global_init(void)
{
    event_set_mem_functions(malloc, realloc, free);
}

struct evhttp *httpd_listen(struct event_base *base, const char *spec, const httpd_limits *lim,
                            void (*cb)(struct evhttp_request *, void *), void *arg, char *err,
                            size_t errlen)
{
    addr_hostport hp;
    if (!addr_parse_hostport(spec, &hp, err, errlen))
        return NULL;
    if (nservers == HTTPD_MAX_SERVERS) {
        snprintf(err, errlen, "more than %d HTTP servers", HTTPD_MAX_SERVERS);
        return NULL;
    }
    struct evhttp *http = evhttp_new(base);
    if (!http) {
        snprintf(err, errlen, "evhttp_new failed");
        return NULL;
    }
    errno = 0;
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, hp.host, hp.port);
    if (!sock) {
        int why = errno; /* what bind() or listen() said */
        snprintf(err, errlen, "cannot listen on %s: %s", spec,
                 why ? strerror(why) : "unknown error");
        evhttp_free(http);
        return NULL;
    }
    /* Every method reaches cb so that a wrong one gets our JSON 405 rather
     * than evhttp's HTML page. */
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                         EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(http, (ev_ssize_t)(lim->max_body * HTTPD_HARD_BODY_FACTOR + 65536));
    evhttp_set_max_headers_size(http, (ev_ssize_t)lim->max_headers);
    evhttp_set_timeout(http, EVHTTP_TIMEOUT_S);
    evhttp_set_default_content_type(http, "application/json");
    httpd_server *srv = &servers[nservers++];
    int rt = lim->request_timeout_s > 0 ? lim->request_timeout_s : lim->io_timeout_s;
    *srv = (httpd_server){
        .cb = cb, .arg = arg, .io_timeout = {lim->io_timeout_s, 0}, .request_timeout = {rt, 0}};
    evhttp_set_bevcb(http, new_conn_bev, srv);
    evhttp_set_gencb(http, on_request, srv);

    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            hp.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            hp.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    char bound[ADDR_HOST_MAX + 16];
    addr_format(&hp, bound, sizeof bound);
    fprintf(stderr, "listening on %s\n", bound);
    fflush(stderr);
    return http;
}

bool httpd_body(struct evhttp_request *req, size_t max_body, const char **body, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    if (n > max_body) {
        httpd_send_error(req, 413, "request body is %zu bytes; the limit is %zu", n, max_body);
        return false;
    }
    /* An empty body still needs a valid pointer for the parsers. */
    *body = n ? (const char *)evbuffer_pullup(in, -1) : "";
    *len = n;
    return true;
}

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    default:
        return "?";
    }
}

bool httpd_require_method(struct evhttp_request *req, enum evhttp_cmd_type method)
{
    enum evhttp_cmd_type got = evhttp_request_get_command(req);
    /* HEAD goes wherever GET does (evhttp leaves the body out). */
    if (got == method || (method == EVHTTP_REQ_GET && got == EVHTTP_REQ_HEAD))
        return true;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                      method == EVHTTP_REQ_GET ? "GET, HEAD" : method_name(method));
    httpd_send_error(req, 405, "method not allowed; use %s",
                     method == EVHTTP_REQ_GET ? "GET or HEAD" : method_name(method));
    return false;
}

/* The Date header every reply carries, formatted once a second rather
 * than by evhttp for each reply (the same text: RFC 1123, in GMT). */
static const char *http_date(void)
{
    static char date[40];
    static time_t shown = (time_t)-1;
    time_t now = time(NULL);
    if (now != shown) {
        struct tm tm;
        if (!gmtime_r(&now, &tm) ||
            strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
            return NULL;
        shown = now;
    }
    return date;
}

void httpd_send_text(struct evhttp_request *req, int status, const char *content_type,
                     const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", content_type);
    const char *date = http_date(); /* nothing else sets Date */
    if (date)
        evhttp_add_header(h, "Date", date);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        /* The headers GET would get, and no body: evhttp would send one. */
        char n[24];
        snprintf(n, sizeof n, "%zu", len);
        evhttp_remove_header(h, "Content-Length");
        evhttp_add_header(h, "Content-Length", n);
    } else {
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    }
    evhttp_send_reply(req, status, httpd_reason(status), NULL);
}

void httpd_send_json(struct evhttp_request *req, int status, char *json)
{
    static const char oom[] = "{\"detail\":\"out of memory\"}";
    if (!json) {
        httpd_send_text(req, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    httpd_send_text(req, status, "application/json", json, strlen(json));
    free(json);
}

/* Replaces every byte that doesn't belong to a valid UTF-8 sequence with
 * '?'. A detail may quote client input (a raw request path) or be cut short
 * mid-character by truncation, and JSON strings must be valid UTF-8. */
static void scrub_utf8(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        /* The shortest valid prefix is the one code point starting here. */
        size_t w = 1;
        while (w <= 4 && i + w <= n && !utf8_length(s + i, w, NULL))
            w++;
        if (w <= 4 && i + w <= n)
            i += w;
        else
            s[i++] = '?';
    }
}

void httpd_send_error(struct evhttp_request *req, int status, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    scrub_utf8(detail);
    httpd_send_json(req, status, wire_error_json(detail));
}

const char *httpd_path(struct evhttp_request *req, char *buf, size_t len)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    snprintf(buf, len, "%s", path ? path : "");
    return buf;
}
