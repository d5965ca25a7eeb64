// A pipeline waiting out a long backoff starts at once when told its camera is back (the agent tells it when
// the camera monitor's DESCRIBE answers again), instead of after the backoff.
import test from 'ava';
import { makeTempDir, startVirtualCamera } from '../helpers/index.ts';
import { Recorder } from '../../agent/encoder/index.ts';

test('retryNow ends a backoff when the camera is back; it does nothing to a running pipeline', async (t) => {
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 25 });
  t.teardown(() => camera.stop());
  const dir = await makeTempDir('retry');
  t.teardown(() => dir.remove());
  // A backoff far longer than the test: only retryNow can bring the recording back in time.
  const recorder = new Recorder({
    segmentSeconds: 1,
    spoolDir: dir.path,
    lastLedgerSeq: () => undefined,
    backoff: { initialMs: 120_000, maxMs: 120_000, factor: 2, jitter: 0, budget: { restarts: 20, windowMs: 600_000 }, stableMs: 600_000 },
    cameras: [{ id: 'cam', source: { uri: camera.url, transport: 'tcp', latencyMs: 200 } }],
  });
  t.teardown(() => recorder.stop());
  let segments = 0;
  const segmentCount = (n: number) => new Promise<void>((resolve) => recorder.on('segment', () => ++segments >= n && resolve()));
  recorder.start();
  await segmentCount(2);
  const supervisor = recorder.supervisor('cam')!;
  t.false(supervisor.retryNow('test'), 'a running pipeline is left alone');
  const backoff = new Promise<void>((resolve) => supervisor.on('state', (state) => state === 'backoff' && resolve()));
  await camera.stop();
  await backoff;
  await camera.start();
  const before = segments;
  const back = segmentCount(before + 1);
  const started = performance.now();
  t.true(supervisor.retryNow('the camera answers again'));
  await back;
  t.true(performance.now() - started < 20_000, 'recording resumed long before the 120 s backoff');
});
