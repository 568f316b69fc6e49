#include "sources/image_load.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include <libyuv.h>

#define MAX_IMAGE_BYTES (64u << 20)
#define MAX_IMAGE_SIDE 8192

static int read_file(const char *path, unsigned char **data, size_t *len, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "image '%s': %s", path, strerror(errno));
        return -1;
    }
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            if (cap > MAX_IMAGE_BYTES + 1)
                cap = MAX_IMAGE_BYTES + 1;
            unsigned char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "image '%s': out of memory", path);
                return -1;
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0 || n > MAX_IMAGE_BYTES)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad || n > MAX_IMAGE_BYTES || n == 0) {
        free(buf);
        snprintf(err, errlen, "image '%s': %s", path,
                 bad ? "read error" : n == 0 ? "file is empty" : "file larger than 64 MiB");
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

/* Decodes to RGBA bytes (libyuv calls that byte order "ABGR"). */
static int decode_png(const char *path, const unsigned char *data, size_t len, uint8_t **rgba,
                      int *w, int *h, char *err, size_t errlen)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, len)) {
        snprintf(err, errlen, "image '%s': bad PNG: %s", path, img.message);
        return -1;
    }
    if (img.width > MAX_IMAGE_SIDE || img.height > MAX_IMAGE_SIDE) {
        png_image_free(&img);
        snprintf(err, errlen, "image '%s': %ux%u is larger than %dx%d", path, img.width,
                 img.height, MAX_IMAGE_SIDE, MAX_IMAGE_SIDE);
        return -1;
    }
    img.format = PNG_FORMAT_RGBA;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!buf) {
        png_image_free(&img);
        snprintf(err, errlen, "image '%s': out of memory", path);
        return -1;
    }
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        free(buf);
        snprintf(err, errlen, "image '%s': bad PNG: %s", path, img.message);
        return -1;
    }
    *rgba = buf;
    *w = (int)img.width;
    *h = (int)img.height;
    return 0;
}

static int decode_jpeg(const char *path, const unsigned char *data, size_t len, uint8_t **rgba,
                       int *w, int *h, char *err, size_t errlen)
{
    tjhandle tj = tjInitDecompress();
    if (!tj) {
        snprintf(err, errlen, "image '%s': cannot start JPEG decoder", path);
        return -1;
    }
    int width, height, subsamp, colorspace;
    int rc = -1;
    uint8_t *buf = NULL;
    if (tjDecompressHeader3(tj, data, (unsigned long)len, &width, &height, &subsamp,
                            &colorspace) != 0) {
        snprintf(err, errlen, "image '%s': bad JPEG: %s", path, tjGetErrorStr2(tj));
    } else if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
        snprintf(err, errlen, "image '%s': %dx%d is larger than %dx%d", path, width, height,
                 MAX_IMAGE_SIDE, MAX_IMAGE_SIDE);
    } else if (!(buf = malloc((size_t)width * (size_t)height * 4))) {
        snprintf(err, errlen, "image '%s': out of memory", path);
    } else if (tjDecompress2(tj, data, (unsigned long)len, buf, width, 0, height, TJPF_RGBA, 0) !=
               0) {
        snprintf(err, errlen, "image '%s': bad JPEG: %s", path, tjGetErrorStr2(tj));
    } else {
        *rgba = buf;
        buf = NULL;
        *w = width;
        *h = height;
        rc = 0;
    }
    free(buf);
    tjDestroy(tj);
    return rc;
}

int fc_image_load_i420(const char *path, fc_frame **out, char *err, size_t errlen)
{
    unsigned char *data;
    size_t len;
    if (read_file(path, &data, &len, err, errlen) != 0)
        return -1;
    uint8_t *rgba = NULL;
    int w = 0, h = 0, rc;
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 8 && memcmp(data, png_sig, 8) == 0) {
        rc = decode_png(path, data, len, &rgba, &w, &h, err, errlen);
    } else if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) {
        rc = decode_jpeg(path, data, len, &rgba, &w, &h, err, errlen);
    } else {
        snprintf(err, errlen, "image '%s': not a PNG or JPEG file", path);
        rc = -1;
    }
    free(data);
    if (rc != 0)
        return rc;
    /* I420 wants even sides: drop a last odd row/column. */
    int ew = w & ~1, eh = h & ~1;
    if (ew < 2 || eh < 2) {
        free(rgba);
        snprintf(err, errlen, "image '%s': %dx%d is too small", path, w, h);
        return -1;
    }
    fc_frame *f = fc_frame_new_i420(ew, eh);
    if (!f) {
        free(rgba);
        snprintf(err, errlen, "image '%s': out of memory", path);
        return -1;
    }
    ABGRToI420(rgba, w * 4, f->plane[0], f->stride[0], f->plane[1], f->stride[1], f->plane[2],
               f->stride[2], ew, eh);
    free(rgba);
    *out = f;
    return 0;
}
