/* Quality tiers and how an `auto` subscriber moves between them.
 *
 * A subscriber whose queue backs up is sent cheaper frames: past 15 queued
 * frames it drops to medium, past 30 to low, at once. It climbs back one tier
 * only after its queue has stayed short (<= 5 for medium->high, <= 15 for
 * low->medium) for a whole hold time, so a queue hovering near a threshold
 * does not make it flap. Pure functions; any thread. */
#ifndef FC_HUB_TIER_H
#define FC_HUB_TIER_H

#include <stddef.h>
#include <stdint.h>

typedef enum { FC_TIER_HIGH = 0, FC_TIER_MEDIUM = 1, FC_TIER_LOW = 2, FC_TIER_COUNT = 3 } fc_tier;

const char *fc_tier_name(fc_tier t);
/* "high", "medium", "low"; returns 0 or -EINVAL. */
int fc_tier_parse(const char *name, fc_tier *out);

typedef struct fc_tier_policy {
    size_t down[2];   /* depth above which to fall to medium, to low: 15, 30 */
    size_t up[2];     /* depth at or below which to climb to high, to medium: 5, 15 */
    uint64_t hold_ns; /* how long the queue must stay short before a climb: 1 s */
} fc_tier_policy;

extern const fc_tier_policy fc_tier_default_policy;

typedef struct fc_tier_state {
    fc_tier tier;
    uint64_t calm_since_ns; /* 0 = queue not short right now */
} fc_tier_state;

/* Feeds one observation of queue depth at time now; returns the tier to use. */
fc_tier fc_tier_update(fc_tier_state *st, const fc_tier_policy *p, size_t depth, uint64_t now_ns);

#endif
