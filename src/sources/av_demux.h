/* fc_demux: the one thread of a pushing source. It connects (opens the
 * file, the RTSP session, the device), reads packets and hands them to the
 * loop, and owns the source's state:
 *
 *   idle        nothing wants its data: no connection (a file is opened at
 *               start, wanted or not, and stays open, paused where it was)
 *   connecting  opening
 *   live        packets arrive
 *   retrying    the connection failed or was lost (last error kept); the
 *               next attempt comes after a backoff (sources/backoff.h)
 *   ended       a file without `loop` reached its end
 *   failed      it will not come back by itself (missing file, RTSP 401/404,
 *               no video, unsupported codec); stays so until stopped
 *
 * The thread blocks in the kernel (in FFmpeg's read, or on a condition
 * variable while it paces a file, backs off or is idle) and never polls; a
 * watchdog deadline re-armed before every read turns a stall into a
 * reconnect. FFmpeg's own network code waits in slices of 100 ms so that it
 * can call that watchdog; that is the only periodic wake-up, and only while
 * a session is open.
 *
 * Packets go to the loop through a bounded hand-off (fc_pktq: 64 packets,
 * 32 MiB; a full one drops to the next key frame, counted) and one coalesced
 * uv_async. Capture times are wall-clock time of arrival (for a file: of the
 * moment its timestamps say it is due, read at its own rate against the
 * monotonic clock), strictly increasing across reconnects and rewinds.
 *
 * Threads: every fc_demux_* function is for the loop thread that started
 * it. */
#ifndef FC_SOURCES_AV_DEMUX_H
#define FC_SOURCES_AV_DEMUX_H

#include <stdbool.h>
#include <stddef.h>

#include "core/loop.h"
#include "sources/av_input.h"
#include "sources/packet.h"
#include "sources/source.h"

typedef struct fc_demux_cfg {
    fc_av_input_cfg input; /* strings are copied */
    bool paced;            /* files: hand packets on at the rate of their timestamps */
    bool loop;             /* files: rewind at the end, seamlessly */
    double idle_close;     /* others: seconds to stay connected with nothing wanted */
} fc_demux_cfg;

typedef struct fc_demux fc_demux;

/* Loop thread: packets, a state change or the thread's exit wait in the
 * demux; take them with fc_demux_state_changed, fc_demux_take and
 * fc_demux_exited. */
typedef void (*fc_demux_notify_fn)(void *ctx);

/* Starts the thread (idle until something is wanted). */
int fc_demux_start(fc_loop *loop, const fc_demux_cfg *cfg, fc_demux_notify_fn notify, void *ctx,
                   fc_demux **out, char *err, size_t errlen);
/* Whether anybody wants packets now. Nothing wanted for idle_close seconds
 * closes a network session or device; a file pauses at once. */
void fc_demux_set_wanted(fc_demux *d, bool wanted);
/* Moves up to max handed-off packets into out (the caller owns them);
 * returns how many. */
int fc_demux_take(fc_demux *d, fc_packet **out, int max);
/* Copies state and counters into *st. */
void fc_demux_status(fc_demux *d, fc_source_status *st);
/* Copies state and counters into *st, as fc_demux_status, and says whether
 * the state changed since the last call (one snapshot: the flag is about
 * that very state). */
bool fc_demux_state_changed(fc_demux *d, fc_source_status *st);
/* Asks the thread to end; notify fires once it has (fc_demux_exited). */
void fc_demux_stop(fc_demux *d);
bool fc_demux_exited(fc_demux *d);
/* After fc_demux_exited: joins, closes the loop handle and frees; `closed`
 * runs on the loop once that is done. */
void fc_demux_close(fc_demux *d, void (*closed)(void *ctx), void *ctx);

#endif
