/* fuzz_request: wire_parse_request as both servers call it (the proxy's
 * limits with {"sequence": ...} allowed, classifyd's with at most 5), and
 * the batch body built from what it accepted. */
#include "wire.h"

#include <stdint.h>
#include <stdlib.h>

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
        free(wire_sequences_json(texts, n));
        wire_request_free(&w);
    }
    return 0;
}
