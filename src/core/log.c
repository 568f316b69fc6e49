#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_int g_level = FC_LOG_INFO;

void fc_log_set_level(fc_log_level level)
{
    atomic_store(&g_level, (int)level);
}

int fc_log_parse_level(const char *name, fc_log_level *out)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (fc_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

void fc_log(fc_log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&g_level)) return;
    static const char *tags[] = {"error", "warn", "info", "debug"};
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %-5s ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, tags[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    /* One write per line keeps lines from different threads whole. */
    fwrite(line, 1, len, stderr);
}

bool fc_ratelimit_allow(fc_ratelimit *rl, uint64_t now_ns, uint64_t *suppressed)
{
    if (rl->last_ns != 0 && now_ns - rl->last_ns < rl->interval_ns) {
        rl->suppressed++;
        return false;
    }
    if (suppressed) *suppressed = rl->suppressed;
    rl->suppressed = 0;
    rl->last_ns = now_ns;
    return true;
}
