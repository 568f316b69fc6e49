/* Answers of Janus's HTTP API (what fc_httpc hands over: at most 64 KiB of
 * body, any bytes). */
#include <assert.h>
#include <string.h>

#include "fuzz.h"
#include "transport/janus_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    fc_janus_answer a;
    char err[200], tiny[4];
    if (fc_janus_answer_parse((const char *)data, size, &a, err, sizeof err) == 0) {
        /* What the client then copies or prints is terminated and in range. */
        assert(memchr(a.reason, 0, sizeof a.reason));
        assert(memchr(a.plugin_reason, 0, sizeof a.plugin_reason));
        assert(memchr(a.ports.host, 0, sizeof a.ports.host));
        if (a.created)
            assert(a.ports.video >= 0 && a.ports.video <= 65535 && a.ports.audio >= 0 &&
                   a.ports.audio <= 65535 && a.ports.video_rtcp >= 0 &&
                   a.ports.video_rtcp <= 65535);
    } else {
        assert(memchr(err, 0, sizeof err));
    }
    fc_janus_answer_parse((const char *)data, size, &a, tiny, sizeof tiny);
    return 0;
}
