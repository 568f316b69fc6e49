#include "hub/queue.h"

#include <errno.h>
#include <stdlib.h>

int fc_queue_init(fc_queue *q, size_t cap)
{
    q->slots = calloc(cap ? cap : 1, sizeof *q->slots);
    if (!q->slots) return -ENOMEM;
    q->cap = cap ? cap : 1;
    q->head = q->len = 0;
    q->dropped = 0;
    return 0;
}

void fc_queue_destroy(fc_queue *q)
{
    fc_frame *f;
    while ((f = fc_queue_pop(q)))
        fc_frame_unref(f);
    free(q->slots);
    q->slots = NULL;
}

fc_frame *fc_queue_push(fc_queue *q, fc_frame *f)
{
    fc_frame *old = NULL;
    if (q->len == q->cap) {
        old = fc_queue_pop(q);
        q->dropped++;
    }
    q->slots[(q->head + q->len) % q->cap] = f;
    q->len++;
    return old;
}

fc_frame *fc_queue_pop(fc_queue *q)
{
    if (q->len == 0) return NULL;
    fc_frame *f = q->slots[q->head];
    q->slots[q->head] = NULL;
    q->head = (q->head + 1) % q->cap;
    q->len--;
    return f;
}

fc_frame *fc_queue_pop_newest(fc_queue *q)
{
    if (q->len == 0) return NULL;
    size_t i = (q->head + q->len - 1) % q->cap;
    fc_frame *f = q->slots[i];
    q->slots[i] = NULL;
    q->len--;
    return f;
}
