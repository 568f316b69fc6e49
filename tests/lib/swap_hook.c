/* Built without large-file renaming: it must define open and open64 both. */
#undef _FILE_OFFSET_BITS
/* A test-only LD_PRELOAD library that races a symlink swap against a path
 * check deterministically: the first time the process opens a path that
 * contains $FC_SWAP_MATCH (with open, openat, fopen or openat2), it first
 * renames the directory $FC_SWAP_DIR to $FC_SWAP_DIR.checked and puts a
 * symbolic link to $FC_SWAP_TARGET in its place, then lets the open go on.
 * So the swap lands exactly between whatever checked the path before and the
 * open, every time, with no timing involved.
 *
 * FC_SWAP_NO_OPENAT2=1 also makes openat2 fail with ENOSYS, as on kernels
 * before 5.6, so the server's fallback walk is raced the same way. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int swapped;

static void maybe_swap(const char *path)
{
    const char *match = getenv("FC_SWAP_MATCH");
    const char *dir = getenv("FC_SWAP_DIR");
    const char *target = getenv("FC_SWAP_TARGET");
    if (!path || !match || !dir || !target || !strstr(path, match)) return;
    if (atomic_exchange(&swapped, 1)) return;
    char moved[4096];
    snprintf(moved, sizeof moved, "%s.checked", dir);
    if (rename(dir, moved) != 0 || symlink(target, dir) != 0) {
        fprintf(stderr, "swap_hook: cannot swap %s for a link to %s\n", dir, target);
        abort();
    }
    fprintf(stderr, "swap_hook: %s is now a link to %s (opening %s)\n", dir, target, path);
}

static void *next(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (!fn) abort();
    return fn;
}

/* Every open that can take a path, under both of glibc's names. */
#define OPEN_HOOK(name)                                                                            \
    int name(const char *path, int flags, ...)                                                     \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode_t mode = (mode_t)va_arg(ap, int);                                                     \
        va_end(ap);                                                                                \
        maybe_swap(path);                                                                          \
        int (*real)(const char *, int, ...) = next(#name);                                         \
        return real(path, flags, mode);                                                            \
    }
#define OPENAT_HOOK(name)                                                                          \
    int name(int dirfd, const char *path, int flags, ...)                                          \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode_t mode = (mode_t)va_arg(ap, int);                                                     \
        va_end(ap);                                                                                \
        maybe_swap(path);                                                                          \
        int (*real)(int, const char *, int, ...) = next(#name);                                    \
        return real(dirfd, path, flags, mode);                                                     \
    }
#define FOPEN_HOOK(name)                                                                           \
    FILE *name(const char *path, const char *mode)                                                 \
    {                                                                                              \
        maybe_swap(path);                                                                          \
        FILE *(*real)(const char *, const char *) = next(#name);                                   \
        return real(path, mode);                                                                   \
    }

OPEN_HOOK(open)
OPEN_HOOK(open64)
OPENAT_HOOK(openat)
OPENAT_HOOK(openat64)
FOPEN_HOOK(fopen)
FOPEN_HOOK(fopen64)

/* glibc 2.36 has no openat2 wrapper: callers go through syscall(). */
long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_openat2) {
        /* On such a kernel the call opens nothing, so nothing is swapped. */
        const char *no = getenv("FC_SWAP_NO_OPENAT2");
        if (no && strcmp(no, "1") == 0) {
            errno = ENOSYS;
            return -1;
        }
        maybe_swap((const char *)a[1]);
    }
    long (*real)(long, ...) = next("syscall");
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
