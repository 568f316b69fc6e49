/* The envelope of every WebSocket control message a client sends: a JSON
 * object with a string "type". A pure function over bytes (no lws, no loop,
 * any thread), shared by the stream and avatar endpoints. */
#ifndef FC_TRANSPORT_CONTROL_H
#define FC_TRANSPORT_CONTROL_H

#include <jansson.h>
#include <stddef.h>

/* Parses `text`: 0 with *obj (the caller's reference) and *type (valid while
 * *obj is), or -EINVAL with err saying what is wrong ("malformed JSON",
 * no string "type"). */
int fc_control_parse(const char *text, size_t len, json_t **obj, const char **type, char *err,
                     size_t errlen);

#endif
