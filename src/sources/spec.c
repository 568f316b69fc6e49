#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/source.h"
#include "sources/synthetic.h"

int fc_size_parse(const char *v, int *w, int *h)
{
    char *end;
    long a = strtol(v, &end, 10);
    if (end == v || (*end != 'x' && *end != 'X'))
        return -1;
    const char *p = end + 1;
    long b = strtol(p, &end, 10);
    if (end == p || *end)
        return -1;
    if (a < 16 || b < 16 || a > 7680 || b > 4320 || (a & 1) || (b & 1))
        return -1;
    *w = (int)a;
    *h = (int)b;
    return 0;
}

static int parse_rate(const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d > 0) || d > 240)
        return -1;
    *out = d;
    return 0;
}

static int copy_value(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= cap)
        return -1;
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

int fc_source_spec_parse(const char *spec, fc_source_spec *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->detect = -1;
    const char *colon = strchr(spec, ':');
    if (!colon || colon == spec) {
        snprintf(err, errlen, "source spec '%s': expected TYPE:ARGS, e.g. synthetic:procedural",
                 spec);
        return -1;
    }
    size_t tlen = (size_t)(colon - spec);
    if (tlen >= sizeof out->type) {
        snprintf(err, errlen, "source spec '%s': unknown source type", spec);
        return -1;
    }
    memcpy(out->type, spec, tlen);
    if (strcmp(out->type, "synthetic") != 0) {
        snprintf(err, errlen, "source spec '%s': unknown source type '%s' (known: synthetic)",
                 spec, out->type);
        return -1;
    }

    char *args = strdup(colon + 1);
    if (!args) {
        snprintf(err, errlen, "source spec '%s': out of memory", spec);
        return -1;
    }
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
        if (strcmp(key, "procedural") == 0 && !val) {
            strcpy(out->mode, "procedural");
        } else if (strcmp(key, "image") == 0 && val) {
            strcpy(out->mode, "image");
            if (copy_value(out->path, sizeof out->path, val) != 0) {
                snprintf(err, errlen, "source spec '%s': image path is empty or too long", spec);
                rc = -1;
            }
        } else if (strcmp(key, "id") == 0 && val) {
            if (copy_value(out->id, sizeof out->id, val) != 0 || !fc_source_id_valid(out->id)) {
                snprintf(err, errlen,
                         "source spec '%s': id '%s' must be 1-63 characters of A-Z a-z 0-9 . - _",
                         spec, val);
                rc = -1;
            }
        } else if (strcmp(key, "size") == 0 && val) {
            if (fc_size_parse(val, &out->width, &out->height) != 0) {
                snprintf(err, errlen,
                         "source spec '%s': size '%s' must be WxH, even, 16x16 to 7680x4320",
                         spec, val);
                rc = -1;
            }
        } else if (strcmp(key, "fps") == 0 && val) {
            if (parse_rate(val, &out->fps) != 0) {
                snprintf(err, errlen, "source spec '%s': fps '%s' must be in (0, 240]", spec, val);
                rc = -1;
            }
        } else if (strcmp(key, "encode_fps") == 0 && val) {
            if (parse_rate(val, &out->encode_fps) != 0) {
                snprintf(err, errlen, "source spec '%s': encode_fps '%s' must be in (0, 240]",
                         spec, val);
                rc = -1;
            }
        } else if (strcmp(key, "detect") == 0) {
            if (!val || strcmp(val, "on") == 0) {
                out->detect = 1;
            } else if (strcmp(val, "off") == 0) {
                out->detect = 0;
            } else if (parse_rate(val, &out->detect_fps) == 0) {
                out->detect = 1;
            } else {
                snprintf(err, errlen,
                         "source spec '%s': detect '%s' must be on, off or a rate in (0, 240]",
                         spec, val);
                rc = -1;
            }
        } else if (strcmp(key, "motion") == 0 && val) {
            if (strcmp(val, "0") != 0 && strcmp(val, "1") != 0) {
                snprintf(err, errlen, "source spec '%s': motion '%s' must be 0 or 1", spec, val);
                rc = -1;
            }
            out->still = strcmp(val, "0") == 0;
        } else {
            snprintf(err, errlen, "source spec '%s': unknown option '%s%s'", spec, key,
                     val ? "=..." : "");
            rc = -1;
        }
    }
    free(args);
    if (rc == 0 && !out->mode[0]) {
        snprintf(err, errlen, "source spec '%s': say procedural or image=PATH", spec);
        rc = -1;
    }
    if (rc == 0 && out->still && strcmp(out->mode, "image") != 0) {
        snprintf(err, errlen, "source spec '%s': motion=0 needs image=PATH", spec);
        rc = -1;
    }
    return rc;
}

int fc_source_create(const fc_source_spec *spec, int width, int height, double fps,
                     fc_source **out, char *err, size_t errlen)
{
    /* Only synthetic exists so far; spec parsing already refused the rest. */
    return fc_synthetic_create(spec, width, height, fps, out, err, errlen);
}

void fc_source_destroy(fc_source *src)
{
    if (src)
        src->ops->destroy(src);
}
