/* `framecast serve`'s options: the table (serve_opts.c) and what it fills.
 * Main thread. */
#ifndef FC_APP_SERVE_H
#define FC_APP_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "analysis/ptz.h"
#include "analysis/tracker.h"
#include "app/options.h"
#include "app/paths.h"

typedef struct fc_serve_opts {
    const char *host;
    int port;
    int synthetic; /* -1 = 4 without --source, else none */
    fc_opt_list sources;
    int size[2];
    double fps, encode_fps; /* encode_fps 0 = fps */
    int quality[3];
    double keyint; /* seconds: inter-frame codecs' periodic key frame */
    size_t queue;
    int workers; /* 0 = one per online core */
    long loops;  /* event loop threads (--loops) */
    const char *web_root;
    int ping_secs;
    unsigned max_clients;
    unsigned max_pending, max_peer_connections, header_timeout_s; /* connections (conntrack.h) */
    const char *log_level;
    bool detect; /* every stream whose spec does not say */
    double detect_fps, motion_threshold;
    const char *model;
    const char *detect_input; /* "band" or "square" */
    fc_tracker_config tracker;
    fc_ptz_config ptz;
    double idle_close;             /* pushing sources: seconds connected after the last consumer */
    const char *detect_key_frames; /* "auto", "always", "never" (stream.h's fc_key_only_policy) */
    const char *media_dir;
    const char *generator; /* plugin path; NULL = built-in puppet */
    size_t max_upload_image, max_upload_audio;
    long max_picture_pixels, max_audio_samples; /* bounds checked from headers, before decoding */
    /* Capacity and load balancing (core/capacity.h, transport/agent.h). */
    unsigned max_sessions;    /* 0 = FC_SESSIONS_PER_WORKER per worker thread */
    unsigned max_subscribers; /* 0 = no budget of their own (--max-clients bounds them) */
    int agent_port;           /* -1 = no agent; 0 = a free port */
    const char *agent_host;
    const char *load_admission; /* "on": the load refuses new work too; "off": budgets only */
    int drain_timeout;          /* seconds running sessions get to finish at SIGTERM */
    const char *janus_url, *janus_admin_key; /* WebRTC through Janus; NULL = none */
    fc_paths paths;                          /* where the defaults of web_root and model point */
    /* The stream API and who may use it (docs/api.md). */
    const char *db;            /* --db; FRAMECAST_DB overrides it */
    const char *api_key_file;  /* NULL: FRAMECAST_API_KEY, or no key */
    const char *viewer_tokens; /* "off" or "required" */
    size_t max_streams;
    size_t max_live_sessions; /* avatar sessions alive at once, ending ones included */
    size_t max_setup_jobs;    /* set-up jobs queued at once (the pool's FC_JOB_SETUP limit) */
    unsigned upload_timeout_s, upload_expiry_s;
    size_t upload_min_rate, upload_max_files, upload_quota;
} fc_serve_opts;

/* The variable that overrides --db, so a run can point at an isolated
 * database without changing its command line. */
#define FC_DB_ENV "FRAMECAST_DB"

/* The default session budget per worker thread: the realtime sessions of
 * the built-in puppet (512x512, JPEG) one worker of this project's 2-core
 * reference machine keeps at zero missed deadlines with room to spare
 * (docs/benchmarks.md, "Admission"). */
#define FC_SESSIONS_PER_WORKER 24

/* Fills `o` from argv over the defaults. 0, 1 (--help printed) or 2 (a
 * usage error printed). */
int fc_serve_parse(int argc, char **argv, fc_serve_opts *o);

#endif
