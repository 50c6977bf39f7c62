/* result: a shared, immutable result text (see result.h). */
#include "result.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

result *result_new(const char *json, size_t len)
{
    result *r = malloc(sizeof *r + len + 1);
    if (!r)
        return NULL;
    r->refs = 1;
    r->len = len;
    memcpy(r->json, json, len);
    r->json[len] = '\0';
    return r;
}

result *result_ref(result *r)
{
    BP_ASSERT(r->refs > 0 && r->refs < ~0u);
    r->refs++;
    return r;
}

void result_unref(result *r)
{
    if (!r)
        return;
    BP_ASSERT(r->refs > 0);
    if (--r->refs == 0)
        free(r);
}

wire_value result_value(const result *r)
{
    return (wire_value){.json = r->json, .len = r->len};
}
