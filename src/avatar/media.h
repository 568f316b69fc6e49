/* The media directory: the only place avatar sessions read source pictures
 * and speech from, and the only place the server writes (uploads).
 *
 * A client names files by path; fc_media_resolve accepts a path only when it
 * resolves, after every symlink, to a regular file inside the directory, so
 * nothing outside is ever opened. Uploads are stored under random names with
 * the extension of the type their bytes show (never the client's file name).
 *
 * fc_media_open at start-up (main thread); the rest from any thread. */
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
    char root[4096]; /* the directory, absolute and without symlinks */
} fc_media;

/* Creates the directory when missing (mode 0700) and resolves it. */
int fc_media_open(const char *dir, fc_media *out, char *err, size_t errlen);

/* Client path (relative to the media directory, or absolute) to the real
 * path of a regular file inside it. Returns 0, or -1 with err naming why. */
int fc_media_resolve(const fc_media *m, const char *path, char *out, size_t outlen, char *err,
                     size_t errlen);

/* Writes `data` to a new file under a random name; *name gets the name
 * relative to the media directory. */
int fc_media_store(const fc_media *m, const uint8_t *data, size_t len, fc_media_type type,
                   char *name, size_t namelen, char *err, size_t errlen);

#endif
