#include "transport/static.h"

/* lws knows no audio types; the demo's bundled speech sample is WAV. */
static const fc_file_mount mounts[] = {
    {.at = "/demo", .dir = "demo", .wav_mime = "audio/wav"},
    {.at = "/", .dir = ""},
    {0},
};

const fc_endpoint fc_static_endpoint = {
    .files = mounts,
};
