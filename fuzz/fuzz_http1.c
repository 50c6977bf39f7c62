/* fuzz_http1: the HTTP/1 head parsers and the chunked-body scanner, which
 * read every byte a client or a backend sends. The first byte picks what
 * the rest is parsed as; whatever is accepted must be self-consistent. */
#include "http1.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_head(const http1_head *h, size_t len)
{
    if (h->head_len == 0 || h->head_len > len || h->nfields > HTTP1_MAX_HEADERS)
        abort();
    for (size_t i = 0; i < h->nfields; i++)
        if (h->fields[i].name.n == 0 || memchr(h->fields[i].value.p, '\n', h->fields[i].value.n))
            abort();
}

/* Scans the body in pieces of `step` bytes, then decodes what it accepted. */
static void chunked(const char *buf, size_t len, size_t step)
{
    http1_chunked c;
    http1_chunked_init(&c);
    char err[128];
    enum http1_result r = HTTP1_INCOMPLETE;
    for (size_t n = step; r == HTTP1_INCOMPLETE; n += step) {
        r = http1_chunked_scan(&c, buf, n < len ? n : len, 1 << 20, err, sizeof err);
        if (n >= len)
            break;
    }
    if (r != HTTP1_OK)
        return;
    if (c.pos > len || c.size > c.pos)
        abort();
    char *out = malloc(c.size + 1);
    if (!out)
        return;
    http1_chunked_decode(buf, c.pos, out);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    http1_head h;
    char err[128];
    int status = 0;
    switch (data[0] % 4) {
    case 0:
        if (http1_parse_request(buf, len, &h, &status, err, sizeof err) == HTTP1_OK)
            check_head(&h, len);
        else if (status && (status < 400 || status > 505))
            abort();
        break;
    case 1:
    case 2:
        if (http1_parse_response(buf, len, data[0] % 4 == 2, &h, err, sizeof err) == HTTP1_OK)
            check_head(&h, len);
        break;
    default:
        chunked(buf, len, 1 + (size_t)(data[0] >> 2));
        break;
    }
    return 0;
}
