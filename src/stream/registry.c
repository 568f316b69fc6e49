/* Invariants:
 *   - v[i] and entry[i] describe the same stream; both arrays keep the order
 *     streams joined in.
 *   - A user is linked into exactly one entry's list, the entry of the
 *     stream it uses, until it unregisters or that stream leaves (then its
 *     entry is NULL).
 *   - `retiring` counts streams that left the set and are shutting down;
 *     each is freed, and the count dropped, in its shutdown's done. */
#include "stream/registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fc_stream_entry {
    fc_stream_info info;
    fc_stream_user *users;
};

const char *fc_stream_origin_name(fc_stream_origin origin)
{
    return origin == FC_ORIGIN_API ? "api" : "cli";
}

static size_t index_of(const fc_stream_set *set, const fc_stream *s)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->v[i] == s) return i;
    return set->n;
}

int fc_stream_set_add(fc_stream_set *set, fc_stream *s, const fc_stream_info *info)
{
    if (fc_stream_set_find(set, fc_stream_id(s))) return -EEXIST;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        fc_stream **v = realloc(set->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        set->v = v;
        fc_stream_entry **e = realloc(set->entry, cap * sizeof *e);
        if (!e) return -ENOMEM;
        set->entry = e;
        set->cap = cap;
    }
    fc_stream_entry *e = calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    e->info = *info;
    set->v[set->n] = s;
    set->entry[set->n] = e;
    set->n++;
    if (set->joined) set->joined(s, set->joined_arg);
    return 0;
}

fc_stream *fc_stream_set_find(const fc_stream_set *set, const char *id)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(fc_stream_id(set->v[i]), id) == 0) return set->v[i];
    return NULL;
}

const fc_stream_info *fc_stream_set_info_of(const fc_stream_set *set, const fc_stream *s)
{
    size_t i = index_of(set, s);
    return i < set->n ? &set->entry[i]->info : NULL;
}

fc_stream_info *fc_stream_set_info(fc_stream_set *set, const fc_stream *s)
{
    size_t i = index_of(set, s);
    return i < set->n ? &set->entry[i]->info : NULL;
}

void fc_stream_set_use(fc_stream_set *set, fc_stream *s, fc_stream_user *u)
{
    size_t i = index_of(set, s);
    u->prev = u->next = NULL;
    u->entry = NULL;
    if (i == set->n) return;
    fc_stream_entry *e = set->entry[i];
    u->entry = e;
    u->next = e->users;
    if (e->users) e->users->prev = u;
    e->users = u;
}

void fc_stream_set_unuse(fc_stream_user *u)
{
    fc_stream_entry *e = u->entry;
    if (!e) return;
    if (u->prev)
        u->prev->next = u->next;
    else
        e->users = u->next;
    if (u->next) u->next->prev = u->prev;
    u->prev = u->next = NULL;
    u->entry = NULL;
}

/* Tells every user of `e` that its stream is gone; each unregisters (or is
 * unlinked here first, so a callback that forgets cannot loop). */
static void tell_users(fc_stream_entry *e, fc_stream_end why)
{
    while (e->users) {
        fc_stream_user *u = e->users;
        fc_stream_set_unuse(u);
        u->gone(u, why);
    }
}

static void maybe_closed(fc_stream_set *set)
{
    if (!set->closing || set->n > 0 || set->retiring > 0 || !set->closed) return;
    void (*done)(void *) = set->closed;
    set->closed = NULL;
    done(set->closed_arg);
}

static void retired(fc_stream *s, void *arg)
{
    fc_stream_set *set = arg;
    fc_stream_free(s);
    set->retiring--;
    maybe_closed(set);
}

void fc_stream_set_discard(fc_stream_set *set, fc_stream *s)
{
    set->retiring++;
    fc_stream_shutdown(s, retired, set);
}

/* Out of the arrays; the entry goes to the caller. */
static fc_stream_entry *unlink_at(fc_stream_set *set, size_t i)
{
    fc_stream_entry *e = set->entry[i];
    memmove(&set->v[i], &set->v[i + 1], (set->n - i - 1) * sizeof *set->v);
    memmove(&set->entry[i], &set->entry[i + 1], (set->n - i - 1) * sizeof *set->entry);
    set->n--;
    return e;
}

void fc_stream_set_remove(fc_stream_set *set, fc_stream *s, fc_stream_end why)
{
    size_t i = index_of(set, s);
    if (i == set->n) return;
    fc_stream_entry *e = unlink_at(set, i);
    tell_users(e, why);
    free(e);
    fc_stream_set_discard(set, s);
}

void fc_stream_set_replace(fc_stream_set *set, fc_stream *old, fc_stream *fresh)
{
    size_t i = index_of(set, old);
    if (i == set->n) {
        fc_stream_set_discard(set, fresh);
        return;
    }
    fc_stream_entry *e = set->entry[i];
    /* The old stream's users are told before the new one takes the slot,
     * so none of them can mistake one for the other. */
    tell_users(e, FC_STREAM_REPLACED);
    set->v[i] = fresh;
    fc_stream_set_discard(set, old);
    if (set->joined) set->joined(fresh, set->joined_arg);
}

void fc_stream_set_close(fc_stream_set *set, void (*done)(void *arg), void *arg)
{
    set->closing = true;
    set->closed = done;
    set->closed_arg = arg;
    /* One count of our own until every shutdown has begun, so a stream
     * that finishes at once cannot report the set closed half way. */
    set->retiring++;
    while (set->n > 0)
        fc_stream_set_remove(set, set->v[set->n - 1], FC_STREAM_STOPPED);
    set->retiring--;
    maybe_closed(set);
}

void fc_stream_set_clear(fc_stream_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        fc_stream_free(set->v[i]);
        free(set->entry[i]);
    }
    free(set->v);
    free(set->entry);
    *set = (fc_stream_set){0};
}
