/* fakebe: a scriptable fake classification backend (see fakebe.h). */
#include "fakebe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FB_MAX_REQUEST (4u << 20) /* a request larger than this ends its connection */
#define FB_CHUNK 7                /* bytes per chunk of a chunked answer */

struct fakebe_conn {
    fakebe *fb;
    int fd; /* -1 once the connection thread closed it (under fb->mu) */
    pthread_t th;
    char *in; /* bytes read and not yet consumed */
    size_t have, cap;
    int posts;        /* POSTs this connection carried */
    bool peer_closed; /* the peer closed it (EOF or a failed send) */
    fakebe_conn *next;
};

/* A growing byte buffer; `failed` once an allocation failed. */
typedef struct fbuf {
    char *p;
    size_t n, cap;
    bool failed;
} fbuf;

static void fbuf_add(fbuf *b, const void *data, size_t len)
{
    if (b->failed)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = (b->n + len + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void fbuf_printf(fbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    fbuf_add(b, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* --- counters --- */

static int counter(fakebe *fb, const int *field)
{
    pthread_mutex_lock(&fb->mu);
    int v = *field;
    pthread_mutex_unlock(&fb->mu);
    return v;
}

static void bump(fakebe *fb, int *field)
{
    pthread_mutex_lock(&fb->mu);
    (*field)++;
    pthread_mutex_unlock(&fb->mu);
}

int fakebe_posts(fakebe *fb)
{
    return counter(fb, &fb->posts);
}

int fakebe_answered(fakebe *fb)
{
    return counter(fb, &fb->answered);
}

int fakebe_health_checks(fakebe *fb)
{
    return counter(fb, &fb->health_checks);
}

int fakebe_connections(fakebe *fb)
{
    return counter(fb, &fb->accepted);
}

int fakebe_closed_by_peer(fakebe *fb)
{
    return counter(fb, &fb->post_conns_closed);
}

/* --- socket I/O that fakebe_stop can always interrupt --- */

/* Sleeps `seconds`; false if the fake is stopping meanwhile. */
static bool nap(fakebe *fb, double seconds)
{
    struct pollfd p = {.fd = fb->stop_pipe[0], .events = POLLIN};
    return poll(&p, 1, (int)(seconds * 1000)) == 0;
}

static bool send_all(fakebe_conn *c, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            c->peer_closed = true; /* or fakebe_stop shut it down: then nobody counts */
            return false;
        }
        p += w;
        len -= (size_t)w;
    }
    return true;
}

/* Sends p[0..len): at once, or with `trickle` > 0 one header line (within
 * p[0..head)) or one byte after it at a time, `trickle` seconds apart. */
static bool send_paced(fakebe_conn *c, const char *p, size_t len, size_t head, double trickle)
{
    if (trickle <= 0)
        return send_all(c, p, len);
    for (size_t i = 0, w; i < len; i += w) {
        w = 1;
        if (i < head) {
            const char *eol = memmem(p + i, head - i, "\r\n", 2);
            w = eol ? (size_t)(eol + 2 - (p + i)) : head - i;
        }
        if (i > 0 && !nap(c->fb, trickle))
            return false;
        if (!send_all(c, p + i, w))
            return false;
    }
    return true;
}

/* Reads more bytes into c->in; false on EOF (peer_closed), error or stop. */
static bool read_more(fakebe_conn *c)
{
    struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
                          {.fd = c->fb->stop_pipe[0], .events = POLLIN}};
    if (poll(p, 2, -1) < 0 || p[1].revents)
        return false;
    if (c->have + 65536 + 1 > c->cap) {
        if (c->cap >= FB_MAX_REQUEST)
            return false;
        size_t cap = c->cap ? c->cap * 2 : 65536 * 2;
        char *in = realloc(c->in, cap);
        if (!in)
            return false;
        c->in = in;
        c->cap = cap;
    }
    ssize_t r = recv(c->fd, c->in + c->have, 65536, 0);
    if (r == 0)
        c->peer_closed = true;
    if (r <= 0)
        return false;
    c->have += (size_t)r;
    c->in[c->have] = '\0';
    return true;
}

/* One request as read: pointers into c->in, valid until the next read. */
typedef struct fb_req {
    bool post, health; /* a GET of the health path */
    const char *body;
    size_t len, size; /* body length; bytes of the whole request */
} fb_req;

/* Reads the next request (Content-Length bodies only, as the proxy sends). */
static bool read_request(fakebe_conn *c, fb_req *r)
{
    char *end;
    while (!(end = c->have ? memmem(c->in, c->have, "\r\n\r\n", 4) : NULL))
        if (!read_more(c))
            return false;
    size_t head = (size_t)(end - c->in) + 4;
    *end = '\0'; /* the header block as a string, for strcasestr */
    const char *cl = strcasestr(c->in, "\r\nContent-Length:");
    r->len = cl ? strtoul(cl + 17, NULL, 10) : 0;
    r->post = strncmp(c->in, "POST ", 5) == 0;
    const char *hp = c->fb->script.health_path ? c->fb->script.health_path : "/healthz";
    size_t hl = strlen(hp);
    r->health =
        strncmp(c->in, "GET ", 4) == 0 && strncmp(c->in + 4, hp, hl) == 0 && c->in[4 + hl] == ' ';
    *end = '\r';
    if (r->len > FB_MAX_REQUEST)
        return false;
    while (c->have < head + r->len)
        if (!read_more(c))
            return false;
    r->body = c->in + head;
    r->size = head + r->len;
    return true;
}

/* Drops the request just served from c->in (pipelined bytes stay). */
static void consume(fakebe_conn *c, size_t size)
{
    memmove(c->in, c->in + size, c->have - size);
    c->have -= size;
}

/* --- answers --- */

/* The true answer to a POST {"sequences": [...]} (one label too many when
 * `wrong_count`), or a 400 when it isn't one. */
static int classify(const fb_req *r, bool wrong_count, fbuf *body)
{
    json_t *root = json_loadb(r->body, r->len, 0, NULL);
    json_t *seqs = json_object_get(root, "sequences");
    if (!json_is_array(seqs)) {
        json_decref(root);
        fbuf_printf(body, "{\"detail\":\"fake backend: not a classify request\"}");
        return 400;
    }
    fbuf_printf(body, "{\"results\":[");
    size_t n = json_array_size(seqs);
    for (size_t i = 0; i < n + (wrong_count ? 1 : 0); i++) {
        const char *t = json_string_value(json_array_get(seqs, i));
        bool code = !t || strstr(t, FAKEBE_CODE_MARK);
        fbuf_printf(body, "%s\"%s\"", i ? "," : "", code ? "code" : "not code");
    }
    fbuf_printf(body, "]}");
    json_decref(root);
    return 200;
}

/* A whole HTTP response into out; returns the length of its header block. */
static size_t response(fbuf *out, int status, const fbuf *body, size_t pad, bool chunked)
{
    size_t blen = body->n > pad ? body->n : pad;
    fbuf_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n", status,
                status == 200 ? "OK" : "Scripted");
    if (chunked)
        fbuf_printf(out, "Transfer-Encoding: chunked\r\n\r\n");
    else
        fbuf_printf(out, "Content-Length: %zu\r\n\r\n", blen);
    size_t head = out->n;
    for (size_t i = 0; i < blen; i += FB_CHUNK) {
        size_t w = blen - i < FB_CHUNK ? blen - i : FB_CHUNK;
        if (chunked)
            fbuf_printf(out, "%zx\r\n", w);
        for (size_t k = i; k < i + w; k++)
            fbuf_add(out, k < body->n ? body->p + k : " ", 1);
        if (chunked)
            fbuf_printf(out, "\r\n");
    }
    if (chunked)
        fbuf_printf(out, "0\r\n\r\n");
    return head;
}

/* The bytes step st sends for request r into out; returns the header
 * block's length (0 for raw bytes). */
static size_t answer(const fakebe_step *st, const fb_req *r, fbuf *out)
{
    fbuf body = {0};
    int status = 200;
    switch (st->act) {
    case FAKEBE_RAW:
        fbuf_add(out, st->body ? st->body : "", st->body ? strlen(st->body) : 0);
        return 0;
    case FAKEBE_STATUS:
        status = st->status;
        fbuf_add(&body, st->body ? st->body : "", st->body ? strlen(st->body) : 0);
        break;
    default:
        if (r->post)
            status = classify(r, st->act == FAKEBE_WRONG_COUNT, &body);
        else if (r->health)
            fbuf_printf(&body, "{\"status\":\"ok\"}");
        else
            status = 404, fbuf_printf(&body, "{\"detail\":\"fake backend: no such path\"}");
    }
    size_t head = response(out, status, &body, st->pad, st->chunked);
    free(body.p);
    return head;
}

/* Carries out one step for request r; false when the connection is over. */
static bool perform(fakebe_conn *c, const fakebe_step *st, const fb_req *r)
{
    fakebe *fb = c->fb;
    if (st->delay > 0 && !nap(fb, st->delay))
        return false;
    if (st->act == FAKEBE_CLOSE) {
        if (r->post)
            bump(fb, &fb->answered);
        return false;
    }
    if (st->act == FAKEBE_SILENT) {
        while (read_more(c)) /* whatever else comes is ignored */
            c->have = 0;
        return false;
    }
    fbuf out = {0};
    size_t head = answer(st, r, &out);
    /* What follows the answer goes out in the same write, so that it
     * arrives with the answer, in the same read as far as the peer can
     * tell: the case a client is most likely to mistake for the next
     * answer. */
    if (st->then == FAKEBE_THEN_REPEAT) {
        fbuf again = {0};
        answer(st, r, &again); /* the same bytes: answers are deterministic */
        fbuf_add(&out, again.p, again.n);
        out.failed |= again.failed;
        free(again.p);
    }
    if (st->then == FAKEBE_THEN_EXTRA) {
        fbuf body = {0};
        fbuf_printf(&body, "%s", st->extra ? st->extra : "{\"results\":[\"code\"]}");
        response(&out, 200, &body, 0, false);
        free(body.p);
    }
    bool ok = !out.failed && send_paced(c, out.p, out.n, head, st->trickle);
    free(out.p);
    if (ok && r->post)
        bump(fb, &fb->answered);
    return ok && st->then != FAKEBE_THEN_CLOSE;
}

/* The step for request r, counting it. */
static const fakebe_step *step_for(fakebe_conn *c, const fb_req *r)
{
    static const fakebe_step not_found = {.act = FAKEBE_NORMAL};
    fakebe *fb = c->fb;
    const fakebe_step *st = &not_found;
    pthread_mutex_lock(&fb->mu);
    if (r->post) {
        size_t k = (size_t)fb->posts++;
        st = k < fb->script.n ? &fb->steps[k] : &fb->script.rest;
        c->posts++;
    } else if (r->health) {
        fb->health_checks++;
        st = &fb->script.health;
    }
    pthread_mutex_unlock(&fb->mu);
    return st;
}

static void *conn_main(void *arg)
{
    fakebe_conn *c = arg;
    fakebe *fb = c->fb;
    fb_req r;
    while (read_request(c, &r) && perform(c, step_for(c, &r), &r))
        consume(c, r.size);
    pthread_mutex_lock(&fb->mu);
    if (c->peer_closed && c->posts > 0 && fb->running)
        fb->post_conns_closed++;
    close(c->fd);
    c->fd = -1;
    pthread_mutex_unlock(&fb->mu);
    free(c->in);
    c->in = NULL;
    return NULL;
}

static void *accept_main(void *arg)
{
    fakebe *fb = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = fb->lfd, .events = POLLIN},
                              {.fd = fb->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return NULL;
        if (p[1].revents)
            return NULL;
        if (!p[0].revents)
            continue;
        int fd = accept(fb->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        int one = 1; /* trickled pieces go out as they are written */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fakebe_conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fb = fb;
        c->fd = fd;
        pthread_mutex_lock(&fb->mu);
        fb->accepted++;
        c->next = fb->conns;
        fb->conns = c;
        if (pthread_create(&c->th, NULL, conn_main, c) != 0) {
            fb->conns = c->next;
            close(fd);
            free(c);
        }
        pthread_mutex_unlock(&fb->mu);
    }
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

bool fakebe_start(fakebe *fb, const fakebe_script *script)
{
    memset(fb, 0, sizeof *fb);
    fb->stop_pipe[0] = fb->stop_pipe[1] = -1;
    if (script)
        fb->script = *script;
    fb->steps = calloc(fb->script.n + 1, sizeof *fb->steps);
    if (!fb->steps)
        return false;
    if (fb->script.n)
        memcpy(fb->steps, script->steps, fb->script.n * sizeof *fb->steps);
    fb->script.steps = fb->steps;
    pthread_mutex_init(&fb->mu, NULL);
    fb->lfd = listen_loopback(&fb->port);
    if (fb->lfd < 0 || pipe(fb->stop_pipe) != 0 ||
        pthread_create(&fb->acceptor, NULL, accept_main, fb) != 0) {
        if (fb->lfd >= 0)
            close(fb->lfd);
        for (int i = 0; i < 2; i++)
            if (fb->stop_pipe[i] >= 0)
                close(fb->stop_pipe[i]);
        pthread_mutex_destroy(&fb->mu);
        free(fb->steps);
        fb->steps = NULL;
        return false;
    }
    fb->running = true;
    return true;
}

void fakebe_stop(fakebe *fb)
{
    if (!fb->running)
        return;
    pthread_mutex_lock(&fb->mu);
    fb->running = false; /* closes from now on are ours, not the peer's */
    pthread_mutex_unlock(&fb->mu);
    /* Every wait polls the pipe's read end: one byte wakes them all. */
    if (write(fb->stop_pipe[1], "x", 1) != 1)
        perror("fakebe: stop");
    pthread_join(fb->acceptor, NULL);
    pthread_mutex_lock(&fb->mu);
    for (fakebe_conn *c = fb->conns; c; c = c->next)
        if (c->fd >= 0)
            shutdown(c->fd, SHUT_RDWR); /* a send blocked on a full socket returns */
    pthread_mutex_unlock(&fb->mu);
    while (fb->conns) {
        fakebe_conn *c = fb->conns;
        pthread_join(c->th, NULL);
        fb->conns = c->next;
        free(c);
    }
    close(fb->lfd);
    close(fb->stop_pipe[0]);
    close(fb->stop_pipe[1]);
    pthread_mutex_destroy(&fb->mu);
    free(fb->steps);
    fb->steps = NULL;
}

int fakebe_await(fakebe *fb, int (*count)(fakebe *), int want, double limit)
{
    int v = count(fb);
    for (int i = 0; v < want && i < (int)(limit * 100); i++) {
        nap(fb, 0.01);
        v = count(fb);
    }
    return v;
}

/* --- the text form of a step --- */

/* Decodes \xHH escapes in s, in place. */
static bool unescape(char *s)
{
    char *o = s;
    for (const char *i = s; *i; o++) {
        unsigned v;
        if (i[0] == '\\' && i[1] == 'x' && sscanf(i + 2, "%2x", &v) == 1 && v > 0) {
            *o = (char)v;
            i += 4;
        } else if (i[0] == '\\') {
            return false;
        } else {
            *o = *i++;
        }
    }
    *o = '\0';
    return true;
}

/* The index of word in names[0..n), or -1. */
static int pick(const char *word, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(word, names[i]) == 0)
            return i;
    return -1;
}

static bool parse_number(const char *v, double *out)
{
    char *end;
    *out = strtod(v, &end);
    return *v && !*end && *out >= 0 && *out < 1e9;
}

/* Sets one field of st from key=value (value NULL for a bare key). */
static bool parse_field(fakebe_step *st, const char *key, char *v)
{
    static const char *const acts[] = {"normal", "wrong_count", "status", "raw", "close", "silent"};
    static const char *const thens[] = {"keep", "close", "repeat", "extra"};
    double x;
    int k;
    if (!v) {
        if (strcmp(key, "chunked") != 0)
            return false;
        st->chunked = true;
        return true;
    }
    if (strcmp(key, "act") == 0 && (k = pick(v, acts, 6)) >= 0)
        st->act = (enum fakebe_act)k;
    else if (strcmp(key, "then") == 0 && (k = pick(v, thens, 4)) >= 0)
        st->then = (enum fakebe_then)k;
    else if (strcmp(key, "status") == 0 && parse_number(v, &x) && x >= 100 && x <= 999)
        st->status = (int)x;
    else if (strcmp(key, "pad") == 0 && parse_number(v, &x))
        st->pad = (size_t)x;
    else if (strcmp(key, "delay") == 0 && parse_number(v, &x))
        st->delay = x;
    else if (strcmp(key, "trickle") == 0 && parse_number(v, &x))
        st->trickle = x;
    else if (strcmp(key, "body") == 0 && unescape(v))
        st->body = v;
    else if (strcmp(key, "extra") == 0 && unescape(v))
        st->extra = v;
    else
        return false;
    return true;
}

bool fakebe_parse_step(char *spec, fakebe_step *st, char *err, size_t errlen)
{
    *st = (fakebe_step){0};
    for (char *field = spec, *next; field && *field; field = next) {
        next = strchr(field, ',');
        if (next)
            *next++ = '\0';
        char *eq = strchr(field, '=');
        if (eq)
            *eq++ = '\0';
        if (!parse_field(st, field, eq)) {
            snprintf(err, errlen, "bad step field '%s%s%s'", field, eq ? "=" : "", eq ? eq : "");
            return false;
        }
    }
    if (st->act == FAKEBE_STATUS && !st->status) {
        snprintf(err, errlen, "act=status needs status=N");
        return false;
    }
    return true;
}
