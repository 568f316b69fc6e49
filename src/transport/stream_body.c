#include "transport/stream_body.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hub/tier.h"

/* The settings' names; a PATCH takes these and nothing else. */
static const char *const setting_fields[] = {"encode_fps", "detect", "detect_fps", "quality"};
/* The spec's parts as fields of a POST, in the order they go into the
 * spec (after TYPE:FIRST). */
static const char *const source_fields[] = {
    "type", "procedural", "image",  "video", "path",      "url",     "device",
    "size", "fps",        "motion", "loop",  "transport", "timeout", "input_format"};

#define COUNT(a) (sizeof(a) / sizeof *(a))

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static bool listed(const char *const *names, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], key) == 0) return true;
    return false;
}

/* Nesting of `text` outside strings, up to `max` + 1: known before jansson
 * recurses into it. */
static int depth_over(const char *text, size_t len, int max)
{
    int depth = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (ch == '\\')
                escaped = true;
            else if (ch == '"')
                in_string = false;
        } else if (ch == '"') {
            in_string = true;
        } else if (ch == '{' || ch == '[') {
            if (++depth > max) return 1;
        } else if (ch == '}' || ch == ']') {
            depth--;
        }
    }
    return 0;
}

static int load(const char *text, size_t len, json_t **out, char *err, size_t errlen)
{
    if (len > FC_STREAM_BODY_MAX)
        return fail(err, errlen, -E2BIG, "the body is larger than %d bytes", FC_STREAM_BODY_MAX);
    if (depth_over(text, len, FC_STREAM_BODY_DEPTH))
        return fail(err, errlen, -EINVAL, "the body nests deeper than %d levels",
                    FC_STREAM_BODY_DEPTH);
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!doc)
        return fail(err, errlen, -EINVAL, "the body is not JSON: %s (line %d, column %d)", je.text,
                    je.line, je.column);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return fail(err, errlen, -EINVAL, "the body must be a JSON object");
    }
    *out = doc;
    return 0;
}

/* A rate in (0, 240], or null (0: not set). */
static int rate_field(json_t *v, const char *name, double *out, char *err, size_t errlen)
{
    if (json_is_null(v)) {
        *out = 0;
        return 0;
    }
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!(d > 0 && d <= 240))
        return fail(err, errlen, -EINVAL, "%s: must be a number in (0, 240], or null", name);
    *out = d;
    return 0;
}

static int quality_field(json_t *v, fc_stream_body *out, char *err, size_t errlen)
{
    if (json_is_null(v)) {
        for (int t = 0; t < FC_TIER_COUNT; t++) {
            out->set.quality[t] = 0;
            out->given |= FC_BODY_QUALITY << t;
        }
        return 0;
    }
    if (!json_is_object(v))
        return fail(err, errlen, -EINVAL,
                    "quality: must be an object of tiers, e.g. {\"high\":90,\"low\":50}, or null");
    const char *tier_name;
    json_t *q;
    json_object_foreach(v, tier_name, q)
    {
        fc_tier t;
        if (fc_tier_parse(tier_name, &t) != 0)
            return fail(err, errlen, -EINVAL, "quality.%.32s: not a tier (high, medium, low)",
                        tier_name);
        out->given |= FC_BODY_QUALITY << t;
        if (json_is_null(q)) {
            out->set.quality[t] = 0;
            continue;
        }
        json_int_t n = json_is_integer(q) ? json_integer_value(q) : 0;
        if (n < 1 || n > 100)
            return fail(err, errlen, -EINVAL, "quality.%s: must be a whole number from 1 to 100",
                        tier_name);
        out->set.quality[t] = (int)n;
    }
    return 0;
}

/* One of setting_fields. */
static int setting(const char *key, json_t *v, fc_stream_body *out, char *err, size_t errlen)
{
    if (strcmp(key, "encode_fps") == 0) {
        out->given |= FC_BODY_ENCODE_FPS;
        return rate_field(v, key, &out->set.encode_fps, err, errlen);
    }
    if (strcmp(key, "detect_fps") == 0) {
        out->given |= FC_BODY_DETECT_FPS;
        return rate_field(v, key, &out->set.detect_fps, err, errlen);
    }
    if (strcmp(key, "detect") == 0) {
        out->given |= FC_BODY_DETECT;
        if (!json_is_boolean(v) && !json_is_null(v))
            return fail(err, errlen, -EINVAL, "detect: must be true, false or null");
        out->set.detect = json_is_null(v) ? -1 : json_is_true(v);
        return 0;
    }
    return quality_field(v, out, err, errlen);
}

/* ---- POST: the spec from its parts ---- */

typedef struct spec_text {
    char *p;
    size_t len, cap;
    bool full;
} spec_text;

static void put(spec_text *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(spec_text *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= s->cap - s->len)
        s->full = true;
    else
        s->len += (size_t)n;
}

/* A string field that goes into the spec as it is: no comma (the spec
 * splits at commas), no control characters. NULL when absent. */
static int text_part(json_t *doc, const char *name, const char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(doc, name);
    *out = NULL;
    if (!v) return 0;
    if (!json_is_string(v) || json_string_length(v) == 0)
        return fail(err, errlen, -EINVAL, "%s: must be a non-empty string", name);
    const char *s = json_string_value(v);
    for (const char *c = s; *c; c++)
        if (*c == ',' || (unsigned char)*c < 0x20)
            return fail(err, errlen, -EINVAL, "%s: %s cannot be given in a spec", name,
                        *c == ',' ? "a ','" : "a control character");
    if (strlen(s) != json_string_length(v))
        return fail(err, errlen, -EINVAL, "%s: a NUL byte cannot be given", name);
    *out = s;
    return 0;
}

static int number_part(json_t *doc, const char *name, spec_text *s, char *err, size_t errlen)
{
    json_t *v = json_object_get(doc, name);
    if (!v) return 0;
    if (!json_is_number(v)) return fail(err, errlen, -EINVAL, "%s: must be a number", name);
    put(s, ",%s=%.10g", name, json_number_value(v));
    return 0;
}

/* TYPE:FIRST, the first argument named by the field that says what it is. */
static int spec_head(json_t *doc, const char *type, spec_text *s, char *err, size_t errlen)
{
    const char *arg;
    int rc;
    if (strcmp(type, "synthetic") == 0) {
        json_t *proc = json_object_get(doc, "procedural");
        const char *image, *video;
        if ((rc = text_part(doc, "image", &image, err, errlen)) != 0 ||
            (rc = text_part(doc, "video", &video, err, errlen)) != 0)
            return rc;
        if (proc && !json_is_true(proc))
            return fail(err, errlen, -EINVAL, "procedural: must be true when given");
        if ((proc != NULL) + (image != NULL) + (video != NULL) != 1)
            return fail(err, errlen, -EINVAL,
                        "type: a synthetic source takes exactly one of procedural, image, video");
        if (proc)
            put(s, "synthetic:procedural");
        else
            put(s, "synthetic:%s=%s", image ? "image" : "video", image ? image : video);
        return 0;
    }
    const char *field = strcmp(type, "file") == 0                                 ? "path"
                        : strcmp(type, "rtsp") == 0 || strcmp(type, "rtsps") == 0 ? "url"
                        : strcmp(type, "v4l2") == 0                               ? "device"
                                                                                  : NULL;
    if (!field)
        return fail(err, errlen, -EINVAL,
                    "type: '%.32s' is not a source type (synthetic, file, rtsp, rtsps, v4l2)",
                    type);
    if ((rc = text_part(doc, field, &arg, err, errlen)) != 0) return rc;
    if (!arg) return fail(err, errlen, -EINVAL, "%s: required for a %s source", field, type);
    /* A URL carries its scheme; the others are TYPE:ARG. */
    if (strcmp(field, "url") == 0)
        put(s, "%s", arg);
    else
        put(s, "%s:%s", type, arg);
    return 0;
}

static int spec_from_fields(json_t *doc, spec_text *s, char *err, size_t errlen)
{
    json_t *type = json_object_get(doc, "type");
    if (!type)
        return fail(err, errlen, -EINVAL,
                    "spec: required, or the source as fields (type, and image, path, url, ...)");
    if (!json_is_string(type)) return fail(err, errlen, -EINVAL, "type: must be a string");
    int rc = spec_head(doc, json_string_value(type), s, err, errlen);
    if (rc != 0) return rc;
    const char *v;
    if ((rc = text_part(doc, "size", &v, err, errlen)) != 0) return rc;
    if (v) put(s, ",size=%s", v);
    if ((rc = number_part(doc, "fps", s, err, errlen)) != 0) return rc;
    json_t *motion = json_object_get(doc, "motion");
    if (motion) {
        if (json_is_boolean(motion))
            put(s, ",motion=%d", json_is_true(motion));
        else if (json_is_integer(motion) &&
                 (json_integer_value(motion) == 0 || json_integer_value(motion) == 1))
            put(s, ",motion=%d", (int)json_integer_value(motion));
        else
            return fail(err, errlen, -EINVAL, "motion: must be true, false, 0 or 1");
    }
    json_t *loop = json_object_get(doc, "loop");
    if (loop && !json_is_boolean(loop))
        return fail(err, errlen, -EINVAL, "loop: must be true or false");
    if (json_is_true(loop)) put(s, ",loop");
    if ((rc = text_part(doc, "transport", &v, err, errlen)) != 0) return rc;
    if (v) put(s, ",transport=%s", v);
    if ((rc = number_part(doc, "timeout", s, err, errlen)) != 0) return rc;
    if ((rc = text_part(doc, "input_format", &v, err, errlen)) != 0) return rc;
    if (v) put(s, ",input_format=%s", v);
    if (s->full)
        return fail(err, errlen, -EINVAL,
                    "spec: the source fields make a spec longer than %d bytes",
                    FC_STREAM_SPEC_MAX - 1);
    return 0;
}

static int take_spec(json_t *doc, fc_stream_body *out, bool has_source_fields, char *err,
                     size_t errlen)
{
    json_t *spec = json_object_get(doc, "spec");
    if (spec && has_source_fields)
        return fail(err, errlen, -EINVAL,
                    "spec: give either spec or the source as fields (type, ...), not both");
    if (spec) {
        if (!json_is_string(spec) || json_string_length(spec) == 0)
            return fail(err, errlen, -EINVAL, "spec: must be a non-empty string");
        if (json_string_length(spec) >= sizeof out->spec)
            return fail(err, errlen, -EINVAL, "spec: longer than %d bytes",
                        (int)sizeof out->spec - 1);
        if (strlen(json_string_value(spec)) != json_string_length(spec))
            return fail(err, errlen, -EINVAL, "spec: a NUL byte cannot be given");
        memcpy(out->spec, json_string_value(spec), json_string_length(spec) + 1);
        return 0;
    }
    spec_text s = {.p = out->spec, .cap = sizeof out->spec};
    return spec_from_fields(doc, &s, err, errlen);
}

static int take_id(json_t *doc, fc_stream_body *out, char *err, size_t errlen)
{
    json_t *id = json_object_get(doc, "id");
    const char *spec_id = out->parsed.id;
    if (!id && !spec_id[0])
        return fail(err, errlen, -EINVAL, "id: required (a field, or id= in the spec)");
    if (!id) {
        snprintf(out->id, sizeof out->id, "%s", spec_id);
        return 0;
    }
    if (!json_is_string(id) || !fc_source_id_valid(json_string_value(id)) ||
        strlen(json_string_value(id)) != json_string_length(id))
        return fail(err, errlen, -EINVAL, "id: must be 1-63 characters of A-Z a-z 0-9 . - _");
    if (spec_id[0] && strcmp(spec_id, json_string_value(id)) != 0)
        return fail(err, errlen, -EINVAL, "id: '%s' is not the spec's id=%s", json_string_value(id),
                    spec_id);
    snprintf(out->id, sizeof out->id, "%s", json_string_value(id));
    return 0;
}

int fc_stream_body_parse_create(const char *text, size_t len, fc_stream_body *out, char *err,
                                size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->set = FC_STREAM_SETTINGS_UNSET;
    json_t *doc;
    int rc = load(text, len, &doc, err, errlen);
    if (rc != 0) return rc;
    bool has_source_fields = false;
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (listed(setting_fields, COUNT(setting_fields), key)) {
            if ((rc = setting(key, v, out, err, errlen)) != 0) break;
        } else if (listed(source_fields, COUNT(source_fields), key)) {
            has_source_fields = true;
        } else if (strcmp(key, "id") != 0 && strcmp(key, "spec") != 0) {
            rc = fail(err, errlen, -EINVAL,
                      "unknown field '%.64s' (known: id, spec or the source's fields, encode_fps, "
                      "detect, detect_fps, quality)",
                      key);
            break;
        }
    }
    if (rc == 0) rc = take_spec(doc, out, has_source_fields, err, errlen);
    if (rc == 0) {
        char why[FC_STREAM_SPEC_MAX + 256];
        if (fc_source_spec_parse(out->spec, &out->parsed, why, sizeof why) != 0)
            rc = fail(err, errlen, -EINVAL, "spec: %s", why);
    }
    if (rc == 0) rc = take_id(doc, out, err, errlen);
    json_decref(doc);
    return rc;
}

int fc_stream_body_parse_change(const char *text, size_t len, fc_stream_body *out, char *err,
                                size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->set = FC_STREAM_SETTINGS_UNSET;
    json_t *doc;
    int rc = load(text, len, &doc, err, errlen);
    if (rc != 0) return rc;
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (listed(setting_fields, COUNT(setting_fields), key)) {
            rc = setting(key, v, out, err, errlen);
        } else if (strcmp(key, "id") == 0 || strcmp(key, "spec") == 0 ||
                   listed(source_fields, COUNT(source_fields), key)) {
            rc =
                fail(err, errlen, -EINVAL,
                     "%s: cannot be changed on a running stream (delete it and add it again)", key);
        } else {
            rc = fail(err, errlen, -EINVAL,
                      "unknown field '%.64s' (a change takes encode_fps, detect, detect_fps, "
                      "quality)",
                      key);
        }
        if (rc != 0) break;
    }
    if (rc == 0 && !out->given)
        rc = fail(err, errlen, -EINVAL,
                  "nothing to change: give encode_fps, detect, detect_fps or quality");
    json_decref(doc);
    return rc;
}

void fc_stream_body_apply(const fc_stream_body *change, fc_stream_settings *set)
{
    if (change->given & FC_BODY_ENCODE_FPS) set->encode_fps = change->set.encode_fps;
    if (change->given & FC_BODY_DETECT) set->detect = change->set.detect;
    if (change->given & FC_BODY_DETECT_FPS) set->detect_fps = change->set.detect_fps;
    for (int t = 0; t < FC_TIER_COUNT; t++)
        if (change->given & (FC_BODY_QUALITY << t)) set->quality[t] = change->set.quality[t];
}
