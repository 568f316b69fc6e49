#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/av_source.h"
#include "sources/failed.h"
#include "sources/redact.h"
#include "sources/source.h"
#include "sources/synthetic.h"

int fc_size_parse(const char *v, int *w, int *h)
{
    char *end;
    long a = strtol(v, &end, 10);
    if (end == v || (*end != 'x' && *end != 'X')) return -1;
    const char *p = end + 1;
    long b = strtol(p, &end, 10);
    if (end == p || *end) return -1;
    if (a < 16 || b < 16 || a > 7680 || b > 4320 || (a & 1) || (b & 1)) return -1;
    *w = (int)a;
    *h = (int)b;
    return 0;
}

static int parse_double(const char *v, double lo, double hi, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d > lo) || d > hi) return -1;
    *out = d;
    return 0;
}

static int parse_rate(const char *v, double *out)
{
    return parse_double(v, 0, 240, out);
}

static int copy_value(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= cap) return -1;
    memcpy(dst, v, n + 1);
    return 0;
}

int fc_source_id_valid(const char *id)
{
    size_t n = strnlen(id, FC_ID_MAX);
    if (n == 0 || n >= FC_ID_MAX) return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

static bool is_type(const fc_source_spec *s, const char *t)
{
    return strcmp(s->type, t) == 0;
}

static bool is_rtsp(const fc_source_spec *s)
{
    return is_type(s, "rtsp") || is_type(s, "rtsps");
}

bool fc_source_type_known(const char *type)
{
    static const char *const known[] = {"synthetic", "file", "rtsp", "rtsps", "v4l2"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(type, known[i]) == 0) return true;
    return false;
}

/* A parse in progress: the spec as the user may see it (credentials
 * redacted) for every message. */
typedef struct parser {
    fc_source_spec *out;
    char shown[FC_SPEC_PATH_MAX + 256];
    char *err;
    size_t errlen;
    bool unknown; /* a type this build does not have */
} parser;

static int fail(parser *p, const char *fmt, const char *a, const char *b)
{
    if (!p->err) return -1;
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    snprintf(p->err, p->errlen, "source spec '%s': %s", p->shown, msg);
    return -1;
}

/* The keys every type understands. 1 = handled, 0 = not one of them, -1 = bad value. */
static int common_key(parser *p, const char *key, const char *val)
{
    fc_source_spec *o = p->out;
    if (strcmp(key, "id") == 0 && val) {
        if (copy_value(o->id, sizeof o->id, val) != 0 || !fc_source_id_valid(o->id))
            return fail(p, "id '%s' must be 1-63 characters of A-Z a-z 0-9 . - _", val, NULL);
    } else if (strcmp(key, "size") == 0 && val) {
        if (fc_size_parse(val, &o->width, &o->height) != 0)
            return fail(p, "size '%s' must be WxH, even, 16x16 to 7680x4320", val, NULL);
    } else if (strcmp(key, "fps") == 0 && val) {
        if (parse_rate(val, &o->fps) != 0)
            return fail(p, "fps '%s' must be in (0, 240]", val, NULL);
    } else if (strcmp(key, "encode_fps") == 0 && val) {
        if (parse_rate(val, &o->encode_fps) != 0)
            return fail(p, "encode_fps '%s' must be in (0, 240]", val, NULL);
    } else if (strcmp(key, "detect") == 0) {
        if (!val || strcmp(val, "on") == 0) {
            o->detect = 1;
        } else if (strcmp(val, "off") == 0) {
            o->detect = 0;
        } else if (parse_rate(val, &o->detect_fps) == 0) {
            o->detect = 1;
        } else {
            return fail(p, "detect '%s' must be on, off or a rate in (0, 240]", val, NULL);
        }
    } else {
        return 0;
    }
    return 1;
}

/* Keys of one type. Same returns as common_key. */
static int type_key(parser *p, const char *key, const char *val)
{
    fc_source_spec *o = p->out;
    if (is_type(o, "synthetic")) {
        if (strcmp(key, "procedural") == 0 && !val) {
            strcpy(o->mode, "procedural");
        } else if ((strcmp(key, "image") == 0 || strcmp(key, "video") == 0) && val) {
            strcpy(o->mode, key);
            if (copy_value(o->path, sizeof o->path, val) != 0)
                return fail(p, "%s path is empty or too long", key, NULL);
        } else if (strcmp(key, "motion") == 0 && val) {
            if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)
                return fail(p, "motion '%s' must be 0 or 1", val, NULL);
            o->still = strcmp(val, "0") == 0;
        } else {
            return 0;
        }
    } else if (is_type(o, "file") && strcmp(key, "loop") == 0 && !val) {
        o->loop = true;
    } else if (is_rtsp(o) && strcmp(key, "transport") == 0 && val) {
        if (strcmp(val, "tcp") != 0 && strcmp(val, "udp") != 0)
            return fail(p, "transport '%s' must be tcp or udp", val, NULL);
        o->transport = strcmp(val, "udp") == 0 ? FC_TRANSPORT_UDP : FC_TRANSPORT_TCP;
    } else if (is_rtsp(o) && strcmp(key, "timeout") == 0 && val) {
        if (parse_double(val, 0, 300, &o->timeout) != 0 || o->timeout < 0.1)
            return fail(p, "timeout '%s' must be seconds in [0.1, 300]", val, NULL);
    } else if (is_type(o, "v4l2") && strcmp(key, "input_format") == 0 && val) {
        if (strcmp(val, "mjpeg") != 0 && strcmp(val, "yuyv422") != 0)
            return fail(p, "input_format '%s' must be mjpeg or yuyv422", val, NULL);
        strcpy(o->input_format, val);
    } else {
        return 0;
    }
    return 1;
}

/* TYPE and, for the types whose first argument is a path or URL, that
 * argument (up to the first comma). Returns where the options start. */
static const char *parse_head(parser *p, const char *spec)
{
    fc_source_spec *o = p->out;
    const char *colon = strchr(spec, ':');
    if (!colon || colon == spec) {
        fail(p, "expected TYPE:ARGS, e.g. synthetic:procedural", NULL, NULL);
        return NULL;
    }
    size_t tlen = (size_t)(colon - spec);
    /* Longer than any type we know: kept cut short, for the message. */
    memcpy(o->type, spec, tlen < sizeof o->type ? tlen : sizeof o->type - 1);
    if (is_type(o, "synthetic")) return colon + 1;
    if (!fc_source_type_known(o->type)) {
        /* Not a syntax error: the stream exists and says what is wrong. Its
         * options are read only for id=. */
        p->unknown = true;
        fail(p, "unknown source type '%s' (known: synthetic, file, rtsp, rtsps, v4l2)", o->type,
             NULL);
        const char *comma = strchr(colon, ',');
        return comma ? comma + 1 : colon + strlen(colon);
    }
    /* A URL is given whole ("rtsp://host/x"); the others drop "TYPE:". */
    const char *arg = is_rtsp(o) ? spec : colon + 1;
    size_t n = strcspn(arg, ",");
    if (is_rtsp(o) && (strncmp(colon, "://", 3) != 0 || n <= tlen + 3)) {
        fail(p, "%s sources are URLs: %s://[user:password@]host[:port]/path", o->type, o->type);
        return NULL;
    }
    if (n == 0 || n >= sizeof o->path) {
        fail(p, "%s path is empty or too long", o->type, NULL);
        return NULL;
    }
    if (is_type(o, "v4l2") && arg[0] != '/') {
        fail(p, "v4l2 wants a device path, e.g. v4l2:/dev/video0", NULL, NULL);
        return NULL;
    }
    memcpy(o->path, arg, n);
    o->path[n] = '\0';
    return arg + n + (arg[n] == ',' ? 1 : 0);
}

static int check_whole(parser *p)
{
    fc_source_spec *o = p->out;
    if (is_type(o, "synthetic")) {
        if (!o->mode[0]) return fail(p, "say procedural, image=PATH or video=PATH", NULL, NULL);
        if (o->still && strcmp(o->mode, "procedural") == 0)
            return fail(p, "motion=0 needs image=PATH or video=PATH", NULL, NULL);
    }
    return 0;
}

int fc_source_spec_parse(const char *spec, fc_source_spec *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->detect = -1;
    parser p = {.out = out, .err = err, .errlen = errlen};
    fc_redact(spec, p.shown, sizeof p.shown);
    const char *opts = parse_head(&p, spec);
    if (!opts) return -1;
    if (p.unknown)
        snprintf(out->path, sizeof out->path, "%.*s", (int)sizeof out->path - 1, p.shown);
    char *args = strdup(opts);
    if (!args) return fail(&p, "out of memory", NULL, NULL);
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(args, ",", &save); item && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        const char *key = item, *val = NULL;
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        }
        if (p.unknown) {
            if (strcmp(key, "id") == 0 && val && copy_value(out->id, sizeof out->id, val) == 0 &&
                !fc_source_id_valid(out->id))
                out->id[0] = '\0';
            continue;
        }
        int r = common_key(&p, key, val);
        if (r == 0) r = type_key(&p, key, val);
        if (r == 0) {
            char shown_key[128];
            fc_redact(key, shown_key, sizeof shown_key);
            r = fail(&p, "unknown option '%s%s'", shown_key, val ? "=..." : "");
        }
        rc = r < 0 ? -1 : 0;
    }
    free(args);
    if (p.unknown) return FC_SPEC_UNKNOWN_TYPE;
    return rc == 0 ? check_whole(&p) : rc;
}

bool fc_source_spec_pushes(const fc_source_spec *spec)
{
    return !is_type(spec, "synthetic") || strcmp(spec->mode, "video") == 0;
}

const char *fc_source_state_name(fc_source_state state)
{
    static const char *names[] = {"idle", "connecting", "live", "retrying", "ended", "failed"};
    return (unsigned)state < sizeof names / sizeof *names ? names[state] : "unknown";
}

int fc_source_create(const fc_source_spec *spec, int width, int height, double fps, fc_source **out,
                     char *err, size_t errlen)
{
    if (!fc_source_type_known(spec->type)) {
        char why[FC_ID_MAX + 96];
        snprintf(why, sizeof why,
                 "unknown source type '%s' (known: synthetic, file, rtsp, rtsps, v4l2)",
                 spec->type);
        return fc_failed_source_create(spec->path, why, out, err, errlen);
    }
    if (fc_source_spec_pushes(spec))
        return fc_av_source_create(spec, width, height, fps, out, err, errlen) == 0 ? 0 : -1;
    return fc_synthetic_create(spec, width, height, fps, out, err, errlen);
}

void fc_source_destroy(fc_source *src)
{
    if (src) src->ops->destroy(src);
}
