#include "sources/redact.h"

#include <string.h>

/* Where a URL's authority ends: the path, query or fragment starts, or the
 * text around the URL goes on (a spec's next option, a quote, a space). */
static size_t authority_len(const char *p)
{
    return strcspn(p, "/?#,;'\" \t\r\n");
}

char *fc_redact(const char *in, char *out, size_t outlen)
{
    if (outlen == 0) return out;
    size_t o = 0;
    const char *p = in;
    while (*p && o + 1 < outlen) {
        const char *scheme_end = strstr(p, "://");
        const char *copy_to = scheme_end ? scheme_end + 3 : p + strlen(p);
        while (p < copy_to && o + 1 < outlen)
            out[o++] = *p++;
        if (!scheme_end || p < copy_to) break;
        size_t alen = authority_len(p);
        const char *at = NULL;
        for (size_t i = 0; i < alen; i++)
            if (p[i] == '@') at = p + i; /* the last '@': a password may hold one */
        if (at) {
            for (const char *s = "***"; *s && o + 1 < outlen; s++)
                out[o++] = *s;
            p = at;
        }
    }
    out[o] = '\0';
    return out;
}
