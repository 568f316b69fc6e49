#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <turbojpeg.h>
#include <webp/decode.h>

#include <libyuv.h>

#include "sources/image.h"

/* Larger pictures are refused rather than decoded into gigabytes. */
#define MAX_SIDE 16384
#define MAX_FILE (64u << 20)

static int load_png(const char *path, const uint8_t *data, size_t len, uint8_t **rgb, int *w,
                    int *h, char *err, size_t errlen)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, len)) {
        snprintf(err, errlen, "%s: bad PNG: %s", path, img.message);
        return -EINVAL;
    }
    if (img.width < 1 || img.height < 1 || img.width > MAX_SIDE || img.height > MAX_SIDE) {
        png_image_free(&img);
        snprintf(err, errlen, "%s: PNG size %ux%u is not supported", path, img.width, img.height);
        return -EINVAL;
    }
    img.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(img));
    if (!px) {
        png_image_free(&img);
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    if (!png_image_finish_read(&img, NULL, px, 0, NULL)) {
        snprintf(err, errlen, "%s: bad PNG: %s", path, img.message);
        png_image_free(&img);
        free(px);
        return -EINVAL;
    }
    *rgb = px, *w = (int)img.width, *h = (int)img.height;
    return 0;
}

static int load_jpeg(const char *path, const uint8_t *data, size_t len, uint8_t **rgb, int *w,
                     int *h, char *err, size_t errlen)
{
    tjhandle tj = tjInitDecompress();
    if (!tj) {
        snprintf(err, errlen, "%s: cannot start the JPEG decoder", path);
        return -ENOMEM;
    }
    int rc = -EINVAL, sub, cs;
    uint8_t *px = NULL;
    if (tjDecompressHeader3(tj, data, (unsigned long)len, w, h, &sub, &cs) != 0) {
        snprintf(err, errlen, "%s: bad JPEG: %s", path, tjGetErrorStr2(tj));
    } else if (*w < 1 || *h < 1 || *w > MAX_SIDE || *h > MAX_SIDE) {
        snprintf(err, errlen, "%s: JPEG size %dx%d is not supported", path, *w, *h);
    } else if (!(px = malloc((size_t)*w * (size_t)*h * 3))) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = -ENOMEM;
    } else if (tjDecompress2(tj, data, (unsigned long)len, px, *w, *w * 3, *h, TJPF_RGB, 0) != 0 &&
               tjGetErrorCode(tj) == TJERR_FATAL) {
        snprintf(err, errlen, "%s: bad JPEG: %s", path, tjGetErrorStr2(tj));
    } else {
        *rgb = px;
        px = NULL;
        rc = 0;
    }
    free(px);
    tjDestroy(tj);
    return rc;
}

static int load_webp(const char *path, const uint8_t *data, size_t len, uint8_t **rgb, int *w,
                     int *h, char *err, size_t errlen)
{
    if (!WebPGetInfo(data, len, w, h) || *w <= 0 || *h <= 0 || *w > 16384 || *h > 16384) {
        snprintf(err, errlen, "%s: bad WebP image", path);
        return -EINVAL;
    }
    /* WebPDecodeRGB allocates with WebPMalloc; hand the caller a malloc'd copy. */
    uint8_t *px = WebPDecodeRGB(data, len, w, h);
    if (!px) {
        snprintf(err, errlen, "%s: bad WebP image", path);
        return -EINVAL;
    }
    size_t n = (size_t)*w * (size_t)*h * 3;
    *rgb = malloc(n);
    if (!*rgb) {
        WebPFree(px);
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    memcpy(*rgb, px, n);
    WebPFree(px);
    return 0;
}

int fc_image_load_rgb(const char *path, uint8_t **rgb, int *w, int *h, char *err, size_t errlen)
{
    *rgb = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= MAX_FILE) {
                snprintf(err, errlen, "%s: larger than %u bytes", path, MAX_FILE);
                rc = -EFBIG;
                break;
            }
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *p = realloc(data, cap);
            if (!p) {
                snprintf(err, errlen, "%s: out of memory", path);
                rc = -ENOMEM;
                break;
            }
            data = p;
        }
        size_t n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                snprintf(err, errlen, "%s: read error", path);
                rc = -EIO;
            }
            break;
        }
    }
    fclose(f);
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (rc == 0) {
        if (len >= 8 && memcmp(data, png_sig, 8) == 0)
            rc = load_png(path, data, len, rgb, w, h, err, errlen);
        else if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
            rc = load_jpeg(path, data, len, rgb, w, h, err, errlen);
        else if (len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
            rc = load_webp(path, data, len, rgb, w, h, err, errlen);
        else {
            snprintf(err, errlen, "%s: not a PNG, JPEG or WebP image", path);
            rc = -EINVAL;
        }
    }
    free(data);
    return rc;
}

int fc_image_load_i420(const char *path, fc_frame **out, char *err, size_t errlen)
{
    uint8_t *rgb;
    int w, h;
    int rc = fc_image_load_rgb(path, &rgb, &w, &h, err, errlen);
    if (rc < 0)
        return rc;
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
