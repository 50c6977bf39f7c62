/* httpd: shared HTTP-server plumbing on evhttp (see httpd.h). */
#include "httpd.h"

#include "addr.h"
#include "utf8.h"
#include "wire.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

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

struct evhttp *httpd_listen(struct event_base *base, const char *spec, const httpd_limits *lim,
                            void (*cb)(struct evhttp_request *, void *), void *arg, char *err,
                            size_t errlen)
{
    addr_hostport hp;
    if (!addr_parse_hostport(spec, &hp, err, errlen))
        return NULL;
    struct evhttp *http = evhttp_new(base);
    if (!http) {
        snprintf(err, errlen, "evhttp_new failed");
        return NULL;
    }
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, hp.host, hp.port);
    if (!sock) {
        snprintf(err, errlen, "cannot listen on %s", spec);
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
    evhttp_set_timeout(http, lim->io_timeout_s);
    evhttp_set_default_content_type(http, "application/json");
    evhttp_set_gencb(http, cb, arg);

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
    if (evhttp_request_get_command(req) == method)
        return true;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", method_name(method));
    httpd_send_error(req, 405, "method not allowed; use %s", method_name(method));
    return false;
}

void httpd_send_text(struct evhttp_request *req, int status, const char *content_type,
                     const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", content_type);
    struct evbuffer *buf = evbuffer_new();
    if (buf)
        evbuffer_add(buf, body, len);
    evhttp_send_reply(req, status, httpd_reason(status), buf);
    if (buf)
        evbuffer_free(buf);
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
