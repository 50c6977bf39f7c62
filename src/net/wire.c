/* wire: the JSON bodies of the HTTP API (see wire.h). */
#include "wire.h"

#include "utf8.h"

#include <stdarg.h>
#include <stdint.h>
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

/* The key jansson refused as a duplicate, decoded, into name (at most
 * size - 1 bytes): jansson's own message names it only when it is short,
 * but its position is just past the key's closing quote. The key is a
 * well-formed JSON string there, so the first quote before it that no
 * backslash escapes opens it. */
static void duplicate_key(const char *body, size_t n, const json_error_t *jerr, char *name,
                          size_t size)
{
    size_t end = jerr->position > 0 && (size_t)jerr->position <= n ? (size_t)jerr->position : 0;
    snprintf(name, size, "?");
    if (end < 2 || body[end - 1] != '"')
        return;
    for (size_t open = end - 1; open-- > 0;) {
        size_t bs = 0;
        while (bs < open && body[open - 1 - bs] == '\\')
            bs++;
        if (body[open] != '"' || bs % 2)
            continue;
        json_t *key = json_loadb(body + open, end - open, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (json_is_string(key))
            snprintf(name, size, "%s", json_string_value(key));
        json_decref(key);
        return;
    }
}

json_t *wire_load_object(const char *body, size_t n, int *status, char *err, size_t errlen)
{
    if (!utf8_length(body, n, NULL)) {
        *status = fail(400, err, errlen, "request body is not valid UTF-8");
        return NULL;
    }
    json_error_t jerr;
    /* JSON_DECODE_ANY: a scalar body is valid JSON, just not an object.
     * JSON_REJECT_DUPLICATES: a key given twice, in any object, is refused
     * rather than read as its last value (which other parsers on the path
     * may read differently). */
    json_t *root =
        json_loadb(body, n, JSON_ALLOW_NUL | JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root && json_error_code(&jerr) == json_error_duplicate_key) {
        char name[68];
        duplicate_key(body, n, &jerr, name, sizeof name);
        *status = fail(400, err, errlen,
                       "request body has the key \"%s\" twice in one object (at byte %d); "
                       "each key may appear once",
                       name, jerr.position);
        return NULL;
    }
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

static int check_length(const wire_text *item, const char *what, size_t index,
                        const wire_limits *lim, char *err, size_t errlen);

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
    if (lim->count_bytes)
        item->len = item->bytes;
    return check_length(item, what, index, lim, err, errlen);
}

/* The length limit (413), in the words a client needs. */
static int check_length(const wire_text *item, const char *what, size_t index,
                        const wire_limits *lim, char *err, size_t errlen)
{
    const char *unit = lim->count_bytes ? "bytes" : "characters";
    if (lim->max_length && item->len > lim->max_length && strcmp(what, "sequence") == 0)
        return fail(413, err, errlen, "sequence is %zu %s long; the limit is %zu", item->len, unit,
                    lim->max_length);
    if (lim->max_length && item->len > lim->max_length)
        return fail(413, err, errlen, "%s[%zu] is %zu %s long; the limit is %zu", what, index,
                    item->len, unit, lim->max_length);
    return 0;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The proxy's everyday body, {"sequence": "text"} with no escape in the
 * text, read without building a JSON tree (that was a visible share of the
 * proxy's CPU per request). True when the body is exactly that shape and
 * the text is valid UTF-8, then item points into body; anything else
 * (escapes, other keys, errors) is left to jansson, so what is accepted and
 * every error message are the same either way. */
static bool fast_single(const char *body, size_t n, const wire_limits *lim, wire_text *item)
{
    static const char key[] = "\"sequence\"";
    const char *p = body, *end = body + n;
    p = skip_ws(p, end);
    if (p == end || *p++ != '{')
        return false;
    p = skip_ws(p, end);
    if ((size_t)(end - p) < sizeof key - 1 || memcmp(p, key, sizeof key - 1) != 0)
        return false;
    p = skip_ws(p + sizeof key - 1, end);
    if (p == end || *p++ != ':')
        return false;
    p = skip_ws(p, end);
    if (p == end || *p++ != '"')
        return false;
    const char *text = p;
    while (p < end && *p != '"') {
        if (*p == '\\' || (unsigned char)*p < 0x20)
            return false;
        p++;
    }
    if (p == end)
        return false;
    size_t bytes = (size_t)(p - text);
    p = skip_ws(p + 1, end);
    if (p == end || *p++ != '}' || skip_ws(p, end) != end)
        return false;
    if (!utf8_length(text, bytes, &item->len))
        return false;
    if (lim->count_bytes)
        item->len = bytes;
    item->s = text;
    item->bytes = bytes;
    return true;
}

int wire_parse_request(const char *body, size_t n, const wire_limits *lim, wire_request *out,
                       char *err, size_t errlen)
{
    int status = 0;
    memset(out, 0, sizeof *out);
    if (lim->allow_single && fast_single(body, n, lim, &out->one)) {
        if ((status = check_length(&out->one, "sequence", 0, lim, err, errlen))) {
            memset(out, 0, sizeof *out);
            return status;
        }
        out->items = &out->one;
        out->n = 1;
        out->single = true;
        return 0;
    }
    json_t *root = wire_load_object(body, n, &status, err, errlen);
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
    if (req->items != &req->one)
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

/* The answers and the batches are built by hand, not through jansson: they
 * are made for every request and every batch, and a tree of JSON values per
 * answer was a visible share of the proxy's CPU. The output is byte for byte
 * what json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII) writes (test_wire checks
 * both against the parser). */

static char *put(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static char *put_u(char *p, unsigned v)
{
    static const char hex[] = "0123456789ABCDEF";
    *p++ = '\\';
    *p++ = 'u';
    for (int shift = 12; shift >= 0; shift -= 4)
        *p++ = hex[(v >> shift) & 0xF];
    return p;
}

/* Writes t (UTF-8) as a JSON string, quotes included: at most 6 bytes out
 * per byte in, plus 2. */
static char *put_string(char *p, const char *t, size_t bytes)
{
    *p++ = '"';
    for (size_t i = 0; i < bytes;) {
        uint32_t c;
        if (!utf8_next(t, bytes, &i, &c)) { /* can't happen: the texts passed the parser */
            c = 0xFFFD;
            i++;
        }
        const char *esc = c == '"'    ? "\\\""
                          : c == '\\' ? "\\\\"
                          : c == '\b' ? "\\b"
                          : c == '\f' ? "\\f"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t"
                                      : NULL;
        if (esc) {
            p = put(p, esc);
        } else if (c < 0x20 || (c > 0x7F && c < 0x10000)) {
            p = put_u(p, c);
        } else if (c >= 0x10000) {
            c -= 0x10000;
            p = put_u(p, 0xD800 | (c >> 10));
            p = put_u(p, 0xDC00 | (c & 0x3FF));
        } else {
            *p++ = (char)c;
        }
    }
    *p++ = '"';
    return p;
}

/* {"key":[item, ...]} from the n strings item(ctx, i, &bytes) returns;
 * NULL when out of memory or too large. */
typedef const char *(*item_fn)(const void *ctx, size_t i, size_t *bytes);

static char *string_array(const char *key, item_fn item, const void *ctx, size_t n)
{
    size_t cap = strlen(key) + 8, bytes;
    for (size_t i = 0; i < n; i++) {
        item(ctx, i, &bytes);
        if (bytes > (SIZE_MAX - cap) / 6 - 3)
            return NULL;
        cap += 6 * bytes + 3;
    }
    char *out = malloc(cap), *p = out;
    if (!out)
        return NULL;
    *p++ = '{';
    p = put_string(p, key, strlen(key));
    p = put(p, ":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        const char *s = item(ctx, i, &bytes);
        p = put_string(p, s, bytes);
    }
    p = put(p, "]}");
    *p = '\0';
    return out;
}

static const char *label_item(const void *ctx, size_t i, size_t *bytes)
{
    const char *s = wire_label_name(((const enum wire_label *)ctx)[i]);
    *bytes = strlen(s);
    return s;
}

char *wire_results_json(const enum wire_label *labels, size_t n)
{
    return string_array("results", label_item, labels, n);
}

char *wire_result_json(enum wire_label label)
{
    const char *name = wire_label_name(label);
    char *out = malloc(sizeof "{\"result\":}" + 6 * strlen(name) + 2), *p = out;
    if (!out)
        return NULL;
    p = put(p, "{\"result\":");
    p = put_string(p, name, strlen(name));
    p = put(p, "}");
    *p = '\0';
    return out;
}

char *wire_error_json(const char *detail)
{
    return dump(json_pack("{s:s}", "detail", detail));
}

static const char *text_item(const void *ctx, size_t i, size_t *bytes)
{
    const wire_text *t = ((const wire_text *const *)ctx)[i];
    *bytes = t->bytes;
    return t->s;
}

char *wire_sequences_json(const wire_text *const *texts, size_t n)
{
    return wire_texts_json("sequences", texts, n);
}

char *wire_texts_json(const char *key, const wire_text *const *texts, size_t n)
{
    return string_array(key, text_item, texts, n);
}

size_t wire_string_bound(size_t bytes)
{
    return bytes > (SIZE_MAX - 2) / 6 ? SIZE_MAX : 6 * bytes + 2;
}

char *wire_put_string(char *p, const char *t, size_t bytes)
{
    return put_string(p, t, bytes);
}

char *wire_values_json(const wire_value *v, size_t n, bool single)
{
    const char *open = single ? "{\"result\":" : "{\"results\":[";
    const char *close = single ? "}" : "]}";
    size_t cap = strlen(open) + strlen(close) + n + 1;
    for (size_t i = 0; i < n; i++) {
        if (v[i].len > SIZE_MAX - cap)
            return NULL;
        cap += v[i].len;
    }
    char *out = malloc(cap), *p = out;
    if (!out)
        return NULL;
    p = put(p, open);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        memcpy(p, v[i].json, v[i].len);
        p += v[i].len;
    }
    p = put(p, close);
    *p = '\0';
    return out;
}

/* --- wire_dump_value: a JSON value's compact text, bounded --- */

typedef struct vbuf {
    char *p;
    size_t len, cap, max;
    bool over; /* past max, or out of memory */
} vbuf;

/* Memory for n more bytes and a NUL; false (and over) when there is none. */
static bool vbuf_grow(vbuf *b, size_t n)
{
    if (b->over || n > SIZE_MAX / 4 - b->len) {
        b->over = true;
        return false;
    }
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->over = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void vbuf_put(vbuf *b, const char *s, size_t n)
{
    if (n > b->max - b->len)
        b->over = true;
    if (vbuf_grow(b, n)) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

/* A string's escaped length is only known once written: room for its
 * bound, then the limit is checked. */
static void vbuf_string(vbuf *b, const char *s, size_t n)
{
    if (!vbuf_grow(b, wire_string_bound(n)))
        return;
    b->len = (size_t)(put_string(b->p + b->len, s, n) - b->p);
    if (b->len > b->max)
        b->over = true;
}

/* The shortest decimal that reads back as the same double, as a JSON
 * number that stays a real (jansson's own dump prints 17 digits: 0.9 would
 * come out as 0.90000000000000002). */
static void vbuf_real(vbuf *b, double d)
{
    char s[40];
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(s, sizeof s, "%.*g", digits, d);
        if (strtod(s, NULL) == d)
            break;
    }
    if (!strpbrk(s, ".eE"))
        strcat(s, ".0");
    vbuf_put(b, s, strlen(s));
}

static void vbuf_value(vbuf *b, const json_t *v)
{
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        vbuf_put(b, "{", 1);
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it && !b->over;
             it = json_object_iter_next((json_t *)v, it), first = false) {
            if (!first)
                vbuf_put(b, ",", 1);
            vbuf_string(b, json_object_iter_key(it), json_object_iter_key_len(it));
            vbuf_put(b, ":", 1);
            vbuf_value(b, json_object_iter_value(it));
        }
        vbuf_put(b, "}", 1);
        return;
    }
    case JSON_ARRAY:
        vbuf_put(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v) && !b->over; i++) {
            if (i > 0)
                vbuf_put(b, ",", 1);
            vbuf_value(b, json_array_get(v, i));
        }
        vbuf_put(b, "]", 1);
        return;
    case JSON_STRING:
        vbuf_string(b, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        vbuf_put(b, num, strlen(num));
        return;
    case JSON_REAL:
        vbuf_real(b, json_real_value(v));
        return;
    case JSON_TRUE:
        vbuf_put(b, "true", 4);
        return;
    case JSON_FALSE:
        vbuf_put(b, "false", 5);
        return;
    case JSON_NULL:
        vbuf_put(b, "null", 4);
        return;
    }
}

char *wire_dump_value(const json_t *v, size_t max, size_t *len)
{
    vbuf b = {.max = max};
    vbuf_value(&b, v);
    if (b.over || !b.p) {
        free(b.p);
        return NULL;
    }
    b.p[b.len] = '\0';
    *len = b.len;
    return b.p;
}
