#include "core/loops.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

struct fc_loop_thread {
    fc_loop loop;
    uv_async_t stop; /* the keep-alive: closed when the set stops */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool ready, failed;
    void (*on_exit)(void *arg);
    void *exit_arg;
};

int fc_loops_default(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) return 1;
    return n > FC_LOOPS_MAX ? FC_LOOPS_MAX : (int)n;
}

static void on_stop(uv_async_t *h)
{
    fc_loop_thread *t = h->data;
    uv_close((uv_handle_t *)&t->stop, NULL);
    fc_loop_close(&t->loop);
}

static void say_ready(fc_loop_thread *t, bool failed)
{
    pthread_mutex_lock(&t->mu);
    t->ready = true;
    t->failed = failed;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void *run(void *arg)
{
    fc_loop_thread *t = arg;
    if (fc_loop_init(&t->loop) != 0) {
        say_ready(t, true);
        return NULL;
    }
    if (uv_async_init(&t->loop.uv, &t->stop, on_stop) != 0) {
        fc_loop_close(&t->loop);
        uv_run(&t->loop.uv, UV_RUN_DEFAULT);
        uv_loop_close(&t->loop.uv);
        say_ready(t, true);
        return NULL;
    }
    t->stop.data = t;
    say_ready(t, false);
    uv_run(&t->loop.uv, UV_RUN_DEFAULT);
    if (t->on_exit) t->on_exit(t->exit_arg);
    /* Every handle is closed (that is why uv_run returned). */
    uv_loop_close(&t->loop.uv);
    return NULL;
}

/* Blocks (no spinning) until the thread has its loop up, or could not. */
static bool wait_ready(fc_loop_thread *t)
{
    pthread_mutex_lock(&t->mu);
    while (!t->ready)
        pthread_cond_wait(&t->cv, &t->mu);
    bool ok = !t->failed;
    pthread_mutex_unlock(&t->mu);
    return ok;
}

int fc_loops_start(fc_loops *set, int n, fc_loop *main)
{
    if (n < 1 || n > FC_LOOPS_MAX) return -EINVAL;
    set->n = 1;
    set->loop[0] = main;
    set->threads = n > 1 ? calloc((size_t)n - 1, sizeof *set->threads) : NULL;
    if (n > 1 && !set->threads) return -ENOMEM;
    for (int i = 1; i < n; i++) {
        fc_loop_thread *t = &set->threads[i - 1];
        pthread_mutex_init(&t->mu, NULL);
        pthread_cond_init(&t->cv, NULL);
        int rc = pthread_create(&t->thread, NULL, run, t);
        bool ok = rc == 0 && wait_ready(t);
        if (!ok) {
            if (rc == 0) pthread_join(t->thread, NULL);
            fc_loops_stop(set);
            fc_loops_join(set);
            return rc != 0 ? -rc : -EIO;
        }
        set->loop[set->n++] = &t->loop;
    }
    return 0;
}

void fc_loops_on_exit(fc_loops *set, int i, void (*fn)(void *arg), void *arg)
{
    set->threads[i - 1].on_exit = fn;
    set->threads[i - 1].exit_arg = arg;
}

void fc_loops_stop(fc_loops *set)
{
    for (int i = 1; i < set->n; i++)
        uv_async_send(&set->threads[i - 1].stop);
}

void fc_loops_join(fc_loops *set)
{
    for (int i = 1; i < set->n; i++)
        pthread_join(set->threads[i - 1].thread, NULL);
    free(set->threads);
    set->threads = NULL;
    set->n = 1;
}

int fc_loops_index(const fc_loops *set, const fc_loop *loop)
{
    for (int i = 0; i < set->n; i++)
        if (set->loop[i] == loop) return i;
    return 0;
}
