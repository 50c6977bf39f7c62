/* dashboard: serves the embedded dashboard page (see dashboard.h). */
#include "dashboard.h"

#include "httpd.h"

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

void dashboard_handle(httpd_req *req)
{
    if (!httpd_require_method(req, "GET"))
        return;
    httpd_set_header(req, "Content-Security-Policy", DASHBOARD_CSP);
    httpd_set_header(req, "X-Content-Type-Options", "nosniff");
    httpd_set_header(req, "Cache-Control", "no-cache");
    httpd_send_text(req, 200, "text/html; charset=utf-8", (const char *)dashboard_page,
                    dashboard_page_len);
}
