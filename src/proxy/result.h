/* result: one text's result, as the backend gave it: a JSON value's compact
 * text (a label string, an object, a list of label/score objects, a
 * number), immutable and shared by reference between the answers waiting
 * for it and the cache.
 *
 * Invariants: refs counts the holders (the one who made it, each cache
 * entry, each request item holding it) and is at least 1 while anyone
 * holds it; json is NUL-terminated at len and never changes. */
#ifndef BP_RESULT_H
#define BP_RESULT_H

#include "wire.h"

#include <stddef.h>

typedef struct result {
    unsigned refs;
    size_t len;
    char json[]; /* len bytes, then a NUL */
} result;

/* A result holding a copy of json (its one reference is the caller's), or
 * NULL when out of memory. */
result *result_new(const char *json, size_t len);

/* Takes one more reference; returns r. */
result *result_ref(result *r);

/* Drops one reference; frees r with its last. NULL is ignored. */
void result_unref(result *r);

/* The text, for wire_values_json. */
wire_value result_value(const result *r);

#endif
