/* fuzz_request: wire_parse_request as both servers call it (the proxy's
 * limits with {"sequence": ...} allowed, classifyd's with at most 5), and
 * the batch body built from what it accepted, which must be what jansson
 * writes for the same texts and must parse back to them. */
#include "wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Aborts (a finding) unless body is jansson's own text for texts[0..n) and
 * reads back to the same texts. */
static void check_body(const char *body, const wire_text *const *texts, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_stringn(texts[i]->s, texts[i]->bytes));
    json_t *root = json_pack("{s:o}", "sequences", arr);
    char *want = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (!want || strcmp(want, body) != 0)
        abort();
    free(want);
    json_decref(root);

    const wire_limits back_lim = {.max_items = 5, .allow_empty = true};
    wire_request back;
    char err[256];
    if (wire_parse_request(body, strlen(body), &back_lim, &back, err, sizeof err) != 0 ||
        back.n != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (back.items[i].bytes != texts[i]->bytes || back.items[i].len != texts[i]->len ||
            memcmp(back.items[i].s, texts[i]->s, texts[i]->bytes) != 0)
            abort();
    wire_request_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const wire_limits limits[] = {
        {.max_items = 1000, .max_length = 1000, .allow_single = true},
        {.max_items = 5, .allow_empty = true},
    };
    for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
        wire_request w;
        char err[256];
        if (wire_parse_request((const char *)data, size, &limits[k], &w, err, sizeof err) != 0)
            continue;
        const wire_text *texts[5];
        size_t n = w.n < 5 ? w.n : 5;
        for (size_t i = 0; i < n; i++)
            texts[i] = &w.items[i];
        char *body = wire_sequences_json(texts, n);
        if (body)
            check_body(body, texts, n);
        free(body);
        wire_request_free(&w);
    }
    return 0;
}
