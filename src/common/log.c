/* log: leveled log lines on stderr (see log.h). */
#include "log.h"

#include "mono.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_prog = "bp";
static enum log_level log_min = LOG_INFO;
const char *const log_levels[] = {"debug", "info", "warn", "error", "off", NULL};

void log_init(const char *prog, enum log_level level)
{
    log_prog = prog;
    log_min = level;
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

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    double now = mono_wall();
    time_t secs = (time_t)now;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    /* Format into one buffer and write it with a single call so that lines
     * from concurrent processes sharing stderr don't interleave. */
    char line[2048];
    int off = snprintf(line, sizeof line, "%s.%03dZ %s %s: ", stamp,
                       (int)((now - (double)secs) * 1000), log_prog, log_levels[level]);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + off, sizeof line - (size_t)off - 1, fmt, ap);
    va_end(ap);
    size_t used = (size_t)off + (n < 0 ? 0 : (size_t)n);
    if (used > sizeof line - 2)
        used = sizeof line - 2;
    line[used++] = '\n';
    fwrite(line, 1, used, stderr);
}
