// `dropped` in a pipeline host's stats, against real GStreamer and the virtual camera: RTP packets the camera
// never delivered (rtpjitterbuffer num-lost) and, in a transcode, the frames videorate dropped. Each case has a
// control that must stay at zero, so a counter that counts nothing, or everything, fails.
import test from 'ava';
import { mkdir } from 'node:fs/promises';
import { makeTempDir, startVirtualCamera } from '../helpers/index.ts';
import { loadHardwareProfiles } from '../../agent/encoder/hardware-profiles.ts';
import { buildRecordingPipeline } from '../../agent/encoder/pipeline-builder.ts';
import { buildTranscode } from '../../agent/encoder/transcode-builder.ts';
import { PipelineHost, type HostPipeline } from '../../agent/encoder/pipeline-host.ts';
import type { HostEvent } from '../../agent/encoder/pipeline-host-protocol.ts';

type Stats = Extract<HostEvent, { type: 'stats' }>;

/** Starts a host with stats every second and the drop counters read every second; resolves with the first stats that `done` accepts. */
function runUntil(host: PipelineHost, pipeline: HostPipeline, done: (stats: Stats) => boolean, what: string, timeoutMs = 40_000): Promise<Stats> {
  return new Promise((resolve, reject) => {
    let last: Stats | undefined;
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; last stats: ${JSON.stringify(last)}`)), timeoutMs);
    host.on('event', (e) => {
      if (e.type === 'error') reject(new Error(`pipeline error: ${e.message}`));
      if (e.type !== 'stats') return;
      last = e;
      if (e.dropped.ageMs !== undefined && done(e)) {
        clearTimeout(timer);
        resolve(e);
      }
    });
    host.start({ ...pipeline, meter: { element: 'meter', codec: pipeline.codec, intervalMs: 1000, dropsIntervalMs: 1000 } });
  });
}

test('passthrough: RTP packets a camera never delivers are counted as lost; a clean camera shows none', async (t) => {
  // Both over TCP: nothing on the way can lose a packet, only the camera (here it drops 3 % of its video packets).
  const lossy = await startVirtualCamera({ width: 320, height: 240, fps: 25, lossPercent: 3 });
  t.teardown(() => lossy.stop());
  const clean = await startVirtualCamera({ width: 320, height: 240, fps: 25, audio: 'pcma' });
  t.teardown(() => clean.stop());
  const dir = await makeTempDir('drops');
  t.teardown(() => dir.remove());
  await Promise.all(['lossy', 'clean'].map((name) => mkdir(`${dir.path}/${name}`)));
  const record = (uri: string, name: string, audio?: 'pcma'): HostPipeline =>
    buildRecordingPipeline({ streamId: name, codec: 'h264', source: { uri, transport: 'tcp', latencyMs: 200, audio }, segment: { seconds: 2, directory: `${dir.path}/${name}`, startIndex: 0 } });
  const lossyHost = new PipelineHost('lossy');
  t.teardown(() => lossyHost.kill());
  const cleanHost = new PipelineHost('clean');
  t.teardown(() => cleanHost.kill());
  const [lossyStats, cleanStats] = await Promise.all([
    runUntil(lossyHost, record(lossy.url, 'lossy'), (s) => s.dropped.packetsLost >= 5, '5 lost packets'),
    // As long a run: 8 s of frames, video and audio jitterbuffers both read.
    runUntil(cleanHost, record(clean.url, 'clean', 'pcma'), (s) => s.frames >= 200, '200 frames from the clean camera'),
  ]);
  await Promise.all([lossyHost.stop(5000), cleanHost.stop(5000)]);
  t.log(`lossy camera: ${JSON.stringify(lossyStats.dropped)}; clean camera: ${JSON.stringify(cleanStats.dropped)} after ${cleanStats.frames} frames`);
  t.true(lossyStats.dropped.packetsLost >= 5, JSON.stringify(lossyStats.dropped));
  t.is(lossyStats.dropped.framesDropped, 0, 'passthrough touches no frame');
  // The clean camera should lose nothing. A packet or two is tolerated: the virtual camera's RTSP server can
  // really lose one (seen: 1 packet, in 1 run of 4, when a second client joined a shared camera), while a counter
  // that counted something else (packets, frames, the meter's own drops) would show hundreds here.
  t.true(cleanStats.dropped.packetsLost + cleanStats.dropped.packetsLate <= 2, JSON.stringify(cleanStats.dropped));
  t.is(cleanStats.dropped.framesDropped, 0);
  t.true(cleanStats.dropped.ageMs! <= 2000, `counters fresh: read ${cleanStats.dropped.ageMs} ms ago`);
});

test("transcode: frames videorate drops to make a lower output rate are counted; at the camera's own rate almost none are", async (t) => {
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 25 });
  t.teardown(() => camera.stop());
  const dir = await makeTempDir('drops-transcode');
  t.teardown(() => dir.remove());
  const profile = (await loadHardwareProfiles()).find((p) => p.id === 'software-x264');
  if (!profile) throw new Error('hardware-profiles/software-x264.json is missing');
  await Promise.all(['slow', 'same'].map((name) => mkdir(`${dir.path}/${name}`)));
  const transcode = (name: string, fps: number): HostPipeline => {
    const built = buildTranscode({
      streamId: name,
      source: { uri: camera.url, transport: 'tcp', latencyMs: 200 },
      sourceCodec: 'h264',
      profile,
      video: { codec: 'h264', width: 320, height: 240, fps, bitrateKbps: 400, rateControl: 'cbr', latency: 'low' },
      overlays: [],
      segment: { seconds: 2, directory: `${dir.path}/${name}`, startIndex: 0 },
      audio: 'none',
    });
    return { launch: built.output, properties: {}, codec: 'h264', source: { launch: built.source, properties: built.sourceProperties, slateElement: built.slateElement, retry: { initialMs: 500, maxMs: 2000 } } };
  };
  const slow = new PipelineHost('slow');
  t.teardown(() => slow.kill());
  const same = new PipelineHost('same');
  t.teardown(() => same.kill());
  // 10 s of output each: 100 frames at 10 fps, 250 at 25 fps.
  const [slowStats, sameStats] = await Promise.all([
    runUntil(slow, transcode('slow', 10), (s) => s.frames >= 100, '100 output frames at 10 fps'),
    runUntil(same, transcode('same', 25), (s) => s.frames >= 250, '250 output frames at 25 fps'),
  ]);
  await Promise.all([slow.stop(5000), same.stop(5000)]);
  // (Packets are not checked here: two clients share the camera, and a join has cost one real packet at times.)
  // 25 fps into 10: 15 of every 25 camera frames go, 1.5 per output frame (a little less counted against the
  // output's frames, which begin before the camera's first frame arrives).
  const perOutputFrame = slowStats.dropped.framesDropped / slowStats.frames;
  t.log(`25 → 10 fps: ${JSON.stringify(slowStats.dropped)} for ${slowStats.frames} output frames; 25 → 25 fps: ${JSON.stringify(sameStats.dropped)} for ${sameStats.frames}`);
  t.true(perOutputFrame > 0.8 && perOutputFrame < 2.5, `${slowStats.dropped.framesDropped} dropped for ${slowStats.frames} output frames`);
  t.true(sameStats.dropped.framesDropped < sameStats.frames * 0.05, `at the camera's rate: ${sameStats.dropped.framesDropped} dropped for ${sameStats.frames} frames`);
});
