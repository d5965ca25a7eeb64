// The pipeline host child process against real GStreamer and the virtual camera.
import test from 'ava';
import { once } from 'node:events';
import { makeTempDir, startVirtualCamera } from '../helpers/index.ts';
import { probeMedia } from '../helpers/media.ts';
import { PipelineHost } from '../../agent/encoder/pipeline-host.ts';
import { buildRecordingPipeline } from '../../agent/encoder/pipeline-builder.ts';
import type { HostEvent } from '../../agent/encoder/pipeline-host-protocol.ts';
import { sha256File } from '../../agent/uplink/spool.ts';

test('a host records segments, reports each one, and on stop closes the last one with EOS and exits 0', async (t) => {
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 25, keyint: 25, username: 'viewer', password: 'Pw-For-Host-1' });
  t.teardown(() => camera.stop());
  const dir = await makeTempDir('host');
  t.teardown(() => dir.remove());
  const host = new PipelineHost('cam');
  t.teardown(() => host.kill());
  const events: HostEvent[] = [];
  let segments = 0;
  const twoSegments = new Promise<void>((resolve) =>
    host.on('event', (e) => {
      events.push(e);
      if (e.type === 'segment-closed' && ++segments === 2) resolve();
    }),
  );
  host.start({
    ...buildRecordingPipeline({
      streamId: 'cam',
      codec: 'h264',
      source: { uri: camera.url, transport: 'tcp', latencyMs: 200, username: 'viewer', password: 'Pw-For-Host-1' },
      segment: { seconds: 1, directory: dir.path, startIndex: 5 },
    }),
    meter: { element: 'meter', codec: 'h264', intervalMs: 500 },
  });
  await twoSegments;
  const exit = await host.stop(5000);
  t.deepEqual(exit, { code: 0, signal: null });
  t.is(events[0]?.type, 'started');
  t.deepEqual(events.at(-1), { type: 'eos', requested: true });
  const closed = events.filter((e): e is Extract<HostEvent, { type: 'segment-closed' }> => e.type === 'segment-closed');
  t.true(closed.length >= 3, 'two while running and the last one closed by EOS');
  t.is(closed[0]?.path, `${dir.path}/00000005.ts`, 'numbering starts at startIndex');
  for (const segment of closed) {
    t.true(segment.bytes > 0);
    // The host hashes what it wrote: the same sha256 as the file on disk (the spool stores it, the ingest checks it).
    t.is(segment.sha256, await sha256File(segment.path));
    t.false(Number.isNaN(Date.parse(segment.startTime)));
    const media = await probeMedia(segment.path);
    t.deepEqual([media.codec, media.width, media.height], ['h264', 320, 240]);
  }
  t.true(Math.abs((closed[0]?.durationMs ?? 0) - 1000) < 300, `first segment ${closed[0]?.durationMs} ms`);
  // The meter saw the camera's real cadence: 25 fps, a keyframe every 25 frames (1 s).
  const stats = events.filter((e): e is Extract<HostEvent, { type: 'stats' }> => e.type === 'stats').at(-1);
  t.truthy(stats, 'stats were reported');
  // Arrival-time figures jitter on a loaded machine; the frame count between keyframes does not.
  t.true(Math.abs((stats?.fps ?? 0) - 25) < 6, `fps ${stats?.fps}`);
  t.is(stats?.keyframeIntervalFrames, 25, `keyframe interval ${stats?.keyframeIntervalMs} ms`);
  t.true((stats?.bitrateKbps ?? 0) > 0);
});

test('a failing pipeline reports the error, exits 1, and its stderr tail is kept redacted', async (t) => {
  // Keep every line: at GST_DEBUG level 5 rtspsrc echoes the full URL early in its output.
  const host = new PipelineHost('broken', 1000);
  t.teardown(() => host.kill());
  const errors: HostEvent[] = [];
  host.on('event', (e) => e.type === 'error' && errors.push(e));
  // A URL with userinfo never comes from the builder; here it stands for a GStreamer message that echoes one.
  host.start(
    { launch: 'rtspsrc location="rtsp://viewer:Canary-Pw-4417@127.0.0.1:9/x" protocols=tcp ! fakesink', properties: {} },
    { ...process.env, GST_DEBUG: 'rtspsrc:5' },
  );
  const [exit] = (await once(host, 'exit')) as [{ code: number }];
  t.is(exit.code, 1);
  t.is(errors.length, 1);
  const tail = host.stderrTail().join('\n');
  t.regex(tail, /rtsp:\/\/\*\*\*@127\.0\.0\.1:9/, 'the URL is in the tail, without its credentials');
  t.false(tail.includes('Canary-Pw-4417'));
});

test('a host whose parent disconnects stops itself instead of living on as an orphan', async (t) => {
  const camera = await startVirtualCamera({ width: 320, height: 240 });
  t.teardown(() => camera.stop());
  const dir = await makeTempDir('host-orphan');
  t.teardown(() => dir.remove());
  const host = new PipelineHost('orphan');
  t.teardown(() => host.kill());
  const started = new Promise<void>((resolve) => host.on('event', (e) => e.type === 'segment-closed' && resolve()));
  host.start(buildRecordingPipeline({ streamId: 'o', codec: 'h264', source: { uri: camera.url, transport: 'tcp', latencyMs: 200 }, segment: { seconds: 1, directory: dir.path, startIndex: 0 } }));
  await started;
  // Closing the IPC channel is what the child sees when the agent dies.
  (host as unknown as { child: { disconnect(): void } }).child.disconnect();
  const exit = await host.exited;
  t.is(exit.code, 0, 'it sent EOS and exited cleanly');
});

test('properties change on the running pipeline: an encoder bitrate set at run time shows in the measured bitrate', async (t) => {
  const host = new PipelineHost('bitrate');
  t.teardown(() => host.kill());
  const stats: Array<Extract<HostEvent, { type: 'stats' }>> = [];
  host.on('event', (e) => e.type === 'stats' && stats.push(e));
  // Noise does not compress: x264 in CBR spends the bitrate it is given, so the meter sees the setting.
  host.start({
    launch:
      'videotestsrc is-live=true pattern=snow ! video/x-raw,format=I420,width=320,height=240,framerate=25/1 ! x264enc name=enc bitrate=1600 pass=cbr tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=meter sync=false drop=true max-buffers=200',
    properties: {},
    meter: { element: 'meter', codec: 'h264', intervalMs: 500 },
  });
  const settled = async (predicate: (kbps: number) => boolean, what: string): Promise<number> => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const last = stats.at(-1);
      if (last && predicate(last.bitrateKbps)) return last.bitrateKbps;
      await new Promise<void>((resolve) => host.once('event', () => resolve()));
    }
    throw new Error(`${what}: last measured ${stats.at(-1)?.bitrateKbps} kbps`);
  };
  const before = await settled((kbps) => kbps > 1200, 'bitrate near 1600 kbps');
  await host.setProperties({ enc: { bitrate: 300 } });
  // The meter's window is 5 s: wait until it holds only the new rate.
  const after = await settled((kbps) => kbps < 500, 'bitrate near 300 kbps after the change');
  t.true(after < before / 2, `${before} → ${after} kbps`);
  await t.throwsAsync(host.setProperties({ nosuch: { bitrate: 1 } }), { message: /element nosuch not found/ });
  t.is((await host.stop(3000)).code, 0);
});
