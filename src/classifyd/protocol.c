/* protocol: the protocols' table, the original classify protocol, and the
 * helpers the others share (see protocol.h). */
#include "proto_impl.h"

#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const proto_kind_names[] = {"classify", "oip", "tei", NULL};

const char *proto_kind_name(enum proto_kind kind)
{
    return kind <= PROTO_TEI ? proto_kind_names[kind] : "?";
}

bool proto_model_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", name[i]))
            return false;
    return true;
}

bool proto_fail(proto_error *e, int status, const char *type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    e->status = status;
    e->type = type;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return false;
}

/* ---- helpers ---- */

char *proto_dump(json_t *v)
{
    if (!v)
        return NULL;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(7));
    json_decref(v);
    return s;
}

bool proto_text(json_t *v, wire_text *t)
{
    if (!json_is_string(v))
        return false;
    t->s = json_string_value(v);
    t->bytes = json_string_length(v);
    /* jansson has already refused invalid UTF-8, so this counts. */
    utf8_length(t->s, t->bytes, &t->len);
    return true;
}

bool proto_items(proto_request *r, size_t n, proto_error *e)
{
    r->req.items = calloc(n ? n : 1, sizeof *r->req.items);
    if (!r->req.items)
        return proto_fail(e, 500, NULL, "out of memory");
    r->req.n = n;
    return true;
}

const char *proto_label_name(const enum wire_label *labels, size_t i, enum proto_shape shape)
{
    if (i == 0 && shape == PROTO_BAD_LABEL)
        return labels[0] == WIRE_CODE ? "cod3" : "not cod3";
    return wire_label_name(labels[i]);
}

/* ---- classify: the original challenge's server (wire.h) ---- */

static enum proto_route_kind classify_route(const proto_config *p, const char *path, proto_error *e)
{
    (void)p;
    if (strcmp(path, "/classify") == 0)
        return PROTO_ROUTE_INFER;
    if (strcmp(path, "/healthz") == 0)
        return PROTO_ROUTE_INFO;
    proto_fail(e, 404, NULL, "no such path: %s", path);
    return PROTO_ROUTE_NONE;
}

static bool classify_info(const proto_config *p, const char *path, bool stopping, char **body,
                          proto_error *e)
{
    (void)p;
    (void)path;
    /* While stopping, 503: a load balancer takes it out at once. */
    if (stopping)
        return proto_fail(e, 503, NULL, "server is shutting down");
    *body = strdup("{\"status\":\"ok\"}");
    return true;
}

static char *classify_answer(const proto_config *p, const proto_opts *o,
                             const enum wire_label *labels, const double *confidence, size_t n,
                             enum proto_shape shape)
{
    (void)p;
    (void)o;
    (void)confidence;
    if (shape == PROTO_BAD_SHAPE)
        return strdup("{\"results\":\"code\"}");
    char *full = wire_results_json(labels, n);
    if (full && shape == PROTO_BAD_LABEL) {
        char *q = strstr(full, "code\"");
        if (q)
            memcpy(q, "cod3", 4);
    }
    return full;
}

static char *classify_error_json(const proto_error *e, const char *msg)
{
    (void)e;
    return wire_error_json(msg);
}

/* classify parses with wire_parse_request, not through this table. */
static const proto_ops classify_ops = {.route = classify_route,
                                       .info = classify_info,
                                       .answer = classify_answer,
                                       .error_json = classify_error_json,
                                       .failure_status = 500};

static const proto_ops *ops_of(const proto_config *p)
{
    return p->kind == PROTO_OIP   ? &proto_oip_ops
           : p->kind == PROTO_TEI ? &proto_tei_ops
                                  : &classify_ops;
}

/* ---- the table's entry points ---- */

enum proto_route_kind proto_route(const proto_config *p, const char *path, proto_error *e)
{
    return ops_of(p)->route(p, path, e);
}

bool proto_info(const proto_config *p, const char *path, bool stopping, char **body, proto_error *e)
{
    *body = NULL;
    return ops_of(p)->info(p, path, stopping, body, e);
}

bool proto_parse(const proto_config *p, const char *body, size_t n, proto_request *out,
                 proto_error *e)
{
    memset(out, 0, sizeof *out);
    if (p->kind == PROTO_CLASSIFY) {
        wire_limits lim = {
            .max_items = p->max_items, .max_length = p->max_length, .allow_empty = true};
        int status = wire_parse_request(body, n, &lim, &out->req, e->msg, sizeof e->msg);
        e->status = status;
        e->type = NULL;
        return status == 0;
    }
    int status = 0;
    json_t *root = wire_load_object(body, n, &status, e->msg, sizeof e->msg);
    if (!root) {
        e->status = status;
        e->type = "Validation"; /* tei: not a request it can read */
        return false;
    }
    out->req.root = root;
    if (!ops_of(p)->parse(p, root, out, e)) {
        proto_request_free(out);
        return false;
    }
    return true;
}

bool proto_admit(const proto_config *p, proto_request *r, proto_error *e)
{
    const proto_ops *ops = ops_of(p);
    return !ops->admit || ops->admit(p, r, e);
}

void proto_request_free(proto_request *r)
{
    wire_request_free(&r->req);
    free(r->opts.id);
    memset(r, 0, sizeof *r);
}

char *proto_answer(const proto_config *p, const proto_opts *o, const enum wire_label *labels,
                   const double *confidence, size_t n, enum proto_shape shape)
{
    return ops_of(p)->answer(p, o, labels, confidence, n, shape);
}

char *proto_error_json(const proto_config *p, const proto_error *e)
{
    /* A message may quote client text cut short mid-character: JSON needs
     * valid UTF-8. */
    char msg[sizeof e->msg];
    utf8_printable(msg, sizeof msg, e->msg, strlen(e->msg));
    return ops_of(p)->error_json(e, msg);
}

int proto_failure_status(const proto_config *p)
{
    return ops_of(p)->failure_status;
}
