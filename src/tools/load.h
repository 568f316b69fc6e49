/* fc_load: many WebSocket subscribers of framecast streams in one process, for
 * `framecast client` and `framecast bench`.
 *
 * Every client is a libwebsockets client on a libuv loop the caller owns and
 * runs. Each message is validated as it arrives (header length equals payload
 * length, ids strictly increase, the payload is the codec the hello announced)
 * and reduced to counters and a latency histogram: payloads are never kept, so
 * memory is bounded by the client count (about 70 KiB per client, most of it
 * libwebsockets' receive buffer).
 *
 * A "stalled" client completes the handshake and then stops reading, to play a
 * slow consumer: its socket buffers fill and the server has to drop for it.
 *
 * Ownership: fc_load_start returns an fc_load the caller frees with
 * fc_load_free once on_finished has run and uv_run has returned (that call
 * also finishes the libwebsockets teardown, so it is not optional). Every
 * function runs on the loop's thread. */
#ifndef FC_TOOLS_LOAD_H
#define FC_TOOLS_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Capture→receive latencies in milliseconds: log-spaced buckets 3% wide from
 * 10 µs to beyond 100 s, so quantiles are within 3% without keeping samples. */
#define FC_LAT_BUCKETS 560
typedef struct fc_lat_hist {
    uint64_t count;
    double sum, min, max;
    uint32_t bucket[FC_LAT_BUCKETS];
} fc_lat_hist;

void fc_lat_hist_add(fc_lat_hist *h, double ms);
void fc_lat_hist_merge(fc_lat_hist *into, const fc_lat_hist *from);
/* The value below which fraction q of the samples fall; 0 when empty. */
double fc_lat_hist_quantile(const fc_lat_hist *h, double q);

typedef struct fc_load fc_load;

typedef struct fc_load_config {
    const char *host;
    int port;
    /* Client i subscribes to paths[i % npaths] (path and query, e.g.
     * "/ws/streams/cam0?quality=high"). */
    const char *const *paths;
    int npaths;
    int clients;
    /* Of the clients of each path, this many stop reading after the handshake. */
    int stall;
    /* Handshakes in flight at once; the next client connects when one ends,
     * so a thousand clients do not overflow the server's accept backlog. */
    int max_connecting;
    /* Every client has finished its handshake, or failed. */
    void (*on_ready)(fc_load *load, void *arg);
    /* Every client is closed: after fc_load_stop, or because all of them
     * failed or were closed by the server. */
    void (*on_finished)(fc_load *load, void *arg);
    void *arg;
} fc_load_config;

typedef enum {
    FC_LOAD_CONNECTING = 0,
    FC_LOAD_OPEN,
    FC_LOAD_CLOSED,
    FC_LOAD_FAILED,
} fc_load_state;

/* What one client saw. Counters marked "window" restart at fc_load_mark. */
typedef struct fc_load_client {
    int index;
    const char *path;
    bool stalled;
    fc_load_state state;
    char codec[16];      /* from the hello */
    unsigned tiers_seen; /* bit per tier the server said frames were in: 1 high, 2 medium, 4 low */
    double connect_ms;   /* connect → handshake done; < 0 if never */
    double first_frame_ms; /* connect → first video frame; < 0 if none */
    uint64_t frames_total;
    uint64_t frames, bytes, gaps; /* window: gaps = frame ids skipped (drops upstream) */
    uint64_t first_ns, last_ns;   /* window: monotonic time of first and last frame */
    fc_lat_hist latency;          /* window */
    uint32_t last_id;
    char error[240]; /* why the client failed; "" if it did not */
} fc_load_client;

/* Raises the open-file limit to fit `fds` descriptors (soft up to hard, and
 * hard too when the process may). Returns 0, or a negative errno with the reason in `msg`
 * when the limit stays below `fds`. */
int fc_load_raise_fd_limit(long fds, char *msg, size_t msglen);

int fc_load_start(uv_loop_t *loop, const fc_load_config *cfg, fc_load **out, char *err,
                  size_t errlen);
/* Starts the measurement window: window counters and latencies restart. */
void fc_load_mark(fc_load *load);
/* Closes every client (with a close frame when the socket allows); on_finished
 * follows once all are closed. */
void fc_load_stop(fc_load *load);
int fc_load_count(const fc_load *load);
const fc_load_client *fc_load_client_at(const fc_load *load, int i);
/* Clients in FC_LOAD_FAILED. */
int fc_load_failed(const fc_load *load);
void fc_load_free(fc_load *load);

/* The clients taken together over a window of `window_s` seconds. "Healthy"
 * clients are the ones not stalled on purpose. */
typedef struct fc_load_summary {
    int clients, connected, failed, stalled;
    uint64_t frames, bytes, gaps;                  /* window, every client */
    double fps_min, fps_median, fps_max;           /* window, per healthy client */
    double fps_sum;                                /* window, healthy clients together */
    double connect_ms_p50, connect_ms_max;         /* clients that connected */
    double first_frame_ms_p50, first_frame_ms_max; /* healthy clients with a frame */
    unsigned tiers_seen;
    fc_lat_hist latency; /* window, healthy clients merged */
} fc_load_summary;

/* Returns 0, or -ENOMEM for the median. */
int fc_load_summarize(const fc_load *load, double window_s, fc_load_summary *out);
/* "high,medium" etc. for a tiers_seen mask; "" when none. */
void fc_load_tiers_str(unsigned tiers, char *out, size_t outlen);

#endif
