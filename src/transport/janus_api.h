/* What an answer of Janus's HTTP API says, for fc_janus (janus.c): one pure
 * function from the bytes of an answer (at most what fc_httpc accepts) to
 * the few facts the client acts on. Any thread; it keeps nothing, so it can
 * be fed any bytes (tests/unit/test_janus_api.c uses answers captured from
 * Janus 1.1.2; a fuzz harness may use anything). */
#ifndef FC_TRANSPORT_JANUS_API_H
#define FC_TRANSPORT_JANUS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Janus's own API error codes (apierror.h) and the Streaming plugin's. */
#define FC_JANUS_NO_SUCH_SESSION 458
#define FC_JANUS_NO_SUCH_HANDLE 459
#define FC_STREAMING_NO_SUCH_MOUNTPOINT 455
#define FC_STREAMING_CANT_CREATE 456

typedef struct fc_janus_ports {
    uint64_t id;    /* the mountpoint id viewers ask Janus to watch */
    char host[48];  /* the address Janus bound the ports to: send there */
    int video;      /* RTP port for video, 0 = none */
    int video_rtcp; /* where PLI/FIR/REMB come from and sender reports go */
    int audio;      /* RTP port for Opus, 0 = none */
} fc_janus_ports;

typedef enum {
    FC_JANUS_ANSWER_SUCCESS, /* "success": a session, handle, or plugin answer */
    FC_JANUS_ANSWER_ACK,     /* "ack" (to a keepalive) */
    FC_JANUS_ANSWER_ERROR,   /* "error": code and reason */
    FC_JANUS_ANSWER_EVENTS,  /* a long poll's events and keepalives */
} fc_janus_answer_kind;

typedef struct fc_janus_answer {
    fc_janus_answer_kind kind;
    int code;          /* FC_JANUS_ANSWER_ERROR: Janus's error code */
    char reason[160];  /* and its reason */
    bool session_gone; /* an error, or a long-poll event, says "no such session/handle" */
    uint64_t id;       /* SUCCESS to create or attach: the new session or handle id */
    /* SUCCESS with the Streaming plugin's data: */
    bool plugin;
    int plugin_code;         /* its error_code; 0 = none */
    char plugin_reason[160]; /* its error */
    bool created;            /* "streaming":"created", with `ports` */
    fc_janus_ports ports;    /* of the created stream; host empty if Janus named none */
} fc_janus_answer;

/* Returns 0 with *out filled, or -EBADMSG with the reason in err when the
 * bytes are not a Janus API answer (not JSON, no "janus" field, a created
 * stream without an id or with ports out of range). */
int fc_janus_answer_parse(const char *body, size_t len, fc_janus_answer *out, char *err,
                          size_t errlen);

#endif
