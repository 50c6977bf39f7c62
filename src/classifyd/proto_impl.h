/* proto_impl: what each protocol of protocol.h implements, and the helpers
 * they share. Private to protocol.c, proto_oip.c and proto_tei.c. */
#ifndef BP_PROTO_IMPL_H
#define BP_PROTO_IMPL_H

#include "protocol.h"

#include <jansson.h>

typedef struct proto_ops {
    enum proto_route_kind (*route)(const proto_config *p, const char *path, proto_error *e);
    bool (*info)(const proto_config *p, const char *path, bool stopping, char **body,
                 proto_error *e);
    bool (*parse)(const proto_config *p, json_t *root, proto_request *out, proto_error *e);
    bool (*admit)(const proto_config *p, proto_request *r, proto_error *e); /* may be NULL */
    char *(*answer)(const proto_config *p, const proto_opts *o, const enum wire_label *labels,
                    const double *confidence, size_t n, enum proto_shape shape);
    char *(*error_json)(const proto_error *e, const char *msg); /* msg: e->msg, printable */
    int failure_status;
} proto_ops;

extern const proto_ops proto_oip_ops, proto_tei_ops;

/* Compact JSON text of v (released): non-ASCII escaped, reals in the
 * shortest form that reads back as the same float. NULL when out of memory. */
char *proto_dump(json_t *v);

/* Points t at the JSON string v (owned by its tree) and counts its code
 * points; false if v is not a string. */
bool proto_text(json_t *v, wire_text *t);

/* Allocates r->req.items for n texts (at least one slot). */
bool proto_items(proto_request *r, size_t n, proto_error *e);

/* The label shown in place of the first one for PROTO_BAD_LABEL. */
const char *proto_label_name(const enum wire_label *labels, size_t i, enum proto_shape shape);

#endif
