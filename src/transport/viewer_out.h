/* A stream viewer's turn at writing: what it sends next, the same whether
 * its stream lives on this loop (ws_stream.c, subscribed to the stream's
 * hub) or on another one (ws_remote.c, subscribed to a relay's local hub).
 * One copy of the order of messages, so the two cannot drift apart:
 *
 *   the pending event (small, and about the frames that follow), closing the
 *   viewer after it when the event says so (event.h `closes`); else the next
 *   frame, announced by a format message when it is the first of a stream
 *   format the viewer has not been told, and by a tier message when its tier
 *   differs from the last one's.
 *
 * One message per turn; the connection asks for the next turn while more
 * is waiting. The endpoint owns the struct (inside its connection state);
 * the connection's loop thread only. */
#ifndef FC_TRANSPORT_VIEWER_OUT_H
#define FC_TRANSPORT_VIEWER_OUT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/frame.h"
#include "hub/hub.h"
#include "transport/conn.h"

typedef struct fc_viewer_out {
    fc_sub *sub;          /* NULL: not subscribed (yet, or any more) */
    fc_frame *held;       /* next frame, waiting behind a tier or format message */
    int tier_sent;        /* tier of the frames last sent; -1 before the first */
    uint64_t format_sent; /* serial of the stream format last described (hello or format) */
} fc_viewer_out;

/* What the two kinds of viewer know differently. */
typedef struct fc_viewer_describe {
    /* Sends the format message frame f must follow, if f is the first of a
     * format this viewer has not been told (and moves *format_sent to it);
     * returns whether it sent one. */
    bool (*send_format)(fc_conn *c, void *ctx, uint64_t *format_sent, const fc_frame *f);
    /* The JPEG/WebP quality of a tier, for a still-picture codec's tier
     * message (an inter-frame codec's gives the picture size instead). */
    int (*quality)(void *ctx, int tier);
} fc_viewer_describe;

/* Before the first turn: nothing sent, nothing held. */
void fc_viewer_out_init(fc_viewer_out *o);

/* One turn: 0, or -1 when the connection must close (a write failed). */
int fc_viewer_out_turn(fc_conn *c, fc_viewer_out *o, bool inter_frame, const fc_viewer_describe *d,
                       void *ctx);

/* Lets go of the frame held back, if any (the viewer leaves its hub). */
void fc_viewer_out_drop_held(fc_viewer_out *o);

#endif
