/* The media directory: what a client path may open. Every case runs twice,
 * with openat2 and then with openat2 blocked by a seccomp filter (as on a
 * kernel before 5.6), and must give the same answer both ways. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "avatar/media.h"

static char base[64], root[128], outside[128];
static fc_media media;

static void put(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void at(char *out, size_t len, const char *dir, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static int setup(void **state)
{
    (void)state;
    snprintf(base, sizeof base, "/tmp/fc-test-media-XXXXXX");
    assert_non_null(mkdtemp(base));
    at(root, sizeof root, base, "media");
    at(outside, sizeof outside, base, "outside");
    assert_int_equal(mkdir(outside, 0700), 0);
    put(outside, "secret.wav", "outside");
    char err[256], p[512], q[512];
    assert_int_equal(fc_media_open(root, &media, err, sizeof err), 0); /* creates it */
    put(root, "file.png", "inside");
    at(p, sizeof p, root, "sub");
    assert_int_equal(mkdir(p, 0700), 0);
    put(p, "inner.wav", "inner");
    at(p, sizeof p, root, "link-in");
    assert_int_equal(symlink("file.png", p), 0);
    at(p, sizeof p, root, "link-out");
    at(q, sizeof q, outside, "secret.wav");
    assert_int_equal(symlink(q, p), 0);
    at(p, sizeof p, root, "dirlink");
    assert_int_equal(symlink("sub", p), 0);
    at(p, sizeof p, root, "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fc_media_close(&media);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

static int open_rc(const char *path, char *err, size_t errlen)
{
    int fd;
    int rc = fc_media_open_file(&media, path, &fd, err, errlen);
    if (rc == 0) {
        assert_true(fd >= 0);
        close(fd);
    } else {
        assert_int_equal(fd, -1);
    }
    return rc;
}

static void every_case(void)
{
    char abs_in[256], abs_out[256], longpath[1100];
    at(abs_in, sizeof abs_in, root, "sub/inner.wav");
    at(abs_out, sizeof abs_out, outside, "secret.wav");
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = 0;
    static const struct {
        const char *path;
        int rc;
        const char *says;
    } cases[] = {
        {"file.png", 0, NULL},
        {"sub/inner.wav", 0, NULL},
        {"./sub//../file.png", 0, NULL},
        {NULL /* abs_in */, 0, NULL},
        {NULL /* abs_out */, -EXDEV, "resolves outside the media directory"},
        {"/etc/passwd", -EXDEV, "resolves outside the media directory"},
        {"../outside/secret.wav", -EXDEV, "resolves outside the media directory"},
        {"sub/../../outside/secret.wav", -EXDEV, "resolves outside the media directory"},
        {"link-in", -ELOOP, "is or passes through a symbolic link"},
        {"link-out", -ELOOP, "is or passes through a symbolic link"},
        {"dirlink/inner.wav", -ELOOP, "is or passes through a symbolic link"},
        {"fifo", -EINVAL, "is not a regular file"}, /* and the open did not wait */
        {"sub", -EINVAL, "is not a regular file"},
        {"nope.wav", -ENOENT, "does not exist in the media directory"},
        {"sub/nope/x.wav", -ENOENT, "does not exist in the media directory"},
        {"file.png/x", -ENOTDIR, "does not exist in the media directory"},
        {"", -EINVAL, "empty path"},
        {NULL /* longpath */, -ENAMETOOLONG, "longer than 1024 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *path = cases[i].path;
        if (i == 3) path = abs_in;
        if (i == 4) path = abs_out;
        if (i == sizeof cases / sizeof *cases - 1) path = longpath;
        char err[512] = "";
        int rc = open_rc(path, err, sizeof err);
        if (rc != cases[i].rc) fail_msg("'%.80s': %d (%s), want %d", path, rc, err, cases[i].rc);
        if (cases[i].says && !strstr(err, cases[i].says))
            fail_msg("'%.80s': \"%s\" does not say \"%s\"", path, err, cases[i].says);
    }
}

static void resolves_beneath_the_directory(void **state)
{
    (void)state;
    every_case();
}

/* Opened means checked: a swap after the open does not change what is read. */
static void a_swap_after_the_open_cannot_redirect_the_read(void **state)
{
    (void)state;
    int fd;
    char err[256], sub[256], moved[256];
    assert_int_equal(fc_media_open_file(&media, "sub/inner.wav", &fd, err, sizeof err), 0);
    at(sub, sizeof sub, root, "sub");
    at(moved, sizeof moved, root, "sub.moved");
    assert_int_equal(rename(sub, moved), 0);
    assert_int_equal(symlink(outside, sub), 0);
    char got[16] = "";
    assert_int_equal(read(fd, got, sizeof got - 1), 5);
    assert_string_equal(got, "inner");
    close(fd);
    /* And the next open sees the link. */
    assert_int_equal(fc_media_open_file(&media, "sub/secret.wav", &fd, err, sizeof err), -ELOOP);
    assert_int_equal(unlink(sub), 0);
    assert_int_equal(rename(moved, sub), 0);
}

static void uploads_are_stored_beneath_it(void **state)
{
    (void)state;
    char name[64], err[256];
    assert_int_equal(fc_media_store(&media, (const uint8_t *)"RIFF", 4, FC_MEDIA_WAV, name,
                                    sizeof name, err, sizeof err),
                     0);
    assert_int_equal(strncmp(name, "up-", 3), 0);
    int fd;
    assert_int_equal(fc_media_open_file(&media, name, &fd, err, sizeof err), 0);
    char got[8] = "";
    assert_int_equal(read(fd, got, sizeof got), 4);
    assert_memory_equal(got, "RIFF", 4);
    close(fd);
}

static void a_missing_or_odd_directory_is_a_clear_error(void **state)
{
    (void)state;
    fc_media m;
    char err[512] = "", p[256];
    at(p, sizeof p, root, "file.png");
    assert_true(fc_media_open(p, &m, err, sizeof err) < 0);
    assert_non_null(strstr(err, "not a directory"));
    fc_media_close(&m); /* a failed open leaves nothing to close */
}

/* openat2 now fails with ENOSYS for the rest of this process. */
static void block_openat2(void)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat2, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof filter / sizeof *filter, .filter = filter};
    assert_int_equal(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    assert_int_equal(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
    assert_int_equal(syscall(SYS_openat2, AT_FDCWD, ".", NULL, 0), -1);
    assert_int_equal(errno, ENOSYS);
}

static void resolves_the_same_without_openat2(void **state)
{
    (void)state;
    block_openat2();
    every_case();
    a_swap_after_the_open_cannot_redirect_the_read(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resolves_beneath_the_directory),
        cmocka_unit_test(a_swap_after_the_open_cannot_redirect_the_read),
        cmocka_unit_test(uploads_are_stored_beneath_it),
        cmocka_unit_test(a_missing_or_odd_directory_is_a_clear_error),
        /* Last: the filter stays for the rest of the process. */
        cmocka_unit_test(resolves_the_same_without_openat2),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
