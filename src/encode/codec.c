#include "encode/codec.h"

#include <stdio.h>
#include <string.h>

#include "encode/jpeg.h"
#include "encode/vp8.h"
#include "encode/webp.h"

/* Every codec framecast can encode with. Adding one is one line here. */
static const fc_codec_ops *const registry[] = {
    &fc_jpeg_codec,
    &fc_webp_codec,
    &fc_vp8_codec,
};

#define REGISTERED (sizeof registry / sizeof *registry)

const fc_codec_ops *fc_codec_find(const char *name)
{
    for (size_t i = 0; i < REGISTERED; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    return NULL;
}

const fc_codec_ops *fc_codec_by_id(fc_codec id)
{
    for (size_t i = 0; i < REGISTERED; i++)
        if (registry[i]->id == id) return registry[i];
    return NULL;
}

const fc_codec_ops *fc_codec_at(size_t i)
{
    return i < REGISTERED ? registry[i] : NULL;
}

const char *fc_codec_names(void)
{
    /* Built once; the registry is constant. */
    static char names[128];
    if (!names[0]) {
        size_t n = 0;
        for (size_t i = 0; i < REGISTERED && n < sizeof names; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "",
                                  registry[i]->name);
    }
    return names;
}
