/* The control messages of an avatar WebSocket, /ws/{client_id}:
 *
 *   {"type":"start_streaming","audio_path":P,"source_path":P,"binary":true,
 *    "setup_kwargs":{...},"run_kwargs":{"realtime":B,"audio":B,
 *    "format":CODEC,"fps":F,"quality":"auto|high|medium|low","queue":N}}
 *   {"type":"stop_streaming"}   {"type":"ping"}
 *
 * A pure function over bytes (no lws, no loop, any thread), so tests and
 * fuzzers can call it on any buffer. */
#ifndef FC_TRANSPORT_AVATAR_MSG_H
#define FC_TRANSPORT_AVATAR_MSG_H

#include <stddef.h>

#include "avatar/session.h"

typedef enum {
    FC_AVATAR_MSG_INVALID, /* not JSON, no type, or an unknown one */
    FC_AVATAR_MSG_START,
    FC_AVATAR_MSG_STOP,
    FC_AVATAR_MSG_PING,
} fc_avatar_msg_type;

typedef struct fc_avatar_msg {
    fc_avatar_msg_type type;
    fc_avatar_request start; /* FC_AVATAR_MSG_START: the caller frees it */
} fc_avatar_msg;

/* 0 with *out filled, or -EINVAL (-ENOMEM) with err naming what is wrong
 * and out->type still saying which message it was; nothing to free then.
 * `default_queue` is the queue when run_kwargs names none. */
int fc_avatar_msg_parse(const char *text, size_t len, size_t default_queue, fc_avatar_msg *out,
                        char *err, size_t errlen);

#endif
