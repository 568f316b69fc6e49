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
    size_t queue;
    int workers; /* 0 = one per online core */
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
    const char *media_dir;
    const char *generator; /* plugin path; NULL = built-in puppet */
    size_t max_upload_image, max_upload_audio;
    long max_picture_pixels, max_audio_samples; /* bounds checked from headers, before decoding */
    size_t max_sessions;                        /* avatar sessions alive at once */
    size_t max_setup_jobs; /* set-up jobs queued at once (the pool's FC_JOB_SETUP limit) */
    unsigned upload_timeout_s, upload_expiry_s;
    size_t upload_min_rate, upload_max_files, upload_quota;
    fc_paths paths; /* where the defaults of web_root and model point */
} fc_serve_opts;

/* Fills `o` from argv over the defaults. 0, 1 (--help printed) or 2 (a
 * usage error printed). */
int fc_serve_parse(int argc, char **argv, fc_serve_opts *o);

#endif
