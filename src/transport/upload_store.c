#include "transport/upload_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

#define NAME_MAX_LEN 64
/* Files one sweep deletes at most; the next sweep follows at once. */
#define SWEEP_MAX 64

/* One stored upload, oldest first. */
typedef struct entry {
    struct entry *next;
    uint64_t stored_ns; /* fc_now_ns() when it was stored (or its age at start) */
    uint64_t bytes;
    char name[NAME_MAX_LEN];
} entry;

typedef struct sweep_job {
    fc_job job;
    fc_upload_store *s;
    entry *gone; /* expired entries to unlink, a list */
    size_t n, failed;
} sweep_job;

struct fc_upload_store {
    fc_loop *loop;
    fc_pool *pool;
    const fc_media *media;
    fc_upload_limits lim;
    entry *head, *tail;
    size_t files, reserved_files;
    uint64_t bytes, reserved_bytes;
    uint64_t expired;
    uv_timer_t timer;
    bool sweeping, closing, timer_closed;
};

static bool is_upload_name(const char *n)
{
    if (strncmp(n, "up-", 3) != 0) return false;
    for (int i = 3; i < 27; i++)
        if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f'))) return false;
    return n[27] == '.' && n[28] && strlen(n) < NAME_MAX_LEN && !strchr(n + 28, '/');
}

static void append(fc_upload_store *s, entry *e)
{
    e->next = NULL;
    if (s->tail)
        s->tail->next = e;
    else
        s->head = e;
    s->tail = e;
    s->files++;
    s->bytes += e->bytes;
}

static int by_age(const void *a, const void *b)
{
    const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
    return x->stored_ns < y->stored_ns ? -1 : x->stored_ns > y->stored_ns;
}

/* Uploads already in the directory, oldest first, with their age mapped
 * onto the monotonic clock (an upload stored an hour ago expires as if it
 * had been stored an hour before start). */
static int scan(fc_upload_store *s, char *err, size_t errlen)
{
    int fd = openat(s->media->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int e = errno;
        if (fd >= 0) close(fd);
        snprintf(err, errlen, "media directory %s: cannot list it: %s", s->media->root,
                 strerror(e));
        return -e;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    uint64_t now_wall = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
    uint64_t now = fc_now_ns();
    entry **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        struct stat st;
        if (!is_upload_name(de->d_name) ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            entry **nv = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof *v);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
        }
        entry *e = calloc(1, sizeof *e);
        if (!e) {
            rc = -ENOMEM;
            break;
        }
        uint64_t mtime = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
        uint64_t age = now_wall > mtime ? now_wall - mtime : 0;
        e->stored_ns = age < now ? now - age : 0;
        e->bytes = (uint64_t)st.st_size;
        /* is_upload_name checked that it fits. */
        memcpy(e->name, de->d_name, strlen(de->d_name) + 1);
        v[n++] = e;
    }
    closedir(d);
    if (n) qsort(v, n, sizeof *v, by_age); /* v is NULL for an empty directory */
    for (size_t i = 0; i < n; i++)
        append(s, v[i]);
    free(v);
    if (rc) snprintf(err, errlen, "media directory %s: out of memory listing it", s->media->root);
    return rc;
}

static void arm(fc_upload_store *s);

static void free_entries(entry *e)
{
    while (e) {
        entry *next = e->next;
        free(e);
        e = next;
    }
}

static void maybe_free(fc_upload_store *s)
{
    if (!s->closing || s->sweeping || !s->timer_closed) return;
    free_entries(s->head);
    free(s);
}

static void sweep_work(fc_job *job)
{
    sweep_job *j = fc_container_of(job, sweep_job, job);
    for (entry *e = j->gone; e; e = e->next)
        if (unlinkat(j->s->media->dirfd, e->name, 0) != 0 && errno != ENOENT) j->failed++;
}

static void sweep_done(fc_job *job)
{
    sweep_job *j = fc_container_of(job, sweep_job, job);
    fc_upload_store *s = j->s;
    if (j->failed) fc_warn("uploads: %zu expired file(s) could not be deleted", j->failed);
    free_entries(j->gone);
    free(j);
    s->sweeping = false;
    if (s->closing)
        maybe_free(s);
    else
        arm(s);
}

static void on_expiry(uv_timer_t *t)
{
    fc_upload_store *s = t->data;
    sweep_job *j = calloc(1, sizeof *j);
    if (!j) {
        uv_timer_start(&s->timer, on_expiry, 1000, 0); /* try again in a second */
        return;
    }
    uint64_t now = fc_now_ns(), keep = (uint64_t)s->lim.expiry_s * 1000000000ull;
    entry **tail = &j->gone;
    while (s->head && s->head->stored_ns + keep <= now && j->n < SWEEP_MAX) {
        entry *e = s->head;
        s->head = e->next;
        if (!s->head) s->tail = NULL;
        s->files--;
        s->bytes -= e->bytes;
        s->expired++;
        e->next = NULL;
        *tail = e;
        tail = &e->next;
        j->n++;
    }
    if (!j->n) {
        free(j);
        arm(s);
        return;
    }
    /* Release class: it only gives disk back, and must not wait behind
     * set-up work (core/job.h). Never refused: the class is unbounded. */
    j->job = (fc_job){.work = sweep_work,
                      .done = sweep_done,
                      .loop = s->loop,
                      .role = FC_ROLE_OTHER,
                      .cls = FC_JOB_RELEASE};
    j->s = s;
    s->sweeping = true;
    fc_pool_submit(s->pool, &j->job);
}

/* The timer, for the oldest upload's expiry; none while there is none. */
static void arm(fc_upload_store *s)
{
    if (s->closing || s->sweeping) return;
    if (!s->head) {
        uv_timer_stop(&s->timer);
        return;
    }
    uint64_t due = s->head->stored_ns + (uint64_t)s->lim.expiry_s * 1000000000ull;
    uint64_t now = fc_now_ns();
    uint64_t ms = due > now ? (due - now + 999999) / 1000000 : 0;
    uv_timer_start(&s->timer, on_expiry, ms, 0);
}

int fc_upload_store_open(fc_loop *loop, fc_pool *pool, const fc_media *media,
                         const fc_upload_limits *limits, fc_upload_store **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    fc_upload_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "uploads: out of memory");
        return -ENOMEM;
    }
    s->loop = loop;
    s->pool = pool;
    s->media = media;
    s->lim = *limits;
    int rc = scan(s, err, errlen);
    if (rc != 0) {
        free_entries(s->head);
        free(s);
        return rc;
    }
    uv_timer_init(&loop->uv, &s->timer);
    s->timer.data = s;
    if (s->files)
        fc_info("uploads: %zu kept from before (%llu bytes), each deleted %u s after it was "
                "stored",
                s->files, (unsigned long long)s->bytes, s->lim.expiry_s);
    arm(s);
    *out = s;
    return 0;
}

int fc_upload_store_reserve(fc_upload_store *s, size_t files, uint64_t bytes, char *err,
                            size_t errlen)
{
    size_t f = s->files + s->reserved_files + files;
    uint64_t b = s->bytes + s->reserved_bytes + bytes;
    if (f > s->lim.max_files || b > s->lim.max_bytes) {
        snprintf(err, errlen,
                 "upload quota full: %zu files, %llu bytes kept (at most %zu files, %llu bytes: "
                 "--upload-max-files, --upload-quota); uploads are deleted %u s after they are "
                 "stored",
                 s->files, (unsigned long long)s->bytes, s->lim.max_files,
                 (unsigned long long)s->lim.max_bytes, s->lim.expiry_s);
        return -ENOSPC;
    }
    s->reserved_files += files;
    s->reserved_bytes += bytes;
    return 0;
}

void fc_upload_store_cancel(fc_upload_store *s, size_t files, uint64_t bytes)
{
    s->reserved_files -= files;
    s->reserved_bytes -= bytes;
}

void fc_upload_store_commit(fc_upload_store *s, const char *name, uint64_t bytes)
{
    fc_upload_store_cancel(s, 1, bytes); /* reserved until now, stored from now */
    entry *e = calloc(1, sizeof *e);
    if (!e) {
        /* Not counted, so not expired either: say so rather than lose it. */
        fc_warn("uploads: out of memory: %s will not expire", name);
        return;
    }
    e->stored_ns = fc_now_ns();
    e->bytes = bytes;
    snprintf(e->name, sizeof e->name, "%s", name);
    bool was_empty = !s->head;
    append(s, e);
    if (was_empty) arm(s);
}

static void m_files(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_upload_store *)ctx)->files);
}

static void m_bytes(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_upload_store *)ctx)->bytes);
}

static void m_expired(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_upload_store *)ctx)->expired);
}

static const fc_metric_family families[] = {
    {"fc_uploads_stored_files", FC_METRIC_GAUGE, "Uploads kept in the media directory now.",
     m_files},
    {"fc_uploads_stored_bytes", FC_METRIC_GAUGE, "Bytes of the uploads kept now.", m_bytes},
    {"fc_uploads_expired_total", FC_METRIC_COUNTER,
     "Uploads deleted for being older than --upload-expiry.", m_expired},
};

int fc_upload_store_metrics(fc_upload_store *s, fc_metrics *m)
{
    return fc_metrics_register_table(m, families, sizeof families / sizeof *families, s);
}

static void on_timer_closed(uv_handle_t *h)
{
    fc_upload_store *s = h->data;
    s->timer_closed = true;
    maybe_free(s);
}

void fc_upload_store_close(fc_upload_store *s)
{
    if (!s || s->closing) return;
    s->closing = true;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
