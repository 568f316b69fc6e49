/* Speech decode (WAV, FLAC, OGG, MP3) through audio.c: the first byte picks
 * the rate and channels a generator asks for, the rest is the file. */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "avatar/audio.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const int rates[4] = {16000, 24000, 44100, 48000};
    int rate = rates[data[0] & 3], channels = 1 + ((data[0] >> 2) & 1);
    /* A low cap keeps a header that claims minutes of audio quick to
     * refuse; the bounds are checked the same way at any cap. */
    fc_audio_set_max_samples(2000000);
    int fd = memfd_create("speech", MFD_CLOEXEC);
    if (fd < 0) abort();
    if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) abort();
    lseek(fd, 0, SEEK_SET);
    fc_audio a;
    char err[512];
    if (fc_audio_load_fd(fd, rate, channels, &a, err, sizeof err) == 0) {
        if (a.rate != rate || a.channels != channels || a.frames == 0) abort();
        volatile float last = a.samples[a.frames * (size_t)channels - 1];
        (void)last;
        fc_audio_free(&a);
    }
    close(fd);
    return 0;
}
