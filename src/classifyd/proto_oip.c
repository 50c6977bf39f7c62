/* proto_oip: the Open Inference Protocol (KServe v2 REST), as Triton,
 * KServe, Seldon MLServer and OpenVINO Model Server speak it; see
 * docs/backends.md for the sources and the choices made here.
 *
 * One model, one version ("1"), one input and two outputs:
 *   input   text   BYTES  [n] or [n, 1]  the texts, as JSON strings
 *   output  label  BYTES  same shape     "code" or "not code"
 *   output  score  FP32   same shape     the probability of that label
 * Errors are {"error": "..."}: 400 for a bad request, 404 for an unknown
 * path, model or version. */
#include "proto_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OIP_VERSION "1"
#define OIP_INPUT "text"

static const char *const output_names[] = {"", "label", "score"}; /* by PROTO_OUT_* */

/* ---- paths ---- */

/* What a path under /v2/models/ names: the endpoint after the model (and
 * version), "" for the model's metadata. */
typedef struct oip_path {
    char model[65], version[65];
    const char *endpoint; /* "", "infer", "ready"; NULL: not a model path */
} oip_path;

/* Copies the segment at *p (up to '/' or the end) into out; false if it is
 * empty or too long. */
static bool segment(const char **p, char *out, size_t cap)
{
    size_t n = strcspn(*p, "/");
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p += n;
    return true;
}

/* Splits /v2/models/NAME[/versions/V][/infer|/ready]. */
static bool split_model_path(const char *path, oip_path *out)
{
    static const char prefix[] = "/v2/models/";
    memset(out, 0, sizeof *out);
    if (strncmp(path, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *p = path + sizeof prefix - 1;
    if (!segment(&p, out->model, sizeof out->model))
        return false;
    if (strncmp(p, "/versions/", 10) == 0) {
        p += 10;
        if (!segment(&p, out->version, sizeof out->version))
            return false;
    }
    if (*p == '\0')
        out->endpoint = "";
    else if (strcmp(p, "/infer") == 0 || strcmp(p, "/ready") == 0)
        out->endpoint = p + 1;
    return out->endpoint != NULL;
}

static enum proto_route_kind oip_route(const proto_config *p, const char *path, proto_error *e)
{
    if (strcmp(path, "/v2") == 0 || strcmp(path, "/v2/health/live") == 0 ||
        strcmp(path, "/v2/health/ready") == 0)
        return PROTO_ROUTE_INFO;
    oip_path mp;
    if (!split_model_path(path, &mp)) {
        proto_fail(e, 404, NULL, "no such path: %s", path);
        return PROTO_ROUTE_NONE;
    }
    if (strcmp(mp.model, p->model) != 0) {
        proto_fail(e, 404, NULL, "unknown model '%s'; this server serves '%s'", mp.model, p->model);
        return PROTO_ROUTE_NONE;
    }
    if (mp.version[0] && strcmp(mp.version, OIP_VERSION) != 0) {
        proto_fail(e, 404, NULL, "model '%s' has no version '%s'; its only version is '%s'",
                   p->model, mp.version, OIP_VERSION);
        return PROTO_ROUTE_NONE;
    }
    return strcmp(mp.endpoint, "infer") == 0 ? PROTO_ROUTE_INFER : PROTO_ROUTE_INFO;
}

static json_t *tensor_meta(const char *name, const char *datatype)
{
    return json_pack("{s:s,s:s,s:[i]}", "name", name, "datatype", datatype, "shape", -1);
}

static bool oip_info(const proto_config *p, const char *path, bool stopping, char **body,
                     proto_error *e)
{
    if (strcmp(path, "/v2") == 0) {
        *body = proto_dump(
            json_pack("{s:s,s:s,s:[]}", "name", "classifyd", "version", BP_VERSION, "extensions"));
        return true;
    }
    if (strcmp(path, "/v2/health/live") == 0) {
        /* Alive while it runs, stopping included: it still answers. */
        *body = strdup("{\"live\":true}");
        return true;
    }
    oip_path mp;
    bool model = split_model_path(path, &mp);
    if (model && mp.endpoint[0] == '\0') { /* the model's metadata */
        *body = proto_dump(json_pack("{s:s,s:[s],s:s,s:[o],s:[o,o]}", "name", p->model, "versions",
                                     OIP_VERSION, "platform", "classifyd", "inputs",
                                     tensor_meta(OIP_INPUT, "BYTES"), "outputs",
                                     tensor_meta("label", "BYTES"), tensor_meta("score", "FP32")));
        return true;
    }
    /* Readiness, of the server or of its one model, fails while stopping. */
    if (stopping)
        return proto_fail(e, 503, NULL, "server is shutting down");
    *body = model ? proto_dump(json_pack("{s:s,s:b}", "name", p->model, "ready", 1))
                  : strdup("{\"ready\":true}");
    return true;
}

/* ---- the request ---- */

static bool optional_object(json_t *parent, const char *key, const char *what, proto_error *e)
{
    json_t *v = json_object_get(parent, key);
    if (v && !json_is_object(v))
        return proto_fail(e, 400, NULL, "%s 'parameters' must be an object", what);
    return true;
}

/* The input tensor's shape: [n] or [n, 1]. */
static bool parse_shape(json_t *shape, size_t *n, int *rank, proto_error *e)
{
    size_t dims = json_array_size(shape);
    json_t *d0 = json_array_get(shape, 0), *d1 = json_array_get(shape, 1);
    bool ok = json_is_array(shape) && (dims == 1 || dims == 2) && json_is_integer(d0) &&
              json_integer_value(d0) >= 0 &&
              (dims == 1 || (json_is_integer(d1) && json_integer_value(d1) == 1));
    if (!ok)
        return proto_fail(e, 400, NULL,
                          "input '" OIP_INPUT "' must have shape [n] or [n, 1] (n texts)");
    *n = (size_t)json_integer_value(d0);
    *rank = (int)dims;
    return true;
}

/* Element i of the data: flat (["a", "b"]) or, for shape [n, 1], nested
 * ([["a"], ["b"]]). */
static json_t *element(json_t *data, size_t i, int rank, size_t n)
{
    if (rank == 2 && json_array_size(data) == n && json_is_array(json_array_get(data, 0))) {
        json_t *row = json_array_get(data, i);
        return json_array_size(row) == 1 ? json_array_get(row, 0) : NULL;
    }
    return json_array_get(data, i);
}

static bool parse_data(const proto_config *p, json_t *data, size_t n, int rank, proto_request *out,
                       proto_error *e)
{
    bool nested =
        rank == 2 && json_array_size(data) == n && n > 0 && json_is_array(json_array_get(data, 0));
    if (!json_is_array(data) || json_array_size(data) != n)
        return proto_fail(e, 400, NULL,
                          "input '" OIP_INPUT "' has shape [%zu%s] but 'data' is not a list of "
                          "%zu elements",
                          n, rank == 2 ? ", 1" : "", n);
    if (!proto_items(out, n, e))
        return false;
    for (size_t i = 0; i < n; i++) {
        wire_text *t = &out->req.items[i];
        if (!proto_text(element(data, i, rank, n), t))
            return proto_fail(e, 400, NULL,
                              "input '" OIP_INPUT "' data[%zu]%s must be a string: BYTES "
                              "elements are JSON strings",
                              i, nested ? "[0]" : "");
        if (p->max_length && t->len > p->max_length)
            return proto_fail(e, 400, NULL,
                              "input '" OIP_INPUT "' data[%zu] is %zu characters long; the "
                              "limit is %zu",
                              i, t->len, p->max_length);
    }
    return true;
}

static bool parse_input(const proto_config *p, json_t *inputs, proto_request *out, proto_error *e)
{
    size_t count = json_array_size(inputs);
    if (!json_is_array(inputs) || count == 0)
        return proto_fail(e, 400, NULL,
                          "field 'inputs' (a list with the input tensor '" OIP_INPUT
                          "') is required");
    for (size_t i = 0; i < count; i++) {
        const char *name = json_string_value(json_object_get(json_array_get(inputs, i), "name"));
        if (!name)
            return proto_fail(e, 400, NULL, "inputs[%zu] must be an object with a 'name'", i);
        if (strcmp(name, OIP_INPUT) != 0 || i > 0)
            return proto_fail(e, 400, NULL,
                              "unexpected input '%s' for model '%s': its only input is '" OIP_INPUT
                              "'",
                              name, p->model);
    }
    json_t *in = json_array_get(inputs, 0);
    const char *datatype = json_string_value(json_object_get(in, "datatype"));
    if (!datatype || strcmp(datatype, "BYTES") != 0)
        return proto_fail(e, 400, NULL,
                          "input '" OIP_INPUT "' has datatype '%s'; the model takes BYTES",
                          datatype ? datatype : "(none)");
    size_t n;
    if (!parse_shape(json_object_get(in, "shape"), &n, &out->opts.rank, e) ||
        !optional_object(in, "parameters", "input '" OIP_INPUT "'", e))
        return false;
    if (n > p->max_items)
        return proto_fail(e, 400, NULL, "a batch of %zu texts; model '%s' takes at most %zu", n,
                          p->model, p->max_items);
    return parse_data(p, json_object_get(in, "data"), n, out->opts.rank, out, e);
}

/* The outputs asked for, in order; all of them when none are named. */
static bool parse_outputs(const proto_config *p, json_t *outputs, proto_opts *o, proto_error *e)
{
    if (outputs && !json_is_array(outputs))
        return proto_fail(e, 400, NULL, "field 'outputs' must be a list of {\"name\": ...}");
    for (size_t i = 0; i < json_array_size(outputs); i++) {
        json_t *out = json_array_get(outputs, i);
        const char *name = json_string_value(json_object_get(out, "name"));
        unsigned char which = !name                        ? 0
                              : strcmp(name, "label") == 0 ? PROTO_OUT_LABEL
                              : strcmp(name, "score") == 0 ? PROTO_OUT_SCORE
                                                           : 0;
        if (!which)
            return proto_fail(e, 400, NULL,
                              "unexpected output %s%s%s for model '%s': its outputs are "
                              "'label' and 'score'",
                              name ? "'" : "", name ? name : "(no name)", name ? "'" : "",
                              p->model);
        if (o->n_outputs == 2 || (o->n_outputs == 1 && o->outputs[0] == which))
            return proto_fail(e, 400, NULL, "output '%s' asked for twice", name);
        if (!optional_object(out, "parameters", "output", e))
            return false;
        o->outputs[o->n_outputs++] = which;
    }
    if (o->n_outputs == 0) {
        o->outputs[0] = PROTO_OUT_LABEL;
        o->outputs[1] = PROTO_OUT_SCORE;
        o->n_outputs = 2;
    }
    return true;
}

static bool oip_parse(const proto_config *p, json_t *root, proto_request *out, proto_error *e)
{
    json_t *id = json_object_get(root, "id");
    if (id && !json_is_string(id))
        return proto_fail(e, 400, NULL, "field 'id' must be a string");
    if (id && !(out->opts.id = strdup(json_string_value(id))))
        return proto_fail(e, 500, NULL, "out of memory");
    return optional_object(root, "parameters", "request", e) &&
           parse_input(p, json_object_get(root, "inputs"), out, e) &&
           parse_outputs(p, json_object_get(root, "outputs"), &out->opts, e);
}

/* ---- the answer ---- */

static json_t *shape_of(size_t n, int rank)
{
    return rank == 2 ? json_pack("[I,i]", (json_int_t)n, 1) : json_pack("[I]", (json_int_t)n);
}

static json_t *output_tensor(unsigned char which, const proto_opts *o,
                             const enum wire_label *labels, const double *confidence, size_t n,
                             enum proto_shape shape)
{
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(data, which == PROTO_OUT_LABEL
                                        ? json_string(proto_label_name(labels, i, shape))
                                        : json_real(confidence[i]));
    /* The wrong shape: one more element declared than there is data. */
    size_t declared = shape == PROTO_BAD_SHAPE ? n + 1 : n;
    return json_pack("{s:s,s:s,s:o,s:o}", "name", output_names[which], "datatype",
                     which == PROTO_OUT_LABEL ? "BYTES" : "FP32", "shape",
                     shape_of(declared, o->rank), "data", data);
}

static char *oip_answer(const proto_config *p, const proto_opts *o, const enum wire_label *labels,
                        const double *confidence, size_t n, enum proto_shape shape)
{
    json_t *outputs = json_array();
    for (size_t k = 0; k < o->n_outputs; k++)
        json_array_append_new(outputs,
                              output_tensor(o->outputs[k], o, labels, confidence, n, shape));
    json_t *v = json_pack("{s:s,s:s}", "model_name", p->model, "model_version", OIP_VERSION);
    if (v && o->id)
        json_object_set_new(v, "id", json_string(o->id));
    if (v)
        json_object_set_new(v, "outputs", outputs);
    else
        json_decref(outputs);
    return proto_dump(v);
}

static char *oip_error_json(const proto_error *e, const char *msg)
{
    (void)e;
    return proto_dump(json_pack("{s:s}", "error", msg));
}

const proto_ops proto_oip_ops = {.route = oip_route,
                                 .info = oip_info,
                                 .parse = oip_parse,
                                 .answer = oip_answer,
                                 .error_json = oip_error_json,
                                 .failure_status = 500};
