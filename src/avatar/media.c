#include "avatar/media.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
    memset(out, 0, sizeof *out);
    out->dirfd = -1;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "media directory %s: cannot create it: %s", dir, strerror(errno));
        return -errno;
    }
    char *real = realpath(dir, NULL);
    if (!real) {
        int e = errno;
        snprintf(err, errlen, "media directory %s: %s", dir, strerror(e));
        return -e;
    }
    if (strlen(real) >= sizeof out->root) {
        snprintf(err, errlen, "media directory %s: path too long", dir);
        free(real);
        return -ENAMETOOLONG;
    }
    int fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "media directory %s: %s", dir,
                 e == ENOTDIR ? "not a directory" : strerror(e));
        free(real);
        return -e;
    }
    snprintf(out->root, sizeof out->root, "%s", real);
    out->dirfd = fd;
    free(real);
    return 0;
}

void fc_media_close(fc_media *m)
{
    if (m->root[0]) close(m->dirfd);
    m->root[0] = 0;
    m->dirfd = -1;
}

/* Deep enough for any layout an operator makes; it bounds the descriptors
 * the fallback walk holds. */
#define MAX_DEPTH 32

/* For kernels without openat2: one component at a time, never following a
 * link (O_NOFOLLOW), each directory held open so that what is renamed or
 * swapped behind us does not matter, `..` taken from our own stack so it can
 * never climb above the root. The same refusals as openat2's
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS: -EXDEV, -ELOOP, -ENOENT, ... */
static int open_walk(int root, const char *rel, int flags)
{
    int stack[MAX_DEPTH + 1];
    int depth = 0, rc = -ENOENT;
    stack[0] = root;
    const char *p = rel;
    for (;;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        const char *next = p + len;
        while (*next == '/')
            next++;
        bool last = *next == 0;
        char comp[NAME_MAX + 1];
        if (len > NAME_MAX) {
            rc = -ENAMETOOLONG;
            break;
        }
        memcpy(comp, p, len);
        comp[len] = 0;
        p = next;
        if (len == 0 || strcmp(comp, ".") == 0) {
            if (!last) continue;
            rc = -EISDIR; /* the path names a directory */
            break;
        }
        if (strcmp(comp, "..") == 0) {
            if (depth == 0) {
                rc = -EXDEV;
                break;
            }
            close(stack[depth--]);
            if (!last) continue;
            rc = -EISDIR;
            break;
        }
        if (last) {
            int fd = openat(stack[depth], comp, flags | O_NOFOLLOW);
            rc = fd >= 0 ? fd : -errno;
            break;
        }
        if (depth == MAX_DEPTH) {
            rc = -ELOOP;
            break;
        }
        int fd = openat(stack[depth], comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            /* A link opened with O_NOFOLLOW | O_DIRECTORY is "not a
             * directory"; say which it was. */
            struct stat st;
            rc = errno == ENOTDIR && fstatat(stack[depth], comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                         S_ISLNK(st.st_mode)
                     ? -ELOOP
                     : -errno;
            break;
        }
        stack[++depth] = fd;
    }
    while (depth > 0)
        close(stack[depth--]);
    return rc;
}

static int open_beneath(int root, const char *rel, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)flags,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, root, rel, &how, sizeof how);
    if (fd >= 0) return (int)fd;
    /* ENOSYS: a kernel before 5.6; EPERM: a seccomp filter that does not
     * know the call. Either way the walk gives the same answers. */
    if (errno == ENOSYS || errno == EPERM) return open_walk(root, rel, flags);
    return -errno;
}

int fc_media_open_file(const fc_media *m, const char *path, int *fd, char *err, size_t errlen)
{
    *fd = -1;
    if (!path || !*path) {
        snprintf(err, errlen, "empty path");
        return -EINVAL;
    }
    if (strlen(path) > 1024) {
        snprintf(err, errlen, "path longer than 1024 bytes");
        return -ENAMETOOLONG;
    }
    /* An absolute path is accepted when it names something under the root;
     * the rest of it is resolved beneath the root like any other. */
    const char *rel = path;
    if (path[0] == '/') {
        size_t rl = strlen(m->root);
        if (strncmp(path, m->root, rl) != 0 || path[rl] != '/') {
            snprintf(err, errlen, "'%.200s' resolves outside the media directory: refused", path);
            return -EXDEV;
        }
        rel = path + rl + 1;
    }
    /* O_NONBLOCK: opening a FIFO planted in the directory must not wait for
     * a writer (it is refused below); regular files ignore the flag. */
    int f = open_beneath(m->dirfd, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) {
        switch (f) {
        case -EXDEV:
            snprintf(err, errlen, "'%.200s' resolves outside the media directory: refused", path);
            break;
        case -ELOOP:
            snprintf(err, errlen,
                     "'%.200s' is or passes through a symbolic link: refused (a link could lead "
                     "outside the media directory)",
                     path);
            break;
        case -ENOENT:
        case -ENOTDIR:
            snprintf(err, errlen, "'%.200s' does not exist in the media directory", path);
            break;
        case -EISDIR:
            snprintf(err, errlen, "'%.200s' is not a regular file", path);
            break;
        default:
            snprintf(err, errlen, "'%.200s': %s", path, strerror(-f));
        }
        return f;
    }
    struct stat st;
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(f);
        snprintf(err, errlen, "'%.200s' is not a regular file", path);
        return -EINVAL;
    }
    *fd = f;
    return 0;
}

int fc_media_store(const fc_media *m, const uint8_t *data, size_t len, fc_media_type type,
                   char *name, size_t namelen, char *err, size_t errlen)
{
    uint8_t rnd[12];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        snprintf(err, errlen, "upload: no random bytes for a file name: %s", strerror(errno));
        return -EIO;
    }
    char hex[2 * sizeof rnd + 1];
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    snprintf(name, namelen, "up-%s.%s", hex, fc_media_ext(type));
    int fd = openat(m->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "upload: cannot create %s/%s: %s", m->root, name, strerror(e));
        return -e;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            snprintf(err, errlen, "upload: cannot write %s/%s: %s", m->root, name, strerror(e));
            close(fd);
            unlinkat(m->dirfd, name, 0);
            return -e;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        int e = errno;
        snprintf(err, errlen, "upload: cannot write %s/%s: %s", m->root, name, strerror(e));
        unlinkat(m->dirfd, name, 0);
        return -e;
    }
    return 0;
}
