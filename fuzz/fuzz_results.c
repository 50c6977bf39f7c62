/* fuzz_results: codec_parse, the proxy's reader of the backend's answer to
 * a batch, in every protocol. The first byte picks the reader:
 *
 *   bits 0-2  how many results are expected (0-7)
 *   bits 3-4  the protocol: classify, oip, tei, json (pointer /results)
 *   bit  5    labels the other way from the protocol's default: none for
 *             classify, "code,not code" for oip and json (tei takes no
 *             labels: its results are lists)
 *   bit  6    oip: the output named "label" (else the first)
 *   bit  7    --max-result-bytes 16 (else the default, 16384)
 *
 * and the rest is the answer. Beyond not crashing, an answer read must give
 * each text a result that reads back as JSON, within the bound and, with
 * labels, one of them; anything else aborts. */
#include "codec.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_result(const codec *c, const result *r)
{
    json_t *v = json_loadb(r->json, r->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!v || r->len > c->cfg.max_result || r->json[r->len] != '\0')
        abort();
    bool labelled = c->nlabels == 0;
    for (size_t i = 0; i < c->nlabels && json_is_string(v); i++)
        labelled |= strlen(c->labels[i]) == json_string_length(v) &&
                    memcmp(c->labels[i], json_string_value(v), json_string_length(v)) == 0;
    if (!labelled)
        abort();
    json_decref(v);
}

/* The protocol's default labels (NULL), or the other way. */
static const char *labels(enum codec_protocol protocol, bool other)
{
    if (!other || protocol == CODEC_TEI)
        return NULL;
    return protocol == CODEC_CLASSIFY ? "" : "code,not code";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = data[0] % 8;
    enum codec_protocol protocol = (enum codec_protocol)(data[0] >> 3 & 3);
    codec_config cfg = {.protocol = protocol,
                        .oip_input = "text",
                        .oip_output = data[0] & 0x40 ? "label" : NULL,
                        .request_field = "sequences",
                        .results_pointer = "/results",
                        .labels = labels(protocol, data[0] & 0x20),
                        .max_result = data[0] & 0x80 ? 16 : 16384};
    codec c;
    char err[256];
    if (!codec_init(&c, &cfg, err, sizeof err))
        abort();
    result *out[8];
    if (codec_parse(&c, (const char *)data + 1, size - 1, n, out, err, sizeof err))
        for (size_t i = 0; i < n; i++) {
            check_result(&c, out[i]);
            result_unref(out[i]);
        }
    codec_fini(&c);
    return 0;
}
