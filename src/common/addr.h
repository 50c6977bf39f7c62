/* addr: parsing of listen addresses ("HOST:PORT") and backend URLs. */
#ifndef BP_ADDR_H
#define BP_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ADDR_HOST_MAX 256
#define ADDR_PATH_MAX 1024

typedef struct addr_hostport {
    char host[ADDR_HOST_MAX]; /* without brackets for IPv6 */
    uint16_t port;            /* 0 means "pick a free port" */
} addr_hostport;

typedef struct addr_url {
    addr_hostport hp;
    char path[ADDR_PATH_MAX]; /* starts with '/' */
} addr_url;

/* Parses "HOST:PORT", "[V6]:PORT" or ":PORT" (host defaults to 127.0.0.1).
 * Returns false with a message in err (at least 128 bytes) when malformed. */
bool addr_parse_hostport(const char *spec, addr_hostport *out, char *err, size_t errlen);

/* Parses "http://HOST[:PORT][/PATH]" (port 80 and path "/" by default).
 * Only plain http is supported. Returns false with a message in err. */
bool addr_parse_url(const char *url, addr_url *out, char *err, size_t errlen);

/* Formats host and port as "HOST:PORT", or "[HOST]:PORT" for IPv6. */
void addr_format(const addr_hostport *hp, char *buf, size_t len);

/* Whether the host resolves now (getaddrinfo; blocking, so for start-up
 * and reloads, not the event loop). False with the resolver's message. */
bool addr_resolves(const char *host, char *err, size_t errlen);

/* Formats a parsed URL back as "http://HOST:PORT/PATH" with the host in
 * lower case: the spellings of one URL ("http://Host", "http://host:80/")
 * format alike. */
void addr_format_url(const addr_url *u, char *buf, size_t len);

#endif
