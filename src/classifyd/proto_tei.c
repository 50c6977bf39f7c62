/* proto_tei: Hugging Face Text Embeddings Inference's sequence
 * classification endpoint, POST /predict; see docs/backends.md for the
 * sources and the choices made here.
 *
 *   {"inputs": "text"}                  one text: [{"score", "label"}, ...]
 *   {"inputs": [["a"], ["b"], ...]}     a batch: one such list per text
 * Each list holds both labels, the likelier first. Errors are
 * {"error": "...", "error_type": "..."} with TEI's statuses: 422 for
 * input it can't take, 400 for an empty text, 429 when busy, 424 when the
 * model fails, 503 when unhealthy. */
#include "proto_impl.h"

#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEI_INPUTS_SHAPES "a string, or a batch of one-string lists [[\"a\"], [\"b\"], ...]"

static enum proto_route_kind tei_route(const proto_config *p, const char *path, proto_error *e)
{
    (void)p;
    if (strcmp(path, "/predict") == 0)
        return PROTO_ROUTE_INFER;
    if (strcmp(path, "/health") == 0 || strcmp(path, "/info") == 0)
        return PROTO_ROUTE_INFO;
    proto_fail(e, 404, NULL, "no such path: %s", path);
    return PROTO_ROUTE_NONE;
}

static bool tei_info(const proto_config *p, const char *path, bool stopping, char **body,
                     proto_error *e)
{
    if (strcmp(path, "/info") == 0) {
        *body = proto_dump(
            json_pack("{s:s,s:s,s:{s:{s:{s:s,s:s},s:{s:i,s:i}}},s:i,s:I,s:I,s:b,s:s}", "model_id",
                      "classifyd", "model_dtype", "float32", "model_type", "classifier", "id2label",
                      "0", "not code", "1", "code", "label2id", "not code", 0, "code", 1,
                      "max_concurrent_requests", 1, "max_input_length", (json_int_t)p->max_length,
                      "max_client_batch_size", (json_int_t)p->max_items, "auto_truncate", 0,
                      "version", BP_VERSION));
        return true;
    }
    if (stopping)
        return proto_fail(e, 503, "Unhealthy", "server is shutting down");
    *body = strdup(""); /* TEI's /health answers 200 with no body */
    return true;
}

/* ---- the request ---- */

/* A pair ["a", "b"] is TEI's way of asking a cross-encoder about two
 * texts; this model classifies one. */
static bool refuse_pair(proto_error *e, const char *where)
{
    return proto_fail(e, 422, "Validation",
                      "%s is a pair of texts; this model classifies single texts: send %s", where,
                      TEI_INPUTS_SHAPES);
}

/* One list of the batch: exactly one string. */
static bool batch_item(json_t *v, size_t i, wire_text *t, proto_error *e)
{
    char where[48];
    snprintf(where, sizeof where, "inputs[%zu]", i);
    if (json_is_array(v) && json_array_size(v) == 2)
        return refuse_pair(e, where);
    if (!json_is_array(v) || json_array_size(v) != 1 || !proto_text(json_array_get(v, 0), t))
        return proto_fail(e, 422, "Validation", "%s must be a list of one string: 'inputs' is %s",
                          where, TEI_INPUTS_SHAPES);
    return true;
}

static bool parse_inputs(const proto_config *p, json_t *in, proto_request *out, proto_error *e)
{
    if (json_is_string(in) || (json_is_array(in) && json_is_string(json_array_get(in, 0)))) {
        /* One text: "a", or TEI's ["a"] (["a", "b"] would be a pair). */
        json_t *text = json_is_string(in) ? in : json_array_get(in, 0);
        if (json_is_array(in) && json_array_size(in) == 2)
            return refuse_pair(e, "'inputs'");
        if (json_is_array(in) && json_array_size(in) != 1)
            return proto_fail(e, 422, "Validation", "'inputs' must be %s", TEI_INPUTS_SHAPES);
        out->opts.single = true;
        return proto_items(out, 1, e) && proto_text(text, &out->req.items[0]);
    }
    if (!json_is_array(in) || json_array_size(in) == 0)
        return proto_fail(e, 422, "Validation", "'inputs' must be %s%s", TEI_INPUTS_SHAPES,
                          in ? "" : " (it is missing)");
    size_t n = json_array_size(in);
    if (n > p->max_items)
        return proto_fail(e, 422, "Validation",
                          "batch size %zu is over the maximum allowed batch size %zu", n,
                          p->max_items);
    if (!proto_items(out, n, e))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!batch_item(json_array_get(in, i), i, &out->req.items[i], e))
            return false;
    return true;
}

static bool optional_bool(json_t *root, const char *key, bool *out, proto_error *e)
{
    json_t *v = json_object_get(root, key);
    if (v && !json_is_boolean(v) && !json_is_null(v))
        return proto_fail(e, 422, "Validation", "'%s' must be true or false", key);
    *out = json_is_true(v);
    return true;
}

static bool tei_parse(const proto_config *p, json_t *root, proto_request *out, proto_error *e)
{
    proto_opts *o = &out->opts;
    json_t *dir = json_object_get(root, "truncation_direction");
    const char *d = json_string_value(dir);
    if (dir && !(d && (strcmp(d, "left") == 0 || strcmp(d, "Left") == 0 ||
                       strcmp(d, "right") == 0 || strcmp(d, "Right") == 0)))
        return proto_fail(e, 422, "Validation",
                          "'truncation_direction' must be \"left\" or \"right\"");
    o->truncate_left = d && (d[0] == 'l' || d[0] == 'L');
    return optional_bool(root, "truncate", &o->truncate, e) &&
           optional_bool(root, "raw_scores", &o->raw_scores, e) &&
           parse_inputs(p, json_object_get(root, "inputs"), out, e);
}

/* Keeps max code points of t, from its end when left (TEI's
 * truncation_direction: which side is cut off). */
static void truncate_text(wire_text *t, size_t max, bool left)
{
    size_t skip = left ? t->len - max : max, at = 0;
    uint32_t cp;
    for (size_t k = 0; k < skip; k++)
        utf8_next(t->s, t->bytes, &at, &cp);
    if (left) {
        t->s += at;
        t->bytes -= at;
    } else {
        t->bytes = at;
    }
    t->len = max;
}

/* TEI validates each text once it holds a permit: after the 429. */
static bool tei_admit(const proto_config *p, proto_request *r, proto_error *e)
{
    for (size_t i = 0; i < r->req.n; i++) {
        wire_text *t = &r->req.items[i];
        if (t->bytes == 0)
            return proto_fail(e, 400, "Empty", "Input validation error: `inputs` cannot be empty");
        if (p->max_length && t->len > p->max_length && r->opts.truncate)
            truncate_text(t, p->max_length, r->opts.truncate_left);
        else if (p->max_length && t->len > p->max_length)
            return proto_fail(e, 422, "Validation",
                              "Input validation error: `inputs` must have at most %zu characters. "
                              "Given: %zu",
                              p->max_length, t->len);
    }
    return true;
}

/* ---- the answer ---- */

/* Both labels of one text, the likelier first. raw: logits whose softmax
 * is the probabilities (±half the log-odds). */
static json_t *predictions(enum wire_label label, const char *name, double confidence, bool raw)
{
    double top = confidence, other = 1.0 - confidence;
    if (raw) {
        top = 0.5 * log(confidence / (1.0 - confidence));
        other = -top;
    }
    return json_pack("[{s:f,s:s},{s:f,s:s}]", "score", top, "label", name, "score", other, "label",
                     wire_label_name(label == WIRE_CODE ? WIRE_NOT_CODE : WIRE_CODE));
}

static char *tei_answer(const proto_config *p, const proto_opts *o, const enum wire_label *labels,
                        const double *confidence, size_t n, enum proto_shape shape)
{
    (void)p;
    json_t *batch = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(batch, predictions(labels[i], proto_label_name(labels, i, shape),
                                                 confidence[i], o->raw_scores));
    /* One text is answered with its list alone; the wrong shape swaps the
     * two forms. */
    bool flat = o->single != (shape == PROTO_BAD_SHAPE);
    if (flat && n > 0) {
        json_t *first = json_incref(json_array_get(batch, 0));
        json_decref(batch);
        return proto_dump(first);
    }
    return proto_dump(batch);
}

static const char *type_of(int status)
{
    switch (status) {
    case 400:
        return "Empty";
    case 424:
        return "Backend";
    case 429:
        return "Overloaded";
    case 503:
        return "Unhealthy";
    default:
        return "Validation";
    }
}

static char *tei_error_json(const proto_error *e, const char *msg)
{
    return proto_dump(
        json_pack("{s:s,s:s}", "error", msg, "error_type", e->type ? e->type : type_of(e->status)));
}

const proto_ops proto_tei_ops = {.route = tei_route,
                                 .info = tei_info,
                                 .parse = tei_parse,
                                 .admit = tei_admit,
                                 .answer = tei_answer,
                                 .error_json = tei_error_json,
                                 .failure_status = 424};
