/* fuzz_headers: batchproxy's X-Client-Id and X-Timeout-Ms validation, fed
 * the input as one NUL-terminated header value (evhttp's form). */
#include "hdr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    hdr_valid_client_id(s);
    long ms = 0;
    if (hdr_parse_timeout_ms(s, 3600000L, &ms) && (ms < 1 || ms > 3600000L))
        abort(); /* accepted out of range */
    free(s);
    return 0;
}
