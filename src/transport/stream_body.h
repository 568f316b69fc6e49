/* The request bodies of POST /api/streams and PATCH /api/streams/{id}:
 *
 *   POST   {"id":"lobby", "spec":"synthetic:image=PATH,size=640x360",
 *           "encode_fps":10, "detect":true, "detect_fps":2,
 *           "quality":{"high":90,"medium":70,"low":50}}
 *     or, instead of "spec", the spec's parts as fields:
 *          {"id":"lobby", "type":"synthetic", "image":"PATH", "size":"640x360", ...}
 *   PATCH  {"encode_fps":10, "detect":false, "detect_fps":5, "quality":{"high":90}}
 *          (null resets a setting: the spec's value or the server's flag
 *          applies again)
 *
 * docs/api.md lists every field. A body is bounded before it is parsed
 * (FC_STREAM_BODY_MAX bytes, FC_STREAM_BODY_DEPTH levels of nesting), and
 * every refusal names the field at fault. Pure functions over bytes (no lws,
 * no loop, any thread), so tests and fuzzers can call them on anything. */
#ifndef FC_TRANSPORT_STREAM_BODY_H
#define FC_TRANSPORT_STREAM_BODY_H

#include <stddef.h>

#include "sources/source.h"
#include "stream/build.h"

#define FC_STREAM_BODY_MAX 16384
#define FC_STREAM_BODY_DEPTH 4

/* Which settings a body names (a null counts: it resets the setting). */
enum {
    FC_BODY_ENCODE_FPS = 1u << 0,
    FC_BODY_DETECT = 1u << 1,
    FC_BODY_DETECT_FPS = 1u << 2,
    FC_BODY_QUALITY = 1u << 3, /* << tier: FC_BODY_QUALITY << FC_TIER_LOW */
};

typedef struct fc_stream_body {
    char id[FC_ID_MAX];            /* POST: "id", or the spec's id= */
    char spec[FC_STREAM_SPEC_MAX]; /* POST: "spec", or made from the source fields */
    fc_source_spec parsed;         /* POST: the spec, parsed */
    fc_stream_settings set;        /* the values given; not set where null or absent */
    unsigned given;                /* FC_BODY_* */
} fc_stream_body;

/* POST's body: 0, or -EINVAL with err naming the field ("size: ...",
 * "unknown field 'zoom'") or saying it nests too deep, or -E2BIG for a body
 * of more than FC_STREAM_BODY_MAX bytes. */
int fc_stream_body_parse_create(const char *text, size_t len, fc_stream_body *out, char *err,
                                size_t errlen);
/* PATCH's body (settings only): the same returns. */
int fc_stream_body_parse_change(const char *text, size_t len, fc_stream_body *out, char *err,
                                size_t errlen);
/* The settings `set` become after `change` (from parse_change). */
void fc_stream_body_apply(const fc_stream_body *change, fc_stream_settings *set);

#endif
