#include "tools/child.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAIL 4096
#define MAX_ARGS 64

struct fc_child {
    fc_child_config cfg;
    uv_process_t proc;
    uv_pipe_t err_pipe;
    bool exited, ready;
    char readbuf[4096];
    size_t tail_len;
    char tail[TAIL + 1]; /* the end of the child's stderr */
};

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
    fc_child *c = p->data;
    c->exited = true;
    uv_close((uv_handle_t *)p, NULL);
    if (c->cfg.on_exit) c->cfg.on_exit(c, status, term_signal, c->cfg.arg);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    fc_child *c = h->data;
    *buf = uv_buf_init(c->readbuf, sizeof c->readbuf);
}

static void keep_tail(fc_child *c, const char *data, size_t n)
{
    if (n >= TAIL) {
        data += n - TAIL;
        n = TAIL;
    }
    if (c->tail_len + n > TAIL) {
        size_t drop = c->tail_len + n - TAIL;
        memmove(c->tail, c->tail + drop, c->tail_len - drop);
        c->tail_len -= drop;
    }
    memcpy(c->tail + c->tail_len, data, n);
    c->tail_len += n;
    c->tail[c->tail_len] = '\0';
}

/* The port from "listening on http://HOST:PORT/", once the line is whole. */
static int find_port(const char *log)
{
    const char *p = strstr(log, "listening on http://");
    if (!p) return 0;
    const char *slash = strchr(p + 20, '/');
    if (!slash) return 0;
    const char *colon = slash;
    while (colon > p && *colon != ':')
        colon--;
    return colon > p + 20 ? atoi(colon + 1) : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    fc_child *c = s->data;
    if (n < 0) {
        uv_close((uv_handle_t *)s, NULL);
        return;
    }
    keep_tail(c, buf->base, (size_t)n);
    if (c->ready) return;
    int port = find_port(c->tail);
    if (port > 0) {
        c->ready = true;
        if (c->cfg.on_ready) c->cfg.on_ready(c, port, c->cfg.arg);
    }
}

int fc_child_start(uv_loop_t *loop, const fc_child_config *cfg, fc_child **out, char *err,
                   size_t errlen)
{
    if (cfg->nargs > MAX_ARGS - 8) {
        snprintf(err, errlen, "server: too many options (%d)", cfg->nargs);
        return -E2BIG;
    }
    fc_child *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "server: out of memory");
        return -ENOMEM;
    }
    c->cfg = *cfg;
    char exe[4096];
    size_t exe_len = sizeof exe;
    int rc = 0;
    if (cfg->program)
        snprintf(exe, sizeof exe, "%s", cfg->program);
    else
        rc = uv_exepath(exe, &exe_len);
    if (rc != 0) {
        snprintf(err, errlen, "server: cannot find this program's path: %s", uv_strerror(rc));
        free(c);
        return rc;
    }
    /* A measured server starts from the command line's streams alone, never
     * from (or into) a stream database in the working directory; through
     * the environment, so servers of builds without --db run too. */
    setenv("FRAMECAST_DB", ":memory:", 0);
    char *argv[MAX_ARGS];
    int n = 0;
    argv[n++] = exe;
    argv[n++] = "serve";
    argv[n++] = "--host";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--port";
    argv[n++] = "0";
    for (int i = 0; i < cfg->nargs; i++)
        argv[n++] = (char *)cfg->args[i];
    argv[n] = NULL;

    uv_pipe_init(loop, &c->err_pipe, 0);
    c->err_pipe.data = c->proc.data = c;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->err_pipe},
    };
    uv_process_options_t po = {
        .exit_cb = on_exit_cb,
        .file = exe,
        .args = argv,
        .stdio_count = 3,
        .stdio = stdio,
    };
    rc = uv_spawn(loop, &c->proc, &po);
    if (rc != 0) {
        snprintf(err, errlen, "server: cannot start %s: %s", exe, uv_strerror(rc));
        /* A failed uv_spawn still leaves the process handle to be closed. */
        uv_close((uv_handle_t *)&c->proc, NULL);
        uv_close((uv_handle_t *)&c->err_pipe, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        free(c);
        return rc;
    }
    uv_read_start((uv_stream_t *)&c->err_pipe, on_alloc, on_read);
    *out = c;
    return 0;
}

int fc_child_pid(const fc_child *c)
{
    return c->proc.pid;
}

void fc_child_signal(fc_child *c, int signum)
{
    if (!c->exited) uv_process_kill(&c->proc, signum);
}

const char *fc_child_log_tail(const fc_child *c)
{
    return c->tail;
}

void fc_child_free(fc_child *c)
{
    free(c);
}
