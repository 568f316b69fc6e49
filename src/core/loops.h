/* fc_loops: the set of event loops a server runs (`serve --loops N`).
 *
 * Loop 0 is the caller's: it is initialised and run by whoever owns the
 * process's main thread (serve.c), as with one loop. Loops 1..N-1 each get
 * a thread of their own that initialises its fc_loop there (the loop's
 * owner thread, loop.h) and runs it until fc_loops_stop; a keep-alive handle
 * holds each one up while it has nothing else. Nothing crosses between loops
 * but fc_loop_post_done (a job whose `done` runs on the other loop) and the
 * relays of hub/relay.h, both bounded by what their owners queue.
 *
 * fc_loops_start and fc_loops_join: loop 0's thread. fc_loops_stop: any
 * thread. */
#ifndef FC_CORE_LOOPS_H
#define FC_CORE_LOOPS_H

#include <pthread.h>
#include <stdint.h>

#include "core/loop.h"

#define FC_LOOPS_MAX 64

typedef struct fc_loop_thread fc_loop_thread;

typedef struct fc_loops {
    int n;
    fc_loop *loop[FC_LOOPS_MAX]; /* loop[0] is the caller's */
    fc_loop_thread *threads;     /* n - 1 of them */
} fc_loops;

/* The number of online cores, at most FC_LOOPS_MAX: the default for
 * --loops. At least 1. */
int fc_loops_default(void);
/* Starts loops 1..n-1 (each ready when this returns) next to `main`, which
 * becomes loop 0. 0, or a negative errno (nothing is left running). */
int fc_loops_start(fc_loops *set, int n, fc_loop *main);
/* Loop i's thread calls fn(arg) after its loop returned, before the loop
 * is closed (lws's last destroy wants the loop). Before fc_loops_stop. */
void fc_loops_on_exit(fc_loops *set, int i, void (*fn)(void *arg), void *arg);
/* Lets loops 1..n-1 return once nothing else holds them up (their
 * relays and servers closed first). Any thread; once. */
void fc_loops_stop(fc_loops *set);
/* Waits for the threads of loops 1..n-1 and frees their loops. */
void fc_loops_join(fc_loops *set);
/* Which of the set `loop` is (0 when it is not one of them). */
int fc_loops_index(const fc_loops *set, const fc_loop *loop);

#endif
