/* fc_queue: a subscriber's bounded FIFO of frame references.
 *
 * Full means drop the OLDEST: a slow subscriber always converges on the
 * freshest frames instead of falling further behind. Holds references, never
 * copies. One thread (the loop) at a time. */
#ifndef FC_HUB_QUEUE_H
#define FC_HUB_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

typedef struct fc_queue {
    fc_frame **slots;
    size_t cap, head, len;
    uint64_t dropped;
} fc_queue;

int fc_queue_init(fc_queue *q, size_t cap);
/* Frees the slots and drops every reference still queued. */
void fc_queue_destroy(fc_queue *q);
/* Takes over the caller's reference. Returns the frame it pushed out to make
 * room (caller unrefs it) or NULL. */
fc_frame *fc_queue_push(fc_queue *q, fc_frame *f);
/* Hands the oldest frame's reference to the caller, or NULL when empty. */
fc_frame *fc_queue_pop(fc_queue *q);
/* The same for the newest frame (an inter-frame subscriber replacing frames
 * it has not been sent yet). */
fc_frame *fc_queue_pop_newest(fc_queue *q);
/* The oldest and the newest frame, still queued (no reference), or NULL. */
static inline fc_frame *fc_queue_oldest(const fc_queue *q)
{
    return q->len ? q->slots[q->head] : NULL;
}
static inline fc_frame *fc_queue_newest(const fc_queue *q)
{
    return q->len ? q->slots[(q->head + q->len - 1) % q->cap] : NULL;
}
static inline size_t fc_queue_len(const fc_queue *q)
{
    return q->len;
}

#endif
