#include "transport/stream_query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest key or value looked at; longer ones are quoted shortened. */
#define PART_MAX 256

static int apply(const char *key, const char *val, fc_stream_query *q, char *err, size_t errlen)
{
    if (strcmp(key, "quality") == 0) {
        if (strcmp(val, "auto") == 0) {
            q->sub.auto_tier = true;
        } else if (fc_tier_parse(val, &q->sub.tier) == 0) {
            q->sub.auto_tier = false;
        } else {
            snprintf(err, errlen, "bad quality '%.64s': use auto, high, medium or low", val);
            return -EINVAL;
        }
    } else if (strcmp(key, "queue") == 0) {
        char *end;
        long n = strtol(val, &end, 10);
        if (!*val || *end || n < 1 || n > FC_QUEUE_MAX) {
            snprintf(err, errlen, "bad queue '%.64s': a whole number from 1 to %d", val,
                     FC_QUEUE_MAX);
            return -EINVAL;
        }
        q->sub.queue = (size_t)n;
    } else if (strcmp(key, "view") == 0) {
        if (fc_view_parse(val, &q->view) != 0) {
            snprintf(err, errlen, "bad view '%.64s': use full or ptz", val);
            return -EINVAL;
        }
    } else if (strcmp(key, "codec") == 0) {
        q->h264 = strcmp(val, FC_STREAM_QUERY_H264) == 0;
        q->codec = q->h264 ? NULL : fc_codec_find(val);
        if (!q->codec && !q->h264) {
            snprintf(err, errlen, "bad codec '%.64s': use %s or %s", val, fc_codec_names(),
                     FC_STREAM_QUERY_H264);
            return -EINVAL;
        }
    } else if (strcmp(key, "token") == 0 || strcmp(key, "key") == 0) {
        /* Credentials: the auth guard reads them (auth/guard.h). */
    } else {
        snprintf(err, errlen,
                 "unknown option '%.64s' (known: quality, queue, view, codec, token, key)", key);
        return -EINVAL;
    }
    return 0;
}

int fc_stream_query_parse(const char *query, size_t len, size_t default_queue, fc_stream_query *out,
                          char *err, size_t errlen)
{
    *out = (fc_stream_query){
        .sub = {.auto_tier = true, .tier = FC_TIER_HIGH, .queue = default_queue},
        .view = FC_VIEW_FULL,
    };
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && query[end] != '&')
            end++;
        if (end > i) {
            /* One pair, NUL-terminated and split at its first '='. */
            char pair[2 * PART_MAX + 2];
            size_t n = end - i;
            if (n > sizeof pair - 1) {
                snprintf(err, errlen, "bad query: an option longer than %zu bytes",
                         sizeof pair - 1);
                return -EINVAL;
            }
            memcpy(pair, query + i, n);
            pair[n] = '\0';
            if (strlen(pair) != n) {
                snprintf(err, errlen, "bad query: a NUL byte in an option");
                return -EINVAL;
            }
            char *eq = strchr(pair, '=');
            const char *val = eq ? eq + 1 : "";
            if (eq) *eq = '\0';
            int rc = apply(pair, val, out, err, errlen);
            if (rc != 0) return rc;
        }
        i = end + 1;
    }
    return 0;
}
