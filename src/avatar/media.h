/* The media directory: the only place avatar sessions read source pictures
 * and speech from, and the only place the server writes (uploads).
 *
 * A client names files by path. fc_media_open_file resolves it beneath the
 * directory's descriptor in one step the kernel makes atomic (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; on kernels without openat2, one
 * openat per component with O_NOFOLLOW, holding each directory it passed):
 * `..` that climbs out, absolute paths elsewhere and symbolic links anywhere
 * on the way are refused, and what it returns is the descriptor of a regular
 * file that was inside when it was opened. Callers decode from that
 * descriptor, so a link swapped in after the check cannot redirect the read.
 * Uploads are stored under random names with the extension of the type their
 * bytes show (never the client's file name).
 *
 * fc_media_open and fc_media_close at start-up and exit (main thread); the
 * rest from any thread. */
#ifndef FC_AVATAR_MEDIA_H
#define FC_AVATAR_MEDIA_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    FC_MEDIA_UNKNOWN = 0,
    FC_MEDIA_PNG,
    FC_MEDIA_JPEG,
    FC_MEDIA_WEBP,
    FC_MEDIA_WAV,
    FC_MEDIA_FLAC,
    FC_MEDIA_OGG,
    FC_MEDIA_MP3,
} fc_media_type;

/* What the first bytes of a file say it is. */
fc_media_type fc_media_sniff(const uint8_t *data, size_t len);
int fc_media_is_image(fc_media_type t);
int fc_media_is_audio(fc_media_type t);
const char *fc_media_ext(fc_media_type t);

typedef struct fc_media {
    char root[4096]; /* the directory, absolute and without symlinks; "" until opened */
    int dirfd;       /* O_PATH descriptor of root: every path resolves beneath it */
} fc_media;

/* Creates the directory when missing (mode 0700), resolves and opens it. */
int fc_media_open(const char *dir, fc_media *out, char *err, size_t errlen);
/* Closes what fc_media_open opened; a never-opened (zeroed) fc_media is fine. */
void fc_media_close(fc_media *m);

/* Opens a client path (relative to the media directory, or absolute inside
 * it) for reading: *fd is a regular file's descriptor at offset 0, which the
 * caller closes. Returns 0, or a negative errno-style code with err naming the
 * path and why. */
int fc_media_open_file(const fc_media *m, const char *path, int *fd, char *err, size_t errlen);

/* Writes `data` to a new file under a random name; *name gets the name
 * relative to the media directory. */
int fc_media_store(const fc_media *m, const uint8_t *data, size_t len, fc_media_type type,
                   char *name, size_t namelen, char *err, size_t errlen);

#endif
