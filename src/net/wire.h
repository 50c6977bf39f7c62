/* wire: the JSON bodies of the HTTP API, parsed strictly and built in one place.
 *
 *   classify request   {"sequences": ["...", ...]}
 *   proxy request      {"sequence": "..."}  or  {"sequences": [...]}
 *   answers            {"results": ["code" | "not code", ...]}  /  {"result": "..."}
 *   errors             {"detail": "human readable message"}   (FastAPI's shape)
 *
 * Every parser here takes untrusted network input: it never trusts a length,
 * a type or an encoding it has not checked, and reports what is wrong in
 * words a client can act on. */
#ifndef BP_WIRE_H
#define BP_WIRE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum wire_label { WIRE_NOT_CODE = 0, WIRE_CODE = 1 };

/* "code" or "not code". */
const char *wire_label_name(enum wire_label label);

typedef struct wire_text {
    const char *s; /* UTF-8, may contain NUL; owned by the wire_request, or
                      points into the body it was parsed from */
    size_t bytes;  /* byte length of s */
    size_t len;    /* code points (Python's len()), or bytes (wire_limits.count_bytes) */
} wire_text;

typedef struct wire_limits {
    size_t max_items;  /* more sequences than this: 400 */
    size_t max_length; /* a sequence longer than this (code points): 413; 0 = no limit */
    bool allow_single; /* accept {"sequence": "..."} (the proxy's form) */
    bool allow_empty;  /* accept {"sequences": []} */
    bool count_bytes;  /* a text's len (and max_length) counts bytes, not code points */
} wire_limits;

typedef struct wire_request {
    json_t *root;     /* owns the strings that items point into; NULL when a
                         plain {"sequence": "..."} was read in place */
    wire_text *items; /* n entries, in request order (&one, or allocated) */
    wire_text one;    /* the single item read in place */
    size_t n;
    bool single; /* came as {"sequence": ...}: answer with {"result": ...} */
} wire_request;

/* Parses and validates a request body. Returns 0 and fills *out (release it
 * with wire_request_free; its texts may point into body, which must outlive
 * it), or returns an HTTP status (400 or 413) and writes a detail message
 * into err, leaving *out empty. */
int wire_parse_request(const char *body, size_t n, const wire_limits *lim, wire_request *out,
                       char *err, size_t errlen);
void wire_request_free(wire_request *req);

/* Loads an untrusted request body that must be a JSON object: valid UTF-8,
 * valid JSON, no key twice in any object (strings may contain NUL). Returns
 * the object, or NULL with *status (400) and a message naming what is
 * wrong in err. For the other protocols classifyd speaks. */
json_t *wire_load_object(const char *body, size_t n, int *status, char *err, size_t errlen);

/* Builders. Each returns a malloc'd NUL-terminated JSON text the caller
 * frees, or NULL when out of memory. */
char *wire_results_json(const enum wire_label *labels, size_t n);
char *wire_result_json(enum wire_label label);
char *wire_error_json(const char *detail);
char *wire_sequences_json(const wire_text *const *texts, size_t n);
/* {"KEY":["text", ...]}: wire_sequences_json's, under any key. */
char *wire_texts_json(const char *key, const wire_text *const *texts, size_t n);

/* A JSON value as compact text (one result passed through from a backend). */
typedef struct wire_value {
    const char *json;
    size_t len;
} wire_value;

/* {"results":[V, ...]}, or {"result":V} when single (n is then 1): the
 * values' texts as they are. */
char *wire_values_json(const wire_value *v, size_t n, bool single);

/* v's compact JSON text, malloc'd and NUL-terminated, its length in *len;
 * NULL when it would be over max bytes (or out of memory). Object keys keep
 * their order, strings are written as this module writes them (ASCII, \u
 * escapes), reals as the shortest decimal that reads back the same. */
char *wire_dump_value(const json_t *v, size_t max, size_t *len);

/* For other builders of JSON text: at most wire_string_bound(bytes) bytes
 * are written by wire_put_string (t as a JSON string, quotes included), which
 * returns the end of what it wrote. t must be valid UTF-8. */
size_t wire_string_bound(size_t bytes);
char *wire_put_string(char *p, const char *t, size_t bytes);

#endif
