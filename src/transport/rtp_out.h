/* fc_rtp_out: one mountpoint's media on the wire: encoded video frames and
 * Opus packets as RTP to Janus, sender reports to its video RTCP port, and
 * the feedback Janus sends back there (PLI/FIR: a key frame is wanted; REMB:
 * the bitrate its viewers can take) turned into callbacks.
 *
 * One UDP socket, bound to the address it sends to (loopback: nothing
 * listens anywhere else), carries all of it. Sending happens on the loop but
 * copies nothing: each packet goes to the kernel as two iovecs, the header
 * bytes fc_rtp wrote and a slice of the frame's payload, as a WebSocket send
 * hands the kernel the frame's bytes. Packets the kernel refuses (a full
 * socket buffer) are dropped and counted, and the key_frame callback asks
 * for the key frame that repairs the picture at once, without waiting for
 * the viewers' PLIs (DESIGN.md rule 9: no delta after a gap for long).
 *
 * A sender report goes out with the first frame after every new target and
 * then at most once a second, only while frames are sent: it maps RTP time to
 * capture time for the receiver, and it is also what makes Janus's RTCP port
 * learn where to send PLIs (it answers whoever it last heard from).
 *
 * Threads: the loop thread only. The frame given to send_video is only read
 * during the call. Errors: negative errno-style codes with the reason. */
#ifndef FC_TRANSPORT_RTP_OUT_H
#define FC_TRANSPORT_RTP_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/frame.h"
#include "transport/rtp.h"

/* The largest frame sent: 1024 packets (about 1.2 MB at the default MTU). */
#define FC_RTP_OUT_MAX_PACKETS 1024

typedef struct fc_rtp_out fc_rtp_out;

typedef struct fc_rtp_out_config {
    const char *host;   /* Janus's media address (an IP literal); we bind there too */
    fc_rtp_codec video; /* FC_RTP_VP8 or FC_RTP_H264, or 0 for none */
    bool audio;         /* Opus */
    uint8_t video_pt, audio_pt;
    size_t mtu;                               /* 0 = FC_RTP_DEFAULT_MTU */
    void (*key_frame)(void *arg);             /* a PLI or FIR arrived; may be NULL */
    void (*bitrate)(uint64_t bps, void *arg); /* a REMB arrived; may be NULL */
    void *arg;
} fc_rtp_out_config;

typedef struct fc_rtp_out_stats {
    uint64_t video_frames, video_packets, audio_packets;
    uint64_t bytes;   /* RTP bytes handed to the kernel */
    uint64_t dropped; /* packets the kernel refused */
    uint64_t too_big; /* frames with more than FC_RTP_OUT_MAX_PACKETS packets */
    uint64_t sender_reports;
    uint64_t pli, fir, remb;
    uint64_t remb_bps; /* the latest REMB estimate */
    uint64_t rtcp_bad; /* datagrams that were not valid RTCP, or not from Janus */
    uint32_t video_ssrc, audio_ssrc;
} fc_rtp_out_stats;

int fc_rtp_out_open(uv_loop_t *loop, const fc_rtp_out_config *cfg, fc_rtp_out **out, char *err,
                    size_t errlen);
/* Where to send: a mountpoint's ports on the configured host (0 = none).
 * Called again when the mountpoint was re-created; sequence numbers,
 * timestamps and SSRCs run on. */
int fc_rtp_out_target(fc_rtp_out *o, int video, int video_rtcp, int audio, char *err,
                      size_t errlen);
/* Stop sending (the mountpoint is lost) until the next target. */
void fc_rtp_out_untarget(fc_rtp_out *o);
/* Sends one encoded frame (payload: a VP8 frame or an Annex-B H.264 access
 * unit) with RTP time from its capture time. Returns 0, -ENOTCONN without a
 * target, or what fc_rtp_packetize refuses. */
int fc_rtp_out_send_video(fc_rtp_out *o, const fc_frame *f, char *err, size_t errlen);
/* The same, captured at `capture` (Unix seconds): an avatar session's frames
 * carry their media time, which the caller puts on the wall clock. */
int fc_rtp_out_send_video_at(fc_rtp_out *o, const fc_frame *f, double capture, char *err,
                             size_t errlen);
/* Sends one Opus packet whose first sample was captured at `capture`. */
int fc_rtp_out_send_audio(fc_rtp_out *o, const uint8_t *pkt, size_t len, double capture, char *err,
                          size_t errlen);
const fc_rtp_out_stats *fc_rtp_out_get_stats(const fc_rtp_out *o);
/* Closes the socket; the memory goes when libuv has closed it. */
void fc_rtp_out_close(fc_rtp_out *o);

#endif
