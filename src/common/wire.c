/* wire: the JSON bodies of the HTTP API (see wire.h). */
#include "wire.h"

#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const label_names[] = {"not code", "code"};

const char *wire_label_name(enum wire_label label)
{
    return label_names[label == WIRE_CODE];
}

static int fail(int status, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(int status, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return status;
}

/* Loads a JSON object from an untrusted body, with the messages a client needs. */
static json_t *load_object(const char *body, size_t n, int *status, char *err, size_t errlen)
{
    if (!utf8_length(body, n, NULL)) {
        *status = fail(400, err, errlen, "request body is not valid UTF-8");
        return NULL;
    }
    json_error_t jerr;
    /* JSON_DECODE_ANY: a scalar body is valid JSON, just not an object. */
    json_t *root = json_loadb(body, n, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (!root) {
        *status = fail(400, err, errlen, "request body is not valid JSON: %s (at byte %d)",
                       jerr.text, jerr.position);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        *status = fail(400, err, errlen, "request body must be a JSON object");
        return NULL;
    }
    return root;
}

static int fill_item(json_t *v, const char *what, size_t index, const wire_limits *lim,
                     wire_text *item, char *err, size_t errlen)
{
    if (!json_is_string(v))
        return fail(400, err, errlen, "%s[%zu] must be a string", what, index);
    item->s = json_string_value(v);
    item->bytes = json_string_length(v);
    /* jansson has already rejected invalid UTF-8 and lone surrogates, so
     * this count cannot fail; it is the code-point length. */
    utf8_length(item->s, item->bytes, &item->len);
    if (lim->max_length && item->len > lim->max_length && strcmp(what, "sequence") == 0)
        return fail(413, err, errlen, "sequence is %zu characters long; the limit is %zu",
                    item->len, lim->max_length);
    if (lim->max_length && item->len > lim->max_length)
        return fail(413, err, errlen, "%s[%zu] is %zu characters long; the limit is %zu", what,
                    index, item->len, lim->max_length);
    return 0;
}

int wire_parse_request(const char *body, size_t n, const wire_limits *lim, wire_request *out,
                       char *err, size_t errlen)
{
    int status = 0;
    memset(out, 0, sizeof *out);
    json_t *root = load_object(body, n, &status, err, errlen);
    if (!root)
        return status;

    json_t *one = lim->allow_single ? json_object_get(root, "sequence") : NULL;
    json_t *many = json_object_get(root, "sequences");
    if (one && many) {
        status = fail(400, err, errlen, "give either 'sequence' or 'sequences', not both");
        goto err;
    }
    if (!one && !many) {
        status = fail(400, err, errlen,
                      lim->allow_single ? "field 'sequence' (a string) or 'sequences' (a list of "
                                          "strings) is required"
                                        : "field 'sequences' (a list of strings) is required");
        goto err;
    }

    if (one) {
        out->items = calloc(1, sizeof *out->items);
        if (!out->items) {
            status = fail(500, err, errlen, "out of memory");
            goto err;
        }
        out->n = 1;
        out->single = true;
        if (!json_is_string(one)) {
            status = fail(400, err, errlen, "field 'sequence' must be a string");
            goto err;
        }
        if ((status = fill_item(one, "sequence", 0, lim, &out->items[0], err, errlen)))
            goto err;
        out->root = root;
        return 0;
    }

    if (!json_is_array(many)) {
        status = fail(400, err, errlen, "field 'sequences' must be a list of strings");
        goto err;
    }
    size_t count = json_array_size(many);
    if (count == 0 && !lim->allow_empty) {
        status = fail(400, err, errlen, "field 'sequences' must not be empty");
        goto err;
    }
    if (count > lim->max_items) {
        status = fail(400, err, errlen, "too many sequences: %zu, at most %zu per request", count,
                      lim->max_items);
        goto err;
    }
    out->items = calloc(count ? count : 1, sizeof *out->items);
    if (!out->items) {
        status = fail(500, err, errlen, "out of memory");
        goto err;
    }
    out->n = count;
    for (size_t i = 0; i < count; i++)
        if ((status = fill_item(json_array_get(many, i), "sequences", i, lim, &out->items[i], err,
                                errlen)))
            goto err;
    out->root = root;
    return 0;

err:
    free(out->items);
    memset(out, 0, sizeof *out);
    json_decref(root);
    return status;
}

void wire_request_free(wire_request *req)
{
    free(req->items);
    json_decref(req->root);
    memset(req, 0, sizeof *req);
}

static char *dump(json_t *v)
{
    if (!v)
        return NULL;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(v);
    return s;
}

char *wire_results_json(const enum wire_label *labels, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_string(wire_label_name(labels[i])));
    return dump(json_pack("{s:o}", "results", arr));
}

char *wire_result_json(enum wire_label label)
{
    return dump(json_pack("{s:s}", "result", wire_label_name(label)));
}

char *wire_error_json(const char *detail)
{
    return dump(json_pack("{s:s}", "detail", detail));
}

char *wire_sequences_json(const wire_text *const *texts, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_stringn(texts[i]->s, texts[i]->bytes));
    return dump(json_pack("{s:o}", "sequences", arr));
}

bool wire_parse_results(const char *body, size_t n, size_t expected, enum wire_label *out,
                        char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, n, 0, &jerr);
    bool ok = false;
    if (!root) {
        fail(0, err, errlen, "answer is not valid JSON: %s", jerr.text);
        return false;
    }
    json_t *arr = json_is_object(root) ? json_object_get(root, "results") : NULL;
    if (!json_is_array(arr)) {
        fail(0, err, errlen, "answer has no 'results' list");
        goto done;
    }
    if (json_array_size(arr) != expected) {
        fail(0, err, errlen, "answer has %zu results for %zu sequences", json_array_size(arr),
             expected);
        goto done;
    }
    for (size_t i = 0; i < expected; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s && strcmp(s, "code") == 0) {
            out[i] = WIRE_CODE;
        } else if (s && strcmp(s, "not code") == 0) {
            out[i] = WIRE_NOT_CODE;
        } else {
            fail(0, err, errlen, "answer's results[%zu] is not \"code\" or \"not code\"", i);
            goto done;
        }
    }
    ok = true;
done:
    json_decref(root);
    return ok;
}
