/* A job: a piece of heavy work for the worker pool, and what to do with its
 * result back on the loop that asked for it.
 *
 * Jobs are intrusive: the owner embeds an fc_job in its own struct (and gets
 * back to it with container_of-style casts), so submitting costs no
 * allocation in the pool. */
#ifndef FC_CORE_JOB_H
#define FC_CORE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fc_loop;

/* What the CPU a job uses is accounted to (see /metrics). */
typedef enum {
    FC_ROLE_SOURCE = 0, /* producing raw frames: rendering, decoding */
    FC_ROLE_ENCODE,     /* compressing frames for subscribers */
    FC_ROLE_ANALYSIS,   /* inference and its pre/post-processing */
    FC_ROLE_VIEW,       /* derived views of a frame: the PTZ crop */
    FC_ROLE_OTHER,
    FC_ROLE_COUNT
} fc_role;

const char *fc_role_name(fc_role role);

/* Which queue of the pool a job waits in. A worker takes the oldest job of
 * the most urgent class that has one: set-up work never delays a frame, and
 * work that gives memory back never waits behind work that takes more (a
 * burst of session starts cannot hold up the teardown of the sessions that
 * ended, which would only add their memory to the burst's). */
typedef enum {
    FC_JOB_REALTIME = 0, /* frame work with a deadline: render, encode, detect,
                            view, avatar frames. The default (0). */
    FC_JOB_RELEASE,      /* gives resources back, cheaply: a session's
                            teardown, expired uploads. Bounded by its callers
                            (one per session, one sweep at a time). */
    FC_JOB_SETUP,        /* what a client waits on before its first frame:
                            decoding its picture and speech, locating the
                            face, storing an upload. Bounded (see pool.h). */
    FC_JOB_CLASS_COUNT
} fc_job_class;

const char *fc_job_class_name(fc_job_class cls);

typedef struct fc_job fc_job;
typedef void (*fc_job_fn)(fc_job *job);

struct fc_job {
    fc_job_fn work;       /* runs on a worker thread */
    fc_job_fn done;       /* then runs on `loop`'s thread; may free the job */
    struct fc_loop *loop; /* where `done` runs */
    fc_role role;
    fc_job_class cls; /* the pool queue it waits in */
    uint64_t cpu_ns;  /* set by the pool: CPU that `work` used */
    /* Set by `work` (0 otherwise): how much of that CPU was another role's
     * work done in this job (an encode in the job that decoded its frame),
     * counted for that role. */
    uint64_t lent_ns;
    fc_role lent_role;
    uint64_t posted_ns; /* set by the pool: when `work` finished */
    fc_job *next;       /* queue link, owned by whoever queues the job */
    fc_job *prev;       /* the pool's queue only, under its lock */
    bool queued;        /* in a pool queue now; under the pool's lock */
    uint64_t seq;       /* the pool's: submit order (for a build without priorities) */
};

#define fc_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
