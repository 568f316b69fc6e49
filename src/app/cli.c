#include "app/cli.h"

#include <stdio.h>
#include <stdlib.h>

int fc_cli_bad(const char *cmd, const char *flag, const char *value, const char *why)
{
    fprintf(stderr, "framecast %s: bad %s '%s': %s (see --help)\n", cmd, flag, value, why);
    return 2;
}

int fc_cli_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int fc_cli_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}
