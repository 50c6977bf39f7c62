/* http1: strict HTTP/1.x head and chunked-body parsing (see http1.h). */
#include "http1.h"

#include <stdio.h>
#include <string.h>

/* Longest chunk-size line (hex digits and extensions) and trailer field
 * line accepted; anything longer is an attack or a bug. */
#define HTTP1_MAX_CHUNK_LINE 1024

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Visible characters, obs-text and the space and tab between them. */
static bool is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

bool http1_str_eq(http1_str s, const char *t)
{
    size_t n = strlen(t);
    if (s.n != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)s.p[i], b = (unsigned char)t[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (unsigned char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

char *http1_str_copy(http1_str s, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    size_t n = s.n < len - 1 ? s.n : len - 1;
    memcpy(buf, s.p, n);
    buf[n] = '\0';
    return buf;
}

const http1_str *http1_field_get(const http1_head *h, const char *name)
{
    for (size_t i = 0; i < h->nfields; i++)
        if (http1_str_eq(h->fields[i].name, name))
            return &h->fields[i].value;
    return NULL;
}

size_t http1_head_end(const char *buf, size_t len, size_t *from)
{
    size_t i = *from;
    /* Resume three bytes back: the terminator may straddle two calls. */
    i = i >= 3 ? i - 3 : 0;
    for (; i + 4 <= len; i++) {
        const char *p = memchr(buf + i, '\r', len - i);
        if (!p)
            break;
        i = (size_t)(p - buf);
        if (i + 4 <= len && memcmp(p, "\r\n\r\n", 4) == 0) {
            *from = i;
            return i + 4;
        }
    }
    *from = len;
    return 0;
}

static enum http1_result fail(int *status, int code, char *err, size_t errlen, const char *fmt,
                              const char *arg)
{
    if (status)
        *status = code;
    snprintf(err, errlen, fmt, arg);
    return HTTP1_ERROR;
}

/* The line at buf[*pos, end) up to its CRLF: returns it and moves *pos
 * past the CRLF; false on a bare LF or CR, or a NUL. */
static bool next_line(const char *buf, size_t end, size_t *pos, http1_str *line)
{
    size_t i = *pos;
    while (i < end && buf[i] != '\r' && buf[i] != '\n' && buf[i] != '\0')
        i++;
    if (i + 1 >= end || buf[i] != '\r' || buf[i + 1] != '\n')
        return false;
    *line = (http1_str){buf + *pos, i - *pos};
    *pos = i + 2;
    return true;
}

/* "HTTP/1.x": the minor version, or -1 (-2 for another major version). */
static int parse_version(http1_str v)
{
    if (v.n != 8 || memcmp(v.p, "HTTP/", 5) != 0 || v.p[6] != '.' || v.p[5] < '0' || v.p[5] > '9' ||
        v.p[7] < '0' || v.p[7] > '9')
        return -1;
    if (v.p[5] != '1')
        return -2;
    return v.p[7] == '0' || v.p[7] == '1' ? v.p[7] - '0' : -2;
}

static bool parse_length(http1_str v, uint64_t *out)
{
    if (v.n == 0 || v.n > 19)
        return false;
    uint64_t n = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return false;
        n = n * 10 + (uint64_t)(v.p[i] - '0');
    }
    *out = n;
    return true;
}

/* True when the comma-separated list v holds `token` (case-insensitive). */
static bool list_has(http1_str v, const char *token)
{
    size_t i = 0;
    while (i < v.n) {
        while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        size_t start = i;
        while (i < v.n && v.p[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v.p[end - 1] == ' ' || v.p[end - 1] == '\t'))
            end--;
        if (end > start && http1_str_eq((http1_str){v.p + start, end - start}, token))
            return true;
    }
    return false;
}

/* One field line into f. */
static bool parse_field(http1_str line, http1_field *f)
{
    size_t i = 0;
    while (i < line.n && is_tchar((unsigned char)line.p[i]))
        i++;
    if (i == 0 || i >= line.n || line.p[i] != ':')
        return false; /* empty name, whitespace before the colon, folding */
    f->name = (http1_str){line.p, i};
    size_t start = i + 1, end = line.n;
    while (start < end && (line.p[start] == ' ' || line.p[start] == '\t'))
        start++;
    while (end > start && (line.p[end - 1] == ' ' || line.p[end - 1] == '\t'))
        end--;
    for (size_t k = start; k < end; k++)
        if (!is_field_char((unsigned char)line.p[k]))
            return false;
    f->value = (http1_str){line.p + start, end - start};
    return true;
}

/* The field lines from *pos to the blank line at end - 2, then the
 * framing and connection semantics they carry. */
static enum http1_result parse_fields(const char *buf, size_t end, size_t pos, http1_head *h,
                                      bool request, int *status, char *err, size_t errlen)
{
    bool have_length = false, have_te = false, have_host = false;
    h->nfields = 0;
    h->keep_alive = h->minor >= 1;
    for (;;) {
        http1_str line;
        if (!next_line(buf, end, &pos, &line))
            return fail(status, 400, err, errlen, "%s", "malformed header line (bare LF or NUL)");
        if (line.n == 0)
            break;
        if (h->nfields == HTTP1_MAX_HEADERS)
            return fail(status, 431, err, errlen, "more than %s header fields", "64");
        http1_field *f = &h->fields[h->nfields];
        if (!parse_field(line, f))
            return fail(status, 400, err, errlen, "%s",
                        "malformed header field (name, colon, folding or control character)");
        h->nfields++;
        if (http1_str_eq(f->name, "Content-Length")) {
            if (have_length)
                return fail(status, 400, err, errlen, "%s", "duplicate Content-Length");
            if (!parse_length(f->value, &h->content_length))
                return fail(status, 400, err, errlen, "%s", "malformed Content-Length");
            have_length = true;
        } else if (http1_str_eq(f->name, "Transfer-Encoding")) {
            if (have_te || !http1_str_eq(f->value, "chunked"))
                return fail(
                    status, 400, err, errlen, "%s",
                    "unsupported Transfer-Encoding (only a single \"chunked\" is accepted)");
            have_te = true;
        } else if (http1_str_eq(f->name, "Connection")) {
            if (list_has(f->value, "close"))
                h->keep_alive = false;
            else if (list_has(f->value, "keep-alive") && h->minor == 0)
                h->keep_alive = true;
        } else if (request && http1_str_eq(f->name, "Host")) {
            if (have_host)
                return fail(status, 400, err, errlen, "%s", "duplicate Host");
            have_host = true;
        } else if (request && http1_str_eq(f->name, "Expect")) {
            if (http1_str_eq(f->value, "100-continue"))
                h->expect_continue = true;
            else
                h->expect_other = true;
        }
    }
    if (have_te && have_length)
        return fail(status, 400, err, errlen, "%s", "both Transfer-Encoding and Content-Length");
    if (have_te && h->minor == 0)
        return fail(status, 400, err, errlen, "%s", "Transfer-Encoding in an HTTP/1.0 message");
    if (have_te) {
        h->framing = HTTP1_BODY_CHUNKED;
    } else if (have_length) {
        h->framing = h->content_length ? HTTP1_BODY_LENGTH : HTTP1_BODY_NONE;
    } else {
        h->framing = request ? HTTP1_BODY_NONE : HTTP1_BODY_UNTIL_CLOSE;
        if (!request)
            h->keep_alive = false;
    }
    h->head_len = pos;
    return HTTP1_OK;
}

static void head_reset(http1_head *h)
{
    h->method = h->target = h->reason = (http1_str){"", 0};
    h->status = 0;
    h->minor = 1;
    h->nfields = 0;
    h->framing = HTTP1_BODY_NONE;
    h->content_length = 0;
    h->keep_alive = false;
    h->expect_continue = h->expect_other = false;
    h->head_len = 0;
}

/* The start of a head: h reset, the head's end (*end, past the blank
 * line) and its first line (*line; *pos just past it). HTTP1_INCOMPLETE
 * while the blank line hasn't arrived; HTTP1_ERROR when the first line is
 * malformed. */
static enum http1_result start_line(const char *buf, size_t len, http1_head *h, size_t *end,
                                    size_t *pos, http1_str *line)
{
    size_t from = 0;
    *end = http1_head_end(buf, len, &from);
    *pos = 0;
    head_reset(h);
    if (*end == 0)
        return HTTP1_INCOMPLETE;
    return next_line(buf, *end, pos, line) ? HTTP1_OK : HTTP1_ERROR;
}

enum http1_result http1_parse_request(const char *buf, size_t len, http1_head *h, int *status,
                                      char *err, size_t errlen)
{
    size_t end, pos;
    http1_str line;
    enum http1_result r = start_line(buf, len, h, &end, &pos, &line);
    if (r == HTTP1_ERROR)
        return fail(status, 400, err, errlen, "%s", "malformed request line");
    if (r == HTTP1_INCOMPLETE)
        return r;
    /* method SP request-target SP HTTP-version */
    const char *sp1 = memchr(line.p, ' ', line.n);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', line.n - (size_t)(sp1 + 1 - line.p)) : NULL;
    if (!sp1 || !sp2 || sp1 == line.p || sp2 == sp1 + 1)
        return fail(status, 400, err, errlen, "%s", "malformed request line");
    h->method = (http1_str){line.p, (size_t)(sp1 - line.p)};
    h->target = (http1_str){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
    http1_str version = {sp2 + 1, line.n - (size_t)(sp2 + 1 - line.p)};
    for (size_t i = 0; i < h->method.n; i++)
        if (!is_tchar((unsigned char)h->method.p[i]))
            return fail(status, 400, err, errlen, "%s", "malformed method");
    for (size_t i = 0; i < h->target.n; i++) {
        unsigned char c = (unsigned char)h->target.p[i];
        if (c <= 0x20 || c >= 0x7f)
            return fail(status, 400, err, errlen, "%s", "malformed request target");
    }
    h->minor = parse_version(version);
    if (h->minor == -2)
        return fail(status, 505, err, errlen, "%s", "HTTP version not supported (use HTTP/1.1)");
    if (h->minor < 0)
        return fail(status, 400, err, errlen, "%s", "malformed HTTP version");
    return parse_fields(buf, end, pos, h, true, status, err, errlen);
}

enum http1_result http1_parse_response(const char *buf, size_t len, bool head_request,
                                       http1_head *h, char *err, size_t errlen)
{
    size_t end, pos;
    http1_str line;
    enum http1_result r = start_line(buf, len, h, &end, &pos, &line);
    if (r == HTTP1_ERROR)
        return fail(NULL, 0, err, errlen, "%s", "malformed status line");
    if (r == HTTP1_INCOMPLETE)
        return r;
    /* HTTP-version SP 3DIGIT SP [reason] */
    if (line.n < 12 || line.p[8] != ' ' || (line.n > 12 && line.p[12] != ' '))
        return fail(NULL, 0, err, errlen, "%s", "malformed status line");
    h->minor = parse_version((http1_str){line.p, 8});
    if (h->minor < 0)
        return fail(NULL, 0, err, errlen, "%s", "malformed or unsupported HTTP version");
    int code = 0;
    for (size_t i = 9; i < 12; i++) {
        if (line.p[i] < '0' || line.p[i] > '9')
            return fail(NULL, 0, err, errlen, "%s", "malformed status code");
        code = code * 10 + (line.p[i] - '0');
    }
    if (code < 100)
        return fail(NULL, 0, err, errlen, "%s", "malformed status code");
    h->status = code;
    h->reason = line.n > 13 ? (http1_str){line.p + 13, line.n - 13} : (http1_str){"", 0};
    for (size_t i = 0; i < h->reason.n; i++)
        if (!is_field_char((unsigned char)h->reason.p[i]))
            return fail(NULL, 0, err, errlen, "%s", "control character in the reason phrase");
    r = parse_fields(buf, end, pos, h, false, NULL, err, errlen);
    if (r != HTTP1_OK)
        return r;
    if (head_request || code < 200 || code == 204 || code == 304) {
        if (h->framing == HTTP1_BODY_UNTIL_CLOSE)
            h->keep_alive = h->minor >= 1; /* no body: framing needs no close */
        h->framing = HTTP1_BODY_NONE;
    }
    return HTTP1_OK;
}

/* --- chunked bodies --- */

enum {
    CH_SIZE,      /* reading a chunk-size line (hex digits, then ext) */
    CH_BWS,       /* whitespace after the digits */
    CH_EXT,       /* in the extensions, past a ';' */
    CH_SIZE_LF,   /* CR seen at the end of a size line */
    CH_DATA,      /* `left` data bytes to go */
    CH_DATA_CR,   /* CRLF after the data */
    CH_DATA_LF,   /* */
    CH_TRAILER,   /* a trailer line, or the final blank line */
    CH_TRAILER_LF /* CR seen at the end of a trailer line */
};

void http1_chunked_init(http1_chunked *c)
{
    memset(c, 0, sizeof *c);
    c->state = CH_SIZE;
}

static int hexval(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static enum http1_result chunk_fail(char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "malformed chunked body: %s", why);
    return HTTP1_ERROR;
}

/* A size-line byte (CH_SIZE, CH_BWS or CH_EXT): hex digits, then
 * optional whitespace, then extensions from a ';' on. */
static enum http1_result size_byte(http1_chunked *c, unsigned char ch, uint64_t max, char *err,
                                   size_t errlen)
{
    if (++c->linelen > HTTP1_MAX_CHUNK_LINE)
        return chunk_fail(err, errlen, "chunk size line too long");
    int v = c->state == CH_SIZE ? hexval(ch) : -1;
    if (v >= 0) {
        if (c->left > (UINT64_MAX >> 4) || (c->left << 4) + (uint64_t)v > max)
            return chunk_fail(err, errlen, "body too large");
        c->left = (c->left << 4) | (uint64_t)v;
        return HTTP1_INCOMPLETE;
    }
    if (c->linelen == 1)
        return chunk_fail(err, errlen, "missing chunk size");
    if (ch == '\r') {
        c->state = CH_SIZE_LF;
    } else if (c->state == CH_EXT) {
        if (!is_field_char(ch))
            return chunk_fail(err, errlen, "control byte in a chunk extension");
    } else if (ch == ';') {
        c->state = CH_EXT; /* extensions are skipped */
    } else if (ch == ' ' || ch == '\t') {
        c->state = CH_BWS;
    } else {
        return chunk_fail(err, errlen, "bad chunk size");
    }
    return HTTP1_INCOMPLETE;
}

enum http1_result http1_chunked_scan(http1_chunked *c, const char *buf, size_t len, uint64_t max,
                                     char *err, size_t errlen)
{
    while (c->pos < len) {
        unsigned char ch = (unsigned char)buf[c->pos];
        switch (c->state) {
        case CH_SIZE:
        case CH_BWS:
        case CH_EXT:
            if (size_byte(c, ch, max, err, errlen) == HTTP1_ERROR)
                return HTTP1_ERROR;
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                return chunk_fail(err, errlen, "bare CR");
            if (c->size + c->left > max)
                return chunk_fail(err, errlen, "body too large");
            c->linelen = 0;
            c->state = c->left ? CH_DATA : CH_TRAILER;
            break;
        case CH_DATA: {
            size_t take = len - c->pos;
            if ((uint64_t)take > c->left)
                take = (size_t)c->left;
            c->left -= take;
            c->size += take;
            c->pos += take;
            if (c->left == 0)
                c->state = CH_DATA_CR;
            continue;
        }
        case CH_DATA_CR:
            if (ch != '\r')
                return chunk_fail(err, errlen, "chunk longer than its size");
            c->state = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                return chunk_fail(err, errlen, "bare CR");
            c->state = CH_SIZE;
            c->linelen = 0;
            break;
        case CH_TRAILER:
            if (ch == '\r') {
                c->state = CH_TRAILER_LF;
            } else if (++c->linelen > HTTP1_MAX_CHUNK_LINE || !is_field_char(ch)) {
                return chunk_fail(err, errlen, "bad trailer field");
            }
            break;
        case CH_TRAILER_LF:
            if (ch != '\n')
                return chunk_fail(err, errlen, "bare CR");
            c->pos++;
            if (c->linelen == 0)
                return HTTP1_OK; /* the blank line: the body is over */
            c->linelen = 0;
            c->state = CH_TRAILER;
            continue;
        }
        c->pos++;
    }
    return HTTP1_INCOMPLETE;
}

void http1_chunked_decode(const char *buf, size_t len, char *out)
{
    size_t i = 0, o = 0;
    while (i < len) {
        uint64_t size = 0;
        int v;
        while ((v = hexval((unsigned char)buf[i])) >= 0) {
            size = (size << 4) | (uint64_t)v;
            i++;
        }
        while (buf[i] != '\n') /* extensions and the CR */
            i++;
        i++;
        if (size == 0)
            return; /* trailers follow; they carry no data */
        memmove(out + o, buf + i, (size_t)size);
        o += (size_t)size;
        i += (size_t)size + 2; /* data and its CRLF */
    }
}
