// The uplink's lever: the bitrate of a transcoded camera changes at run time, without a restart, and the
// stream meter sees it; a passthrough camera refuses (its bitrate is the camera's).
import test from 'ava';
import { makeTempDir, startVirtualCamera } from '../helpers/index.ts';
import { Recorder } from '../../agent/encoder/index.ts';
import { detectEncoder } from '../../agent/encoder/profile-detect.ts';
import type { StreamStats } from '../../agent/encoder/stream-meter.ts';

test('setBitrate lowers a transcoded stream at run time; passthrough refuses', async (t) => {
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 25, pattern: 'snow', bitrateKbps: 3000 });
  t.teardown(() => camera.stop());
  const dir = await makeTempDir('recorder-bitrate');
  t.teardown(() => dir.remove());
  const { selected } = await detectEncoder();
  t.truthy(selected, 'an encoder works here (software x264)');
  const recorder = new Recorder({
    encoders: selected ? [selected] : [],
    segmentSeconds: 2,
    spoolDir: dir.path,
    lastLedgerSeq: () => undefined,
    cameras: [
      { id: 'tc', source: { uri: camera.url, transport: 'tcp', latencyMs: 200 }, transcode: { sourceCodec: 'h264', video: { codec: 'h264', width: 320, height: 240, fps: 25, bitrateKbps: 1500, rateControl: 'cbr', latency: 'low' }, overlays: [], audio: 'none' } },
      { id: 'pt', source: { uri: camera.url, transport: 'tcp', latencyMs: 200 } },
    ],
  });
  t.teardown(() => recorder.stop());
  const stats: StreamStats[] = [];
  const waitForRate = (predicate: (kbps: number) => boolean, what: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: last ${stats.at(-1)?.bitrateKbps} kbps`)), 30_000);
      const onStats = (id: string, s: StreamStats): void => {
        if (id !== 'tc') return;
        stats.push(s);
        if (s.frames > 50 && predicate(s.bitrateKbps)) {
          clearTimeout(timer);
          recorder.off('stats', onStats);
          resolve(s.bitrateKbps);
        }
      };
      recorder.on('stats', onStats);
    });
  recorder.start();
  const before = await waitForRate((kbps) => kbps > 1000, 'near 1500 kbps');
  await recorder.supervisor('tc')!.setBitrate(300);
  const after = await waitForRate((kbps) => kbps < 500, 'near 300 kbps after setBitrate');
  t.true(after < before / 2, `${before} → ${after} kbps`);
  t.is(recorder.supervisor('tc')!.health().restarts, 0, 'no restart was needed');
  await t.throwsAsync(recorder.supervisor('pt')!.setBitrate(300), { message: /passthrough/ });
});
