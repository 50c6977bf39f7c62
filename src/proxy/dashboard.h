/* dashboard: the live dashboard page served at GET /dashboard.
 *
 * The page (src/proxy/dashboard/dashboard.html: HTML, CSS and JavaScript in
 * one file) is compiled into the binary at build time; it polls /stats on
 * the same origin and draws its charts itself, so it needs nothing from any
 * other host, and its Content-Security-Policy forbids it to ask. */
#ifndef BP_DASHBOARD_H
#define BP_DASHBOARD_H

#include "httpd.h"

/* Answers a GET with the page (405 for other methods). */
void dashboard_handle(httpd_req *req);

#endif
