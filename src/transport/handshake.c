/* The checks every request's headers pass before an endpoint sees them
 * (see handshake.h). */
#include "transport/handshake.h"

#include <libwebsockets.h>
#include <string.h>

#include "transport/conn.h"

/* Every HTTP request, before lws reads its body or serves a file: lws 4.1
 * takes the first Content-Length (atoll: "-5" and "5, 10" pass), ignores
 * Transfer-Encoding on requests and reads a POST without a length as 100 MB
 * of body. Behind a proxy that frames the same bytes differently, the
 * difference is a request smuggled inside another's body, so any framing
 * the two could disagree on is refused, and the connection closed. */
int fc_handshake_check_framing(fc_server_env *env, struct lws *wsi)
{
    char cl[32];
    int n = lws_hdr_copy_fragment(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH, 0);
    bool has_cl = n >= 0 || lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, 0) > 0;
    const char *why = NULL;
    unsigned status = HTTP_STATUS_BAD_REQUEST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        if (has_cl) {
            why = "Content-Length and Transfer-Encoding together: refused";
        } else {
            why = "Transfer-Encoding on a request is not accepted: send Content-Length";
            status = HTTP_STATUS_LENGTH_REQUIRED;
        }
    } else if (has_cl) {
        char second[2];
        size_t digits = 0;
        while (n > 0 && digits < (size_t)n && cl[digits] >= '0' && cl[digits] <= '9')
            digits++;
        size_t end = digits;
        while (n > 0 && end < (size_t)n && (cl[end] == ' ' || cl[end] == '\t'))
            end++; /* optional whitespace after the value */
        if (lws_hdr_copy_fragment(wsi, second, sizeof second, WSI_TOKEN_HTTP_CONTENT_LENGTH, 1) >=
                0 ||
            lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, 1) > 0)
            why = "more than one Content-Length: refused";
        else if (n <= 0 || digits == 0 || end != (size_t)n || digits > 15)
            why = "Content-Length is not a number of bytes: refused";
    } else if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) {
        why = "POST without Content-Length: send one";
        status = HTTP_STATUS_LENGTH_REQUIRED;
    }
    if (!why) return 0;
    env->http_refused[FC_HTTP_REFUSED_FRAMING]++;
    return fc_conn_reject(wsi, status, why);
}

/* Before lws upgrades a request: a handshake it would get wrong (no key,
 * another version, a path longer than we read) gets a status that says why
 * instead of a bare hang-up, and the connection closes after it, so that
 * nothing the client sent behind it is read as another request.
 *
 * h2c is refused the same way. lws 4.1 switches to HTTP/2 whenever this
 * callback lets an h2c upgrade through; it cannot be told to ignore the
 * header and answer in HTTP/1.1 (lws_handshake_server offers no such
 * option), and framecast's endpoints (uploads, their flow control) are
 * HTTP/1.1 only. RFC 9113 deprecates the upgrade; clients that send it
 * (curl --http2 on http://) go again without it.
 *
 * 0 go on, -1 close (the status is written). */
int fc_handshake_confirm_upgrade(fc_server_env *env, struct lws *wsi, const char *to,
                                 size_t uri_max)
{
    const char *why = NULL;
    unsigned status = HTTP_STATUS_BAD_REQUEST;
    char version[8] = "";
    lws_hdr_copy(wsi, version, sizeof version, WSI_TOKEN_VERSION);
    if (!to || strcasecmp(to, "websocket") != 0)
        why = "only Upgrade: websocket is served (h2c is not: send the request without it)";
    else if (lws_hdr_total_length(wsi, WSI_TOKEN_KEY) <= 0)
        why = "WebSocket handshake without Sec-WebSocket-Key";
    else if (strcmp(version, "13") != 0)
        why = "WebSocket handshake needs Sec-WebSocket-Version: 13";
    else if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) >= (int)uri_max) {
        why = "path too long";
        status = HTTP_STATUS_REQ_URI_TOO_LONG;
        env->http_refused[FC_HTTP_REFUSED_URI]++;
    }
    if (!why) return 0;
    if (status == HTTP_STATUS_BAD_REQUEST) env->http_refused[FC_HTTP_REFUSED_UPGRADE]++;
    return fc_conn_reject(wsi, status, why);
}
