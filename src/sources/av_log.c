#include "sources/av_log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libavdevice/avdevice.h>
#include <libavutil/log.h>

#include "core/log.h"
#include "sources/redact.h"

static _Thread_local char *t_buf;
static _Thread_local size_t t_len;

static void on_av_log(void *avcl, int level, const char *fmt, va_list ap)
{
    if (level > AV_LOG_WARNING) return;
    char line[512], clean[512];
    int prefix = 1;
    av_log_format_line2(avcl, level, fmt, ap, line, sizeof line, &prefix);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n == 0 || strstr(line, "Authorization")) return;
    fc_redact(line, clean, sizeof clean);
    fc_debug("ffmpeg: %s", clean);
    if (level <= AV_LOG_ERROR && t_buf) {
        /* Without the "[rtsp @ 0x...] " prefix: an address means nothing to a user. */
        const char *msg = clean;
        if (msg[0] == '[') {
            const char *end = strstr(msg, "] ");
            if (end) msg = end + 2;
        }
        snprintf(t_buf, t_len, "%s", msg);
    }
}

static void init_once(void)
{
    /* Debug and trace lines would carry request headers; they are never
     * formatted at all. */
    av_log_set_level(AV_LOG_WARNING);
    av_log_set_callback(on_av_log);
    avdevice_register_all();
}

void fc_av_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_once);
}

void fc_av_log_capture(char *buf, size_t len)
{
    t_buf = buf;
    t_len = len;
    if (buf && len) buf[0] = '\0';
}
