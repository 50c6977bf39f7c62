/* openapi: the OpenAPI 3.1 description of batchproxy's HTTP API, served at
 * GET /openapi.json.
 *
 * The document (docs/openapi.json) is compiled into the binary at build
 * time, as the dashboard is; tests/openapi validates it, checks real
 * answers against it, and that every path front.c routes is in it. */
#ifndef BP_OPENAPI_H
#define BP_OPENAPI_H

#include "httpd.h"

/* Answers a GET with the document (405 for other methods). */
void openapi_handle(httpd_req *req);

#endif
