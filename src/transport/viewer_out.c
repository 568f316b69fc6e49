#include "transport/viewer_out.h"

#include <jansson.h>

#include "core/clock.h"
#include "core/event.h"
#include "hub/tier.h"
#include "transport/close_codes.h"

void fc_viewer_out_init(fc_viewer_out *o)
{
    *o = (fc_viewer_out){.tier_sent = -1};
}

void fc_viewer_out_drop_held(fc_viewer_out *o)
{
    fc_frame_unref(o->held);
    o->held = NULL;
}

static int send_event(fc_conn *c, fc_viewer_out *o, fc_event *e)
{
    int rc = fc_conn_write(c, fc_event_text(e), e->len, false);
    const char *closes = e->closes;
    fc_event_unref(e);
    if (rc != 0) return -1;
    if (closes) {
        fc_conn_close_soon(c, CLOSE_BAD_REQUEST, closes);
        return 0;
    }
    if (o->held || fc_sub_has_work(o->sub)) fc_conn_want_write(c);
    return 0;
}

/* A still-picture tier is a quality; an inter-frame one a picture size
 * (its first frame is a key frame). */
static void send_tier(fc_conn *c, const fc_frame *f, bool inter_frame, const fc_viewer_describe *d,
                      void *ctx)
{
    const char *tier = fc_tier_name((fc_tier)f->tier);
    fc_conn_send_json(c, inter_frame ? json_pack("{s:s, s:s, s:i, s:i}", "type", "tier", "tier",
                                                 tier, "width", f->width, "height", f->height)
                                     : json_pack("{s:s, s:s, s:i}", "type", "tier", "tier", tier,
                                                 "quality", d->quality(ctx, f->tier)));
}

int fc_viewer_out_turn(fc_conn *c, fc_viewer_out *o, bool inter_frame, const fc_viewer_describe *d,
                       void *ctx)
{
    if (!o->sub) return 0;
    fc_event *e = fc_sub_next_event(o->sub);
    if (e) return send_event(c, o, e);
    fc_frame *f = o->held ? o->held : fc_sub_next(o->sub, fc_now_ns());
    o->held = NULL;
    if (!f) return 0;
    if (d->send_format(c, ctx, &o->format_sent, f)) {
        o->held = f; /* the first frame of a new format goes out after the message */
        return 0;
    }
    if (f->tier != o->tier_sent) {
        o->tier_sent = f->tier;
        o->held = f; /* and the first of a new tier after the tier message */
        send_tier(c, f, inter_frame, d, ctx);
        return 0;
    }
    int rc = fc_conn_write(c, f->wire, fc_frame_wire_len(f), true);
    fc_frame_unref(f);
    if (rc != 0) return -1;
    if (fc_sub_has_work(o->sub)) fc_conn_want_write(c);
    return 0;
}
