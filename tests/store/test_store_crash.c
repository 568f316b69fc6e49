/* kill -9 during writes: a real child process (store_writer) commits the
 * workload in a loop through fc_store; the test kills it with SIGKILL at a
 * point it picks at random (after a random number of acknowledged commits,
 * 0 = while it opens the file, plus a random sub-write delay), reopens the
 * file with fc_store_open (integrity and foreign-key checks included) and
 * requires the state of a whole number of writes: every acknowledged one,
 * plus at most the ones still in flight, never half of one. The next child
 * carries on from the state found; every FRESH_EVERY rounds it starts on a
 * new file, so some kills land while the schema is being created. Bounded:
 * ROUNDS kills or TIME_LIMIT seconds, whichever comes first.
 * FC_CRASH_SEED=N replays a run. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "workload.h"

#define ROUNDS 100
#define MIN_ROUNDS 10
#define FRESH_EVERY 10
#define TIME_LIMIT 60
#define WINDOW 4
#define MAX_ACKS 30
#define MAX_DELAY_US 3000
#define MAX_OPEN_DELAY_US 20000
#define ACK_TIMEOUT_MS 20000

extern char **environ;

typedef struct child {
    pid_t pid;
    int out;       /* read end of its stdout */
    char buf[256]; /* a partial line */
    size_t len;
    int64_t last_acked; /* the last write number it printed */
    long long acks;
} child;

static void spawn_writer(const char *writer, const char *path, int64_t first, child *c)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    char first_s[32], window_s[8];
    snprintf(first_s, sizeof first_s, "%lld", (long long)first);
    snprintf(window_s, sizeof window_s, "%d", WINDOW);
    char *argv[] = {(char *)writer, (char *)path, first_s, window_s, NULL};
    int rc = posix_spawn(&c->pid, writer, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) fail_msg("cannot start %s: %s", writer, strerror(rc));
    c->out = fds[0];
    c->len = 0;
    c->last_acked = first - 1;
    c->acks = 0;
}

/* Reads what the child wrote; blocks up to timeout_ms (-1: until EOF).
 * Returns 0 at EOF, 1 otherwise. */
static int read_acks(child *c, int timeout_ms)
{
    struct pollfd p = {.fd = c->out, .events = POLLIN};
    int rc = poll(&p, 1, timeout_ms);
    if (rc == 0) fail_msg("the writer acknowledged nothing for %d ms", timeout_ms);
    assert_true(rc > 0 || errno == EINTR);
    ssize_t n = read(c->out, c->buf + c->len, sizeof c->buf - 1 - c->len);
    assert_true(n >= 0);
    if (n == 0) return 0;
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    char *line = c->buf, *nl;
    while ((nl = strchr(line, '\n'))) {
        *nl = '\0';
        int64_t v = atoll(line);
        if (v != c->last_acked + 1)
            fail_msg("acknowledgements out of order: %lld after %lld", (long long)v,
                     (long long)c->last_acked);
        c->last_acked = v;
        c->acks++;
        line = nl + 1;
    }
    c->len = strlen(line);
    memmove(c->buf, line, c->len);
    return 1;
}

static int same_row(const fc_store_stream *got, const fc_store_stream *want)
{
    return strcmp(got->id, want->id) == 0 && strcmp(got->spec, want->spec) == 0 &&
           got->encode_fps == want->encode_fps && got->detect == want->detect &&
           got->detect_fps == want->detect_fps &&
           memcmp(got->quality, want->quality, sizeof got->quality) == 0 && got->created > 0 &&
           got->created <= got->updated;
}

/* Which n in [lo, hi] has the state the file holds? -1 if none. */
static int64_t which_state(const fc_store_stream *rows, size_t n, int64_t lo, int64_t hi)
{
    for (int64_t m = lo; m <= hi; m++) {
        if (!workload_present(m)) {
            if (n == 0) return m;
            continue;
        }
        fc_store_stream want;
        workload_row(m, &want);
        if (n == 1 && same_row(&rows[0], &want)) return m;
    }
    return -1;
}

static void kill_during_writes(void **state)
{
    (void)state;
    const char *writer = getenv("FC_STORE_WRITER");
    if (!writer) fail_msg("FC_STORE_WRITER names the store_writer binary (meson sets it)");
    char dir[] = "/tmp/fc-crash-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/streams.db", dir);

    const char *seed_env = getenv("FC_CRASH_SEED");
    unsigned seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 10)
                             : (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    print_message("seed %u (FC_CRASH_SEED=%u replays it), file %s\n", seed, seed, path);

    uint64_t t0 = fc_now_ns();
    int64_t next = 1;
    int rounds = 0, unacked_starts = 0, unacked_commits = 0;
    long long acks_total = 0;
    while (rounds < ROUNDS && fc_now_ns() - t0 < (uint64_t)TIME_LIMIT * 1000000000ull) {
        if (rounds % FRESH_EVERY == 0) {
            const char *suffix[] = {"", "-wal", "-shm"};
            for (int i = 0; i < 3; i++) {
                char f[80];
                snprintf(f, sizeof f, "%s%s", path, suffix[i]);
                assert_true(unlink(f) == 0 || errno == ENOENT);
            }
            next = 1;
        }
        /* One kill in eight while the child starts and opens the file. */
        int want_acks = rand() % 8 == 0 ? 0 : 1 + rand() % MAX_ACKS;
        long delay_us = rand() % (want_acks ? MAX_DELAY_US : MAX_OPEN_DELAY_US);
        child c;
        spawn_writer(writer, path, next, &c);
        while (c.acks < want_acks)
            if (read_acks(&c, ACK_TIMEOUT_MS) == 0) break;
        struct timespec d = {0, delay_us * 1000};
        nanosleep(&d, NULL);
        kill(c.pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(c.pid, &status, 0), c.pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fail_msg("round %d: the writer ended by itself (status 0x%x) before the kill", rounds,
                     status);
        while (read_acks(&c, -1))
            ;
        close(c.out);

        fc_store *st;
        char err[1024];
        if (fc_store_open(path, &st, err, sizeof err) != 0)
            fail_msg("round %d (seed %u): after kill -9 the store does not open: %s", rounds, seed,
                     err);
        fc_store_stream *rows;
        size_t n;
        if (fc_store_load(st, 16, &rows, &n, err, sizeof err) != 0)
            fail_msg("round %d (seed %u): after kill -9: %s", rounds, seed, err);
        fc_store_close(st);
        int64_t m = which_state(rows, n, c.last_acked, c.last_acked + WINDOW);
        if (m < 0)
            fail_msg("round %d (seed %u): %zu rows%s%.0f fps do not match the state after "
                     "any of writes %lld..%lld",
                     rounds, seed, n, n ? ", encode " : "", n ? rows[0].encode_fps : 0,
                     (long long)c.last_acked, (long long)c.last_acked + WINDOW);
        free(rows);
        unacked_commits += m > c.last_acked;
        unacked_starts += c.acks == 0;
        acks_total += c.acks;
        next = m + 1;
        rounds++;
    }
    print_message("%d kills (%d before a first acknowledged commit), %lld commits "
                  "acknowledged, %d found committed but not yet acknowledged, %.1f s\n",
                  rounds, unacked_starts, acks_total, unacked_commits,
                  (double)(fc_now_ns() - t0) / 1e9);
    assert_true(rounds >= MIN_ROUNDS);
    assert_true(acks_total > 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill_during_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
