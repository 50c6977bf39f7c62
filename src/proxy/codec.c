/* codec: the backend's wire protocol (see codec.h). */
#include "codec.h"

#include "errbuf.h"
#include "utf8.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const codec_protocols[] = {"classify", "oip", "tei", "json", NULL};
const char *const codec_oip_shapes[] = {"n", "n,1", NULL};

/* --- set-up --- */

static bool split_labels(codec *c, const char *list, char *err, size_t errlen)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    if (!(c->labels = calloc(n, sizeof *c->labels)) ||
        !(c->label_results = calloc(n, sizeof *c->label_results)))
        return errbuf_set(err, errlen, "out of memory");
    for (const char *p = list;; p++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || !utf8_length(p, len, NULL))
            return errbuf_set(err, errlen, "--labels: '%s' has a label that is empty or not UTF-8",
                              list);
        /* The label as the JSON string a result of it is. */
        char *text = malloc(wire_string_bound(len));
        size_t jlen = text ? (size_t)(wire_put_string(text, p, len) - text) : 0;
        c->labels[c->nlabels] = strndup(p, len);
        c->label_results[c->nlabels] = text ? result_new(text, jlen) : NULL;
        free(text);
        c->nlabels++;
        if (!c->labels[c->nlabels - 1] || !c->label_results[c->nlabels - 1])
            return errbuf_set(err, errlen, "out of memory");
        if (!end)
            return true;
        p = end;
    }
}

#define CODEC_TOKEN_MAX 255 /* bytes of one token of the results pointer */

/* An RFC 6901 pointer: "" or "/token...", '~' only as ~0 or ~1; tokens at
 * most CODEC_TOKEN_MAX bytes (pointer_get's buffer). */
static bool pointer_ok(const char *p)
{
    if (*p && *p != '/')
        return false;
    size_t token = 0;
    for (; *p; p++) {
        if (*p == '~' && p[1] != '0' && p[1] != '1')
            return false;
        token = *p == '/' ? 0 : token + 1;
        if (token > CODEC_TOKEN_MAX)
            return false;
    }
    return true;
}

bool codec_init(codec *c, const codec_config *cfg, char *err, size_t errlen)
{
    *c = (codec){.cfg = *cfg};
    const char *labels = cfg->labels;
    if (!labels)
        labels = cfg->protocol == CODEC_CLASSIFY ? "code,not code" : "";
    if (*labels && !split_labels(c, labels, err, errlen)) {
        codec_fini(c);
        return false;
    }
    if (cfg->protocol == CODEC_TEI && c->nlabels) {
        codec_fini(c);
        return errbuf_set(err, errlen,
                          "--labels: tei's results are lists of predictions, not label strings; "
                          "leave it out with --backend-protocol tei");
    }
    if (cfg->protocol == CODEC_JSON && !pointer_ok(cfg->results_pointer)) {
        codec_fini(c);
        return errbuf_set(err, errlen,
                          "--backend-results-pointer: '%s' is not a JSON pointer (RFC 6901: empty, "
                          "or '/' then tokens of at most %d bytes, '~' only as ~0 or ~1)",
                          cfg->results_pointer, CODEC_TOKEN_MAX);
    }
    if (cfg->protocol == CODEC_JSON && !*cfg->request_field) {
        codec_fini(c);
        return errbuf_set(
            err, errlen,
            "--backend-request-field: empty; give the key of the request's list of texts");
    }
    if (cfg->protocol == CODEC_OIP && !*cfg->oip_input) {
        codec_fini(c);
        return errbuf_set(err, errlen, "--oip-input: empty; give the input tensor's name");
    }
    return true;
}

void codec_fini(codec *c)
{
    for (size_t i = 0; i < c->nlabels; i++) {
        free(c->labels[i]);
        result_unref(c->label_results[i]);
    }
    free(c->labels);
    free(c->label_results);
    c->labels = NULL;
    c->label_results = NULL;
    c->nlabels = 0;
}

/* One path segment at *p (up to '/' or the end): false when empty. */
static bool segment(const char **p)
{
    const char *s = *p;
    while (**p && **p != '/')
        (*p)++;
    return *p > s;
}

bool codec_check_path(const codec *c, const char *url, const char *path, char *err, size_t errlen)
{
    if (c->cfg.protocol != CODEC_OIP)
        return true;
    /* Anything may come before /v2 (a gateway's prefix); nothing after the
     * model, or its version. */
    const char *p = strstr(path, "/v2/models/");
    bool ok = p != NULL;
    if (ok) {
        p += strlen("/v2/models/");
        ok = segment(&p);
        if (ok && strncmp(p, "/versions/", 10) == 0) {
            p += 10;
            ok = segment(&p);
        }
        ok = ok && *p == '\0';
    }
    if (!ok)
        return errbuf_set(err, errlen,
                          "'%s': with --backend-protocol oip, the URL is the model's: "
                          "http://HOST:PORT/v2/models/NAME (optionally /versions/VERSION)",
                          url);
    return true;
}

const char *codec_default_path(const codec *c)
{
    return c->cfg.protocol == CODEC_CLASSIFY ? "/classify" : NULL;
}

const char *codec_batch_path(const codec *c)
{
    switch (c->cfg.protocol) {
    case CODEC_OIP:
        return "infer";
    case CODEC_TEI:
        return "predict";
    default:
        return NULL;
    }
}

const char *codec_health_path(const codec *c)
{
    if (c->cfg.health_path)
        return c->cfg.health_path;
    switch (c->cfg.protocol) {
    case CODEC_OIP:
        return "ready"; /* the model's readiness, not only the server's */
    case CODEC_TEI:
        return "health";
    default:
        return "/healthz";
    }
}

/* --- requests --- */

static char *put(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* The bytes the texts take as JSON strings, each with `extra` bytes around
 * it; SIZE_MAX when that overflows. */
static size_t texts_bound(const wire_text *const *texts, size_t n, size_t extra)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t b = wire_string_bound(texts[i]->bytes);
        if (b > SIZE_MAX / 2 - extra - total)
            return SIZE_MAX;
        total += b + extra;
    }
    return total;
}

/* oip: {"inputs":[{"name":IN,"shape":[n],"datatype":"BYTES","data":[...]}]}
 * (shape [n,1] with --oip-input-shape n,1; the data flat, as the
 * specification allows for any shape) with ,"outputs":[{"name":OUT}] when
 * an output is named. */
static char *oip_request(const codec *c, const wire_text *const *texts, size_t n)
{
    const char *in = c->cfg.oip_input, *out = c->cfg.oip_output;
    size_t cap = texts_bound(texts, n, 1);
    if (cap == SIZE_MAX)
        return NULL;
    cap += 160 /* the fixed text, and n */ + wire_string_bound(strlen(in)) +
           (out ? wire_string_bound(strlen(out)) : 0);
    char *body = malloc(cap), *p = body;
    if (!body)
        return NULL;
    p = put(p, "{\"inputs\":[{\"name\":");
    p = wire_put_string(p, in, strlen(in));
    p += sprintf(p, ",\"shape\":[%zu%s],\"datatype\":\"BYTES\",\"data\":[", n,
                 c->cfg.oip_shape == CODEC_OIP_N_1 ? ",1" : "");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        p = wire_put_string(p, texts[i]->s, texts[i]->bytes);
    }
    p = put(p, "]}]");
    if (out && *out) {
        p = put(p, ",\"outputs\":[{\"name\":");
        p = wire_put_string(p, out, strlen(out));
        p = put(p, "}]");
    }
    p = put(p, "}");
    *p = '\0';
    return body;
}

/* tei: {"inputs":[["a"],["b"]]}: each text a sequence of its own (a list
 * of two strings would be a pair, for a cross-encoder). */
static char *tei_request(const wire_text *const *texts, size_t n)
{
    size_t cap = texts_bound(texts, n, 3);
    if (cap == SIZE_MAX)
        return NULL;
    cap += 16;
    char *body = malloc(cap), *p = body;
    if (!body)
        return NULL;
    p = put(p, "{\"inputs\":[");
    for (size_t i = 0; i < n; i++) {
        p = put(p, i > 0 ? ",[" : "[");
        p = wire_put_string(p, texts[i]->s, texts[i]->bytes);
        *p++ = ']';
    }
    p = put(p, "]}");
    *p = '\0';
    return body;
}

char *codec_request(const codec *c, const wire_text *const *texts, size_t n, size_t *len)
{
    char *body;
    switch (c->cfg.protocol) {
    case CODEC_OIP:
        body = oip_request(c, texts, n);
        break;
    case CODEC_TEI:
        body = tei_request(texts, n);
        break;
    case CODEC_JSON:
        body = wire_texts_json(c->cfg.request_field, texts, n);
        break;
    default:
        body = wire_sequences_json(texts, n);
        break;
    }
    if (body)
        *len = strlen(body);
    return body;
}

/* --- answers --- */

/* The value at an RFC 6901 pointer, or NULL. */
static json_t *pointer_get(json_t *v, const char *ptr)
{
    while (v && *ptr == '/') {
        char tok[256];
        size_t k = 0;
        for (ptr++; *ptr && *ptr != '/'; ptr++) {
            char ch = *ptr;
            if (ch == '~')
                ch = *++ptr == '1' ? '/' : '~';
            if (k + 1 >= sizeof tok)
                return NULL;
            tok[k++] = ch;
        }
        tok[k] = '\0';
        if (json_is_object(v)) {
            v = json_object_getn(v, tok, k);
        } else if (json_is_array(v) && k > 0 && k < 10 && strspn(tok, "0123456789") == k &&
                   (tok[0] != '0' || k == 1)) {
            v = json_array_get(v, strtoul(tok, NULL, 10));
        } else {
            v = NULL;
        }
    }
    return v;
}

/* Finds the answer's list of results (at least checked to be a list); NULL
 * with the reason in err. `what` names it in later messages. */
static json_t *json_results(const codec *c, json_t *root, char *what, size_t wlen, char *err,
                            size_t errlen)
{
    const char *ptr = c->cfg.protocol == CODEC_JSON ? c->cfg.results_pointer : "/results";
    json_t *list = pointer_get(root, ptr);
    const char *last = strrchr(ptr, '/');
    snprintf(what, wlen, "%s", last ? last + 1 : "");
    if (json_is_array(list))
        return list;
    if (!*ptr)
        errbuf_set(err, errlen, "answer is not a list");
    else if (last == ptr)
        errbuf_set(err, errlen, "answer has no '%s' list", ptr + 1);
    else
        errbuf_set(err, errlen, "answer has no list at %s", ptr);
    return NULL;
}

/* The first element of an oip tensor's data that its shape (rank dims)
 * does not allow, or SIZE_MAX: a value for [n]; a value or a row of one
 * value for [n, 1]. (A value is anything but a list.) */
static size_t oip_misfit(json_t *data, size_t dims)
{
    for (size_t i = 0; i < json_array_size(data); i++) {
        json_t *e = json_array_get(data, i);
        if (dims == 2 && json_array_size(e) == 1)
            e = json_array_get(e, 0);
        if (json_is_array(e))
            return i;
    }
    return SIZE_MAX;
}

/* The oip output tensor's data: the named tensor's, or the first's; n
 * elements, flat (shape [n]) or one a row (shape [n, 1]). */
static json_t *oip_results(const codec *c, json_t *root, size_t n, char *what, size_t wlen,
                           char *err, size_t errlen)
{
    json_t *outputs = json_object_get(root, "outputs"), *tensor = NULL;
    const char *want = c->cfg.oip_output;
    if (!json_is_array(outputs) || json_array_size(outputs) == 0) {
        errbuf_set(err, errlen, "answer has no 'outputs' list");
        return NULL;
    }
    for (size_t i = 0; i < json_array_size(outputs) && !tensor; i++) {
        json_t *t = json_array_get(outputs, i);
        const char *name = json_string_value(json_object_get(t, "name"));
        if (!json_is_object(t) || !name) {
            errbuf_set(err, errlen, "answer's outputs[%zu] is not a tensor with a name", i);
            return NULL;
        }
        if (!want || !*want || strcmp(name, want) == 0)
            tensor = t;
    }
    if (!tensor) {
        errbuf_set(err, errlen, "answer has no output tensor named '%s'", want);
        return NULL;
    }
    snprintf(what, wlen, "%s", json_string_value(json_object_get(tensor, "name")));
    json_t *shape = json_object_get(tensor, "shape"), *data = json_object_get(tensor, "data");
    size_t dims = json_array_size(shape);
    if (!json_is_array(shape) || dims < 1 || dims > 2 ||
        json_integer_value(json_array_get(shape, 0)) != (json_int_t)n ||
        (dims == 2 && json_integer_value(json_array_get(shape, 1)) != 1) ||
        !json_is_integer(json_array_get(shape, 0))) {
        errbuf_set(err, errlen, "output tensor '%s' does not have shape [%zu] or [%zu, 1]", what, n,
                   n);
        return NULL;
    }
    if (!json_is_array(data)) {
        errbuf_set(err, errlen, "output tensor '%s' has no 'data' list", what);
        return NULL;
    }
    size_t bad = oip_misfit(data, dims);
    if (bad != SIZE_MAX) {
        errbuf_set(err, errlen, "output tensor '%s' data[%zu] does not fit its shape [%zu%s]", what,
                   bad, n, dims == 2 ? ", 1" : "");
        return NULL;
    }
    return data;
}

/* tei: the answer is the list, one list of predictions a text. */
static json_t *tei_results(json_t *root, char *what, size_t wlen, char *err, size_t errlen)
{
    snprintf(what, wlen, "%s", "");
    if (json_is_array(root))
        return root;
    errbuf_set(err, errlen, "answer is not a list (of one list of predictions a text)");
    return NULL;
}

/* Element i of an oip tensor's data: flat, or a row of one (only a shape
 * [n, 1] has those: oip_misfit). */
static json_t *oip_element(json_t *data, size_t i)
{
    json_t *e = json_array_get(data, i);
    if (json_is_array(e) && json_array_size(e) == 1)
        return json_array_get(e, 0);
    return e;
}

/* Which label v is (0..nlabels-1), or -1. */
static long label_index(const codec *c, const json_t *v)
{
    if (!json_is_string(v))
        return -1;
    for (size_t i = 0; i < c->nlabels; i++)
        if (strlen(c->labels[i]) == json_string_length(v) &&
            memcmp(c->labels[i], json_string_value(v), json_string_length(v)) == 0)
            return (long)i;
    return -1;
}

/* "\"a\" or \"b\"", "\"a\", \"b\" or \"c\"": the labels, for a message. */
static void labels_text(const codec *c, char *out, size_t len)
{
    size_t k = 0;
    out[0] = '\0';
    for (size_t i = 0; i < c->nlabels && k < len; i++) {
        const char *sep = i == 0 ? "" : i + 1 == c->nlabels ? " or " : ", ";
        int w = snprintf(out + k, len - k, "%s\"%s\"", sep, c->labels[i]);
        k += w > 0 ? (size_t)w : 0;
    }
}

/* Checks and keeps each of the n values. out[i] is NULL until value i is
 * kept (whatever the caller's array held), so a failure is seen. */
static bool take_results(const codec *c, json_t *list, bool oip, size_t n, const char *what,
                         result **out, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        json_t *v = oip ? oip_element(list, i) : json_array_get(list, i);
        size_t len;
        char *text = NULL;
        out[i] = NULL;
        long label = c->nlabels ? label_index(c, v) : -1;
        if (c->nlabels && label < 0) {
            char names[160];
            labels_text(c, names, sizeof names);
            errbuf_set(err, errlen, "answer's %s[%zu] is not %s", what, i, names);
        } else if (label >= 0) {
            out[i] = result_ref(c->label_results[label]);
        } else if (c->cfg.protocol == CODEC_TEI && !json_is_array(v)) {
            errbuf_set(err, errlen, "answer's [%zu] is not a list of predictions", i);
        } else if (!(text = wire_dump_value(v, c->cfg.max_result, &len))) {
            errbuf_set(err, errlen, "answer's %s[%zu] is over --max-result-bytes (%zu)", what, i,
                       c->cfg.max_result);
        } else if (!(out[i] = result_new(text, len))) {
            errbuf_set(err, errlen, "out of memory");
        }
        free(text);
        if (!out[i]) {
            while (i-- > 0)
                result_unref(out[i]);
            return false;
        }
    }
    return true;
}

bool codec_parse(const codec *c, const char *body, size_t len, size_t n, result **out, char *err,
                 size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!root)
        return errbuf_set(err, errlen, "answer is not valid JSON: %s", jerr.text);
    char what[64];
    json_t *list;
    bool oip = c->cfg.protocol == CODEC_OIP;
    if (oip)
        list = oip_results(c, root, n, what, sizeof what, err, errlen);
    else if (c->cfg.protocol == CODEC_TEI)
        list = tei_results(root, what, sizeof what, err, errlen);
    else
        list = json_results(c, root, what, sizeof what, err, errlen);
    bool ok = false;
    if (list && json_array_size(list) != n)
        errbuf_set(err, errlen, "answer has %zu %s for %zu sequences", json_array_size(list),
                   oip ? "elements in its output tensor" : "results", n);
    else if (list)
        ok = take_results(c, list, oip, n, what, out, err, errlen);
    json_decref(root);
    return ok;
}

bool codec_backend_fault(const codec *c, int status)
{
    /* TEI's ErrorType::Backend: the model failed, not the input. */
    return c->cfg.protocol == CODEC_TEI && status == 424;
}

bool codec_error_text(const codec *c, const char *body, size_t len, char *out, size_t outlen)
{
    json_t *root = NULL;
    const char *msg = NULL;
    if (c->cfg.protocol != CODEC_CLASSIFY) {
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
        msg = json_string_value(json_object_get(root, "error"));
        if (!msg && c->cfg.protocol == CODEC_JSON)
            msg = json_string_value(json_object_get(root, "detail"));
    }
    bool found = msg != NULL;
    if (msg)
        utf8_printable(out, outlen, msg, strlen(msg));
    else
        utf8_printable(out, outlen, body, len);
    json_decref(root);
    return found;
}
