/* What a stored stream row must satisfy, said once for the store and for the
 * API that answers 400 naming the field (the file's CHECK constraints in
 * schema.c repeat the ranges, so a row edited by hand is refused too). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"

static int rate_ok(double v)
{
    return v == 0 || (v > 0 && v <= 240);
}

static int check_settings(const fc_store_stream *row, char *err, size_t errlen)
{
    if (!rate_ok(row->encode_fps)) {
        snprintf(err, errlen, "encode_fps %g must be in (0, 240]", row->encode_fps);
        return -EINVAL;
    }
    if (row->detect < -1 || row->detect > 1) {
        snprintf(err, errlen, "detect %d must be 0 (off), 1 (on) or -1 (not set)", row->detect);
        return -EINVAL;
    }
    if (!rate_ok(row->detect_fps)) {
        snprintf(err, errlen, "detect_fps %g must be in (0, 240]", row->detect_fps);
        return -EINVAL;
    }
    for (int t = 0; t < FC_TIER_COUNT; t++)
        if (row->quality[t] < 0 || row->quality[t] > 100) {
            snprintf(err, errlen, "quality.%s %d must be 1-100", fc_tier_name((fc_tier)t),
                     row->quality[t]);
            return -EINVAL;
        }
    return 0;
}

int fc_store_row_check(fc_store_op op, const fc_store_stream *row, char *err, size_t errlen)
{
    if (!fc_source_id_valid(row->id)) {
        snprintf(err, errlen, "id '%.*s' must be 1-63 characters of A-Z a-z 0-9 . - _", FC_ID_MAX,
                 row->id);
        return -EINVAL;
    }
    if (op == FC_STORE_DELETE) return 0;
    if (op == FC_STORE_INSERT) {
        if (strnlen(row->spec, FC_STORE_SPEC_MAX) >= FC_STORE_SPEC_MAX) {
            snprintf(err, errlen, "spec is longer than %d bytes", FC_STORE_SPEC_MAX - 1);
            return -EINVAL;
        }
        fc_source_spec spec;
        char why[FC_STORE_SPEC_MAX + 128];
        if (fc_source_spec_parse(row->spec, &spec, why, sizeof why) != 0) {
            snprintf(err, errlen, "spec: %s", why);
            return -EINVAL;
        }
        if (spec.id[0] && strcmp(spec.id, row->id) != 0) {
            snprintf(err, errlen, "spec: its id=%s is not the stream's id '%s'", spec.id, row->id);
            return -EINVAL;
        }
    }
    return check_settings(row, err, errlen);
}
