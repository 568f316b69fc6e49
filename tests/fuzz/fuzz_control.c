/* The avatar WebSocket's control messages (start_streaming and its
 * run_kwargs, stop_streaming, ping): one text message of any bytes. */
#include <assert.h>
#include <string.h>

#include "fuzz.h"
#include "transport/avatar_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0; /* the server drops longer messages unread */
    fc_avatar_msg msg;
    char err[300], tiny[4];
    int rc = fc_avatar_msg_parse((const char *)data, size, 50, &msg, err, sizeof err);
    if (rc == 0 && msg.type == FC_AVATAR_MSG_START) {
        const fc_avatar_request *r = &msg.start;
        assert(r->audio_path && r->source_path && r->setup_json && r->run_json && r->codec);
        assert(r->sub.queue >= 1 && r->sub.queue <= FC_QUEUE_MAX);
        fc_avatar_request_free(&msg.start);
    } else if (rc != 0) {
        assert(memchr(err, 0, sizeof err));
    }
    if (fc_avatar_msg_parse((const char *)data, size, 50, &msg, tiny, sizeof tiny) == 0 &&
        msg.type == FC_AVATAR_MSG_START)
        fc_avatar_request_free(&msg.start);
    return 0;
}
