#include "transport/loop_servers.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "transport/ws_remote.h"

static const fc_endpoint *const remote_endpoints[] = {&fc_ws_remote_endpoint};

struct fc_loop_server {
    fc_loop *loop;
    fc_http_server_config cfg;
    fc_http_server *http;
    bool serving; /* its loop: from the server's start until it drained */
    uv_async_t inbox_wake;
    bool inbox_made;
    fc_job start_job, stop_job, stopped_job;
    fc_loop *back;
    void (*stopped)(void *arg);
    void *stopped_arg;

    /* Start-up: the first loop waits for the server to be made. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool started, stop_done;
    int start_rc;
    char err[400];

    /* The inbox, under mu. */
    fc_handoff *head, *tail;
    bool open;
};

static void on_gone(void *opaque)
{
    fc_router_gone(opaque);
}

/* Takes every queued connection; one that lws cannot take is closed (by
 * lws) and goes back at once. */
static void on_inbox(uv_async_t *h)
{
    fc_loop_server *ls = h->data;
    pthread_mutex_lock(&ls->mu);
    fc_handoff *list = ls->head;
    ls->head = ls->tail = NULL;
    pthread_mutex_unlock(&ls->mu);
    while (list) {
        fc_handoff *next = list->next;
        list->next = NULL;
        if (fc_http_server_adopt(ls->http, list->fd, list) != 0) {
            fc_warn("loop %d: could not take a connection (lws refused it)", list->loop);
            fc_router_gone(list);
        }
        list = next;
    }
}

static void say_started(fc_loop_server *ls, int rc)
{
    pthread_mutex_lock(&ls->mu);
    ls->started = true;
    ls->start_rc = rc;
    pthread_cond_signal(&ls->cv);
    pthread_mutex_unlock(&ls->mu);
}

static void start_here(fc_job *job)
{
    fc_loop_server *ls = fc_container_of(job, fc_loop_server, start_job);
    int rc =
        fc_http_server_start(ls->loop, &ls->cfg, NULL, NULL, &ls->http, ls->err, sizeof ls->err);
    if (rc == 0 && (rc = uv_async_init(&ls->loop->uv, &ls->inbox_wake, on_inbox)) == 0) {
        ls->inbox_wake.data = ls;
        ls->inbox_made = true;
        ls->serving = true;
        pthread_mutex_lock(&ls->mu);
        ls->open = true;
        pthread_mutex_unlock(&ls->mu);
    } else if (rc != 0 && !ls->err[0]) {
        snprintf(ls->err, sizeof ls->err, "cannot wake the loop: %s", uv_strerror(rc));
    }
    say_started(ls, rc);
}

int fc_loop_server_start(fc_loop *loop, const fc_http_server_config *cfg, fc_loop_server **out,
                         char *err, size_t errlen)
{
    fc_loop_server *ls = calloc(1, sizeof *ls);
    if (!ls) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    ls->loop = loop;
    ls->cfg = *cfg;
    ls->cfg.adopted = true;
    ls->cfg.gone = on_gone;
    ls->cfg.endpoints = remote_endpoints;
    ls->cfg.nendpoints = 1;
    ls->cfg.router = NULL;
    ls->cfg.capacity = NULL; /* the router admits (router.h) */
    ls->cfg.web_root = NULL;
    ls->cfg.media = NULL;
    ls->cfg.avatar = NULL;
    ls->cfg.api = NULL;
    ls->cfg.webrtc = NULL;
    ls->cfg.auth = NULL;
    pthread_mutex_init(&ls->mu, NULL);
    pthread_cond_init(&ls->cv, NULL);
    fc_loop_run(loop, &ls->start_job, start_here);
    pthread_mutex_lock(&ls->mu);
    while (!ls->started)
        pthread_cond_wait(&ls->cv, &ls->mu);
    pthread_mutex_unlock(&ls->mu);
    *out = ls;
    if (ls->start_rc != 0) snprintf(err, errlen, "loop server: %s", ls->err);
    return ls->start_rc;
}

void fc_loop_server_give(fc_loop_server *ls, fc_handoff *h)
{
    pthread_mutex_lock(&ls->mu);
    bool open = ls->open;
    if (open) {
        h->next = NULL;
        if (ls->tail)
            ls->tail->next = h;
        else
            ls->head = h;
        ls->tail = h;
        uv_async_send(&ls->inbox_wake);
    }
    pthread_mutex_unlock(&ls->mu);
    if (!open) {
        close(h->fd);
        fc_router_gone(h);
    }
}

static void stopped_back(fc_job *job)
{
    fc_loop_server *ls = fc_container_of(job, fc_loop_server, stopped_job);
    ls->stopped(ls->stopped_arg);
}

/* Every viewer has had its close frame (1001) and gone, or a second
 * passed: lws closes the rest. */
static void on_drained(fc_http_server *http, void *arg)
{
    (void)http;
    fc_loop_server *ls = arg;
    if (ls->inbox_made) uv_close((uv_handle_t *)&ls->inbox_wake, NULL);
    ls->serving = false;
    /* Each wsi's destroy sends its close back (fc_router_gone) first. */
    fc_http_server_destroy(ls->http);
    if (ls->back) {
        fc_loop_run(ls->back, &ls->stopped_job, stopped_back);
        return;
    }
    pthread_mutex_lock(&ls->mu);
    ls->stop_done = true;
    pthread_cond_signal(&ls->cv);
    pthread_mutex_unlock(&ls->mu);
}

static void stop_here(fc_job *job)
{
    fc_loop_server *ls = fc_container_of(job, fc_loop_server, stop_job);
    pthread_mutex_lock(&ls->mu);
    ls->open = false;
    fc_handoff *list = ls->head;
    ls->head = ls->tail = NULL;
    pthread_mutex_unlock(&ls->mu);
    while (list) {
        fc_handoff *next = list->next;
        close(list->fd);
        fc_router_gone(list);
        list = next;
    }
    if (ls->http)
        fc_http_server_drain(ls->http, 0, on_drained, ls);
    else
        on_drained(NULL, ls);
}

void fc_loop_server_stop(fc_loop_server *ls, fc_loop *back, void (*stopped)(void *arg), void *arg)
{
    ls->back = back;
    ls->stopped = stopped;
    ls->stopped_arg = arg;
    fc_loop_run(ls->loop, &ls->stop_job, stop_here);
}

void fc_loop_server_stop_wait(fc_loop_server *ls)
{
    ls->back = NULL;
    fc_loop_run(ls->loop, &ls->stop_job, stop_here);
    pthread_mutex_lock(&ls->mu);
    while (!ls->stop_done)
        pthread_cond_wait(&ls->cv, &ls->mu);
    pthread_mutex_unlock(&ls->mu);
}

void fc_loop_server_counts(const fc_loop_server *ls, fc_http_server_counts *out)
{
    if (ls->serving) {
        fc_http_server_get_counts(ls->http, out);
        return;
    }
    memset(out, 0, sizeof *out);
}

void fc_loop_server_free(fc_loop_server *ls)
{
    if (!ls) return;
    fc_http_server_free(ls->http);
    pthread_mutex_destroy(&ls->mu);
    pthread_cond_destroy(&ls->cv);
    free(ls);
}
