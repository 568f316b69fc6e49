/* fc_stream_set: the streams a loop serves, found by id. Streams join it
 * and leave it while the server runs (the HTTP API adds, replaces and
 * deletes them).
 *
 * Every stream has an entry: where it came from (`cli`: --source and
 * --synthetic, never stored; `api`: added through the HTTP API and kept in
 * the store, with its spec and settings as stored), and its users.
 *
 * A user (fc_stream_user) is whoever keeps a pointer to a stream from one
 * loop turn to the next: a WebSocket subscribed to it. It registers with
 * fc_stream_set_use and unregisters with fc_stream_set_unuse when it lets
 * go. A stream that leaves the set (removed, or replaced by a new stream of
 * the same id) tells each of its users first, through `gone`, which must
 * let go of everything of the stream (unsubscribe) before it returns; then
 * the stream is shut down, and the set frees it once its last job is done.
 * So a user never sees a stream freed under it, and nobody waits for a
 * client to notice.
 *
 * `v` and `n` are the streams in the order they joined (/api/streams and
 * /metrics walk them); read them, never write them.
 *
 * Ownership: the set owns its streams from fc_stream_set_add on. Loop
 * thread only. */
#ifndef FC_STREAM_REGISTRY_H
#define FC_STREAM_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "stream/build.h"
#include "stream/stream.h"

typedef enum { FC_ORIGIN_CLI = 0, FC_ORIGIN_API = 1 } fc_stream_origin;

/* "cli", "api". */
const char *fc_stream_origin_name(fc_stream_origin origin);

/* Why a stream left the set. */
typedef enum {
    FC_STREAM_DELETED,  /* removed (DELETE /api/streams/{id}) */
    FC_STREAM_REPLACED, /* a new stream of the same id took its place (new settings) */
    FC_STREAM_STOPPED,  /* the server is stopping */
} fc_stream_end;

typedef struct fc_stream_user fc_stream_user;
struct fc_stream_user {
    /* Let go of the stream (unsubscribe) before returning; the stream is
     * still whole during the call and shut down after it. */
    void (*gone)(fc_stream_user *u, fc_stream_end why);
    /* The set's: */
    fc_stream_user *prev, *next;
    struct fc_stream_entry *entry;
};

/* What the set knows of a stream besides the stream itself. */
typedef struct fc_stream_info {
    fc_stream_origin origin;
    /* api streams, as stored: */
    char spec[FC_STREAM_SPEC_MAX];
    fc_stream_settings settings;
    double created, updated; /* Unix seconds */
} fc_stream_info;

typedef struct fc_stream_entry fc_stream_entry;

typedef struct fc_stream_set {
    fc_stream **v;
    size_t n, cap;
    fc_stream_entry **entry; /* entry[i] belongs to v[i] */
    size_t retiring;         /* left the set, still shutting down */
    bool closing;
    void (*closed)(void *arg);
    void *closed_arg;
    /* Told of each stream once it is in the set (added, or in a replaced
     * one's place), so that it may register as a user: the WebRTC
     * mountpoints follow the streams so. NULL = nobody. */
    void (*joined)(fc_stream *s, void *arg);
    void *joined_arg;
} fc_stream_set;

/* Takes the stream, with a copy of `info`: 0, or -EEXIST when the id is
 * taken, -ENOMEM (the caller still owns the stream then). */
int fc_stream_set_add(fc_stream_set *set, fc_stream *s, const fc_stream_info *info);
fc_stream *fc_stream_set_find(const fc_stream_set *set, const char *id);
/* The entry's information (the caller may update an api stream's settings
 * and times in it after a stored change). */
fc_stream_info *fc_stream_set_info(fc_stream_set *set, const fc_stream *s);
const fc_stream_info *fc_stream_set_info_of(const fc_stream_set *set, const fc_stream *s);

/* Registers `u` (u->gone set) as a user of `s`, a stream of the set. */
void fc_stream_set_use(fc_stream_set *set, fc_stream *s, fc_stream_user *u);
/* Unregisters `u`; nothing when it is not registered (its stream left). */
void fc_stream_set_unuse(fc_stream_user *u);

/* Takes `s` out of the set: its users are told `why`, then it is shut down
 * and freed when its jobs are done. */
void fc_stream_set_remove(fc_stream_set *set, fc_stream *s, fc_stream_end why);
/* Puts `fresh` (not in the set) where `old` is, with old's entry (origin,
 * information), then removes `old` as FC_STREAM_REPLACED. */
void fc_stream_set_replace(fc_stream_set *set, fc_stream *old, fc_stream *fresh);
/* Shuts down a stream that never joined (a failed change) and frees it
 * when its jobs are done; fc_stream_set_close waits for it too. */
void fc_stream_set_discard(fc_stream_set *set, fc_stream *s);

/* Removes every stream (FC_STREAM_STOPPED) and calls `done` (may be NULL)
 * once every stream that ever left the set is freed, maybe before this
 * returns. Nothing may be added afterwards. */
void fc_stream_set_close(fc_stream_set *set, void (*done)(void *arg), void *arg);
/* Frees the set's memory: after close's `done`, or for a set never used. */
void fc_stream_set_clear(fc_stream_set *set);

#endif
