#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/protocol.h"

/* The vector from docs/protocol.md: frame_id=7, timestamp=1.5, length=3. */
static void header_vector(void **state)
{
    (void)state;
    static const uint8_t want[16] = {0x00, 0x00, 0x00, 0x07, 0x3F, 0xF8, 0x00, 0x00,
                                     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03};
    uint8_t got[16];
    fc_header_write(got, 7, 1.5, 3);
    assert_memory_equal(got, want, 16);
}

static void header_roundtrip(void **state)
{
    (void)state;
    uint8_t msg[16 + 5] = {0};
    fc_header_write(msg, 0xdeadbeef, 1763724000.123456, 5);
    fc_header h;
    assert_int_equal(fc_header_read(msg, sizeof msg, &h), 0);
    assert_int_equal(h.frame_id, 0xdeadbeef);
    assert_true(h.timestamp == 1763724000.123456);
    assert_int_equal(h.payload_len, 5);
}

static void header_rejects_bad_lengths(void **state)
{
    (void)state;
    uint8_t msg[16 + 4] = {0};
    fc_header h;
    assert_int_equal(fc_header_read(msg, 15, &h), -1);
    fc_header_write(msg, 1, 0.0, 5); /* says 5, carries 4 */
    assert_int_equal(fc_header_read(msg, sizeof msg, &h), -2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_vector),
        cmocka_unit_test(header_roundtrip),
        cmocka_unit_test(header_rejects_bad_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
