#include "hub/tier.h"

#include <errno.h>
#include <string.h>

const fc_tier_policy fc_tier_default_policy = {
    .down = {15, 30},
    .up = {5, 15},
    .hold_ns = 1000000000ull,
};

static const char *names[FC_TIER_COUNT] = {"high", "medium", "low"};

const char *fc_tier_name(fc_tier t)
{
    return t < FC_TIER_COUNT ? names[t] : "?";
}

int fc_tier_parse(const char *name, fc_tier *out)
{
    for (int i = 0; i < FC_TIER_COUNT; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (fc_tier)i;
            return 0;
        }
    }
    return -EINVAL;
}

fc_tier fc_tier_update(fc_tier_state *st, const fc_tier_policy *p, size_t depth, uint64_t now_ns)
{
    fc_tier pressure = depth > p->down[1]   ? FC_TIER_LOW
                       : depth > p->down[0] ? FC_TIER_MEDIUM
                                            : FC_TIER_HIGH;
    if (pressure > st->tier) {
        st->tier = pressure;
        st->calm_since_ns = 0;
        return st->tier;
    }
    if (st->tier == FC_TIER_HIGH) return st->tier;
    /* up[0] guards medium->high, up[1] guards low->medium. */
    size_t limit = p->up[st->tier - 1];
    if (depth > limit) {
        st->calm_since_ns = 0;
        return st->tier;
    }
    if (st->calm_since_ns == 0) {
        st->calm_since_ns = now_ns ? now_ns : 1;
    } else if (now_ns - st->calm_since_ns >= p->hold_ns) {
        st->tier = (fc_tier)(st->tier - 1);
        st->calm_since_ns = now_ns; /* the next climb needs its own calm spell */
    }
    return st->tier;
}
