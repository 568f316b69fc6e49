#include "avatar/session.h"

#include <errno.h>
#include <stddef.h>

#include "avatar/audio.h"

static void m_counter(fc_metrics_out *out, void *ctx, size_t off)
{
    fc_avatar_env *env = ctx;
    fc_metrics_sample(out, NULL, (double)*(uint64_t *)((char *)&env->stats + off));
}

#define COUNTER_FN(field)                                                                          \
    static void m_##field(fc_metrics_out *out, void *ctx)                                          \
    {                                                                                              \
        m_counter(out, ctx, offsetof(fc_avatar_stats, field));                                     \
    }
COUNTER_FN(active)
COUNTER_FN(frames_generated)
COUNTER_FN(frames_sent)
COUNTER_FN(frames_dropped)
COUNTER_FN(missed_deadlines)

static void m_sessions(fc_metrics_out *out, void *ctx)
{
    fc_avatar_stats *s = &((fc_avatar_env *)ctx)->stats;
    fc_metrics_sample(out, "outcome=\"started\"", (double)s->started);
    fc_metrics_sample(out, "outcome=\"completed\"", (double)s->completed);
    fc_metrics_sample(out, "outcome=\"stopped\"", (double)s->stopped);
    fc_metrics_sample(out, "outcome=\"failed\"", (double)s->failed);
}

static void m_refused(fc_metrics_out *out, void *ctx)
{
    fc_avatar_stats *s = &((fc_avatar_env *)ctx)->stats;
    fc_metrics_sample(out, "reason=\"sessions\"", (double)s->refused_sessions);
    fc_metrics_sample(out, "reason=\"setup\"", (double)s->refused_setup);
}

static void m_cancelled(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_avatar_env *)ctx)->stats.cancelled);
}

static void m_alive(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_avatar_env *)ctx)->holding);
}

static void m_cpu(fc_metrics_out *out, void *ctx)
{
    fc_avatar_stats *s = &((fc_avatar_env *)ctx)->stats;
    fc_metrics_sample(out, "stage=\"prepare\"", (double)s->prepare_cpu_ns / 1e9);
    fc_metrics_sample(out, "stage=\"generate\"", (double)s->generate_cpu_ns / 1e9);
    fc_metrics_sample(out, "stage=\"encode\"", (double)s->encode_cpu_ns / 1e9);
}

static void m_resamplers(fc_metrics_out *out, void *ctx)
{
    (void)ctx;
    fc_metrics_sample(out, NULL, (double)fc_audio_resamplers_created());
}

static void m_first_frame(fc_metrics_out *out, void *ctx)
{
    fc_metrics_histogram(out, NULL, &((fc_avatar_env *)ctx)->stats.first_frame_ms);
}

static const fc_metric_family families[] = {
    {"fc_avatar_sessions_active", FC_METRIC_GAUGE, "Avatar sessions preparing or streaming now",
     m_active},
    {"fc_avatar_sessions_total", FC_METRIC_COUNTER,
     "Avatar sessions by outcome (started counts every one)", m_sessions},
    {"fc_avatar_sessions_alive", FC_METRIC_GAUGE,
     "Avatar sessions holding memory or work: preparing, streaming or still ending "
     "(--max-sessions)",
     m_alive},
    {"fc_avatar_sessions_refused_total", FC_METRIC_COUNTER,
     "start_streaming refused: sessions (--max-sessions), setup (the set-up queue was full, "
     "--max-setup-jobs)",
     m_refused},
    {"fc_avatar_setups_cancelled_total", FC_METRIC_COUNTER,
     "Sessions stopped before their set-up ran; it never did", m_cancelled},
    {"fc_avatar_frames_generated_total", FC_METRIC_COUNTER, "Avatar frames generated and encoded",
     m_frames_generated},
    {"fc_avatar_frames_sent_total", FC_METRIC_COUNTER, "Avatar frames handed to client sockets",
     m_frames_sent},
    {"fc_avatar_frames_dropped_total", FC_METRIC_COUNTER,
     "Avatar frames dropped from full client queues", m_frames_dropped},
    {"fc_avatar_missed_deadlines_total", FC_METRIC_COUNTER,
     "Realtime avatar frames skipped or ready after the next was due", m_missed_deadlines},
    {"fc_avatar_resamplers_created_total", FC_METRIC_COUNTER,
     "Audio resamplers created (none when rates match)", m_resamplers},
    {"fc_avatar_cpu_seconds_total", FC_METRIC_COUNTER,
     "Worker CPU used by avatar sessions, by stage", m_cpu},
    {"fc_avatar_first_frame_ms", FC_METRIC_HISTOGRAM,
     "start_streaming to the first frame handed to the socket, ms", m_first_frame},
};

int fc_avatar_metrics_register(fc_metrics *m, fc_avatar_env *env)
{
    return fc_metrics_register_table(m, families, sizeof families / sizeof *families, env);
}
