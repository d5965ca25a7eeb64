import test from 'ava';
import { buildRecordingPipeline, segmentPath, segmentSeq, quoteLaunchValue, type RecordingSpec } from '../../agent/encoder/pipeline-builder.ts';

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

test('a camera AAC track is recorded as is (no decoding); without one no audio branch exists', (t) => {
  const withAudio = buildRecordingPipeline({ ...SPEC, source: { ...SPEC.source, audio: 'aac' } });
  t.true(withAudio.launch.includes(' src. ! application/x-rtp,media=audio ! queue ! rtpmp4gdepay ! aacparse ! queue ! mux.audio_0'));
  t.notRegex(buildRecordingPipeline(SPEC).launch, /media=audio|aac/);
  t.notRegex(buildRecordingPipeline({ ...SPEC, source: { ...SPEC.source, audio: 'none' } }).launch, /media=audio/);
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
