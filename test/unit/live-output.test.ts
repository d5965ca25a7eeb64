// Live outputs, the pure parts: launch strings (each parsed by this machine's GStreamer), the tap in the recording
// and transcode pipelines, the config's `live` key and its secrets, and redaction of passphrases and stream keys.
import test from 'ava';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { buildLiveOutput, bytesFromStats, rtmpAddress, srtAddress, type LiveDestination, type LiveInput } from '../../agent/encoder/live-output-builder.ts';
import { liveTap } from '../../agent/encoder/live-output-tap.ts';
import { buildRecordingPipeline, type RecordingSpec } from '../../agent/encoder/pipeline-builder.ts';
import { buildTranscode } from '../../agent/encoder/transcode-builder.ts';
import { loadHardwareProfiles } from '../../agent/encoder/hardware-profiles.ts';
import { ConfigError, resolveSecrets, validateConfig } from '../../agent/config/index.ts';
import { redact } from '../../agent/lib/redact.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const run = promisify(execFile);

/** Parses every launch string with Gst.parse_launch (Debian's python3 has gi): 'ok' or GStreamer's error, per string. */
async function parseWithGstreamer(launches: string[]): Promise<string[]> {
  const script = [
    'import gi, sys, json',
    'gi.require_version("Gst", "1.0")',
    'from gi.repository import Gst',
    'Gst.init(None)',
    'out = []',
    'for launch in sys.argv[1:]:',
    '    try:',
    '        Gst.parse_launch(launch)',
    '        out.append("ok")',
    '    except Exception as e:',
    '        out.append(str(e))',
    'print(json.dumps(out))',
  ].join('\n');
  const { stdout } = await run('/usr/bin/python3', ['-c', script, ...launches], { timeout: 30_000 });
  return JSON.parse(stdout) as string[];
}

const SRT_PASSPHRASE = 'Canary-Passphrase-5521';
const STREAM_KEY = 'canary-key-7781-abcd';
const TAP: LiveInput = { port: 40_001, codec: 'h264', audio: true };

const SRT: LiveDestination = { kind: 'srt', url: 'srt://ingest.example.net:9000', latencyMs: 500 };
const SRT_ENCRYPTED: LiveDestination = { ...SRT, passphrase: SRT_PASSPHRASE, keyLength: 32 };
const RTMP: LiveDestination = { kind: 'rtmp', url: 'rtmps://live-api-s.facebook.com:443/rtmp', streamKey: STREAM_KEY };

test('SRT output: loopback tap → tsparse → srtsink caller; the passphrase only as a property, pbkeylen in the string', (t) => {
  const plain = buildLiveOutput(SRT, TAP);
  t.is(
    plain.launch,
    'udpsrc name=input address=127.0.0.1 port=40001 buffer-size=4194304 timeout=1000000000 caps="video/mpegts,systemstream=true,packetsize=188" ! tsparse alignment=7 ! srtsink name=dest uri="srt://ingest.example.net:9000" mode=caller latency=500 wait-for-connection=false sync=false',
  );
  t.deepEqual(plain.properties, {});
  t.deepEqual(plain.sink, { element: 'dest', bytesField: 'bytes-sent-total' });
  const encrypted = buildLiveOutput(SRT_ENCRYPTED, TAP);
  t.true(encrypted.launch.endsWith(' sync=false pbkeylen=32'));
  t.false(encrypted.launch.includes(SRT_PASSPHRASE));
  t.deepEqual(encrypted.properties, { dest: { passphrase: SRT_PASSPHRASE } });
});

test('RTMP output: tsdemux → flvmux → rtmp2sink; the stream key only as the `stream` property; silent AAC without camera audio', (t) => {
  const withAudio = buildLiveOutput(RTMP, TAP);
  t.is(
    withAudio.launch,
    'udpsrc name=input address=127.0.0.1 port=40001 buffer-size=4194304 timeout=1000000000 caps="video/mpegts,systemstream=true,packetsize=188" ! tsdemux name=demux' +
      ' demux. ! video/x-h264 ! queue ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! flvmux name=flv streamable=true' +
      ' ! rtmp2sink name=dest scheme=rtmps host="live-api-s.facebook.com" port=443 application="rtmp" sync=false' +
      ' demux. ! audio/mpeg ! queue ! aacparse ! flv.',
  );
  t.false(withAudio.launch.includes(STREAM_KEY));
  t.deepEqual(withAudio.properties, { dest: { stream: STREAM_KEY } });
  t.deepEqual(withAudio.sink, { element: 'dest', bytesField: 'out-bytes-total' });
  const silent = buildLiveOutput(RTMP, { ...TAP, audio: false });
  t.regex(silent.launch, / audiotestsrc wave=silence is-live=true ! .* ! avenc_aac bitrate=64000 ! aacparse ! queue ! flv\.$/);
  t.notRegex(silent.launch, /demux\. ! audio/);
});

test('every live output string parses in GStreamer on this machine', async (t) => {
  const launches = [
    buildLiveOutput(SRT, TAP).launch,
    buildLiveOutput(SRT_ENCRYPTED, TAP).launch,
    buildLiveOutput({ ...SRT_ENCRYPTED, keyLength: 16 }, TAP).launch,
    buildLiveOutput(RTMP, TAP).launch,
    buildLiveOutput({ ...RTMP, url: 'rtmp://a.rtmp.youtube.com/live2' }, { ...TAP, audio: false }).launch,
  ];
  t.deepEqual(await parseWithGstreamer(launches), launches.map(() => 'ok'));
});

test('RTMP refuses H.265 and a missing key plainly; URLs are split into their parts', (t) => {
  t.throws(() => buildLiveOutput(RTMP, { ...TAP, codec: 'h265' }), { message: /RTMP carries H\.264 only/ });
  t.throws(() => buildLiveOutput({ kind: 'rtmp', url: 'rtmp://h/app' }, TAP), { message: /stream key is missing/ });
  t.throws(() => buildLiveOutput({ ...SRT, passphrase: 'short' }, TAP), { message: /10–79/ });
  t.deepEqual(rtmpAddress('rtmp://a.rtmp.youtube.com/live2'), { scheme: 'rtmp', host: 'a.rtmp.youtube.com', port: 1935, application: 'live2' });
  t.deepEqual(rtmpAddress('rtmps://h:4443/app/inst/'), { scheme: 'rtmps', host: 'h', port: 4443, application: 'app/inst' });
  t.deepEqual(srtAddress('srt://10.0.0.9:9000'), { host: '10.0.0.9', port: 9000 });
  for (const bad of ['srt://zz-host', 'srt://zz-host:1?passphrase=x', 'srt://u:p@zz-host:1', 'rtmp://zz-host:1']) {
    const error = t.throws(() => (bad.startsWith('srt') ? srtAddress(bad) : rtmpAddress(bad)));
    t.false(error.message.includes(bad), 'the message never echoes the URL');
  }
});

test('the bytes counters are read from the stats structures as gstreamer-superficial returns them (strings, measured)', (t) => {
  // Real values seen on this machine: srtsink connected, srtsink while reconnecting, rtmp2sink.
  const connected = 'application/x-srt-statistics, packets-sent=(gint64)122, bytes-sent=(guint64)163664, bytes-sent-total=(guint64)158296;';
  t.is(bytesFromStats(connected, 'bytes-sent-total'), 158296);
  t.is(bytesFromStats('application/x-srt-statistics, bytes-sent-total=(guint64)968952;', 'bytes-sent-total'), 968952);
  const rtmp = 'GstRtmpConnectionStats, in-chunk-size=(uint)128, out-chunk-size=(uint)128, in-window-ack-size=(uint)2500000, out-window-ack-size=(uint)2500000, in-bytes-total=(guint64)529, out-bytes-total=(guint64)39438, in-bytes-acked=(guint64)0, out-bytes-acked=(guint64)0;';
  t.is(bytesFromStats(rtmp, 'out-bytes-total'), 39438);
  t.is(bytesFromStats(undefined, 'bytes-sent-total'), undefined);
  t.is(bytesFromStats('x, bytes-sent=(guint64)5;', 'bytes-sent-total'), undefined);
});

const RECORDING: RecordingSpec = {
  streamId: 'cam1',
  source: { uri: 'rtsp://10.0.0.5:554/s', transport: 'tcp', latencyMs: 200 },
  codec: 'h264',
  segment: { seconds: 2, directory: '/spool/cam1', startIndex: 0 },
};

test('the live tap: leaky branches off the video tee and the AAC tee into mpegtsmux → multiudpsink, one client per destination', (t) => {
  const tap = liveTap([40001, 40002], ' src. ! x ! aacparse ! queue ! mux.audio_0');
  t.is(tap.audio, ' src. ! x ! aacparse ! tee name=livetap_audio ! queue ! mux.audio_0');
  const queue = 'queue leaky=downstream max-size-buffers=0 max-size-bytes=8388608 max-size-time=2000000000';
  t.is(
    tap.branch,
    ` mpegtsmux name=livetap alignment=7 ! multiudpsink clients=127.0.0.1:40001,127.0.0.1:40002 sync=false async=false t. ! ${queue} ! livetap. livetap_audio. ! ${queue} ! livetap.`,
  );
  t.deepEqual(liveTap([40001], ''), { audio: '', branch: ` mpegtsmux name=livetap alignment=7 ! multiudpsink clients=127.0.0.1:40001 sync=false async=false t. ! ${queue} ! livetap.` });
  t.deepEqual(liveTap(undefined, ' a ! queue ! mux.audio_0'), { audio: ' a ! queue ! mux.audio_0', branch: '' });
  t.throws(() => liveTap([1], ' a ! mux.audio_0'), { message: /cannot take the audio/ });
  t.throws(() => liveTap([70000], ''), { message: /not a UDP port/ });
});

test('recording and transcode pipelines with a live tap parse in GStreamer; without live outputs they are unchanged', async (t) => {
  const plain = buildRecordingPipeline(RECORDING).launch;
  t.is(buildRecordingPipeline({ ...RECORDING, liveTapPorts: [] }).launch, plain);
  const withTap = buildRecordingPipeline({ ...RECORDING, liveTapPorts: [40001] }).launch;
  t.true(withTap.startsWith(plain), 'the tap is appended; the recording itself is not changed');
  const withAudio = buildRecordingPipeline({ ...RECORDING, source: { ...RECORDING.source, audio: 'aac' }, liveTapPorts: [40001, 40002] }).launch;
  t.regex(withAudio, /aacparse ! tee name=livetap_audio ! queue ! mux\.audio_0/);
  t.regex(withAudio, / livetap_audio\. ! queue leaky=downstream .* ! livetap\./);
  const profile = (await loadHardwareProfiles()).find((p) => p.id === 'software-x264');
  if (!profile) throw new Error('hardware-profiles/software-x264.json is missing');
  const transcode = buildTranscode({
    streamId: 'cam1',
    source: RECORDING.source,
    sourceCodec: 'h264',
    profile,
    video: { codec: 'h264', width: 1280, height: 720, fps: 30, bitrateKbps: 2500, rateControl: 'cbr', latency: 'low' },
    overlays: [],
    segment: RECORDING.segment,
    audio: 'silent',
    liveTapPorts: [40001],
  }).output;
  t.regex(transcode, /aacparse ! tee name=livetap_audio ! queue ! mux\.audio_0/);
  t.regex(transcode, / t\. ! queue leaky=downstream .* ! livetap\./);
  const launches = [withTap, withAudio, transcode];
  t.deepEqual(await parseWithGstreamer(launches), launches.map(() => 'ok'));
});

function issuesOf(live: unknown[]): string[] {
  try {
    validateConfig({ boxId: 'box-1', mqtt: { url: 'mqtt://127.0.0.1' }, cameras: [{ id: 'cam1', rtsp: 'rtsp://10.0.0.5/s', live }] }, {});
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
}

test('config: live destinations with their defaults', (t) => {
  const config = validateConfig(
    { boxId: 'box-1', mqtt: { url: 'mqtt://127.0.0.1' }, cameras: [{ id: 'cam1', rtsp: 'rtsp://10.0.0.5/s', live: [{ kind: 'srt', url: 'srt://ingest:9000' }, { kind: 'rtmp', url: 'rtmp://a.rtmp.youtube.com/live2', streamKeyEnv: 'YT_KEY' }] }] },
    {},
  );
  t.deepEqual(config.cameras[0]?.live, [
    { kind: 'srt', url: 'srt://ingest:9000', latencyMs: 500, keyLength: 16 },
    { kind: 'rtmp', url: 'rtmp://a.rtmp.youtube.com/live2', streamKeyEnv: 'YT_KEY' },
  ]);
  t.deepEqual(validateConfig({ boxId: 'box-1', mqtt: { url: 'mqtt://127.0.0.1' }, cameras: [{ id: 'cam1', rtsp: 'rtsp://10.0.0.5/s' }] }, {}).cameras[0]?.live, []);
});

test('config: every mistake in `live` is named by its key, and no message echoes a secret', (t) => {
  const issues = issuesOf([
    { kind: 'srt', url: 'rtmp://x:1' },
    { kind: 'srt', url: 'srt://x' },
    { kind: 'srt', url: `srt://x:9000?passphrase=${SRT_PASSPHRASE}` },
    { kind: 'srt', url: 'srt://x:9000', passphrase: 'short', latencyMs: 5, keyLength: 20 },
  ]);
  t.deepEqual(issues, [
    'cameras[0].live[0].url: must be an srt:// URL',
    'cameras[0].live[1].url: must name a port: srt://host:port',
    'cameras[0].live[2].url: must not have parameters: use latencyMs and passphrase (or passphraseFile, passphraseEnv)',
    'cameras[0].live[3].latencyMs: must be ≥ 20',
    'cameras[0].live[3].passphrase: must be 10–79 characters (SRT)',
    'cameras[0].live[3].keyLength: must be one of 16, 24, 32',
  ]);
  t.deepEqual(issuesOf([{ kind: 'rtmp', url: `rtmp://u:${STREAM_KEY}@host/app`, streamKey: 'k' }]), ['cameras[0].live[0].url: must not contain credentials: the stream key goes in streamKey (or streamKeyFile, streamKeyEnv)']);
  t.deepEqual(issuesOf([1, 2, 3, 4, 5].map(() => ({ kind: 'srt', url: 'srt://x:1' }))), ['cameras[0].live: must have at most 4 items']);
  t.false(issues.some((issue) => issue.includes(SRT_PASSPHRASE) || issue.includes(STREAM_KEY)));
  t.deepEqual(issuesOf([{ kind: 'rtmp', url: 'rtmp://host' }, { kind: 'rtmp', url: 'rtmp://host/app', streamKey: 'k', streamKeyFile: '/k' }, { kind: 'hls', url: 'x' }]), [
    'cameras[0].live[0].url: must name the application: rtmp://host/app (the stream key goes in streamKey)',
    'cameras[0].live[0].streamKey: required: give one of streamKey, streamKeyFile, streamKeyEnv',
    'cameras[0].live[1].streamKeyFile: conflicts with streamKey: give only one of streamKey, streamKeyFile, streamKeyEnv',
    'cameras[0].live[2].kind: must be srt or rtmp',
  ]);
  t.deepEqual(issuesOf([{ kind: 'srt', url: 'srt://x:1', extra: 1 }]), ['cameras[0].live[0].extra: unknown key']);
});

test('config: passphrase and stream key from a file or the environment are resolved, checked and redacted everywhere', async (t) => {
  const dir = await makeTempDir('live-secrets');
  t.teardown(() => dir.remove());
  const passphrase = 'Canary-File-Passphrase-9931';
  const key = 'canary-env-stream-key-3310';
  await writeFile(`${dir.path}/srt.pass`, `${passphrase}\n`);
  await writeFile(`${dir.path}/short.pass`, 'too-short\n');
  const validated = validateConfig(
    {
      boxId: 'box-1',
      mqtt: { url: 'mqtt://127.0.0.1' },
      cameras: [{ id: 'cam1', rtsp: 'rtsp://10.0.0.5/s', live: [{ kind: 'srt', url: 'srt://ingest:9000', passphraseFile: 'srt.pass' }, { kind: 'rtmp', url: 'rtmp://h/live2', streamKeyEnv: 'LIVE_KEY' }] }],
    },
    {},
  );
  const config = await resolveSecrets(validated, { env: { LIVE_KEY: key }, baseDir: dir.path });
  t.deepEqual(config.cameras[0]?.live, [
    { kind: 'srt', url: 'srt://ingest:9000', latencyMs: 500, keyLength: 16, passphrase },
    { kind: 'rtmp', url: 'rtmp://h/live2', streamKey: key },
  ]);
  // Registered with the redactor: gone from any text, whatever echoes it (a GStreamer message with the location).
  t.is(redact(`rtmp2sink location=rtmp://h/live2/${key} passphrase ${passphrase}`), 'rtmp2sink location=rtmp://h/live2/[redacted] passphrase [redacted]');
  const short = validateConfig({ boxId: 'box-1', mqtt: { url: 'mqtt://127.0.0.1' }, cameras: [{ id: 'cam1', rtsp: 'rtsp://10.0.0.5/s', live: [{ kind: 'srt', url: 'srt://i:1', passphraseFile: 'short.pass' }, { kind: 'rtmp', url: 'rtmp://h/a', streamKeyEnv: 'NOPE' }] }] }, {});
  const error = await t.throwsAsync(resolveSecrets(short, { env: {}, baseDir: dir.path }), { instanceOf: ConfigError });
  t.deepEqual((error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`).sort(), [
    'cameras[0].live[0].passphraseFile: the passphrase must be 10–79 characters (SRT)',
    'cameras[0].live[1].streamKeyEnv: environment variable NOPE is not set',
  ]);
});

test('redaction: a stream key in an RTMP URL path and a passphrase in an SRT query are removed even when never registered', (t) => {
  t.is(redact('publishing to rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop failed'), 'publishing to rtmp://a.rtmp.youtube.com/live2/[redacted] failed');
  t.is(redact('{"url":"rtmps://h:443/rtmp/FB-123?s_bl=1&a=2","x":1}'), '{"url":"rtmps://h:443/rtmp/[redacted]","x":1}');
  t.is(redact('rtmp://host/live2 is the ingest'), 'rtmp://host/live2 is the ingest', 'an application alone is no secret');
  t.is(redact('srt://h:9000?mode=caller&passphrase=NeverRegistered1'), 'srt://h:9000?mode=caller&passphrase=[redacted]');
});
