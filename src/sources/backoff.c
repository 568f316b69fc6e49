#include "sources/backoff.h"

void fc_backoff_init(fc_backoff *b, uint64_t seed)
{
    b->attempt = 0;
    b->live_since_ns = 0;
    b->rng = seed | 1;
}

void fc_backoff_live(fc_backoff *b, uint64_t now_ns)
{
    if (b->live_since_ns == 0) b->live_since_ns = now_ns;
}

/* xorshift64*: jitter needs spread, not secrecy. */
static double uniform01(fc_backoff *b)
{
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return (double)((b->rng * 0x2545F4914F6CDD1Dull) >> 11) / (double)(1ull << 53);
}

double fc_backoff_next(fc_backoff *b, uint64_t now_ns)
{
    if (b->live_since_ns != 0 && now_ns - b->live_since_ns >= (uint64_t)(FC_BACKOFF_STABLE_S * 1e9))
        b->attempt = 0;
    b->live_since_ns = 0;
    double d = FC_BACKOFF_MIN_S;
    for (int i = 0; i < b->attempt && d < FC_BACKOFF_MAX_S; i++)
        d *= 2;
    if (d > FC_BACKOFF_MAX_S) d = FC_BACKOFF_MAX_S;
    if (b->attempt < 64) b->attempt++;
    return d * (1.0 - FC_BACKOFF_JITTER * uniform01(b));
}
