/* Generators for avatar sessions: the built-in puppet and plugins loaded with
 * dlopen (see include/framecast/generator.h for the ABI they implement).
 *
 * Loading happens once at start-up on the main thread; the returned table is
 * immutable and shared by every session. */
#ifndef FC_AVATAR_GENERATOR_H
#define FC_AVATAR_GENERATOR_H

#include <stdbool.h>
#include <stddef.h>

#include "framecast/generator.h"

/* The built-in generator: animates the source picture from the audio. */
const fc_generator *fc_puppet_generator(void);

typedef struct fc_generator_lib {
    const fc_generator *gen;
    void *handle; /* dlopen handle, NULL for the built-in one */
} fc_generator_lib;

/* path NULL = the built-in puppet. Refuses a plugin built for another ABI
 * version or missing a required function, with err saying which. */
int fc_generator_load(const char *path, fc_generator_lib *out, char *err, size_t errlen);
void fc_generator_unload(fc_generator_lib *lib);

/* True when the plugin's table is new enough to have render_i420 and sets it. */
bool fc_generator_has_i420(const fc_generator *g);

#endif
