#include "sources/pktq.h"

#include <errno.h>
#include <stdlib.h>

int fc_pktq_init(fc_pktq *q, int cap, size_t max_bytes)
{
    q->ring = calloc((size_t)cap, sizeof *q->ring);
    if (!q->ring) return -ENOMEM;
    q->cap = cap;
    q->head = q->count = 0;
    q->bytes = 0;
    q->max_bytes = max_bytes;
    q->need_key = true; /* nothing decodes before the first key frame */
    q->behind = false;
    q->dropped = q->skipped = 0;
    q->high_water = 0;
    return 0;
}

void fc_pktq_free(fc_pktq *q)
{
    if (!q->ring) return;
    fc_pktq_clear(q);
    free(q->ring);
    q->ring = NULL;
}

static size_t size_of(const fc_packet *p)
{
    size_t n;
    fc_packet_data(p, &n);
    return n;
}

static fc_packet **slot(fc_pktq *q, int i)
{
    return &q->ring[(q->head + i) % q->cap];
}

/* Removes queued data packets, keeping markers in order; returns how many. */
static uint64_t drop_data(fc_pktq *q)
{
    int kept = 0;
    uint64_t n = 0;
    for (int i = 0; i < q->count; i++) {
        fc_packet *p = *slot(q, i);
        if (fc_packet_kind_of(p) == FC_PACKET_DATA) {
            q->bytes -= size_of(p);
            fc_packet_unref(p);
            n++;
        } else {
            *slot(q, kept++) = p;
        }
    }
    q->count = kept;
    return n;
}

static void append(fc_pktq *q, fc_packet *p)
{
    *slot(q, q->count++) = p;
    q->bytes += size_of(p);
    if (q->count > q->high_water) q->high_water = q->count;
}

void fc_pktq_push(fc_pktq *q, fc_packet *p)
{
    if (fc_packet_kind_of(p) != FC_PACKET_DATA) {
        if (q->count == q->cap) q->dropped += drop_data(q);
        if (q->count == q->cap) fc_packet_unref(fc_pktq_pop(q));
        append(q, p);
        return;
    }
    size_t n = size_of(p);
    bool full = q->count == q->cap || q->bytes + n > q->max_bytes;
    if (!full && !q->need_key) {
        append(q, p);
        return;
    }
    if (!fc_packet_key(p) || n > q->max_bytes) {
        if (full || q->behind) {
            q->dropped++;
            q->behind = true;
        } else {
            q->skipped++;
        }
        q->need_key = true;
        fc_packet_unref(p);
        return;
    }
    /* A key frame: everything still queued is older than it. */
    if (full) q->dropped += drop_data(q);
    if (q->count == q->cap) fc_packet_unref(fc_pktq_pop(q));
    q->need_key = q->behind = false;
    append(q, p);
}

void fc_pktq_gap(fc_pktq *q)
{
    q->need_key = true;
}

fc_packet *fc_pktq_pop(fc_pktq *q)
{
    if (q->count == 0) return NULL;
    fc_packet *p = q->ring[q->head];
    q->ring[q->head] = NULL;
    q->head = (q->head + 1) % q->cap;
    q->count--;
    q->bytes -= size_of(p);
    return p;
}

void fc_pktq_clear(fc_pktq *q)
{
    fc_packet *p;
    while ((p = fc_pktq_pop(q)))
        fc_packet_unref(p);
    q->need_key = true;
}
