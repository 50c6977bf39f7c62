/* codec: the backend's wire protocol: how a batch of texts is asked for and
 * how the answer is read into one result per text.
 *
 *   classify  POST URL {"sequences": [...]}        -> {"results": [...]}
 *   oip       POST URL/infer, one BYTES tensor      -> outputs[k].data
 *             (the Open Inference Protocol, KServe v2 REST: Triton, KServe, ...)
 *   tei       POST BASE/predict {"inputs": [[t], ...]} -> [[{score, label}, ...], ...]
 *             (Text Embeddings Inference)
 *   json      POST URL {FIELD: [...]}              -> the list at an RFC 6901 pointer
 *
 * docs/backends.md gives the shapes, their sources and the choices made.
 * An answer is read strictly: well-formed JSON, no key twice, exactly one
 * result per text, each at most max_result bytes as compact JSON and, with
 * labels, a string among them. Anything else is a bad answer: nothing but a
 * clean answer for exactly those texts reaches a client or the cache.
 *
 * Pure: no I/O, no clock; the dispatcher and the outcome function call it. */
#ifndef BP_CODEC_H
#define BP_CODEC_H

#include "result.h"
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>

enum codec_protocol { CODEC_CLASSIFY, CODEC_OIP, CODEC_TEI, CODEC_JSON };

/* oip: the input tensor's shape for n texts: [n] (a model without a batch
 * dimension of its own: Triton's max_batch_size 0), or [n, 1] (Triton's
 * for a model with max_batch_size > 0 and dims [1]); data flat either way. */
enum codec_oip_shape { CODEC_OIP_N, CODEC_OIP_N_1 };
extern const char *const codec_oip_shapes[]; /* "n", "n,1", NULL */

/* "classify", "oip", "tei", "json", NULL-terminated (the option's choices,
 * in enum order). */
extern const char *const codec_protocols[];

typedef struct codec_config {
    enum codec_protocol protocol;
    const char *oip_input;          /* oip: the input tensor's name */
    enum codec_oip_shape oip_shape; /* oip: the input tensor's shape */
    const char *oip_output;         /* oip: the output tensor's name; NULL or "": the first */
    const char *request_field;      /* json: the request's key */
    const char *results_pointer;    /* json: RFC 6901 pointer to the results ("": the root) */
    const char *health_path;        /* NULL: the protocol's own */
    const char *labels;             /* comma-separated; NULL: the protocol's default; "": any */
    size_t max_result;              /* bytes of one result's compact JSON */
} codec_config;

typedef struct codec {
    codec_config cfg;
    char **labels;          /* nlabels strings; none: any value is a result */
    result **label_results; /* labels[i] as a result, made once: every
                               answer hands out references to these */
    size_t nlabels;
} codec;

/* Checks cfg and prepares the codec (strings are borrowed from cfg). False
 * with a message naming the option when cfg is wrong. */
bool codec_init(codec *c, const codec_config *cfg, char *err, size_t errlen);
void codec_fini(codec *c);

/* Whether a backend URL's path suits the protocol (oip: a model's URL,
 * .../v2/models/NAME[/versions/V]); false with a message naming it. */
bool codec_check_path(const codec *c, const char *url, const char *path, char *err, size_t errlen);

/* The path a backend URL gets when it has none (classify: /classify),
 * or NULL to keep "/". */
const char *codec_default_path(const codec *c);

/* Where batches and health checks go, as upstream_request's path: NULL for
 * the URL's own path, relative to it, or absolute. */
const char *codec_batch_path(const codec *c);
const char *codec_health_path(const codec *c);

/* The request body for a batch of n texts, malloc'd and NUL-terminated
 * (*len its length), or NULL when out of memory. */
char *codec_request(const codec *c, const wire_text *const *texts, size_t n, size_t *len);

/* Reads a 200 answer to a batch of n texts: true with out[0..n) each a new
 * result (the caller's references), or false with what is wrong in err and
 * no result made. */
bool codec_parse(const codec *c, const char *body, size_t len, size_t n, result **out, char *err,
                 size_t errlen);

/* Whether a status other than 200, 429 and 5xx says the backend failed
 * rather than refused the input (tei's 424): retried, as a 5xx is. */
bool codec_backend_fault(const codec *c, int status);

/* The words of a failed answer's body to quote in a detail, printable, at
 * most outlen - 1 bytes: the protocol's error message when the body is its
 * error object (oip and tei {"error": ...}; json also {"detail": ...}),
 * and then true; else the body's bytes (classify: always), and false. */
bool codec_error_text(const codec *c, const char *body, size_t len, char *out, size_t outlen);

#endif
