/* fuzz_results: wire_parse_results, the proxy's parser of the backend's
 * answer. The first byte picks how many results are expected (0-7). */
#include "wire.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t expected = data[0] % 8;
    enum wire_label labels[8];
    char err[256];
    wire_parse_results((const char *)data + 1, size - 1, expected, labels, err, sizeof err);
    return 0;
}
