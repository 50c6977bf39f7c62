/* openapi: serves the embedded OpenAPI description (see openapi.h). */
#include "openapi.h"

#include <stddef.h>

/* Generated at build time from docs/openapi.json (dashboard/embed.cmake). */
extern const unsigned char openapi_doc[];
extern const size_t openapi_doc_len;

void openapi_handle(httpd_req *req)
{
    if (!httpd_require_method(req, "GET"))
        return;
    httpd_set_header(req, "X-Content-Type-Options", "nosniff");
    httpd_send_text(req, 200, "application/json", (const char *)openapi_doc, openapi_doc_len);
}
