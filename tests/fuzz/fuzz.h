/* The libFuzzer entry point every harness defines. Under `make fuzz` clang's
 * libFuzzer drives it; in the ordinary build standalone.c does, replaying the
 * corpus in tests/fuzz/corpus/NAME (the seeds and every input that ever
 * crashed) as a `make test` regression test. */
#ifndef FC_TESTS_FUZZ_H
#define FC_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
