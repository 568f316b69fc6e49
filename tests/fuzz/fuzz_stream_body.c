/* The bodies of POST and PATCH /api/streams from arbitrary bytes: both
 * parsers, with room for the message and without. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "transport/stream_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A little past the bound, so the size check is crossed both ways. */
    if (size > FC_STREAM_BODY_MAX + 64) return 0;
    static fc_stream_body body;
    char err[512], tiny[8];
    const char *text = (const char *)data;
    fc_stream_body_parse_create(text, size, &body, err, sizeof err);
    fc_stream_body_parse_create(text, size, &body, tiny, sizeof tiny);
    if (fc_stream_body_parse_change(text, size, &body, err, sizeof err) == 0) {
        fc_stream_settings set = FC_STREAM_SETTINGS_UNSET;
        fc_stream_body_apply(&body, &set);
    }
    fc_stream_body_parse_change(text, size, &body, NULL, 0);
    return 0;
}
