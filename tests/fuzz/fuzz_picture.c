/* Picture decode (PNG, JPEG, WebP, told apart by content) through image.c,
 * from a descriptor as the media directory hands them over. */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "sources/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A cap well under the default keeps each run quick; the checks are the
     * same at any cap. */
    fc_image_set_max_pixels(1u << 20);
    int fd = memfd_create("picture", MFD_CLOEXEC);
    if (fd < 0) abort();
    if (size && write(fd, data, size) != (ssize_t)size) abort();
    lseek(fd, 0, SEEK_SET);
    uint8_t *rgb;
    int w, h;
    char err[512];
    if (fc_image_load_rgb_fd(fd, "fuzz", &rgb, &w, &h, err, sizeof err) == 0) {
        if (w < 1 || h < 1 || (uint64_t)w * (uint64_t)h > (1u << 20)) abort();
        /* Every byte of the result was written: touch the last one. */
        volatile uint8_t last = rgb[(size_t)w * (size_t)h * 3 - 1];
        (void)last;
        free(rgb);
    }
    close(fd);
    return 0;
}
