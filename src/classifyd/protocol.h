/* protocol: the wire formats classifyd speaks, one per server (--protocol).
 *
 *   classify  POST /classify {"sequences": [...]} -> {"results": [...]}
 *             (the original challenge's server; wire.h)
 *   oip       the Open Inference Protocol (KServe v2 REST, as Triton,
 *             KServe, Seldon MLServer and OpenVINO Model Server speak it):
 *             POST /v2/models/NAME[/versions/1]/infer (proto_oip.c)
 *   tei       Hugging Face Text Embeddings Inference's sequence
 *             classification: POST /predict (proto_tei.c)
 *
 * docs/backends.md describes each one, with its sources and the choices
 * made where the specification leaves one. A protocol is pure: it routes
 * paths, parses requests and builds answers and errors, and never touches
 * a socket or a clock; main.c does the serving, the cost model and the
 * one-at-a-time rule the same way for all of them. */
#ifndef BP_PROTOCOL_H
#define BP_PROTOCOL_H

#include "wire.h"

#include <stdbool.h>
#include <stddef.h>

enum proto_kind { PROTO_CLASSIFY, PROTO_OIP, PROTO_TEI };

/* The protocols' names, indexed by enum proto_kind and NULL-terminated:
 * --protocol's choices (an OPT_CHOICE stores the index). */
extern const char *const proto_kind_names[];
const char *proto_kind_name(enum proto_kind kind);

/* The server's settings that the protocols answer with. */
typedef struct proto_config {
    enum proto_kind kind;
    const char *model; /* oip: the model's name, served at /v2/models/<model> */
    size_t max_items;  /* texts per request */
    size_t max_length; /* code points of the longest text */
} proto_config;

/* True if name can be a model name: 1-64 of [A-Za-z0-9_.-], as it must
 * appear in a path unescaped. */
bool proto_model_name_valid(const char *name);

/* An error as a protocol words it: its status, a message, and for tei the
 * error_type (NULL: the one that goes with the status). */
typedef struct proto_error {
    int status;
    const char *type;
    char msg[256];
} proto_error;

/* What a path is. */
enum proto_route_kind {
    PROTO_ROUTE_NONE,  /* no such path (or model): answer the error */
    PROTO_ROUTE_INFER, /* the inference endpoint: POST */
    PROTO_ROUTE_INFO,  /* health or metadata: GET (and HEAD), proto_info */
};

/* Routes path; for PROTO_ROUTE_NONE fills *e (404). */
enum proto_route_kind proto_route(const proto_config *p, const char *path, proto_error *e);

/* Answers a PROTO_ROUTE_INFO path: returns true with *body the 200
 * answer (malloc'd JSON; "" for an answer without a body; NULL when out of
 * memory), or false with the error in *e (503 while stopping, where
 * readiness fails). */
bool proto_info(const proto_config *p, const char *path, bool stopping, char **body,
                proto_error *e);

/* How an answer must look, learnt from its request. */
typedef struct proto_opts {
    char *id;        /* oip: the request's "id", echoed (malloc'd), or NULL */
    bool single;     /* tei: one input, answered as one list, not a batch */
    bool raw_scores; /* tei: logits instead of probabilities */
    bool truncate;   /* tei: cut texts over the limit instead of refusing */
    bool truncate_left;
    int rank;                 /* oip: the input's shape was [n] (1) or [n, 1] (2) */
    unsigned char outputs[2]; /* oip: the outputs asked for, in order */
    size_t n_outputs;
} proto_opts;

/* oip output tensors. */
enum { PROTO_OUT_LABEL = 1, PROTO_OUT_SCORE = 2 };

/* A parsed inference request: the texts (in req.items, strings owned by
 * req.root) and how to answer. */
typedef struct proto_request {
    wire_request req;
    proto_opts opts;
} proto_request;

/* Parses and validates an inference request body as far as it can be
 * before the server knows it is free: returns true and fills *out (release
 * it with proto_request_free), or false with the error in *e. */
bool proto_parse(const proto_config *p, const char *body, size_t n, proto_request *out,
                 proto_error *e);

/* What is checked only once the server has taken the request (tei checks
 * each text after its concurrency permit): returns false with the error in
 * *e. May shorten the texts (tei's truncate). */
bool proto_admit(const proto_config *p, proto_request *r, proto_error *e);

/* Releases what proto_parse allocated (opts.id too, unless moved out). */
void proto_request_free(proto_request *r);

/* How a built answer goes wrong (fault injection's "garbage"). */
enum proto_shape {
    PROTO_RIGHT,     /* the right answer */
    PROTO_BAD_LABEL, /* the first label is neither "code" nor "not code" */
    PROTO_BAD_SHAPE, /* well-formed JSON of the wrong structure */
};

/* The answer to a request asked as o: labels[i] with confidence[i] (the
 * probability of that label, 0.5 to 1), i < n. malloc'd JSON, or NULL when
 * out of memory. */
char *proto_answer(const proto_config *p, const proto_opts *o, const enum wire_label *labels,
                   const double *confidence, size_t n, enum proto_shape shape);

/* The protocol's error body for e. malloc'd JSON, or NULL when out of
 * memory. */
char *proto_error_json(const proto_config *p, const proto_error *e);

/* The status the protocol fails a request with when the model fails
 * (classify and oip: 500; tei: 424, its "backend" error). */
int proto_failure_status(const proto_config *p);

/* Sets *e (printf-style message). Returns false, for `return proto_fail(...)`. */
bool proto_fail(proto_error *e, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
