/* log: leveled log lines on stderr, one line per call.
 *
 * Format: "2026-01-02T03:04:05.678Z prog level: message". */
#ifndef BP_LOG_H
#define BP_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Sets the program name shown in each line and the lowest level printed. */
void log_init(const char *prog, enum log_level level);

/* The levels' names, NULL-terminated, in the order of enum log_level. */
extern const char *const log_levels[];

/* Parses "debug", "info", "warn", "error" or "off". Returns false if unknown. */
bool log_level_parse(const char *s, enum log_level *out);

/* True when a message at this level would be printed (to skip costly formatting). */
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
