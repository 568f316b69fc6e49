#include "core/event.h"

#include <stdlib.h>
#include <string.h>

fc_event *fc_event_new(const char *text, size_t len)
{
    fc_event *e = malloc(sizeof *e + FC_FRAME_HEADROOM + len);
    if (!e) return NULL;
    e->refs = 1;
    e->len = len;
    e->closes = NULL;
    memcpy(fc_event_text(e), text, len);
    return e;
}

fc_event *fc_event_ref(fc_event *e)
{
    e->refs++;
    return e;
}

void fc_event_unref(fc_event *e)
{
    if (e && --e->refs == 0) free(e);
}
