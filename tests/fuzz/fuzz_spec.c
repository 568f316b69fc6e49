/* Source specs (--source TYPE:ARGS[,key=value...]) from arbitrary bytes. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sources/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0; /* a command-line argument, not a file */
    char *spec = malloc(size + 1);
    if (!spec) return 0;
    memcpy(spec, data, size);
    spec[size] = 0; /* an argument ends at its first NUL */
    fc_source_spec out;
    char err[512], tiny[8];
    fc_source_spec_parse(spec, &out, err, sizeof err);
    /* Error texts are cut to the buffer, never written past it. */
    fc_source_spec_parse(spec, &out, tiny, sizeof tiny);
    fc_source_spec_parse(spec, &out, NULL, 0);
    free(spec);
    return 0;
}
