#include "core/protocol.h"

#include <string.h>

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void fc_header_write(uint8_t out[FC_HEADER_SIZE], uint32_t frame_id, double timestamp,
                     uint32_t payload_len)
{
    uint64_t bits;
    memcpy(&bits, &timestamp, sizeof bits);
    put_u32(out, frame_id);
    put_u32(out + 4, (uint32_t)(bits >> 32));
    put_u32(out + 8, (uint32_t)bits);
    put_u32(out + 12, payload_len);
}

int fc_header_read(const uint8_t *msg, size_t len, fc_header *out)
{
    if (len < FC_HEADER_SIZE) return -1;
    uint64_t bits = (uint64_t)get_u32(msg + 4) << 32 | get_u32(msg + 8);
    out->frame_id = get_u32(msg);
    memcpy(&out->timestamp, &bits, sizeof bits);
    out->payload_len = get_u32(msg + 12);
    if ((size_t)out->payload_len != len - FC_HEADER_SIZE) return -2;
    return 0;
}
