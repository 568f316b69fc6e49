#include "avatar/generator.h"

#include <errno.h>
#include <dlfcn.h>
#include <stdio.h>

/* Members every plugin of this ABI version has, in table order. */
#define FC_GENERATOR_MIN_SIZE (offsetof(fc_generator, close) + sizeof(void *))

bool fc_generator_has_i420(const fc_generator *g)
{
    return g->struct_size >= offsetof(fc_generator, render_i420) + sizeof(void *) &&
           g->render_i420 != NULL;
}

int fc_generator_load(const char *path, fc_generator_lib *out, char *err, size_t errlen)
{
    out->gen = NULL;
    out->handle = NULL;
    if (!path) {
        out->gen = fc_puppet_generator();
        return 0;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "generator %s: cannot load: %s", path, dlerror());
        return -ENOENT;
    }
    fc_generator_entry_fn entry;
    /* POSIX's sanctioned way from void * to a function pointer. */
    *(void **)&entry = dlsym(h, FC_GENERATOR_ENTRY);
    const fc_generator *g = entry ? entry() : NULL;
    if (!g) {
        snprintf(err, errlen, "generator %s: no %s() returning a generator table", path,
                 FC_GENERATOR_ENTRY);
    } else if (g->abi_version != FC_GENERATOR_ABI_VERSION) {
        snprintf(err, errlen,
                 "generator %s: built for generator ABI version %u, this framecast speaks "
                 "version %u: rebuild it against include/framecast/generator.h",
                 path, g->abi_version, FC_GENERATOR_ABI_VERSION);
        g = NULL;
    } else if (g->struct_size < FC_GENERATOR_MIN_SIZE) {
        snprintf(err, errlen, "generator %s: table is %u bytes, at least %zu expected", path,
                 g->struct_size, (size_t)FC_GENERATOR_MIN_SIZE);
        g = NULL;
    } else if (!g->name || !g->open || !g->push_audio || !g->render_rgb || !g->close) {
        snprintf(err, errlen,
                 "generator %s: name, open, push_audio, render_rgb and close are "
                 "required",
                 path);
        g = NULL;
    }
    if (!g) {
        dlclose(h);
        return -EINVAL;
    }
    out->gen = g;
    out->handle = h;
    return 0;
}

void fc_generator_unload(fc_generator_lib *lib)
{
    if (lib->handle) dlclose(lib->handle);
    lib->handle = NULL;
    lib->gen = NULL;
}
