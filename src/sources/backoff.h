/* Reconnect timing for a source that lost (or never got) its connection:
 * exponential backoff from 0.5 s doubling to 30 s, with jitter so that many
 * cameras behind one failed switch do not all come back in the same instant,
 * and a reset once a connection has stayed up for a minute (a camera that
 * drops once a day starts again at 0.5 s, one that flaps keeps backing off).
 *
 * Owned by one thread (the source's demux thread); no locking. */
#ifndef FC_SOURCES_BACKOFF_H
#define FC_SOURCES_BACKOFF_H

#include <stdint.h>

#define FC_BACKOFF_MIN_S 0.5
#define FC_BACKOFF_MAX_S 30.0
#define FC_BACKOFF_STABLE_S 60.0
/* The jitter takes up to this share off the nominal delay, never adds to it,
 * so "back within the backoff" holds for the nominal figure. */
#define FC_BACKOFF_JITTER 0.2

typedef struct fc_backoff {
    int attempt;            /* failures since the last reset */
    uint64_t live_since_ns; /* when the current connection went live; 0 = not live */
    uint64_t rng;           /* jitter state */
} fc_backoff;

void fc_backoff_init(fc_backoff *b, uint64_t seed);
/* The connection delivers data now. */
void fc_backoff_live(fc_backoff *b, uint64_t now_ns);
/* The connection failed at now_ns: seconds to wait before the next attempt. */
double fc_backoff_next(fc_backoff *b, uint64_t now_ns);

#endif
