/* The fixed wire format of a video frame (see docs/protocol.md):
 *
 *   u32 frame_id | f64 timestamp | u32 payload_length   (big-endian, 16 bytes)
 *
 * followed by payload_length bytes of payload. Byte-compatible with clients
 * that unpack Python struct "!IdI". Pure functions, any thread. */
#ifndef FC_CORE_PROTOCOL_H
#define FC_CORE_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define FC_HEADER_SIZE 16

typedef struct fc_header {
    uint32_t frame_id;
    double timestamp;
    uint32_t payload_len;
} fc_header;

void fc_header_write(uint8_t out[FC_HEADER_SIZE], uint32_t frame_id, double timestamp,
                     uint32_t payload_len);
/* Parses a whole message: returns 0, or -1 when it is shorter than a header,
 * -2 when payload_len disagrees with the bytes that follow. */
int fc_header_read(const uint8_t *msg, size_t len, fc_header *out);

#endif
