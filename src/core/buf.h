/* fc_buf: a growable byte buffer for building text (metrics, JSON bodies).
 * Owned by one thread at a time. On allocation failure it stops growing and
 * remembers the failure; check `failed` before using the bytes. */
#ifndef FC_CORE_BUF_H
#define FC_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct fc_buf {
    char *data;
    size_t len, cap;
    bool failed;
} fc_buf;

void fc_buf_printf(fc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fc_buf_append(fc_buf *b, const char *s, size_t n);
void fc_buf_free(fc_buf *b);

#endif
