/* Picture loading under hostile input: the total-pixel cap is checked from the
 * header before anything is decoded, damaged data is an error, and a picture
 * is read from the descriptor it was opened as. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <turbojpeg.h>
#include <webp/encode.h>
#include <zlib.h>

#include "sources/image.h"

/* A memory file holding `len` bytes, positioned at its start. */
static int memfile(const void *data, size_t len)
{
    int fd = memfd_create("picture", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

static int load(const void *data, size_t len, uint8_t **rgb, int *w, int *h, char *err,
                size_t errlen)
{
    int fd = memfile(data, len);
    int rc = fc_image_load_rgb_fd(fd, "pic", rgb, w, h, err, errlen);
    close(fd);
    return rc;
}

/* A real JPEG of a noisy w x h picture (noise so every block has data). */
static uint8_t *make_jpeg(int w, int h, unsigned long *len)
{
    uint8_t *px = malloc((size_t)w * h * 3);
    assert_non_null(px);
    for (int i = 0; i < w * h * 3; i++)
        px[i] = (uint8_t)((i * 2654435761u) >> 24);
    tjhandle tj = tjInitCompress();
    uint8_t *jpg = NULL;
    *len = 0;
    assert_int_equal(tjCompress2(tj, px, w, w * 3, h, TJPF_RGB, &jpg, len, TJSAMP_420, 90, 0), 0);
    tjDestroy(tj);
    free(px);
    return jpg;
}

static void jpeg_claiming_16384_squared_is_refused_from_its_header(void **state)
{
    (void)state;
    fc_image_set_max_pixels(FC_IMAGE_MAX_PIXELS_DEFAULT);
    unsigned long len;
    uint8_t *jpg = make_jpeg(16, 16, &len);
    /* SOF0: FF C0, length, precision, height, width (big-endian). */
    size_t sof = 0;
    for (size_t i = 2; i + 9 < len; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) {
            sof = i;
            break;
        }
    assert_true(sof > 0);
    jpg[sof + 5] = 0x40, jpg[sof + 6] = 0x00; /* height 16384 */
    jpg[sof + 7] = 0x40, jpg[sof + 8] = 0x00; /* width 16384 */
    uint8_t *rgb = NULL;
    int w, h;
    char err[512] = "";
    assert_int_equal(load(jpg, len, &rgb, &w, &h, err, sizeof err), -E2BIG);
    assert_null(rgb);
    if (!strstr(err, "16384x16384") || !strstr(err, "--max-picture-pixels"))
        fail_msg("error does not name the size and the cap: %s", err);
    tjFree(jpg);
}

static void png_append_chunk(uint8_t **buf, size_t *len, const char *type, const uint8_t *data,
                             uint32_t n)
{
    *buf = realloc(*buf, *len + 12 + n);
    uint8_t *p = *buf + *len;
    p[0] = (uint8_t)(n >> 24), p[1] = (uint8_t)(n >> 16), p[2] = (uint8_t)(n >> 8),
    p[3] = (uint8_t)n;
    memcpy(p + 4, type, 4);
    if (n) memcpy(p + 8, data, n);
    uint32_t crc = (uint32_t)crc32(crc32(0, NULL, 0), p + 4, 4 + n);
    p[8 + n] = (uint8_t)(crc >> 24), p[9 + n] = (uint8_t)(crc >> 16),
          p[10 + n] = (uint8_t)(crc >> 8), p[11 + n] = (uint8_t)crc;
    *len += 12 + n;
}

/* A valid, black, 1-bit grey PNG of side x side: tens of kilobytes on disk,
 * side * side * 3 bytes once decoded to RGB. */
static uint8_t *make_bilevel_png(uint32_t side, size_t *len)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t *buf = malloc(8);
    memcpy(buf, sig, 8);
    *len = 8;
    uint8_t ihdr[13] = {(uint8_t)(side >> 24),
                        (uint8_t)(side >> 16),
                        (uint8_t)(side >> 8),
                        (uint8_t)side,
                        (uint8_t)(side >> 24),
                        (uint8_t)(side >> 16),
                        (uint8_t)(side >> 8),
                        (uint8_t)side,
                        1 /* bit depth */,
                        0 /* grey */,
                        0,
                        0,
                        0};
    png_append_chunk(&buf, len, "IHDR", ihdr, sizeof ihdr);
    size_t row = 1 + (side + 7) / 8; /* filter byte, then the bits */
    uint8_t *zero = calloc(1, row);
    z_stream z = {0};
    assert_int_equal(deflateInit(&z, 9), Z_OK);
    size_t cap = row * side / 500 + 4096, used = 0;
    uint8_t *idat = malloc(cap);
    for (uint32_t y = 0; y < side; y++) {
        z.next_in = zero;
        z.avail_in = (uInt)row;
        while (z.avail_in) {
            z.next_out = idat + used;
            z.avail_out = (uInt)(cap - used);
            assert_int_equal(deflate(&z, Z_NO_FLUSH), Z_OK);
            used = cap - z.avail_out;
            if (used == cap) idat = realloc(idat, cap *= 2);
        }
    }
    int zr;
    do {
        if (used == cap) idat = realloc(idat, cap *= 2);
        z.next_out = idat + used;
        z.avail_out = (uInt)(cap - used);
        zr = deflate(&z, Z_FINISH);
        used = cap - z.avail_out;
    } while (zr == Z_OK);
    assert_int_equal(zr, Z_STREAM_END);
    deflateEnd(&z);
    png_append_chunk(&buf, len, "IDAT", idat, (uint32_t)used);
    png_append_chunk(&buf, len, "IEND", NULL, 0);
    free(idat);
    free(zero);
    return buf;
}

static void png_of_16384_squared_is_refused_from_its_header(void **state)
{
    (void)state;
    fc_image_set_max_pixels(FC_IMAGE_MAX_PIXELS_DEFAULT);
    size_t len;
    uint8_t *png = make_bilevel_png(16384, &len);
    assert_true(len < 1 << 20); /* a small file that would decode to 805 MB */
    uint8_t *rgb = NULL;
    int w, h;
    char err[512] = "";
    assert_int_equal(load(png, len, &rgb, &w, &h, err, sizeof err), -E2BIG);
    assert_null(rgb);
    assert_non_null(strstr(err, "268435456 pixels"));
    free(png);
}

static void webp_over_the_cap_is_refused_from_its_header(void **state)
{
    (void)state;
    fc_image_set_max_pixels(FC_IMAGE_MAX_PIXELS_DEFAULT);
    uint8_t px[16 * 16 * 3] = {0};
    uint8_t *webp = NULL;
    size_t len = WebPEncodeLosslessRGB(px, 16, 16, 16 * 3, &webp);
    assert_true(len > 25);
    /* VP8L: after "RIFF" size "WEBP" "VP8L" size and the 0x2f signature,
     * 14 bits width - 1 and 14 bits height - 1, little-endian. */
    assert_memory_equal(webp + 12, "VP8L", 4);
    assert_int_equal(webp[20], 0x2f);
    uint32_t v = (uint32_t)webp[21] | (uint32_t)webp[22] << 8 | (uint32_t)webp[23] << 16 |
                 (uint32_t)webp[24] << 24;
    v = (v & ~0x0fffffffu) | 16383u | 16383u << 14;
    webp[21] = (uint8_t)v, webp[22] = (uint8_t)(v >> 8), webp[23] = (uint8_t)(v >> 16),
    webp[24] = (uint8_t)(v >> 24);
    uint8_t *rgb = NULL;
    int w, h;
    char err[512] = "";
    assert_int_equal(load(webp, len, &rgb, &w, &h, err, sizeof err), -E2BIG);
    assert_non_null(strstr(err, "WebP is 16384x16384"));
    WebPFree(webp);
}

static void the_cap_is_the_flag_s_value(void **state)
{
    (void)state;
    unsigned long len;
    uint8_t *jpg = make_jpeg(640, 480, &len);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    char err[512] = "";
    fc_image_set_max_pixels(640 * 480 - 1);
    assert_int_equal(load(jpg, len, &rgb, &w, &h, err, sizeof err), -E2BIG);
    assert_non_null(strstr(err, "307200 pixels, more than the 307199 allowed"));
    fc_image_set_max_pixels(640 * 480);
    assert_int_equal(load(jpg, len, &rgb, &w, &h, err, sizeof err), 0);
    assert_int_equal(w, 640);
    assert_int_equal(h, 480);
    free(rgb);
    fc_image_set_max_pixels(FC_IMAGE_MAX_PIXELS_DEFAULT);
    tjFree(jpg);
}

/* libjpeg decodes a cut file with a warning and fills the rest with grey;
 * that is a damaged picture, not a picture. */
static void truncated_or_corrupt_jpeg_is_an_error(void **state)
{
    (void)state;
    unsigned long len;
    uint8_t *jpg = make_jpeg(256, 256, &len);
    uint8_t *rgb = NULL;
    int w, h;
    char err[512] = "";
    assert_int_equal(load(jpg, len / 2, &rgb, &w, &h, err, sizeof err), -EINVAL);
    assert_null(rgb);
    if (!strstr(err, "pic: bad JPEG: ")) fail_msg("%s", err);
    /* Garbage in the middle of the entropy-coded data. */
    for (unsigned long i = len / 3; i < len / 3 + 64; i++)
        jpg[i] = 0xff;
    assert_true(load(jpg, len, &rgb, &w, &h, err, sizeof err) < 0);
    assert_null(rgb);
    tjFree(jpg);
}

static void truncated_png_is_an_error(void **state)
{
    (void)state;
    size_t len;
    uint8_t *png = make_bilevel_png(512, &len);
    uint8_t *rgb = NULL;
    int w, h;
    char err[512] = "";
    assert_int_equal(load(png, len, &rgb, &w, &h, err, sizeof err), 0);
    assert_int_equal(w, 512);
    free(rgb);
    rgb = NULL;
    assert_int_equal(load(png, len - 30, &rgb, &w, &h, err, sizeof err), -EINVAL);
    assert_null(rgb);
    assert_non_null(strstr(err, "pic: bad PNG: "));
    free(png);
}

/* The descriptor is what is decoded, whatever its name points at now. */
static void reads_from_the_descriptor_not_the_name(void **state)
{
    (void)state;
    char path[] = "/tmp/fc-test-image-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unsigned long len;
    uint8_t *jpg = make_jpeg(64, 32, &len);
    assert_int_equal(write(fd, jpg, len), (ssize_t)len);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(unlink(path), 0);
    uint8_t *rgb = NULL;
    int w, h;
    char err[512] = "";
    assert_int_equal(fc_image_load_rgb_fd(fd, "gone.jpg", &rgb, &w, &h, err, sizeof err), 0);
    assert_int_equal(w, 64);
    assert_int_equal(h, 32);
    free(rgb);
    close(fd);
    tjFree(jpg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jpeg_claiming_16384_squared_is_refused_from_its_header),
        cmocka_unit_test(png_of_16384_squared_is_refused_from_its_header),
        cmocka_unit_test(webp_over_the_cap_is_refused_from_its_header),
        cmocka_unit_test(the_cap_is_the_flag_s_value),
        cmocka_unit_test(truncated_or_corrupt_jpeg_is_an_error),
        cmocka_unit_test(truncated_png_is_an_error),
        cmocka_unit_test(reads_from_the_descriptor_not_the_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
