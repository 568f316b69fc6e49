#include "avatar/media.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

fc_media_type fc_media_sniff(const uint8_t *d, size_t n)
{
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && memcmp(d, png, 8) == 0) return FC_MEDIA_PNG;
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return FC_MEDIA_JPEG;
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return FC_MEDIA_WEBP;
    if (n >= 12 && (memcmp(d, "RIFF", 4) == 0 || memcmp(d, "RF64", 4) == 0) &&
        memcmp(d + 8, "WAVE", 4) == 0)
        return FC_MEDIA_WAV;
    if (n >= 4 && memcmp(d, "fLaC", 4) == 0) return FC_MEDIA_FLAC;
    if (n >= 4 && memcmp(d, "OggS", 4) == 0) return FC_MEDIA_OGG;
    /* An ID3 tag, or an MPEG audio frame sync (11 bits set, layer III). */
    if (n >= 3 && memcmp(d, "ID3", 3) == 0) return FC_MEDIA_MP3;
    if (n >= 2 && d[0] == 0xFF && (d[1] & 0xE0) == 0xE0 && (d[1] & 0x06) == 0x02)
        return FC_MEDIA_MP3;
    return FC_MEDIA_UNKNOWN;
}

int fc_media_is_image(fc_media_type t)
{
    return t == FC_MEDIA_PNG || t == FC_MEDIA_JPEG || t == FC_MEDIA_WEBP;
}

int fc_media_is_audio(fc_media_type t)
{
    return t == FC_MEDIA_WAV || t == FC_MEDIA_FLAC || t == FC_MEDIA_OGG || t == FC_MEDIA_MP3;
}

const char *fc_media_ext(fc_media_type t)
{
    static const char *ext[] = {"bin", "png", "jpg", "webp", "wav", "flac", "ogg", "mp3"};
    return ext[t];
}

int fc_media_open(const char *dir, fc_media *out, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "media directory %s: cannot create it: %s", dir, strerror(errno));
        return -1;
    }
    char *real = realpath(dir, NULL);
    struct stat st;
    if (!real || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "media directory %s: not a directory%s%s", dir, real ? "" : ": ",
                 real ? "" : strerror(errno));
        free(real);
        return -1;
    }
    if (strlen(real) >= sizeof out->root) {
        snprintf(err, errlen, "media directory %s: path too long", dir);
        free(real);
        return -1;
    }
    snprintf(out->root, sizeof out->root, "%s", real);
    free(real);
    return 0;
}

int fc_media_resolve(const fc_media *m, const char *path, char *out, size_t outlen, char *err,
                     size_t errlen)
{
    if (!path || !*path) {
        snprintf(err, errlen, "empty path");
        return -1;
    }
    if (strlen(path) > 1024) {
        snprintf(err, errlen, "path longer than 1024 bytes");
        return -1;
    }
    char joined[sizeof m->root + 1100];
    if (path[0] == '/')
        snprintf(joined, sizeof joined, "%s", path);
    else
        snprintf(joined, sizeof joined, "%s/%s", m->root, path);
    char *real = realpath(joined, NULL);
    if (!real) {
        snprintf(err, errlen, "'%.200s' does not exist in the media directory", path);
        return -1;
    }
    size_t rl = strlen(m->root);
    int inside = strncmp(real, m->root, rl) == 0 && real[rl] == '/';
    struct stat st;
    int rc = -1;
    if (!inside)
        snprintf(err, errlen, "'%.200s' resolves outside the media directory: refused", path);
    else if (stat(real, &st) != 0 || !S_ISREG(st.st_mode))
        snprintf(err, errlen, "'%.200s' is not a regular file", path);
    else if (strlen(real) >= outlen)
        snprintf(err, errlen, "'%.200s': path too long", path);
    else {
        snprintf(out, outlen, "%s", real);
        rc = 0;
    }
    free(real);
    return rc;
}

int fc_media_store(const fc_media *m, const uint8_t *data, size_t len, fc_media_type type,
                   char *name, size_t namelen, char *err, size_t errlen)
{
    uint8_t rnd[12];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        snprintf(err, errlen, "upload: no random bytes for a file name: %s", strerror(errno));
        return -1;
    }
    char hex[2 * sizeof rnd + 1];
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    snprintf(name, namelen, "up-%s.%s", hex, fc_media_ext(type));
    char full[sizeof m->root + 80];
    snprintf(full, sizeof full, "%s/%s", m->root, name);
    int fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "upload: cannot create %s: %s", full, strerror(errno));
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            snprintf(err, errlen, "upload: cannot write %s: %s", full, strerror(errno));
            close(fd);
            unlink(full);
            return -1;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        snprintf(err, errlen, "upload: cannot write %s: %s", full, strerror(errno));
        unlink(full);
        return -1;
    }
    return 0;
}
