/* addr: parsing of listen addresses and backend URLs (see addr.h). */
#include "addr.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool parse_port(const char *s, uint16_t *port)
{
    /* Digits only: strtol alone would also take " 80" and "+80". */
    if (*s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end != '\0' || v < 0 || v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* Splits s[0..n) = HOST or [HOST] into out->host. */
static bool copy_host(const char *s, size_t n, addr_hostport *out)
{
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    /* Brackets only ever enclose the whole host ("[::1", "a]" are typos). */
    if (n == 0 || n >= sizeof out->host || memchr(s, '[', n) || memchr(s, ']', n))
        return false;
    memcpy(out->host, s, n);
    out->host[n] = '\0';
    return true;
}

bool addr_parse_hostport(const char *spec, addr_hostport *out, char *err, size_t errlen)
{
    const char *colon = strrchr(spec, ':');
    if (!colon) {
        snprintf(err, errlen, "'%s' is not HOST:PORT", spec);
        return false;
    }
    /* A bare IPv6 address without brackets has several colons: refuse it
     * rather than guess where the port starts. */
    if (spec[0] != '[' && memchr(spec, ':', (size_t)(colon - spec))) {
        snprintf(err, errlen, "'%s': write IPv6 addresses as [ADDR]:PORT", spec);
        return false;
    }
    if (colon == spec) {
        strcpy(out->host, "127.0.0.1");
    } else if (!copy_host(spec, (size_t)(colon - spec), out)) {
        snprintf(err, errlen, "'%s' has a bad host part", spec);
        return false;
    }
    if (!parse_port(colon + 1, &out->port)) {
        snprintf(err, errlen, "'%s' has a bad port (0-65535)", spec);
        return false;
    }
    return true;
}

bool addr_parse_url(const char *url, addr_url *out, char *err, size_t errlen)
{
    static const char scheme[] = "http://";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0) {
        snprintf(err, errlen, "'%s': only http:// URLs are supported", url);
        return false;
    }
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            snprintf(err, errlen, "'%s' has a space or control character", url);
            return false;
        }
    if (strchr(url, '#')) {
        snprintf(err, errlen, "'%s': a #fragment is never sent; leave it out", url);
        return false;
    }
    const char *host = url + sizeof scheme - 1;
    const char *slash = strchr(host, '/');
    size_t hostlen = slash ? (size_t)(slash - host) : strlen(host);
    const char *path = slash ? slash : "/";
    if (strlen(path) >= sizeof out->path) {
        snprintf(err, errlen, "'%s': path too long", url);
        return false;
    }
    strcpy(out->path, path);

    char hp[ADDR_HOST_MAX + 8];
    if (hostlen == 0 || hostlen >= sizeof hp) {
        snprintf(err, errlen, "'%s' has a bad host part", url);
        return false;
    }
    memcpy(hp, host, hostlen);
    hp[hostlen] = '\0';
    if (strchr(hp, '@')) {
        snprintf(err, errlen, "'%s': user:password@ in URLs is not supported", url);
        return false;
    }
    /* Port is optional in a URL: "host" or "[v6]" alone means port 80. */
    const char *close = strrchr(hp, ']');
    const char *colon = strrchr(hp, ':');
    if (!colon || (close && colon < close)) {
        if (!copy_host(hp, hostlen, &out->hp)) {
            snprintf(err, errlen, "'%s' has a bad host part", url);
            return false;
        }
        out->hp.port = 80;
        return true;
    }
    if (!addr_parse_hostport(hp, &out->hp, err, errlen))
        return false;
    if (out->hp.port == 0) {
        snprintf(err, errlen, "'%s': port 0 is not a valid destination", url);
        return false;
    }
    return true;
}

void addr_format(const addr_hostport *hp, char *buf, size_t len)
{
    if (strchr(hp->host, ':'))
        snprintf(buf, len, "[%s]:%u", hp->host, (unsigned)hp->port);
    else
        snprintf(buf, len, "%s:%u", hp->host, (unsigned)hp->port);
}

void addr_format_url(const addr_url *u, char *buf, size_t len)
{
    addr_url low = *u;
    for (char *c = low.hp.host; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    char hp[ADDR_HOST_MAX + 8];
    addr_format(&low.hp, hp, sizeof hp);
    snprintf(buf, len, "http://%s%s", hp, low.path);
}

bool addr_resolves(const char *host, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "host '%s' does not resolve: %s", host, gai_strerror(rc));
        return false;
    }
    freeaddrinfo(res);
    return true;
}
