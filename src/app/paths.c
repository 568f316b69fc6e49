#include "app/paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The installed data directory, relative to the directory of the binary
 * (meson computes it from bindir and datadir). */
#ifndef FC_BIN_TO_DATA
#error "FC_BIN_TO_DATA must be set by the build"
#endif

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* PREFIX/share/framecast next to the running binary, or "" when the binary
 * is not installed there. */
static void installed_dir(char *out, size_t outlen)
{
    char exe[PATH_MAX];
    out[0] = '\0';
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = '\0';
    char dir[PATH_MAX + 64];
    if (FC_BIN_TO_DATA[0] == '/')
        snprintf(dir, sizeof dir, "%s", FC_BIN_TO_DATA);
    else
        snprintf(dir, sizeof dir, "%s/%s", exe, FC_BIN_TO_DATA);
    char real[PATH_MAX];
    if (is_dir(dir) && realpath(dir, real) && strlen(real) < outlen)
        memcpy(out, real, strlen(real) + 1);
}

void fc_paths_get(fc_paths *out)
{
    char data[4096];
    installed_dir(data, sizeof data);
    if (!data[0]) snprintf(data, sizeof data, "%s", FC_SOURCE_ROOT);
    snprintf(out->web_root, sizeof out->web_root, "%.4000s/web", data);
    snprintf(out->model, sizeof out->model, "%.4000s/models/%s", data, FC_DEFAULT_MODEL_FILE);
}
