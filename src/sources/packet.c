#include "sources/packet.h"

#include <stdatomic.h>
#include <stdlib.h>

#include <libavcodec/avcodec.h>

struct fc_packet {
    atomic_uint refs;
    fc_packet_kind kind;
    AVPacket *av;           /* DATA */
    double capture;         /* DATA */
    AVCodecParameters *par; /* SEGMENT */
    int tb_num, tb_den;     /* SEGMENT */
    double fps;             /* SEGMENT */
};

static atomic_long g_live;

static fc_packet *packet_alloc(fc_packet_kind kind)
{
    fc_packet *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    atomic_init(&p->refs, 1);
    p->kind = kind;
    atomic_fetch_add(&g_live, 1);
    return p;
}

fc_packet *fc_packet_new_data(AVPacket *av, double capture)
{
    fc_packet *p = packet_alloc(FC_PACKET_DATA);
    if (!p) {
        av_packet_free(&av);
        return NULL;
    }
    p->av = av;
    p->capture = capture;
    return p;
}

fc_packet *fc_packet_new_segment(const AVCodecParameters *par, int tb_num, int tb_den, double fps)
{
    fc_packet *p = packet_alloc(FC_PACKET_SEGMENT);
    if (!p) return NULL;
    p->par = avcodec_parameters_alloc();
    if (!p->par || avcodec_parameters_copy(p->par, par) < 0) {
        fc_packet_unref(p);
        return NULL;
    }
    p->tb_num = tb_num;
    p->tb_den = tb_den;
    p->fps = fps;
    return p;
}

fc_packet *fc_packet_new_drain(void)
{
    return packet_alloc(FC_PACKET_DRAIN);
}

fc_packet *fc_packet_ref(fc_packet *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void fc_packet_unref(fc_packet *p)
{
    if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1) return;
    av_packet_free(&p->av);
    avcodec_parameters_free(&p->par);
    free(p);
    atomic_fetch_sub(&g_live, 1);
}

fc_packet_kind fc_packet_kind_of(const fc_packet *p)
{
    return p->kind;
}

const uint8_t *fc_packet_data(const fc_packet *p, size_t *len)
{
    *len = p->av ? (size_t)p->av->size : 0;
    return p->av ? p->av->data : NULL;
}

bool fc_packet_key(const fc_packet *p)
{
    return p->av && (p->av->flags & AV_PKT_FLAG_KEY);
}

double fc_packet_time(const fc_packet *p)
{
    return p->capture;
}

const AVPacket *fc_packet_av(const fc_packet *p)
{
    return p->av;
}

const AVCodecParameters *fc_packet_params(const fc_packet *p)
{
    return p->par;
}

void fc_packet_time_base(const fc_packet *p, int *num, int *den)
{
    *num = p->tb_num;
    *den = p->tb_den;
}

double fc_packet_fps(const fc_packet *p)
{
    return p->fps;
}

long fc_packet_live_count(void)
{
    return atomic_load(&g_live);
}
