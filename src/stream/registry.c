#include "stream/registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int fc_stream_set_add(fc_stream_set *set, fc_stream *s)
{
    if (fc_stream_set_find(set, fc_stream_id(s))) return -EEXIST;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        fc_stream **v = realloc(set->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        set->v = v;
        set->cap = cap;
    }
    set->v[set->n++] = s;
    return 0;
}

fc_stream *fc_stream_set_find(const fc_stream_set *set, const char *id)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(fc_stream_id(set->v[i]), id) == 0) return set->v[i];
    return NULL;
}

void fc_stream_set_clear(fc_stream_set *set)
{
    free(set->v);
    *set = (fc_stream_set){0};
}
