// Live outputs against real receivers: a virtual camera recorded passthrough by the Recorder, its live tap feeding
// SRT (srt-live-transmit) and RTMP (ffmpeg -listen) ingests. What must hold: the receivers get playable H.264
// (and AAC for RTMP), an output reconnects by itself after its receiver was cut, and whatever happens to a
// destination the recording keeps closing segments without a gap and without a restart.
import test, { type ExecutionContext } from 'ava';
import { makeTempDir, startVirtualCamera, type VirtualCamera } from '../helpers/index.ts';
import { startRtmpReceiver, startSrtReceiver } from '../helpers/live-receivers.ts';
import { probeMedia, probeStreams } from '../helpers/media.ts';
import { createWaitList, type WaitList } from '../helpers/wait-list.ts';
import { Recorder, type ClosedSegment, type LiveDestination, type LiveOutputEvent, type LiveOutputHealth, type RecordedCamera } from '../../agent/encoder/index.ts';
import { GAP_TOLERANCE_MS } from '../../agent/uplink/spool.ts';
import { registerSecret } from '../../agent/lib/redact.ts';
import { detectEncoder } from '../../agent/encoder/profile-detect.ts';

interface World {
  recorder: Recorder;
  segments: WaitList<ClosedSegment>;
  live: WaitList<LiveOutputEvent>;
  /** Resolves when `count` more segments of `cameraId` have closed: the test's clock. */
  moreSegments(cameraId: string, count: number): Promise<void>;
  /** The first live event matching `match` from the `since`-th on (default: any seen so far or still to come). */
  waitLive(match: Partial<LiveOutputEvent>, what: string, timeoutMs?: number, since?: number): Promise<LiveOutputEvent>;
}

function record(t: ExecutionContext, spoolDir: string, cameras: RecordedCamera[], liveOutputs?: { stallMs: number }): World {
  const recorder = new Recorder({ cameras, segmentSeconds: 1, spoolDir, lastLedgerSeq: () => undefined, liveOutputs });
  t.teardown(() => recorder.stop());
  const world = observe(t, recorder);
  recorder.start();
  return world;
}

/** Collects a recorder's segment and live events (attach before start()). */
function observe(t: ExecutionContext, recorder: Recorder): World {
  const segments = createWaitList<ClosedSegment>();
  const live = createWaitList<LiveOutputEvent>();
  recorder.on('segment', (segment) => segments.push(segment));
  recorder.on('live', (event) => {
    t.log(`${event.cameraId} live[${event.output}] ${event.type}${event.reason ? `: ${event.reason}` : ''}`);
    live.push(event);
  });
  const describe = () => `segments: ${segments.items.length}; live: ${live.items.map((e) => `${e.output}:${e.type}`).join(',')}; health: ${JSON.stringify(recorder.health().map((h) => h.live))}`;
  return {
    recorder,
    segments,
    live,
    async moreSegments(cameraId, count) {
      const target = segments.items.filter((s) => s.streamId === cameraId).length + count;
      await segments.waitFor(() => segments.items.filter((s) => s.streamId === cameraId).length >= target, 30_000, `${count} more segments of ${cameraId}`, describe);
    },
    waitLive(match, what, timeoutMs = 30_000, since = 0) {
      return live.waitFor((e) => live.items.indexOf(e) >= since && Object.entries(match).every(([k, v]) => (e as unknown as Record<string, unknown>)[k] === v), timeoutMs, what, describe);
    },
  };
}

/** Consecutive segments abut (the ledger's gap rule), and the recording pipeline never restarted. */
function assertRecordingUnbroken(t: ExecutionContext, world: World, cameraId: string): void {
  const own = world.segments.items.filter((s) => s.streamId === cameraId);
  for (let i = 1; i < own.length; i++) {
    const previous = own[i - 1]!;
    const gap = Date.parse(own[i]!.startTime) - (Date.parse(previous.startTime) + previous.durationMs);
    t.true(gap <= GAP_TOLERANCE_MS, `segment ${i} of ${cameraId} starts ${gap} ms after the previous one ends`);
  }
  t.is(world.recorder.supervisor(cameraId)?.health().restarts, 0, `${cameraId}: the recording pipeline never restarted`);
}

function passthrough(id: string, camera: VirtualCamera, live: LiveDestination[], audio: 'aac' | 'none' = 'none'): RecordedCamera {
  return { id, source: { uri: camera.url, transport: 'tcp', latencyMs: 200, audio }, live };
}

test.serial('SRT: the receiver gets H.264; after a cut it reconnects by itself while the recording never stops', async (t) => {
  const dir = await makeTempDir('live-srt');
  t.teardown(() => dir.remove());
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 25 });
  t.teardown(() => camera.stop());
  const receiver = await startSrtReceiver({ dir: dir.path });
  t.teardown(() => receiver.stop());
  const world = record(t, `${dir.path}/spool`, [passthrough('cam1', camera, [{ kind: 'srt', url: receiver.url, latencyMs: 120 }])]);

  await world.waitLive({ type: 'connected' }, 'the SRT output to connect');
  await world.moreSegments('cam1', 3);
  const first = await probeMedia(receiver.file);
  t.is(first.codec, 'h264');
  t.is(first.width, 320);
  t.true(first.frames >= 25, `${first.frames} frames received before the cut`);
  t.is(world.recorder.health()[0]?.live?.[0]?.state, 'live');

  // The cut: the ingest goes away for 4 s, longer than SRT's own retransmission window, and comes back.
  const cutAt = performance.now();
  const segmentsBeforeCut = world.segments.items.length;
  const eventsBeforeCut = world.live.items.length;
  await receiver.stop();
  const down = await world.waitLive({ type: 'disconnected' }, 'the output to notice the cut', 15_000, eventsBeforeCut);
  t.log(`disconnect seen ${Math.round(performance.now() - cutAt)} ms after the cut: ${down.reason}`);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 4000 - (performance.now() - cutAt))));
  const eventsBeforeReturn = world.live.items.length;
  await receiver.start();
  const backAt = performance.now();
  await world.waitLive({ type: 'connected' }, 'the output to reconnect by itself', 30_000, eventsBeforeReturn);
  t.false(world.live.items.slice(eventsBeforeCut, eventsBeforeReturn).some((e) => e.type === 'connected'), 'no connection was claimed while the receiver was down');
  const reconnectMs = Math.round(performance.now() - backAt);
  t.log(`reconnected ${reconnectMs} ms after the receiver listened again (cut lasted ${Math.round(backAt - cutAt)} ms)`);
  t.true(reconnectMs < 15_000);
  await world.moreSegments('cam1', 3);
  const second = await probeMedia(receiver.file);
  t.is(second.codec, 'h264');
  t.true(second.frames >= 25, `${second.frames} frames received after the cut`);
  t.true(world.segments.items.length - segmentsBeforeCut >= 7, 'segments kept closing during the cut');
  assertRecordingUnbroken(t, world, 'cam1');
});

test.serial('SRT with a passphrase: the receiver with the same passphrase gets the stream; one with another never connects', async (t) => {
  const dir = await makeTempDir('live-srt-aes');
  t.teardown(() => dir.remove());
  const passphrase = 'Canary-Srt-Passphrase-6604';
  registerSecret(passphrase);
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 25 });
  t.teardown(() => camera.stop());
  const right = await startSrtReceiver({ dir: dir.path, passphrase, label: 'right' });
  t.teardown(() => right.stop());
  const wrong = await startSrtReceiver({ dir: dir.path, passphrase: 'another-passphrase-1234', label: 'wrong' });
  t.teardown(() => wrong.stop());
  const world = record(t, `${dir.path}/spool`, [
    passthrough('cam1', camera, [
      { kind: 'srt', url: right.url, latencyMs: 120, passphrase, keyLength: 16 },
      { kind: 'srt', url: wrong.url, latencyMs: 120, passphrase, keyLength: 16 },
    ]),
  ], { stallMs: 4000 });
  await world.waitLive({ type: 'connected', output: 0 }, 'the encrypted output to connect');
  await world.moreSegments('cam1', 4);
  // The mismatched one: a rejected handshake is not an error srtsink reports; the stall limit ends the run.
  for (let i = 0; i < 15 && (world.recorder.health()[0]?.live?.[1]?.restarts ?? 0) < 1; i++) await world.moreSegments('cam1', 1);
  const media = await probeMedia(right.file);
  t.is(media.codec, 'h264');
  t.true(media.frames >= 25, `${media.frames} frames decrypted and decoded`);
  const health = world.recorder.health()[0]?.live ?? [];
  t.is(health[0]?.state, 'live');
  t.not(health[1]?.state, 'live');
  t.false(world.live.items.some((e) => e.output === 1 && e.type === 'connected'), 'the wrong passphrase never connected');
  t.true((health[1]?.restarts ?? 0) >= 1, `the mismatched output retries (${health[1]?.lastError})`);
  t.is(wrong.bytes(), 0, 'nothing readable reached the receiver with the other passphrase');
  t.false(JSON.stringify(world.recorder.health()).includes(passphrase), 'health never shows the passphrase');
  assertRecordingUnbroken(t, world, 'cam1');
});

test.serial('RTMP: ffmpeg gets H.264 + AAC with the right stream key, from a camera with audio and (silent AAC) one without', async (t) => {
  const dir = await makeTempDir('live-rtmp');
  t.teardown(() => dir.remove());
  const withMic = await startVirtualCamera({ width: 320, height: 240, fps: 25, audio: true });
  t.teardown(() => withMic.stop());
  const silent = await startVirtualCamera({ width: 320, height: 240, fps: 25 });
  t.teardown(() => silent.stop());
  const keys = { mic: 'canary-rtmp-key-mic-5170', quiet: 'canary-rtmp-key-quiet-5171' };
  for (const key of Object.values(keys)) registerSecret(key);
  const micReceiver = await startRtmpReceiver({ dir: dir.path, streamKey: keys.mic, label: 'mic' });
  t.teardown(() => micReceiver.stop());
  const quietReceiver = await startRtmpReceiver({ dir: dir.path, streamKey: keys.quiet, label: 'quiet' });
  t.teardown(() => quietReceiver.stop());
  const world = record(t, `${dir.path}/spool`, [
    passthrough('mic', withMic, [{ kind: 'rtmp', url: micReceiver.url, streamKey: keys.mic }], 'aac'),
    passthrough('quiet', silent, [{ kind: 'rtmp', url: quietReceiver.url, streamKey: keys.quiet }]),
  ]);
  await world.waitLive({ type: 'connected', cameraId: 'mic' }, 'the RTMP output of the camera with audio');
  await world.waitLive({ type: 'connected', cameraId: 'quiet' }, 'the RTMP output of the camera without audio');
  await world.moreSegments('mic', 4);
  // Stopping unpublishes (EOS): ffmpeg ends and completes its file.
  await world.recorder.stop();
  await Promise.all([micReceiver.exited, quietReceiver.exited]);
  for (const [name, receiver] of [['mic', micReceiver], ['quiet', quietReceiver]] as const) {
    const probe = await probeStreams(receiver.file);
    t.true(probe.ok, `${name}: ${probe.stderr}`);
    t.deepEqual(probe.streams.map((s) => `${String(s['codec_type'])}:${String(s['codec_name'])}`).sort(), ['audio:aac', 'video:h264'], name);
    t.notRegex(receiver.output(), /Unexpected stream/, `${name}: ffmpeg got the stream key it expected`);
    const media = await probeMedia(receiver.file);
    t.true(media.frames >= 50, `${name}: ${media.frames} video frames`);
  }
  assertRecordingUnbroken(t, world, 'mic');
  assertRecordingUnbroken(t, world, 'quiet');
});

test.serial('a destination nobody listens on: the recording is unaffected, the output retries with its reason, and connects once a listener appears', async (t) => {
  const dir = await makeTempDir('live-nobody');
  t.teardown(() => dir.remove());
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 25 });
  t.teardown(() => camera.stop());
  // A port nothing listens on yet: SRT's caller finds no peer, and a later receiver takes the same port.
  const probe = await startSrtReceiver({ dir: dir.path, label: 'late' });
  t.teardown(() => probe.stop());
  await probe.stop();
  const world = record(t, `${dir.path}/spool`, [passthrough('cam1', camera, [{ kind: 'srt', url: probe.url, latencyMs: 120 }, { kind: 'rtmp', url: 'rtmp://127.0.0.1:9/live', streamKey: 'canary-never-used-4471' }])], { stallMs: 4000 });
  // The recording's segments are the clock: wait (bounded) until both outputs have failed at least once.
  const restarts = () => (world.recorder.health()[0]?.live ?? []).map((output) => output.restarts);
  await world.moreSegments('cam1', 4);
  for (let i = 0; i < 20 && Math.min(...restarts()) < 1; i++) await world.moreSegments('cam1', 1);
  const [srt, rtmp] = world.recorder.health()[0]?.live ?? [];
  t.log(`srt: ${srt?.state} (${srt?.reason}), restarts ${srt?.restarts}; rtmp: ${rtmp?.state} (${rtmp?.reason}), restarts ${rtmp?.restarts}`);
  for (const output of [srt, rtmp]) {
    t.true(output?.state === 'retrying' || output?.state === 'connecting', `${output?.kind}: ${output?.state}`);
    t.true((output?.restarts ?? 0) >= 1, `${output?.kind} restarted`);
  }
  t.regex(srt?.lastError ?? '', /Connection does not exist|no connection/i);
  t.regex(rtmp?.lastError ?? '', /^Connection refused/);
  t.false(world.live.items.some((e) => e.type === 'connected'));
  assertRecordingUnbroken(t, world, 'cam1');

  // The destination comes back: the output finds it on its own (backoff ≤ 10 s).
  await probe.start();
  const backAt = performance.now();
  await world.waitLive({ type: 'connected', output: 0 }, 'the SRT output to find the late receiver', 30_000, world.live.items.length);
  t.log(`connected ${Math.round(performance.now() - backAt)} ms after the receiver appeared`);
  await world.moreSegments('cam1', 2);
  t.true(probe.bytes() > 0);
  assertRecordingUnbroken(t, world, 'cam1');
});

test.serial('a transcoded camera: its SRT output stays live with the slate through a camera loss, with video and AAC', async (t) => {
  const dir = await makeTempDir('live-transcode');
  t.teardown(() => dir.remove());
  const { selected } = await detectEncoder();
  if (!selected) throw new Error('no encoder works here (software x264 should)');
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 25 });
  t.teardown(() => camera.stop());
  const receiver = await startSrtReceiver({ dir: dir.path });
  t.teardown(() => receiver.stop());
  const transcoded: RecordedCamera = {
    ...passthrough('tc', camera, [{ kind: 'srt', url: receiver.url, latencyMs: 120 }]),
    transcode: { sourceCodec: 'h264', video: { codec: 'h264', width: 320, height: 240, fps: 25, bitrateKbps: 600, rateControl: 'cbr', latency: 'low' }, overlays: [], audio: 'silent' },
  };
  const recorder = new Recorder({ cameras: [transcoded], segmentSeconds: 1, spoolDir: `${dir.path}/spool`, lastLedgerSeq: () => undefined, encoders: [selected] });
  t.teardown(() => recorder.stop());
  const sourceEvents = createWaitList<string>();
  recorder.on('source', (_id, event) => sourceEvents.push(event.type));
  const world = observe(t, recorder);
  recorder.start();
  await world.waitLive({ type: 'connected' }, 'the SRT output of the transcoded camera');
  await world.moreSegments('tc', 2);
  const eventsBeforeLoss = world.live.items.length;
  await camera.stop();
  await sourceEvents.waitFor((e) => e === 'source-lost', 30_000, 'the camera loss', () => sourceEvents.items.join(','));
  await world.moreSegments('tc', 3);
  t.is(recorder.health()[0]?.live?.[0]?.state, 'live', 'the slate keeps the destination fed');
  await camera.start();
  await sourceEvents.waitFor((e) => e === 'source-restored', 30_000, 'the camera to return', () => sourceEvents.items.join(','));
  await world.moreSegments('tc', 2);
  t.deepEqual(world.live.items.slice(eventsBeforeLoss), [], 'no disconnect through the camera loss');
  const probe = await probeStreams(receiver.file);
  t.deepEqual([...new Set(probe.streams.map((s) => `${String(s['codec_type'])}:${String(s['codec_name'])}`))].sort(), ['audio:aac', 'video:h264']);
  const media = await probeMedia(receiver.file);
  t.true(media.frames >= 25 * 6, `${media.frames} frames: camera, slate, camera`);
  assertRecordingUnbroken(t, world, 'tc');
});

test.serial('a passthrough camera lost and back: its outputs go idle (nothing to send), then carry the new recording run again', async (t) => {
  const dir = await makeTempDir('live-camera-loss');
  t.teardown(() => dir.remove());
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 25 });
  t.teardown(() => camera.stop());
  const srt = await startSrtReceiver({ dir: dir.path });
  t.teardown(() => srt.stop());
  const streamKey = 'canary-rtmp-key-loss-5172';
  registerSecret(streamKey);
  const rtmp = await startRtmpReceiver({ dir: dir.path, streamKey });
  t.teardown(() => rtmp.stop());
  const world = record(t, `${dir.path}/spool`, [passthrough('cam1', camera, [{ kind: 'srt', url: srt.url, latencyMs: 120 }, { kind: 'rtmp', url: rtmp.url, streamKey }])]);
  await world.waitLive({ type: 'connected', output: 0 }, 'SRT live');
  await world.waitLive({ type: 'connected', output: 1 }, 'RTMP live');
  await world.moreSegments('cam1', 2);
  const states = createWaitList<LiveOutputHealth>();
  world.recorder.on('live-state', (health) => states.push(health));
  await camera.stop();
  // No segment closes while the camera is away: the outputs' state changes are the clock here.
  const idle = await states.waitFor((h) => h.state === 'idle', 15_000, 'an output to go idle', () => states.items.map((h) => `${h.output}:${h.state}`).join(','));
  t.regex(idle.reason ?? '', /no stream from the recording/);
  t.log(`states while the camera is away: ${world.recorder.health()[0]?.live?.map((o) => o.state).join(', ')}`);
  const current = () => (world.recorder.health()[0]?.live ?? []).map((o) => o.state);
  const srtBytes = srt.bytes();
  await camera.start();
  const eventsAtReturn = world.live.items.length;
  await world.moreSegments('cam1', 4);
  t.log(`states after the camera returned: ${current().join(', ')}; events: ${world.live.items.slice(eventsAtReturn).map((e) => `${e.output}:${e.type}`).join(',')}`);
  t.true(srt.bytes() > srtBytes, 'the SRT receiver gets the new run');
  t.is(current()[0], 'live');
});
