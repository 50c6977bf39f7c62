/* dashboard: serves the embedded dashboard page (see dashboard.h). */
#include "dashboard.h"

#include "httpd.h"

#include <event2/keyvalq_struct.h>
#include <stddef.h>

/* Generated at build time from dashboard/dashboard.html (embed.cmake). */
extern const unsigned char dashboard_page[];
extern const size_t dashboard_page_len;

/* Inline script and style only, data from this origin only: the page can't
 * load or send anything anywhere else, even if a client name in /stats
 * tried to smuggle markup into it. */
#define DASHBOARD_CSP                                                                              \
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "                  \
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "              \
    "frame-ancestors 'none'"

void dashboard_handle(struct evhttp_request *req)
{
    if (!httpd_require_method(req, EVHTTP_REQ_GET))
        return;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Security-Policy", DASHBOARD_CSP);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    httpd_send_text(req, 200, "text/html; charset=utf-8", (const char *)dashboard_page,
                    dashboard_page_len);
}
