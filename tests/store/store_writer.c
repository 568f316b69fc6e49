/* The process tests/store/test_store_crash.c kills: opens the store at
 * argv[1] and commits the workload's writes argv[2], argv[2] + 1, ... with
 * up to argv[3] in flight, printing each write's number on stdout once its
 * `done` has run (after the commit). It stops by itself after 100000 writes
 * or 120 s, and dies with its parent. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/loop.h"
#include "workload.h"

#define MAX_WINDOW 8
#define MAX_WRITES 100000
#define MAX_SECONDS 120

typedef struct req {
    fc_store_write w;
    int64_t n;
} req;

static fc_store *store;
static fc_loop loop;
static int64_t next_n, last_n;
static int inflight;
static uint64_t deadline_ns;

static void submit(req *r);

static void on_done(fc_job *job)
{
    req *r = fc_container_of(job, req, w.job);
    if (r->w.result != 0) {
        fprintf(stderr, "store_writer: write %lld failed: %s\n", (long long)r->n, r->w.err);
        exit(3);
    }
    /* One write(2) per line, so the test never sees half a number. */
    char line[32];
    int len = snprintf(line, sizeof line, "%lld\n", (long long)r->n);
    if (write(STDOUT_FILENO, line, (size_t)len) != len) exit(4);
    inflight--;
    if (next_n <= last_n && fc_now_ns() < deadline_ns)
        submit(r);
    else if (inflight == 0)
        fc_loop_close(&loop);
}

static void submit(req *r)
{
    r->n = next_n++;
    r->w.op = workload_op(r->n);
    workload_row(r->n, &r->w.row);
    r->w.job.done = on_done;
    r->w.job.loop = &loop;
    int rc = fc_store_submit(store, &r->w);
    if (rc != 0) {
        fprintf(stderr, "store_writer: submit %lld: %s\n", (long long)r->n, r->w.err);
        exit(3);
    }
    inflight++;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: store_writer DB FIRST WINDOW\n");
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    next_n = atoll(argv[2]);
    int window = atoi(argv[3]);
    if (next_n < 1 || window < 1 || window > MAX_WINDOW) {
        fprintf(stderr, "store_writer: FIRST >= 1, WINDOW 1-%d\n", MAX_WINDOW);
        return 2;
    }
    last_n = next_n + MAX_WRITES - 1;
    deadline_ns = fc_now_ns() + (uint64_t)MAX_SECONDS * 1000000000ull;
    char err[1024] = "cannot start a libuv loop";
    if (fc_loop_init(&loop) != 0 || fc_store_open(argv[1], &store, err, sizeof err) != 0) {
        fprintf(stderr, "store_writer: %s\n", err);
        return 1;
    }
    static req reqs[MAX_WINDOW];
    for (int i = 0; i < window; i++)
        submit(&reqs[i]);
    uv_run(&loop.uv, UV_RUN_DEFAULT);
    fc_store_close(store);
    return 0;
}
