/* fc_pktq: a bounded FIFO of packets that falls behind the way an
 * inter-frame decoder can: by dropping up to the next key frame.
 *
 * Bounded in packets and in bytes. A data packet that does not fit is
 * dropped and so is every delta after it; the next key frame then replaces
 * whatever is still queued (it is older than the key frame and useless once
 * the key frame is there), so a consumer that falls behind skips forward to
 * the freshest picture that decodes on its own and never sees a delta after a
 * gap. Markers (SEGMENT, DRAIN) are never dropped for data; a full queue of
 * markers loses its oldest marker, which only happens when consecutive
 * markers carry no data between them and the last one wins anyway.
 *
 * Not thread-safe: the owner locks it (the demux hand-off) or keeps it on
 * one thread (the decode stage, loop thread).
 *
 * A fresh queue, and one after fc_pktq_gap or fc_pktq_clear, waits for a key
 * frame too: deltas before it are skipped, not counted as drops. */
#ifndef FC_SOURCES_PKTQ_H
#define FC_SOURCES_PKTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sources/packet.h"

typedef struct fc_pktq {
    fc_packet **ring;
    int cap, head, count;
    size_t bytes, max_bytes;
    bool need_key;    /* data is refused until the next key frame */
    bool behind;      /* ... because it did not fit (so refusals count as drops) */
    uint64_t dropped; /* data packets that did not fit, and deltas after them */
    uint64_t skipped; /* deltas before the first key frame or after a gap */
    int high_water;   /* the most packets it ever held */
} fc_pktq;

/* Returns 0 or -ENOMEM. */
int fc_pktq_init(fc_pktq *q, int cap, size_t max_bytes);
/* Drops what is queued (uncounted) and frees the ring. */
void fc_pktq_free(fc_pktq *q);
/* Takes the reference. The packet is queued or dropped (counted). */
void fc_pktq_push(fc_pktq *q, fc_packet *p);
/* A data packet went past without being offered (nobody wanted it): what
 * follows must start at a key frame. Not counted as a drop. */
void fc_pktq_gap(fc_pktq *q);
/* The oldest packet (the caller owns the reference), or NULL. */
fc_packet *fc_pktq_pop(fc_pktq *q);
/* Drops everything queued, uncounted (stop, or pictures no longer wanted),
 * and expects a key frame next. */
void fc_pktq_clear(fc_pktq *q);

#endif
