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
    p.add_argument('--pattern', choices=['ball', 'smpte', 'snow', 'flash'], default='ball',
                   help='ball: a moving ball on black (cheap); smpte: bright colour bars (a picture tests can tell from a black slate); '
                        'snow: noise (full bitrate); flash: white and black by turns, changing on every whole second of '
                        'the stream, with the audio (if any) a short beep at the same instants: an A/V sync reference')
    p.add_argument('--audio', nargs='?', const='aac', choices=sorted(AUDIO), metavar='CODEC',
                   help='also serve an audio track (a 440 Hz tone), as cameras with a microphone do: aac (the default '
                        'when the flag stands alone; 48 kHz stereo), pcma or pcmu (G.711 A-law / u-law, 8 kHz mono, '
                        'what most IP cameras send)')
    p.add_argument('--loss', type=float, default=0.0, metavar='PERCENT',
                   help='drop this share of the video RTP packets before they are sent, as a camera whose uplink is '
                        'congested does: the client sees sequence-number gaps (lost packets), even over TCP')
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


# One audio track per codec, as IP cameras send it. G.711 uses the static payload types of RFC 3551
# (PCMU 0, PCMA 8) at 8 kHz mono; AAC is RFC 3640 (mpeg4-generic) with a dynamic payload type.
AUDIO = {
    'aac': '! audio/x-raw,rate=48000,channels=2 ! avenc_aac bitrate=64000 ! rtpmp4gpay name=pay1 pt=97 ',
    'pcma': '! audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 ',
    'pcmu': '! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 ',
    # G.726 (RFC 3551 G726-32, dynamic payload type): a camera codec venuebox does not record.
    'g726': '! audio/x-raw,rate=8000,channels=1 ! avenc_g726 bitrate=32000 ! rtpg726pay name=pay1 pt=98 ',
}

AUDIO_RATE = {'aac': 48000, 'pcma': 8000, 'pcmu': 8000, 'g726': 8000}


def launch_line(args):
    # The ball moves every frame, so consecutive frames differ; the wall clock burnt in (pango plugin,
    # Debian's gstreamer1.0-x, installed by scripts/setup) shows latency and gaps to the eye.
    overlay = '! clockoverlay time-format="%H:%M:%S" font-desc="Sans 24" '
    # flash: a 50 ms beep (50 periods of 1 kHz) at every whole second of running time, like the picture's changes.
    sound = 'wave=ticks tick-interval=1000000000 freq=1000 sine-periods-per-tick=50' if args.pattern == 'flash' else 'wave=sine freq=440'
    # Caps with format=I420 BEFORE x264enc: without them x264 picks 4:4:4, which players reject.
    return (
        f'( videotestsrc name=picture pattern={"black" if args.pattern == "flash" else args.pattern} is-live=true '
        f'! video/x-raw,format=I420,width={args.width},height={args.height},framerate={args.fps}/1 '
        f'{overlay}'
        f'! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.keyint} bitrate={args.bitrate} '
        + video_payloader(args)
        # 20 ms of sound per buffer, a camera's usual RTP packet time (the default 1024 samples would be 128 ms
        # at 8 kHz, sent at once: the audio then arrives up to 128 ms ahead of its picture).
        + (f'audiotestsrc is-live=true samplesperbuffer={AUDIO_RATE[args.audio] // 50} {sound} ! audioconvert ! audioresample {AUDIO[args.audio]}'
           if args.audio else '')
        + ')'
    )


def video_payloader(args):
    if args.loss <= 0:
        return '! rtph264pay name=pay0 pt=96 config-interval=1 '
    # gst-rtsp-server streams whatever element is named pay0: an identity after the payloader drops
    # whole RTP packets, so the sequence numbers the client sees have gaps, as after a camera's own
    # send-queue overflow (over TCP nothing else can lose a packet).
    return (f'! rtph264pay pt=96 config-interval=1 '
            f'! identity name=pay0 drop-probability={min(args.loss, 100.0) / 100:.4f} ')


def flash_on_whole_seconds(media):
    """Pattern `flash`: after each frame, choose the next one's colour by its timestamp (white in odd seconds).

    Driven by buffer timestamps, not a timer, so the change is on the exact frame that starts a second, the
    instant audiotestsrc starts a tick: both count from the same running time in the same pipeline.
    """
    picture = media.get_element().get_by_name('picture')

    def on_buffer(_pad, info):
        buffer = info.get_buffer()
        following = buffer.pts + buffer.duration
        Gst.util_set_object_arg(picture, 'pattern', 'white' if (following // Gst.SECOND) % 2 else 'black')
        return Gst.PadProbeReturn.OK

    picture.get_static_pad('src').add_probe(Gst.PadProbeType.BUFFER, on_buffer)


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
    if args.pattern == 'flash':
        factory.connect('media-configure', lambda _factory, media: flash_on_whole_seconds(media))
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
