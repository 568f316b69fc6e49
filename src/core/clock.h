/* Clocks. Monotonic nanoseconds for pacing and intervals; wall-clock Unix
 * seconds only for capture timestamps that leave the process; thread CPU
 * clocks for accounting. All callable from any thread. */
#ifndef FC_CORE_CLOCK_H
#define FC_CORE_CLOCK_H

#include <pthread.h>
#include <stdint.h>

uint64_t fc_now_ns(void);        /* CLOCK_MONOTONIC */
double fc_wall_seconds(void);    /* CLOCK_REALTIME as Unix seconds */
uint64_t fc_thread_cpu_ns(void); /* CPU used by the calling thread */
uint64_t fc_process_cpu_ns(void);
/* CPU used so far by another thread of this process; 0 if it cannot be read. */
uint64_t fc_thread_cpu_ns_of(pthread_t thread);

#endif
