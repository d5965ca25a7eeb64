import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildRecordingPipeline, segmentPath, segmentSeq, quoteLaunchValue, type CameraAudio, type RecordingSpec } from '../../agent/encoder/pipeline-builder.ts';
import { buildTranscode, type TranscodeAudio, type TranscodeSpec } from '../../agent/encoder/transcode-builder.ts';
import { DEFAULT_HARDWARE_PROFILES_DIR, loadHardwareProfiles } from '../../agent/encoder/hardware-profiles.ts';
import { cameraAudioFromSdp } from '../../agent/cameras/index.ts';
import { sdpEncodings } from '../../agent/cameras/rtsp-describe.ts';

const run = promisify(execFile);
// Before any test is declared: ava wants every test declared synchronously once the first one is.
const profiles = await loadHardwareProfiles(DEFAULT_HARDWARE_PROFILES_DIR);

/**
 * Parses launch strings with this machine's GStreamer (gst_parse_launch through Debian's python3-gi, one
 * process for all): elements, properties, caps and links must all be known. Returns 'ok' or the error, per string.
 */
async function parseWithGStreamer(launches: string[]): Promise<string[]> {
  const script = [
    'import gi, sys',
    'gi.require_version("Gst", "1.0")',
    'from gi.repository import GLib, Gst',
    'Gst.init(None)',
    'for launch in sys.argv[1:]:',
    '    try:',
    '        Gst.parse_launch(launch)',
    '        print("ok")',
    '    except GLib.Error as err:',
    '        print(err.message.replace("\\n", " "))',
  ].join('\n');
  const { stdout } = await run('/usr/bin/python3', ['-c', script, ...launches]);
  return stdout.trim().split('\n');
}

const SPEC: RecordingSpec = {
  streamId: 'cam1',
  source: { uri: 'rtsp://10.0.0.5:554/Streaming/Channels/101', transport: 'tcp', latencyMs: 200 },
  codec: 'h264',
  segment: { seconds: 2, directory: '/var/lib/venuebox/spool/cam1', startIndex: 42 },
};

test('passthrough H.264 recording: depayload + parse into 2 s MPEG-TS segments, no decoder, no encoder', (t) => {
  const built = buildRecordingPipeline(SPEC);
  t.is(
    built.launch,
    'rtspsrc name=src location="rtsp://10.0.0.5:554/Streaming/Channels/101" protocols=tcp latency=200 drop-on-latency=false ! application/x-rtp,media=video ! rtph264depay ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au ! tee name=t ! queue ! splitmuxsink name=mux muxer=mpegtsmux max-size-time=2200000000 location="/var/lib/venuebox/spool/cam1/%08d.ts" start-index=42' +
      ' t. ! queue leaky=downstream max-size-buffers=200 max-size-bytes=0 max-size-time=0 ! appsink name=meter sync=false drop=true max-buffers=200 wait-on-eos=false',
  );
  t.notRegex(built.launch, /\b(\w+dec|\w+enc|decodebin\w*)\b/, "no decoder or encoder element");
  t.deepEqual(built.properties, {});
});

const AUDIO_BRANCH: Record<Exclude<CameraAudio, 'none'>, string> = {
  aac: ' src. ! application/x-rtp,media=audio,encoding-name=MPEG4-GENERIC ! queue ! rtpmp4gdepay ! aacparse ! queue ! mux.audio_0',
  pcma:
    ' src. ! capsfilter caps="application/x-rtp,media=audio,encoding-name=PCMA;application/x-rtp,media=audio,payload=8" ! queue ! rtppcmadepay ! alawdec' +
    ' ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 ! avenc_aac bitrate=64000 ! aacparse ! queue ! mux.audio_0',
  pcmu:
    ' src. ! capsfilter caps="application/x-rtp,media=audio,encoding-name=PCMU;application/x-rtp,media=audio,payload=0" ! queue ! rtppcmudepay ! mulawdec' +
    ' ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 ! avenc_aac bitrate=64000 ! aacparse ! queue ! mux.audio_0',
};

test('camera audio in passthrough: AAC as is, G.711 (A-law, u-law) decoded and encoded to AAC; the video is never decoded', (t) => {
  for (const [audio, branch] of Object.entries(AUDIO_BRANCH)) {
    const built = buildRecordingPipeline({ ...SPEC, source: { ...SPEC.source, audio: audio as CameraAudio } });
    t.true(built.launch.includes(`${branch} t. ! queue leaky=downstream`), `${audio}: ${built.launch}`);
    const video = built.launch.slice(0, built.launch.indexOf(' src. '));
    t.notRegex(video, /\b(\w+dec|\w+enc|decodebin\w*)\b/, `${audio}: the video stays passthrough`);
  }
  t.notRegex(buildRecordingPipeline({ ...SPEC, source: { ...SPEC.source, audio: 'aac' } }).launch, /\b(\w+dec|\w+enc)\b/, 'AAC is not decoded');
});

test('without a camera audio track (none, or not known) no audio branch exists: splitmuxsink would wait for it forever', (t) => {
  t.notRegex(buildRecordingPipeline(SPEC).launch, /media=audio|aac/);
  t.notRegex(buildRecordingPipeline({ ...SPEC, source: { ...SPEC.source, audio: 'none' } }).launch, /media=audio/);
});

test('every audio variant of the recording parses in GStreamer on this machine', async (t) => {
  const variants: Array<CameraAudio | undefined> = [undefined, 'none', 'aac', 'pcma', 'pcmu'];
  const launches = variants.map((audio) => buildRecordingPipeline({ ...SPEC, source: { ...SPEC.source, audio } }).launch);
  t.deepEqual(await parseWithGStreamer(launches), variants.map(() => 'ok'));
});

function transcodeSpec(audio: TranscodeAudio, cameraAudio: CameraAudio | undefined): TranscodeSpec {
  const profile = profiles.find((p) => p.id === 'software-x264');
  if (!profile) throw new Error('hardware-profiles/software-x264.json is missing');
  return {
    streamId: 'cam1',
    source: { ...SPEC.source, audio: cameraAudio },
    sourceCodec: 'h264',
    profile,
    video: { codec: 'h264', width: 1280, height: 720, fps: 30, bitrateKbps: 2500, rateControl: 'cbr', latency: 'low' },
    overlays: [],
    segment: { seconds: 2, directory: '/spool/cam1', startIndex: 0 },
    audio,
  };
}

const INTER_CAPS = 'audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=2';
const SILENCE = ' audiotestsrc wave=silence is-live=true ! audio/x-raw,rate=48000,channels=2 ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 ! avenc_aac bitrate=64000 ! aacparse ! queue ! mux.audio_0';

test("transcode audio 'camera': the camera's audio is decoded into the inter channel and encoded to AAC by the output", (t) => {
  const decoders: Record<Exclude<CameraAudio, 'none'>, string> = { aac: 'rtpmp4gdepay ! aacparse ! avdec_aac', pcma: 'rtppcmadepay ! alawdec', pcmu: 'rtppcmudepay ! mulawdec' };
  for (const [cameraAudio, decoder] of Object.entries(decoders)) {
    const built = buildTranscode(transcodeSpec('camera', cameraAudio as CameraAudio));
    t.is(built.audio, 'camera');
    t.true(built.source.endsWith(` queue ! ${decoder} ! audioconvert ! audioresample ! ${INTER_CAPS} ! interaudiosink channel="venuebox-cam1" async=false`), built.source);
    t.true(built.output.includes(` interaudiosrc channel="venuebox-cam1" latency-time=40000000 period-time=20000000 buffer-time=200000000 ! ${INTER_CAPS} ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 ! avenc_aac bitrate=64000 ! aacparse ! queue ! mux.audio_0`), built.output);
    t.false(built.output.includes('audiotestsrc'));
  }
});

test("transcode audio: 'camera' without camera audio falls back to silence; 'silent' ignores the camera's; 'none' has no track", (t) => {
  for (const cameraAudio of [undefined, 'none'] as const) {
    const built = buildTranscode(transcodeSpec('camera', cameraAudio));
    t.is(built.audio, 'silent');
    t.true(built.output.includes(SILENCE));
    t.notRegex(built.source, /audio/);
  }
  const silent = buildTranscode(transcodeSpec('silent', 'pcma'));
  t.is(silent.audio, 'silent');
  t.true(silent.output.includes(SILENCE));
  t.notRegex(silent.source, /media=audio|interaudio/);
  const none = buildTranscode(transcodeSpec('none', 'aac'));
  t.is(none.audio, 'none');
  t.notRegex(none.output + none.source, /audio/);
});

test('every audio variant of a transcode (source and output) parses in GStreamer on this machine', async (t) => {
  const variants: Array<[TranscodeAudio, CameraAudio | undefined]> = [
    ['camera', 'aac'],
    ['camera', 'pcma'],
    ['camera', 'pcmu'],
    ['camera', undefined],
    ['silent', 'aac'],
    ['none', 'pcmu'],
  ];
  const launches = variants.flatMap(([audio, cameraAudio]) => {
    const built = buildTranscode(transcodeSpec(audio, cameraAudio));
    return [built.source, built.output];
  });
  t.deepEqual(await parseWithGStreamer(launches), launches.map(() => 'ok'));
});

test('SDP audio encodings → the track recorded: AAC and G.711 by name in any case, static payload types without an rtpmap, the first one recordable', (t) => {
  const sdp = (audio: string): string => `v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=Media\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=1\r\n${audio}`;
  const table: Array<[string, string[], CameraAudio]> = [
    // gst-rtsp-server (the virtual camera), Axis (lower-case mpeg4-generic), Hikvision G.711 with and without rtpmap.
    ['m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/48000/2\r\n', ['MPEG4-GENERIC'], 'aac'],
    ['m=audio 0 RTP/AVP 97\r\na=rtpmap:97 mpeg4-generic/16000/1\r\na=fmtp:97 streamtype=5; profile-level-id=15; mode=AAC-hbr; config=1408\r\n', ['MPEG4-GENERIC'], 'aac'],
    ['m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:trackID=2\r\n', ['PCMA'], 'pcma'],
    ['m=audio 0 RTP/AVP 0\r\na=control:trackID=2\r\n', ['PCMU'], 'pcmu'],
    ['m=audio 0 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n', ['PCMU', 'TELEPHONE-EVENT'], 'pcmu'],
    ['m=audio 0 RTP/AVP 97\r\na=rtpmap:97 G726-16/8000\r\n', ['G726-16'], 'none'],
    ['m=audio 0 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n', ['OPUS'], 'none'],
    ['', [], 'none'],
  ];
  for (const [audio, encodings, recorded] of table) {
    t.deepEqual(sdpEncodings(sdp(audio), 'audio'), encodings, audio);
    t.deepEqual(sdpEncodings(sdp(audio), 'video'), ['H264']);
    t.is(cameraAudioFromSdp(encodings).audio, recorded, audio);
  }
  t.deepEqual(cameraAudioFromSdp(['G726-32', 'pcma']), { audio: 'pcma', unsupported: [] });
  t.deepEqual(cameraAudioFromSdp(['G726-32', 'opus']), { audio: 'none', unsupported: ['G726-32', 'OPUS'] });
});

test('H.265 and UDP map to their elements and flags', (t) => {
  const built = buildRecordingPipeline({ ...SPEC, codec: 'h265', source: { ...SPEC.source, transport: 'udp', latencyMs: 0 } });
  t.regex(built.launch, /protocols=udp latency=0 .* rtph265depay ! h265parse/);
});

test('credentials go to element properties, never into the launch string', (t) => {
  const built = buildRecordingPipeline({ ...SPEC, source: { ...SPEC.source, username: 'admin', password: 'Canary-Pw-4417' } });
  t.false(built.launch.includes('Canary'));
  t.false(built.launch.includes('admin'));
  t.deepEqual(built.properties, { src: { 'user-id': 'admin', 'user-pw': 'Canary-Pw-4417' } });
});

test('a URI with userinfo is refused', (t) => {
  t.throws(() => buildRecordingPipeline({ ...SPEC, source: { ...SPEC.source, uri: 'rtsp://a:b@10.0.0.5/s' } }), { message: /must not carry credentials/ });
});

test('paths with quotes, backslashes and % are escaped for gst_parse_launch and printf', (t) => {
  t.is(quoteLaunchValue('a "b" \\c'), '"a \\"b\\" \\\\c"');
  const built = buildRecordingPipeline({ ...SPEC, segment: { ...SPEC.segment, directory: '/spool/100%' } });
  t.regex(built.launch, /location="\/spool\/100%%\/%08d\.ts"/);
});

test('segment file names round-trip and sort in recording order', (t) => {
  t.is(segmentPath('/s', 7), '/s/00000007.ts');
  t.is(segmentSeq('00000007.ts'), 7);
  t.is(segmentSeq('123456789.ts'), 123456789);
  t.is(segmentSeq('x.ts'), undefined);
  t.is(segmentSeq('00000007.ts.tmp'), undefined);
});
