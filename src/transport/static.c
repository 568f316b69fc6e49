#include "transport/static.h"

#include <libwebsockets.h>
#include <string.h>

#include "transport/conn.h"

/* lws knows no audio types; the demo's bundled speech sample is WAV. */
static const fc_file_mount mounts[] = {
    {.at = "/demo", .dir = "demo", .wav_mime = "audio/wav"},
    {.at = "/", .dir = ""},
    {0},
};

/* Exactly these two files: a table, not a directory mount, so that no other
 * file of the system's JavaScript libraries is reachable through framecast.
 * The unminified builds: what Debian's packages call the source. */
static const struct {
    const char *path, *file;
} vendored[] = {
    {"/vendor/janus.js", "/usr/share/javascript/janus-gateway/janus.js"},
    {"/vendor/adapter.js", "/usr/share/javascript/webrtc-adapter/adapter.js"},
};

/* lws sends the file in fragments as the socket takes them (it reads the
 * file on the loop, as it does for every file mount). */
static int vendor_open(fc_conn *c, void *state, const char *path)
{
    (void)state;
    int method = fc_conn_method(c);
    if (method != LWSHUMETH_GET && method != LWSHUMETH_HEAD)
        return fc_conn_respond_status(c, HTTP_STATUS_METHOD_NOT_ALLOWED, "GET only");
    for (size_t i = 0; i < sizeof vendored / sizeof vendored[0]; i++) {
        if (strcmp(path, vendored[i].path) != 0) continue;
        struct lws *wsi = fc_conn_wsi(c);
        int n =
            lws_serve_http_file(wsi, vendored[i].file, "text/javascript; charset=utf-8", NULL, 0);
        /* < 0: lws answered 404 (the package is missing) and wants the
         * connection closed; > 0: sent whole. */
        if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi))) return -1;
        return 0;
    }
    return fc_conn_respond_not_found(c, path);
}

static const char *const prefixes[] = {"/vendor/", NULL};

const fc_endpoint fc_static_endpoint = {
    .prefixes = prefixes,
    .open = vendor_open,
    .files = mounts,
};
