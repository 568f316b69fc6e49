#include "transport/control.h"

#include <errno.h>
#include <stdio.h>

int fc_control_parse(const char *text, size_t len, json_t **obj, const char **type, char *err,
                     size_t errlen)
{
    json_error_t jerr;
    json_t *msg = json_loadb(text, len, 0, &jerr);
    if (!msg) {
        snprintf(err, errlen, "malformed JSON");
        return -EINVAL;
    }
    const char *t = json_string_value(json_object_get(msg, "type"));
    if (!t) {
        json_decref(msg);
        snprintf(err, errlen, "message has no string \"type\"");
        return -EINVAL;
    }
    *obj = msg;
    *type = t;
    return 0;
}
