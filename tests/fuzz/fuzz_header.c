/* The binary frame header (u32 id, f64 time, u32 length, big-endian). */
#include <stdlib.h>
#include <string.h>

#include "core/protocol.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fc_header h;
    if (fc_header_read(data, size, &h) != 0) return 0;
    /* What parses writes back to the same 16 bytes, NaN payloads included. */
    uint8_t again[FC_HEADER_SIZE];
    fc_header_write(again, h.frame_id, h.timestamp, h.payload_len);
    if (memcmp(again, data, FC_HEADER_SIZE) != 0) abort();
    if ((size_t)h.payload_len != size - FC_HEADER_SIZE) abort();
    return 0;
}
