/* fc_passthrough: a camera's own H.264 to subscribers, as it came: no
 * decode, no encode.
 *
 * A stream of a source that delivers compressed packets (file, RTSP;
 * fc_source.packets) makes one while somebody subscribes with codec=h264
 * and closes it with the last one. Each access unit (one Annex B packet) of
 * the source becomes one encoded frame laid out for the wire (core/frame.h:
 * the 16-byte header, then the access unit), shared by every subscriber
 * through an inter-frame hub (hub/hub.h): a subscriber starts at an IDR
 * access unit and a full queue drops to the next one. A camera cannot be
 * asked for a key frame, so a join or a gap waits for the camera's next one.
 *
 * Every IDR access unit it publishes carries SPS and PPS in-band: the ones
 * the camera sent with it, or else the last ones it sent, or those of the
 * source's codec parameters (RTSP: the SDP's sprop-parameter-sets), which
 * are prepended. The SPS of each IDR access unit says what the subscribers'
 * WebCodecs decoder is configured with (fc_passthrough_format); a new codec
 * string or size gets a new serial from that access unit on.
 *
 * Ownership: the stream owns it; the hub and subscribers are its own. It
 * keeps no packet: the frames it makes are copies into wire frames, referenced
 * by the subscribers' bounded queues. Loop thread only. */
#ifndef FC_STREAM_PASSTHROUGH_H
#define FC_STREAM_PASSTHROUGH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encode/bitstream.h"
#include "encode/codec.h"
#include "hub/hub.h"
#include "sources/packet.h"

/* What a codec=h264 subscriber asked for: not an encoder (its open, encode
 * and close are NULL, and it is not registered: fc_codec_find never returns
 * it), but the name, id and inter-frame rules the endpoint and the stream
 * treat every codec by. */
extern const fc_codec_ops fc_h264_passthrough;

typedef struct fc_passthrough fc_passthrough;

/* What the subscribers' decoder is configured with. */
typedef struct fc_passthrough_format {
    uint64_t serial;   /* 0 = no IDR access unit with an SPS yet */
    uint32_t first_id; /* the first frame of this format */
    fc_h264_sps_info sps;
} fc_passthrough_format;

typedef struct fc_passthrough_stats {
    uint64_t access_units; /* taken from the source */
    uint64_t published;    /* handed to the hub */
    uint64_t skipped;      /* deltas before the first IDR of an input (nothing to decode them) */
    uint64_t key_frames;   /* IDR access units published */
    uint64_t params_prepended; /* IDR access units that lacked SPS/PPS and got them */
    uint64_t bytes;            /* payload bytes published */
    uint64_t rejected;         /* not H.264 Annex B, or an IDR without any SPS/PPS known */
} fc_passthrough_stats;

/* `name` names its hub in log lines. 0 or -ENOMEM. */
int fc_passthrough_new(const char *name, fc_passthrough **out);
void fc_passthrough_free(fc_passthrough *p);

/* A SEGMENT packet: the codec parameters of the packets that follow (an
 * input of another codec than H.264 has its packets rejected); their
 * extradata's parameter sets, when Annex B, are the ones to prepend. The
 * packets after it are published from its first IDR access unit on. */
void fc_passthrough_segment(fc_passthrough *p, const fc_packet *segment);
/* A DATA packet of an H.264 source: published to the subscribers as a
 * frame, an IDR one with its parameter sets. */
void fc_passthrough_packet(fc_passthrough *p, const fc_packet *packet);

/* The WebCodecs codec string of a SEGMENT's H.264 parameters (an SDP's
 * parameter sets or a container's avcC record), before any access unit is
 * read: 0, or -ENOENT when they are not H.264 or say nothing, -EINVAL when
 * the SPS does not parse. */
int fc_passthrough_codec_string(const fc_packet *segment, char *out, size_t len);

/* Subscribers are on the one tier there is (FC_TIER_HIGH): opts' tier and
 * auto are ignored. 0 or -ENOMEM. */
int fc_passthrough_subscribe(fc_passthrough *p, const fc_sub_opts *opts, fc_sub_wake_fn wake,
                             void *ctx, fc_sub **out);
void fc_passthrough_unsubscribe(fc_passthrough *p, fc_sub *sub);
size_t fc_passthrough_subscribers(const fc_passthrough *p);
void fc_passthrough_publish_event(fc_passthrough *p, fc_event *e);

const fc_hub *fc_passthrough_hub(const fc_passthrough *p);
const fc_passthrough_format *fc_passthrough_format_of(const fc_passthrough *p);
void fc_passthrough_get_stats(const fc_passthrough *p, fc_passthrough_stats *out);
/* Adds p's figures to `sum` (a closed passthrough's join the earlier ones'). */
void fc_passthrough_add_stats(const fc_passthrough *p, fc_passthrough_stats *sum);

#endif
