/* Text that goes back to a client must be valid UTF-8: a WebSocket close
 * reason that is not fails the whole connection in a browser (it never sees
 * the code), and jansson refuses to put such a string into JSON at all.
 * Client bytes end up in both (a path, a query option, a field name), so
 * every such text passes through here first.
 *
 * A pure function over bytes: no lws, no loop, any thread. */
#ifndef FC_TRANSPORT_UTF8_H
#define FC_TRANSPORT_UTF8_H

#include <stddef.h>

/* Copies `src` (srclen bytes, NULs included) into dst as valid UTF-8: every
 * byte that does not begin a well-formed sequence (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF) becomes the four characters "\xNN", and
 * a NUL becomes "\x00". The copy stops before what would not fit in dstlen - 1
 * bytes, always between two characters (never inside a sequence or an
 * escape), and is NUL-terminated. Returns its length. dstlen 0 writes
 * nothing. */
size_t fc_utf8_clean(char *dst, size_t dstlen, const char *src, size_t srclen);

#endif
