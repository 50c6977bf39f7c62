/* log: leveled log lines on stderr, one line per call.
 *
 * Two formats (log_set_format):
 *   text: "2026-01-02T03:04:05.678Z prog level: message"
 *   json: one JSON object a line, for log shippers:
 *         {"time":"2026-01-02T03:04:05.678Z","level":"info","program":"prog",
 *          "message":"...", FIELDS...}
 * time is RFC 3339 in UTC with milliseconds. FIELDS are the structured
 * fields a call passes (log_fields); the text format leaves them out, as
 * its message already says them. In JSON, the message and every string
 * field are made printable UTF-8 first (utf8_printable: bytes that are not
 * UTF-8 and control characters become '?') and escaped by jansson, so no
 * text (a client's id, a backend's answer) can end the line, the string or
 * the object early. */
#ifndef BP_LOG_H
#define BP_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };
enum log_format { LOG_TEXT, LOG_JSON };

/* Sets the program name shown in each line and the lowest level printed. */
void log_init(const char *prog, enum log_level level);
/* Sets the format of the lines (LOG_TEXT until called). */
void log_set_format(enum log_format format);

/* The levels' names, NULL-terminated, in the order of enum log_level. */
extern const char *const log_levels[];
/* The formats' names ("text", "json"), NULL-terminated, for --log-format. */
extern const char *const log_formats[];

/* Parses "debug", "info", "warn", "error" or "off". Returns false if unknown. */
bool log_level_parse(const char *s, enum log_level *out);

/* True when a message at this level would be printed (to skip costly formatting). */
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One structured field of a line: a key (a constant chosen by the code,
 * none of time, level, program, message) and a string, whole or real
 * number. */
enum log_field_type { LOG_FIELD_STR, LOG_FIELD_INT, LOG_FIELD_REAL };
typedef struct log_field {
    const char *key;
    enum log_field_type type;
    const char *s;
    long long i;
    double d;
} log_field;
#define LOG_STR(k, v) ((log_field){.key = (k), .type = LOG_FIELD_STR, .s = (v)})
#define LOG_INT(k, v) ((log_field){.key = (k), .type = LOG_FIELD_INT, .i = (long long)(v)})
#define LOG_REAL(k, v) ((log_field){.key = (k), .type = LOG_FIELD_REAL, .d = (double)(v)})
/* The fields argument pair of log_fields from a list of LOG_STR, LOG_INT... */
#define LOG_FIELDS(...)                                                                            \
    (const log_field[]){__VA_ARGS__}, sizeof((const log_field[]){__VA_ARGS__}) / sizeof(log_field)

/* log_msg with structured fields for the JSON format:
 *   log_fields(LOG_INFO, LOG_FIELDS(LOG_INT("status", 200)), "answered %d", 200); */
void log_fields(enum log_level level, const log_field *fields, size_t nfields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A line printed whatever the level: in text, the message alone (no time,
 * no level: "listening on HOST:PORT", which scripts and tests look for);
 * in JSON, a line at level info. */
void log_announce(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
