// An encoder that fails at run time (here: one that cannot negotiate, standing in for a hardware encoder
// whose driver went away) drops the camera to the next profile on the ladder; recording goes on.
import test from 'ava';
import { makeTempDir, startVirtualCamera } from '../helpers/index.ts';
import { Recorder } from '../../agent/encoder/index.ts';
import { detectEncoder, type EncoderChoice } from '../../agent/encoder/profile-detect.ts';
import type { ClosedSegment } from '../../agent/encoder/pipeline-supervisor.ts';

test('a failing encoder falls to the next working profile, said as an event, and segments follow', async (t) => {
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 25 });
  t.teardown(() => camera.stop());
  const dir = await makeTempDir('fallback');
  t.teardown(() => dir.remove());
  const { selected } = await detectEncoder();
  if (!selected) return t.fail('software x264 must work here');
  // A copy of the software profile whose encoder input caps cannot be negotiated (4:4:4 into a 4:2:0 chain):
  // the output pipeline fails at start, as a hardware encoder does when its device is gone.
  const broken: EncoderChoice = structuredClone(selected);
  broken.profile.id = 'broken-encoder';
  broken.profile.encoders.h264.input = 'videoconvert ! video/x-raw,format=Y444_10LE,width=1,height=1';
  const recorder = new Recorder({
    encoders: [broken, selected],
    segmentSeconds: 2,
    spoolDir: dir.path,
    lastLedgerSeq: () => undefined,
    backoff: { initialMs: 200, maxMs: 500, factor: 2, jitter: 0, budget: { restarts: 20, windowMs: 60_000 }, stableMs: 60_000 },
    cameras: [{ id: 'tc', source: { uri: camera.url, transport: 'tcp', latencyMs: 200 }, transcode: { sourceCodec: 'h264', video: { codec: 'h264', width: 320, height: 240, fps: 25, bitrateKbps: 500, rateControl: 'cbr', latency: 'low' }, overlays: [], audio: 'none' } }],
  });
  t.teardown(() => recorder.stop());
  const fallback = new Promise<{ cameraId: string; from: string; to: string | undefined; reason: string }>((resolve) => recorder.once('encoder-fallback', resolve));
  const segments: ClosedSegment[] = [];
  const twoSegments = new Promise<void>((resolve) => recorder.on('segment', (s) => segments.push(s) >= 2 && resolve()));
  recorder.start();
  const event = await fallback;
  t.like(event, { cameraId: 'tc', from: 'broken-encoder', to: selected.profile.id });
  t.regex(event.reason, /\S/, 'with the failure that caused it');
  await twoSegments;
  t.true(segments.length >= 2, 'the next profile records');
});
