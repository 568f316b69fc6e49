/* fc_child: a `framecast serve` child process on an ephemeral loopback port,
 * for the bench. The child is this very binary (/proc/self/exe), or another
 * framecast build for an A/B of two, started as
 * `serve --host 127.0.0.1 --port 0 ARGS...`; its port is read from the
 * "listening on http://HOST:PORT/" line it logs, and the last few kilobytes of
 * its log are kept to explain a failure. SIGTERM makes the server close its
 * connections and exit; SIGKILL is for one that does not.
 *
 * Ownership: the caller frees the fc_child with fc_child_free after on_exit
 * has run and uv_run has returned. Loop thread only. */
#ifndef FC_TOOLS_CHILD_H
#define FC_TOOLS_CHILD_H

#include <stdint.h>
#include <uv.h>

typedef struct fc_child fc_child;

typedef struct fc_child_config {
    const char *program;     /* the framecast binary; NULL = this program */
    const char *const *args; /* serve options after the host and port */
    int nargs;
    void (*on_ready)(fc_child *child, int port, void *arg);
    /* The process is gone: exit status, or the signal that ended it. */
    void (*on_exit)(fc_child *child, int64_t status, int term_signal, void *arg);
    void *arg;
} fc_child_config;

/* 0, or a negative errno with err naming the program and the cause. */
int fc_child_start(uv_loop_t *loop, const fc_child_config *cfg, fc_child **out, char *err,
                   size_t errlen);
int fc_child_pid(const fc_child *child);
/* Sends `signum`; a no-op once the process has exited. */
void fc_child_signal(fc_child *child, int signum);
/* The end of what the child logged, NUL-terminated. */
const char *fc_child_log_tail(const fc_child *child);
void fc_child_free(fc_child *child);

#endif
