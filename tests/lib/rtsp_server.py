#!/usr/bin/python3
"""A real RTSP camera for tests and benchmarks: GStreamer's RTSP server library.

Serves one live stream (a moving test pattern, encoded as it plays) at PATH:

    /usr/bin/python3 tests/lib/rtsp_server.py [--port 0] [--path /stream]
        [--size 320x240] [--fps 30] [--gop 30] [--codec h264|vp8]
        [--bitrate KBIT] [--pattern NAME] [--speed PX] [--user U --password P]
        [--params-in-sdp-only]

Once it listens it prints one JSON line on stdout and flushes it:

    {"port": 41234, "url": "rtsp://127.0.0.1:41234/stream"}

Then one line per client session, so a test can see a camera's connection
open and close: {"event": "connected"} and {"event": "closed"}.

--port 0 takes a free port; pass the printed one again to restart a server
where its clients expect it. With --user/--password the stream asks for Basic
authentication (401 without it); any other path answers 404. Every client
shares one encoding pipeline. SIGTERM or SIGINT stops it; SIGSTOP/SIGCONT
freeze and thaw it like a hung camera. Listens on 127.0.0.1 only.
"""
import argparse
import json
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--path", default="/stream")
    p.add_argument("--size", default="320x240")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--gop", type=int, default=30, help="frames between key frames")
    p.add_argument("--codec", choices=("h264", "vp8"), default="h264")
    p.add_argument("--bitrate", type=int, default=500, help="kbit/s")
    p.add_argument("--params-in-sdp-only", action="store_true",
                   help="H.264: SPS/PPS in the SDP only, not before each IDR (as some cameras)")
    p.add_argument("--pattern", default="ball", help="videotestsrc pattern")
    p.add_argument("--speed", type=int, default=0,
                   help="scroll the pattern this many pixels a frame (moving detail)")
    p.add_argument("--user")
    p.add_argument("--password")
    a = p.parse_args()
    try:
        w, h = (int(v) for v in a.size.lower().split("x"))
    except ValueError:
        p.error(f"--size {a.size!r}: expected WxH")
    a.width, a.height = w, h
    if bool(a.user) != bool(a.password):
        p.error("--user and --password go together")
    if not a.path.startswith("/"):
        p.error("--path must start with /")
    return a


def launch_line(a):
    src = (f"videotestsrc is-live=true pattern={a.pattern} horizontal-speed={a.speed} ! "
           f"video/x-raw,width={a.width},height={a.height},framerate={a.fps}/1 ! "
           "videoconvert ! video/x-raw,format=I420 ! ")
    if a.codec == "h264":
        # config-interval=-1: SPS/PPS before every IDR, as most cameras send
        # them; 0: in the SDP's sprop-parameter-sets only.
        interval = 0 if a.params_in_sdp_only else -1
        # x264 itself repeats them before each IDR unless told not to.
        opts = "option-string=repeat-headers=0 " if a.params_in_sdp_only else ""
        enc = (f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={a.gop} {opts}"
               f"bitrate={a.bitrate} ! rtph264pay name=pay0 pt=96 config-interval={interval}")
    else:
        enc = (f"vp8enc deadline=1 keyframe-max-dist={a.gop} "
               f"target-bitrate={a.bitrate * 1000} ! rtpvp8pay name=pay0 pt=96")
    return f"( {src}{enc} )"


def main():
    a = parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(a))
    factory.set_shared(True)
    if a.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password), token)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_permission_for_role("viewer", "media.factory.access", True)
        perms.add_permission_for_role("viewer", "media.factory.construct", True)
        factory.set_permissions(perms)
    server.get_mount_points().add_factory(a.path, factory)

    def on_client(_server, client):
        print(json.dumps({"event": "connected"}), flush=True)
        client.connect("closed", lambda _c: print(json.dumps({"event": "closed"}), flush=True))

    server.connect("client-connected", on_client)

    if server.attach(None) == 0:
        print(f"rtsp_server: cannot listen on 127.0.0.1:{a.port}", file=sys.stderr)
        return 1
    port = server.get_bound_port()
    print(json.dumps({"port": port, "url": f"rtsp://127.0.0.1:{port}{a.path}"}), flush=True)

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
