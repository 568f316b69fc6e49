#include "transport/janus_api.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void copy(char *dst, size_t cap, json_t *s)
{
    snprintf(dst, cap, "%s", json_is_string(s) ? json_string_value(s) : "");
}

static bool gone(int code)
{
    return code == FC_JANUS_NO_SUCH_SESSION || code == FC_JANUS_NO_SUCH_HANDLE;
}

/* A port field: its value, 0 when absent, -1 when it is no port. */
static int port_of(json_t *v)
{
    if (!v) return 0;
    json_int_t p = json_integer_value(v);
    return json_is_integer(v) && p >= 0 && p <= 65535 ? (int)p : -1;
}

/* stream: {"id":…, "host":…, "ports":[{"type":"video","port":…,"rtcp_port":…},…]} */
static int read_stream(json_t *stream, fc_janus_ports *p, char *err, size_t errlen)
{
    json_t *id = json_object_get(stream, "id");
    if (!json_is_integer(id) || json_integer_value(id) <= 0) {
        snprintf(err, errlen, "janus: the created stream has no numeric id");
        return -EBADMSG;
    }
    p->id = (uint64_t)json_integer_value(id);
    copy(p->host, sizeof p->host, json_object_get(stream, "host"));
    size_t i;
    json_t *port;
    json_array_foreach(json_object_get(stream, "ports"), i, port)
    {
        const char *type = json_string_value(json_object_get(port, "type"));
        int rtp = port_of(json_object_get(port, "port"));
        int rtcp = port_of(json_object_get(port, "rtcp_port"));
        if (rtp < 0 || rtcp < 0) {
            snprintf(err, errlen, "janus: the created stream names a port out of range");
            return -EBADMSG;
        }
        if (type && strcmp(type, "video") == 0) {
            p->video = rtp;
            p->video_rtcp = rtcp;
        } else if (type && strcmp(type, "audio") == 0) {
            p->audio = rtp;
        }
    }
    return 0;
}

static int read_plugin(json_t *data, fc_janus_answer *out, char *err, size_t errlen)
{
    out->plugin = true;
    out->plugin_code = (int)json_integer_value(json_object_get(data, "error_code"));
    copy(out->plugin_reason, sizeof out->plugin_reason, json_object_get(data, "error"));
    const char *what = json_string_value(json_object_get(data, "streaming"));
    json_t *stream = json_object_get(data, "stream");
    if (out->plugin_code == 0 && what && strcmp(what, "created") == 0 && json_is_object(stream)) {
        out->created = true;
        return read_stream(stream, &out->ports, err, errlen);
    }
    return 0;
}

/* One object of a long poll: an event, a keepalive, or an error. */
static void read_event(json_t *ev, fc_janus_answer *out)
{
    const char *kind = json_string_value(json_object_get(ev, "janus"));
    if (kind && strcmp(kind, "error") == 0) {
        json_t *e = json_object_get(ev, "error");
        int code = (int)json_integer_value(json_object_get(e, "code"));
        out->session_gone |= gone(code);
        if (!out->code) {
            out->code = code;
            copy(out->reason, sizeof out->reason, json_object_get(e, "reason"));
        }
    }
}

int fc_janus_answer_parse(const char *body, size_t len, fc_janus_answer *out, char *err,
                          size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "janus: the answer is not JSON: %s", jerr.text);
        return -EBADMSG;
    }
    int rc = 0;
    if (json_is_array(root)) {
        /* A long poll with maxev: events (each an object) in an array. */
        out->kind = FC_JANUS_ANSWER_EVENTS;
        size_t i;
        json_t *ev;
        json_array_foreach(root, i, ev) read_event(ev, out);
        json_decref(root);
        return 0;
    }
    const char *kind = json_string_value(json_object_get(root, "janus"));
    if (!kind) {
        snprintf(err, errlen, "janus: the answer has no \"janus\" field");
        rc = -EBADMSG;
    } else if (strcmp(kind, "success") == 0) {
        out->kind = FC_JANUS_ANSWER_SUCCESS;
        json_t *id = json_object_get(json_object_get(root, "data"), "id");
        out->id = json_is_integer(id) && json_integer_value(id) > 0
                      ? (uint64_t)json_integer_value(id)
                      : 0;
        json_t *data = json_object_get(json_object_get(root, "plugindata"), "data");
        if (json_is_object(data)) rc = read_plugin(data, out, err, errlen);
    } else if (strcmp(kind, "ack") == 0) {
        out->kind = FC_JANUS_ANSWER_ACK;
    } else if (strcmp(kind, "error") == 0) {
        out->kind = FC_JANUS_ANSWER_ERROR;
        read_event(root, out);
    } else {
        /* A single event or keepalive (a long poll without maxev). */
        out->kind = FC_JANUS_ANSWER_EVENTS;
    }
    json_decref(root);
    return rc;
}
