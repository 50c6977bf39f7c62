/* log: leveled log lines on stderr (see log.h). */
#include "log.h"

#include "mono.h"
#include "utf8.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *log_prog = "bp";
static enum log_level log_min = LOG_INFO;
static enum log_format log_fmt = LOG_TEXT;
const char *const log_levels[] = {"debug", "info", "warn", "error", "off", NULL};
const char *const log_formats[] = {"text", "json", NULL};

/* A line is at most this long in text (longer messages are cut). */
#define LOG_LINE_MAX 2048

void log_init(const char *prog, enum log_level level)
{
    log_prog = prog;
    log_min = level;
}

void log_set_format(enum log_format format)
{
    log_fmt = format;
}

bool log_level_parse(const char *s, enum log_level *out)
{
    for (int i = LOG_DEBUG; i <= LOG_OFF; i++) {
        if (strcmp(s, log_levels[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

bool log_enabled(enum log_level level)
{
    return level >= log_min && level != LOG_OFF;
}

/* "2026-01-02T03:04:05.678Z": now, RFC 3339 in UTC with milliseconds. */
static void timestamp(char *out, size_t len)
{
    double now = mono_wall();
    time_t secs = (time_t)now;
    int ms = (int)((now - (double)secs) * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t k = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, len - k, ".%03uZ", (unsigned)(ms > 999 ? 999 : ms) % 1000u);
}

/* One write per line, so that lines from processes sharing stderr don't
 * interleave. */
static void emit(const char *line, size_t len)
{
    fwrite(line, 1, len, stderr);
    fflush(stderr);
}

/* A string as printable UTF-8 (see log.h), for jansson. */
static json_t *printable(const char *s)
{
    char buf[LOG_LINE_MAX];
    size_t n = utf8_printable(buf, sizeof buf, s, strlen(s));
    return json_stringn(buf, n);
}

static void emit_json(const char *level, const char *msg, const log_field *f, size_t nf)
{
    char stamp[40];
    timestamp(stamp, sizeof stamp);
    json_t *o = json_object();
    json_object_set_new(o, "time", json_string(stamp));
    json_object_set_new(o, "level", json_string(level));
    json_object_set_new(o, "program", printable(log_prog));
    json_object_set_new(o, "message", printable(msg));
    for (size_t k = 0; k < nf; k++) {
        json_t *v = f[k].type == LOG_FIELD_STR   ? printable(f[k].s ? f[k].s : "")
                    : f[k].type == LOG_FIELD_INT ? json_integer(f[k].i)
                                                 : json_real(f[k].d);
        json_object_set_new(o, f[k].key, v);
    }
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(o);
    if (!text) /* out of memory: say so rather than lose the line silently */
        text = strdup("{\"level\":\"error\",\"message\":\"log line lost: out of memory\"}");
    if (!text)
        return;
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (line) {
        line[n] = '\n';
        emit(line, n + 1);
    }
    free(line ? line : text);
}

static void vlog(enum log_level level, const log_field *f, size_t nf, const char *fmt, va_list ap)
{
    char msg[LOG_LINE_MAX];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0)
        msg[0] = '\0';
    if (log_fmt == LOG_JSON) {
        emit_json(log_levels[level], msg, f, nf);
        return;
    }
    char stamp[40], line[LOG_LINE_MAX + 96];
    timestamp(stamp, sizeof stamp);
    int off = snprintf(line, sizeof line, "%s %s %s: %s", stamp, log_prog, log_levels[level], msg);
    size_t used = off < 0 ? 0 : (size_t)off;
    if (used > sizeof line - 2)
        used = sizeof line - 2;
    line[used++] = '\n';
    emit(line, used);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, NULL, 0, fmt, ap);
    va_end(ap);
}

void log_fields(enum log_level level, const log_field *fields, size_t nfields, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fields, nfields, fmt, ap);
    va_end(ap);
}

void log_announce(const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    size_t used = n < 0 ? 0 : (size_t)n > sizeof msg - 2 ? sizeof msg - 2 : (size_t)n;
    msg[used] = '\0';
    if (log_fmt == LOG_JSON) {
        emit_json(log_levels[LOG_INFO], msg, NULL, 0);
        return;
    }
    msg[used++] = '\n';
    emit(msg, used);
}
