#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>
#include <turbojpeg.h>
#include <webp/decode.h>

#include <libyuv.h>

#include "sources/image.h"

/* Larger files are refused before they are read. */
#define MAX_FILE (64u << 20)
/* Whatever the pixel cap, a side longer than this is refused (the encoders
 * and libyuv take int strides). */
#define MAX_SIDE 16384

static atomic_uint_fast64_t max_pixels = FC_IMAGE_MAX_PIXELS_DEFAULT;

enum { REFUSED_PIXELS, REFUSED_DAMAGED, REFUSED_TYPE, REFUSED_COUNT };
static atomic_uint_fast64_t refused[REFUSED_COUNT];

void fc_image_set_max_pixels(uint64_t pixels)
{
    atomic_store(&max_pixels, pixels);
}

/* The header's size against the caps, before a byte of pixels is decoded. */
static int check_size(const char *name, const char *kind, uint64_t w, uint64_t h, char *err,
                      size_t errlen)
{
    uint64_t cap = atomic_load(&max_pixels);
    if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE) {
        atomic_fetch_add(&refused[REFUSED_DAMAGED], 1);
        snprintf(err, errlen, "%s: %s size %llux%llu is not supported (sides 1 to %d)", name, kind,
                 (unsigned long long)w, (unsigned long long)h, MAX_SIDE);
        return -EINVAL;
    }
    if (w * h > cap) {
        atomic_fetch_add(&refused[REFUSED_PIXELS], 1);
        snprintf(err, errlen,
                 "%s: %s is %llux%llu, %llu pixels, more than the %llu allowed "
                 "(--max-picture-pixels): refused",
                 name, kind, (unsigned long long)w, (unsigned long long)h,
                 (unsigned long long)(w * h), (unsigned long long)cap);
        return -E2BIG;
    }
    return 0;
}

static int damaged(const char *name, const char *what, const char *detail, char *err, size_t errlen)
{
    atomic_fetch_add(&refused[REFUSED_DAMAGED], 1);
    snprintf(err, errlen, "%s: bad %s: %s", name, what, detail);
    return -EINVAL;
}

static int load_png(const char *name, const uint8_t *data, size_t len, uint8_t **rgb, int *w,
                    int *h, char *err, size_t errlen)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, len))
        return damaged(name, "PNG", img.message, err, errlen);
    int rc = check_size(name, "PNG", img.width, img.height, err, errlen);
    if (rc < 0) {
        png_image_free(&img);
        return rc;
    }
    img.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(img));
    if (!px) {
        png_image_free(&img);
        snprintf(err, errlen, "%s: out of memory", name);
        return -ENOMEM;
    }
    /* libpng reports truncated or corrupt image data as errors; what it
     * only warns about (a known-bad sRGB profile, extra data after the end)
     * leaves the pixels intact. */
    if (!png_image_finish_read(&img, NULL, px, 0, NULL)) {
        rc = damaged(name, "PNG", img.message, err, errlen);
        png_image_free(&img);
        free(px);
        return rc;
    }
    *rgb = px, *w = (int)img.width, *h = (int)img.height;
    return 0;
}

static int load_jpeg(const char *name, const uint8_t *data, size_t len, uint8_t **rgb, int *w,
                     int *h, char *err, size_t errlen)
{
    tjhandle tj = tjInitDecompress();
    if (!tj) {
        snprintf(err, errlen, "%s: cannot start the JPEG decoder", name);
        return -ENOMEM;
    }
    int rc, sub, cs;
    uint8_t *px = NULL;
    if (tjDecompressHeader3(tj, data, (unsigned long)len, w, h, &sub, &cs) != 0) {
        rc = damaged(name, "JPEG", tjGetErrorStr2(tj), err, errlen);
        goto out;
    }
    rc = check_size(name, "JPEG", (uint64_t)*w, (uint64_t)*h, err, errlen);
    if (rc < 0) goto out;
    px = malloc((size_t)*w * (size_t)*h * 3);
    if (!px) {
        snprintf(err, errlen, "%s: out of memory", name);
        rc = -ENOMEM;
        goto out;
    }
    /* Every libjpeg warning means damaged data (a premature end, a bad
     * Huffman code, stray bytes before a marker): what it decoded past that
     * point is grey or garbage, so the picture is refused. */
    if (tjDecompress2(tj, data, (unsigned long)len, px, *w, *w * 3, *h, TJPF_RGB,
                      TJFLAG_STOPONWARNING) != 0) {
        rc = damaged(name, "JPEG", tjGetErrorStr2(tj), err, errlen);
        goto out;
    }
    *rgb = px;
    px = NULL;
out:
    free(px);
    tjDestroy(tj);
    return rc;
}

static int load_webp(const char *name, const uint8_t *data, size_t len, uint8_t **rgb, int *w,
                     int *h, char *err, size_t errlen)
{
    if (!WebPGetInfo(data, len, w, h))
        return damaged(name, "WebP", "not a still WebP image libwebp can read", err, errlen);
    int rc = check_size(name, "WebP", (uint64_t)*w, (uint64_t)*h, err, errlen);
    if (rc < 0) return rc;
    size_t n = (size_t)*w * (size_t)*h * 3;
    uint8_t *px = malloc(n);
    if (!px) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -ENOMEM;
    }
    if (!WebPDecodeRGBInto(data, len, px, n, *w * 3)) {
        free(px);
        return damaged(name, "WebP", "the image data does not decode", err, errlen);
    }
    *rgb = px;
    return 0;
}

/* The whole file, bounded by MAX_FILE. */
static int read_all(int fd, const char *name, uint8_t **out, size_t *outlen, char *err,
                    size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > (off_t)MAX_FILE) {
        snprintf(err, errlen, "%s: larger than %u bytes", name, MAX_FILE);
        return -EFBIG;
    }
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= MAX_FILE) {
                free(data);
                snprintf(err, errlen, "%s: larger than %u bytes", name, MAX_FILE);
                return -EFBIG;
            }
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *p = realloc(data, cap);
            if (!p) {
                free(data);
                snprintf(err, errlen, "%s: out of memory", name);
                return -ENOMEM;
            }
            data = p;
        }
        ssize_t n = read(fd, data + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            free(data);
            snprintf(err, errlen, "%s: read error: %s", name, strerror(e));
            return -e;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    *out = data;
    *outlen = len;
    return 0;
}

int fc_image_load_rgb_fd(int fd, const char *name, uint8_t **rgb, int *w, int *h, char *err,
                         size_t errlen)
{
    *rgb = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = read_all(fd, name, &data, &len, err, errlen);
    if (rc < 0) return rc;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 8 && memcmp(data, png_sig, 8) == 0) {
        rc = load_png(name, data, len, rgb, w, h, err, errlen);
    } else if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
        rc = load_jpeg(name, data, len, rgb, w, h, err, errlen);
    } else if (len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0) {
        rc = load_webp(name, data, len, rgb, w, h, err, errlen);
    } else {
        atomic_fetch_add(&refused[REFUSED_TYPE], 1);
        snprintf(err, errlen, "%s: not a PNG, JPEG or WebP image", name);
        rc = -EINVAL;
    }
    free(data);
    return rc;
}

int fc_image_load_rgb(const char *path, uint8_t **rgb, int *w, int *h, char *err, size_t errlen)
{
    *rgb = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    int rc = fc_image_load_rgb_fd(fd, path, rgb, w, h, err, errlen);
    close(fd);
    return rc;
}

int fc_image_load_i420(const char *path, fc_frame **out, char *err, size_t errlen)
{
    uint8_t *rgb;
    int w, h;
    int rc = fc_image_load_rgb(path, &rgb, &w, &h, err, errlen);
    if (rc < 0) return rc;
    int ew = w & ~1, eh = h & ~1;
    fc_frame *f = ew >= 2 && eh >= 2 ? fc_frame_new_i420(ew, eh) : NULL;
    if (!f) {
        free(rgb);
        snprintf(err, errlen, "%s: %s", path,
                 ew < 2 || eh < 2 ? "picture smaller than 2x2" : "out of memory");
        return ew < 2 || eh < 2 ? -EINVAL : -ENOMEM;
    }
    /* libyuv's "RAW" is R,G,B in memory order. */
    RAWToI420(rgb, w * 3, f->plane[0], f->stride[0], f->plane[1], f->stride[1], f->plane[2],
              f->stride[2], ew, eh);
    free(rgb);
    *out = f;
    return 0;
}

static void m_refused(fc_metrics_out *out, void *ctx)
{
    (void)ctx;
    fc_metrics_sample(out, "reason=\"pixels\"", (double)atomic_load(&refused[REFUSED_PIXELS]));
    fc_metrics_sample(out, "reason=\"damaged\"", (double)atomic_load(&refused[REFUSED_DAMAGED]));
    fc_metrics_sample(out, "reason=\"type\"", (double)atomic_load(&refused[REFUSED_TYPE]));
}

int fc_image_metrics_register(fc_metrics *m)
{
    return fc_metrics_register(m, "fc_pictures_refused_total", FC_METRIC_COUNTER,
                               "Pictures refused: over --max-picture-pixels, damaged, not a "
                               "PNG/JPEG/WebP",
                               m_refused, NULL);
}
