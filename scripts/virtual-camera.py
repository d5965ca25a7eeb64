#!/usr/bin/python3
"""A virtual IP camera for tests and the demo: gst-rtsp-server serving H.264 of a moving test pattern.

Run with Debian's /usr/bin/python3: a pyenv python3 earlier on PATH has no `gi` module.
Prints exactly `READY rtsp://BIND:PORT/PATH` (no credentials) once the socket is bound; exits 0 on
SIGTERM/SIGINT, 2 when it cannot bind (the message says why, e.g. "Address already in use").
"""
import argparse
import os
import signal
import sys

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstRtsp', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--path', default='/stream')
    p.add_argument('--bind', default='127.0.0.1')
    p.add_argument('--width', type=int, default=640)
    p.add_argument('--height', type=int, default=360)
    p.add_argument('--fps', type=int, default=25)
    p.add_argument('--keyint', type=int, help='frames between keyframes (default: fps, i.e. 1 s)')
    p.add_argument('--bitrate', type=int, default=800, help='kbit/s')
    p.add_argument('--pattern', choices=['ball', 'smpte', 'snow'], default='ball',
                   help='ball: a moving ball on black (cheap); smpte: bright colour bars (a picture tests can tell from a black slate); snow: noise (full bitrate)')
    p.add_argument('--audio', action='store_true', help='also serve an AAC audio track (a 440 Hz tone), as cameras with a microphone do')
    p.add_argument('--username')
    p.add_argument('--password', help='or $VIRTUAL_CAMERA_PASSWORD, which keeps it out of `ps`')
    p.add_argument('--auth', choices=['digest', 'basic'], default='digest',
                   help='RTSP auth method when credentials are given (most cameras use digest)')
    args = p.parse_args()
    if not args.path.startswith('/'):
        p.error('--path must start with /')
    if args.username is not None and args.password is None:
        args.password = os.environ.get('VIRTUAL_CAMERA_PASSWORD')
    if (args.username is None) != (args.password is None):
        p.error('--username and --password go together')
    if args.keyint is None:
        args.keyint = args.fps
    return args


def launch_line(args):
    # The ball moves every frame, so consecutive frames differ; the wall clock burnt in (pango plugin,
    # Debian's gstreamer1.0-x, installed by scripts/setup) shows latency and gaps to the eye.
    overlay = '! clockoverlay time-format="%H:%M:%S" font-desc="Sans 24" '
    # Caps with format=I420 BEFORE x264enc: without them x264 picks 4:4:4, which players reject.
    return (
        f'( videotestsrc pattern={args.pattern} is-live=true '
        f'! video/x-raw,format=I420,width={args.width},height={args.height},framerate={args.fps}/1 '
        f'{overlay}'
        f'! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.keyint} bitrate={args.bitrate} '
        f'! rtph264pay name=pay0 pt=96 config-interval=1 '
        + ('audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! audioresample '
           '! audio/x-raw,rate=48000,channels=2 ! avenc_aac bitrate=64000 ! rtpmp4gpay name=pay1 pt=97 '
           if args.audio else '')
        + ')'
    )


def add_auth(server, factory, username, password, method):
    """Basic or Digest auth: a token with a role, and permissions for that role on the factory."""
    role = 'viewer'
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, role)
    auth = GstRtspServer.RTSPAuth()
    # One method at a time: GstRTSPAuthMethod is a C bit set, but PyGObject sees an enum and
    # refuses BASIC | DIGEST.
    if method == 'digest':
        auth.add_digest(username, password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    else:
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(username, password), token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
    permissions.add_permission_for_role(role, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
    factory.set_permissions(permissions)


def main():
    args = parse_args()
    Gst.init(None)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.bind)
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args))
    factory.set_shared(True)  # several clients see one stream, as with a real camera
    server.get_mount_points().add_factory(args.path, factory)
    if args.username is not None:
        add_auth(server, factory, args.username, args.password, args.auth)

    # create_source() instead of attach(): attach() only returns 0 on failure, create_source()
    # raises with the reason.
    try:
        source = server.create_source(None)
    except GLib.Error as err:
        print(f'ERROR: could not bind {args.bind}:{args.port}: {err.message}', file=sys.stderr, flush=True)
        return 2
    source.attach(None)

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f'READY rtsp://{args.bind}:{args.port}{args.path}', flush=True)
    loop.run()
    source.destroy()
    return 0


if __name__ == '__main__':
    sys.exit(main())
