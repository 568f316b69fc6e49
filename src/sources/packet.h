/* fc_packet: one compressed access unit read from a pushing source, or a
 * marker between runs of them, reference-counted and immutable once made.
 *
 * The demux thread makes packets; the same packet then travels by reference
 * to the loop, to whoever wants compressed packets (H.264 passthrough) and to
 * the decode stage, without a copy. Markers keep the decode stage in step
 * with the input, in order with the data:
 *
 *   SEGMENT  a new connection or file opened: the codec parameters of the
 *            packets that follow (the decoder is reopened for them);
 *   DRAIN    the input ended or rewound: decode what is left, then expect a
 *            key frame.
 *
 * H.264 and HEVC data is Annex-B (start codes, parameter sets in-band before
 * key frames when the container keeps them apart), whatever the container.
 * Refcounts are atomic: references may be taken and dropped on any thread. */
#ifndef FC_SOURCES_PACKET_H
#define FC_SOURCES_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct AVPacket;
struct AVCodecParameters;

typedef enum { FC_PACKET_DATA = 0, FC_PACKET_SEGMENT, FC_PACKET_DRAIN } fc_packet_kind;

typedef struct fc_packet fc_packet;

/* Takes over `av` (freed with the packet). `capture` is its capture time
 * (Unix seconds). NULL on OOM, and `av` is freed then too. */
fc_packet *fc_packet_new_data(struct AVPacket *av, double capture);
/* Copies `par`; tb_num/tb_den is the time base of the packets that follow and
 * fps their nominal rate (0 = unknown). NULL on OOM. */
fc_packet *fc_packet_new_segment(const struct AVCodecParameters *par, int tb_num, int tb_den,
                                 double fps);
fc_packet *fc_packet_new_drain(void);

fc_packet *fc_packet_ref(fc_packet *p);
void fc_packet_unref(fc_packet *p);

fc_packet_kind fc_packet_kind_of(const fc_packet *p);
/* DATA: the bytes, whether it decodes on its own, its capture time. */
const uint8_t *fc_packet_data(const fc_packet *p, size_t *len);
bool fc_packet_key(const fc_packet *p);
double fc_packet_time(const fc_packet *p);
/* DATA: the FFmpeg packet, for the decode stage (read only). */
const struct AVPacket *fc_packet_av(const fc_packet *p);
/* SEGMENT: codec parameters, time base, nominal rate. */
const struct AVCodecParameters *fc_packet_params(const fc_packet *p);
void fc_packet_time_base(const fc_packet *p, int *num, int *den);
double fc_packet_fps(const fc_packet *p);

/* Packets alive now, for leak checks. */
long fc_packet_live_count(void);

#endif
