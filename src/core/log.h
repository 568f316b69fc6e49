/* Logging: one line per event worth a human's attention, never one per frame.
 *
 * Per-frame facts (drops, encodes, inferences) belong in metrics. Events that
 * can repeat quickly go through fc_ratelimit so a storm becomes one summary
 * line per interval. Callable from any thread; lines are written whole. */
#ifndef FC_CORE_LOG_H
#define FC_CORE_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { FC_LOG_ERROR = 0, FC_LOG_WARN, FC_LOG_INFO, FC_LOG_DEBUG } fc_log_level;

void fc_log_set_level(fc_log_level level);
/* Parses "error", "warn", "info", "debug"; returns 0 or -EINVAL if unknown. */
int fc_log_parse_level(const char *name, fc_log_level *out);

void fc_log(fc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define fc_error(...) fc_log(FC_LOG_ERROR, __VA_ARGS__)
#define fc_warn(...) fc_log(FC_LOG_WARN, __VA_ARGS__)
#define fc_info(...) fc_log(FC_LOG_INFO, __VA_ARGS__)
#define fc_debug(...) fc_log(FC_LOG_DEBUG, __VA_ARGS__)

/* At most one line per interval for one kind of event. Not thread-safe: each
 * instance belongs to one thread (usually the loop). */
typedef struct fc_ratelimit {
    uint64_t interval_ns;
    uint64_t last_ns;    /* when a line was last allowed; 0 = never */
    uint64_t suppressed; /* events since then that printed nothing */
} fc_ratelimit;

#define FC_RATELIMIT_INIT(seconds)                                                                 \
    {                                                                                              \
        (uint64_t)(seconds) * 1000000000ull, 0, 0                                                  \
    }

/* Returns true when a line may be printed now; *suppressed then holds how many
 * events were swallowed since the previous line (and the count restarts). */
bool fc_ratelimit_allow(fc_ratelimit *rl, uint64_t now_ns, uint64_t *suppressed);

#endif
