/* hclient: a strict HTTP/1.1 client connection on a libevent bufferevent,
 * one exchange at a time, kept alive between clean exchanges.
 *
 * It knows nothing of what it carries: it sends the request it is given
 * and hands the answer (or why there is none) to a callback. The peer may
 * be hostile, so:
 * - every exchange has a hard deadline, from the request's start (name
 *   lookup and connect included) to the whole answer; past it the
 *   connection is closed and the exchange fails;
 * - answers are parsed strictly (http1.h) and bounded: a head by
 *   HCLIENT_MAX_HEAD bytes, a body by max_answer bytes however framed
 *   (Content-Length, chunked or up to the close), and interim (1xx) heads
 *   are skipped, at most HCLIENT_MAX_INTERIM of them;
 * - HTTP/1.1 has no request ids: an answer is matched to a request only by
 *   coming after it, so no byte may arrive while no answer is due. Bytes on
 *   an idle connection close it (logged at warn), and so do bytes found
 *   waiting just before a request is sent on a kept-alive connection; bytes
 *   after the end of an answer fail that exchange (a backend answering
 *   more than it was asked is not trusted with the answer either);
 * - a connection is reused only after a complete, clean exchange whose
 *   answer keeps it alive; any failure closes it.
 *
 * Invariant: state HCLIENT_BUSY <=> a callback is owed (exactly one, from
 * the event loop, never from inside hclient_request). */
#ifndef BP_HCLIENT_H
#define BP_HCLIENT_H

#include "addr.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

#define HCLIENT_MAX_HEAD (16 * 1024)
#define HCLIENT_MAX_INTERIM 8

typedef struct hclient hclient;

/* The outcome of one exchange. status is the HTTP status, or 0 when no
 * complete, clean answer came (then error says why: refused, reset,
 * timed out, malformed, too large, ...). body is NUL-terminated
 * (body[len] == '\0') and, like error, valid until the callback returns. */
typedef void (*hclient_cb)(void *arg, int status, const char *body, size_t len, const char *error);

/* A client for hp (numeric IPv4/IPv6 addresses are connected to directly;
 * a host name is resolved with dns for each new connection, or blocking
 * the loop when dns is NULL). name (copied) identifies the connection in
 * logs. Connects lazily, on the first request. */
hclient *hclient_new(struct event_base *base, struct evdns_base *dns, const addr_hostport *hp,
                     size_t max_answer, const char *name);

/* Frees the client, closing its connection; an owed callback is never
 * called. Allowed from inside the callback. */
void hclient_free(hclient *c);

/* An exchange: METHOD target HTTP/1.1 with a Host header, and the body with
 * its Content-Length and content_type when body is not NULL. target must
 * start with '/' and hold no space or control character. timeout: seconds
 * until the whole answer must be in. Only while not busy. */
void hclient_request(hclient *c, const char *method, const char *target, const char *content_type,
                     const char *body, size_t len, double timeout, hclient_cb cb, void *arg);

/* An exchange is under way (its callback is owed). */
bool hclient_busy(const hclient *c);

#endif
