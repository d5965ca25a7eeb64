/**
 * Benchmark: the encoder subsystem on this machine, each figure against a real peer in the same run where one exists
 * (the house rule; tests never assert timings). Usage and results: docs/BENCHMARKS.md, "Encoder".
 *   1. software 720p30 transcode: a Recorder with one transcoded camera (x264 chosen by detectEncoder, clock + text
 *      overlay, silent AAC) vs `ffmpeg … -c:v libx264 -preset superfast …`: CPU and RSS per camera;
 *   2. recovery after the camera returns: camera.start() → first closed segment (passthrough) and → source-restored
 *      (transcode), over repeated outages on one Recorder, and over first outages of fresh Recorders;
 *   3. passthrough capacity: N recordings of ONE shared camera, stepped, until a recorder loses frames or restarts;
 *      venuebox vs ffmpeg -c copy.
 *
 *   node --import tsx bench/encoder.ts [--seconds 30] [--outages 10] [--fresh-outages 5] [--outage-seconds 5]
 *     [--step-seconds 20] [--steps 1,2,4,8,12,16,24,32] [--width 1920 --height 1080] [--keep-size] [--parts transcode,recovery,capacity] [--write]
 */
import { runBench, writeBenchSection } from './bench-report.ts';
import { cameraPid, CLK_TCK, machineTicks, sampleTree } from './proc-stats.ts';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Recorder, type ClosedSegment, type RecordedCamera } from '../agent/encoder/index.ts';
import { detectEncoder, type EncoderChoice } from '../agent/encoder/profile-detect.ts';
import { setLogDestination } from '../agent/lib/log.ts';
import { probeMedia } from '../test/helpers/media.ts';
import { startProcess } from '../test/helpers/processes.ts';
import { makeTempDir } from '../test/helpers/tmp.ts';
import { startVirtualCamera, type VirtualCamera } from '../test/helpers/virtual-camera.ts';

const FPS = 30;
const CAMERA_KBPS = 4000;
const SEGMENT_SECONDS = 2;
const OUT = { width: 1280, height: 720, fps: 30, kbps: 3000 };
/** At or above this share of all cores busy, recorders and the camera compete for CPU. */
const SATURATED_PCT = 90;
/** A capacity step fails when a recorder holds less than this share of the frames the camera sent. */
const FRAMES_PASS = 0.95;
const RECOVERY_TIMEOUT_MS = 45_000;
const [BEGIN, END] = ['<!-- bench:encoder:begin -->', '<!-- bench:encoder:end -->'];
const HEADING = '## Encoder (bench/encoder.ts)';

/** The fixed part of the section: why, what and how. The run's figures follow it. */
const ABOUT = `### Why

Issue 4 asks three things of the encoder beyond passthrough cost (which \`bench/passthrough-recording.ts\` measures):
what a software 720p30 transcode costs on this 2-core box (the live output when there is no hardware encoder), how
fast recording comes back when a camera returns (target p95 ≤ 5 s), and how many passthrough recordings the box
sustains before frames drop. Each is measured on the agent's real path, a \`Recorder\` (\`agent/encoder/index.ts\`)
with its supervisors and pipeline hosts, against a real peer in the same run where one exists.

### What is measured

- **Camera**: the virtual camera (gst-rtsp-server, moving ball, x264 ultrafast/zerolatency, 4000 kbps, 30 fps, a
  keyframe every second). It is measured alone first (one \`ffmpeg -c copy -f null\` client): when its own encode
  takes one of the two cores or the machine is ≥ 90 % busy, every camera below is 1280x720 instead of 1920x1080.
  Only recorder processes are measured (the pipeline host's process tree; ffmpeg), never the camera; its CPU and the
  machine's busy share (\`/proc/stat\`, with "others": neither recorders nor camera) are printed for contention.
- **1. Transcode**: a Recorder with one transcoded camera, 1280x720 @ 30 fps, 3000 kbps CBR, the encoder chosen by
  \`detectEncoder()\` (here software x264, \`speed-preset=superfast tune=zerolatency\`), a clock and one text overlay,
  silent AAC, 2 s segments (GOP 60), against \`ffmpeg -rtsp_transport tcp -i URL -vf scale=1280:720,fps=30 -c:v libx264
  -preset superfast -tune zerolatency -b:v 3000k -maxrate 3000k -bufsize 3000k -g 60 -an -f segment -segment_time 2
  -segment_format mpegts\`: the same camera settings and duration, each against a fresh camera. ffmpeg does less work
  (no overlays, no audio): the ratio is venuebox's whole path against the plain peer. CPU is steady state (from the
  second closed segment to the end; start-up is reported apart), RSS is peak (\`VmHWM\`, summed over the tree);
  frames are counted by decoding every segment (\`ffprobe -count_frames\`), so "fps in segments" shows whether the
  encoder kept up.
- **2. Recovery**: one Recorder with a passthrough and a transcoded recording of one camera; the camera is stopped
  for 5 s and started again, N times, 1 s after the recording is back each time. Passthrough: from
  \`camera.start()\` resolving to the first \`segment\` event after it (the new run's first closed segment), and to that
  segment's own start time (when footage resumes: the closed-segment figure adds the segment's 2 s). Transcode: to the
  \`source\` event \`source-restored\` (slate off). The supervisor's restarts and backoff delays are read from the agent's
  log. The backoff (1 s doubling, 30 s cap, jitter 50 %, reset only after a run of a minute) remembers earlier
  outages, so the same is measured on the **first** outage of fresh Recorders: what one outage after a stable minute
  costs.
- **3. Capacity**: N recorders of ONE shared camera (the camera encodes once, each recorder is its own RTSP client)
  for 20 s per step, N = 1, 2, 4, 8, 12, 16…; venuebox is one Recorder with N passthrough cameras (N pipeline
  hosts), the peer N \`ffmpeg -c copy -f segment\`. A step fails when a recorder restarts (or ffmpeg exits) or any
  recorder's segments hold less than 95 % of fps × their recorded (container) seconds. The steps stop at the first
  failure per recorder (\`--keep-going\` runs the rest); a column leaves each recorder's first segment out, to tell
  start-up from load.

### How to run

\`\`\`sh
node --import tsx bench/encoder.ts                  # all three parts, defaults as above (~15 min)
node --import tsx bench/encoder.ts --parts recovery --outages 5 --fresh-outages 3
node --import tsx bench/encoder.ts --steps 1,2,4,8,12,16 --step-seconds 20 --write   # also replaces the results below
\`\`\`

Ctrl-C stops every camera, Recorder and ffmpeg it started and removes its temporary folder. Other flags:
\`--seconds\` (transcode), \`--outage-seconds\`, \`--width/--height\` (camera), \`--keep-size\` (keep that size even on a
saturated machine: for RSS figures, which contention hardly moves; the CPU and fps figures are then contended).

### Results
`;

// ---------------------------------------------------------------------------------------------------------
// Small helpers

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const fix = (x: number | undefined, digits: number) => (x !== undefined && Number.isFinite(x) ? x.toFixed(digits) : '–');
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '–');
const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
function table(header: string[], rows: string[][]): string {
  return [row(header), row(header.map((_, i) => (i === 0 ? '---' : '--:'))), ...rows.map(row)].join('\n');
}
function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN; // nearest rank
}
const segmentsIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();

/** Cleanup steps of everything started, run in reverse on success, error and Ctrl-C. */
const undo: Array<{ label: string; run: () => Promise<void> }> = [];
function started(label: string, run: () => Promise<void>): () => Promise<void> {
  const step = { label, run };
  undo.push(step);
  return async () => {
    const i = undo.indexOf(step);
    if (i < 0) return;
    undo.splice(i, 1);
    await run();
  };
}
async function cleanupAll(): Promise<void> {
  for (const step of undo.splice(0).reverse()) {
    await step.run().catch((err: unknown) => console.error(`cleanup of ${step.label} failed: ${(err as Error).message}`));
  }
}

/** The agent logs JSON lines; the benchmark keeps the supervisor's restart decisions (its backoff) from them. */
interface LogLine { time?: string; level?: string; msg?: string; stream?: string; delayMs?: number; attempt?: number; reason?: string }
const agentLog: Array<LogLine & { at: number }> = [];
setLogDestination({
  write: (line: string) => {
    try {
      const parsed = JSON.parse(line) as LogLine;
      if (parsed.level === 'warn' || parsed.level === 'error') agentLog.push({ ...parsed, at: performance.now() });
      if (agentLog.length > 5000) agentLog.shift(); // bounded
    } catch {
      console.error(`agent log line is not JSON: ${line.slice(0, 200)}`);
    }
  },
});

async function startCamera(width: number, height: number): Promise<{ camera: VirtualCamera; pid: () => number }> {
  const camera = await startVirtualCamera({ width, height, fps: FPS, keyint: FPS, bitrateKbps: CAMERA_KBPS, pattern: 'ball' });
  started(`camera ${camera.port}`, () => camera.stop());
  let pid = cameraPid(camera.port);
  // A restarted camera is a new process: look it up again when the old one is gone.
  return { camera, pid: () => (sampleTree(pid).alive ? pid : (pid = cameraPid(camera.port))) };
}

/** An ffmpeg recorder; SIGINT is its clean stop (it closes the segment it is writing). */
async function startFfmpeg(args: string[], label: string): Promise<{ pid: number; ended: () => string | undefined; stop: () => Promise<void> }> {
  const proc = await startProcess('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'warning', ...args], { label, timeoutMs: 5000, killAfterMs: 5000 });
  let stopping = false;
  let endedEarly: string | undefined;
  void proc.exited.then((exit) => {
    if (!stopping) endedEarly = `${label} exited early (${exit.code ?? exit.signal}): ${proc.output().slice(-300)}`;
  });
  const stop = started(label, async () => {
    stopping = true;
    proc.child.kill('SIGINT');
    await Promise.race([proc.exited, sleep(5000)]);
    await proc.stop();
  });
  return { pid: proc.child.pid ?? -1, ended: () => endedEarly, stop };
}

function startRecorder(options: ConstructorParameters<typeof Recorder>[0]): { recorder: Recorder; stop: () => Promise<void> } {
  const recorder = new Recorder(options);
  recorder.start();
  return { recorder, stop: started('recorder', () => recorder.stop()) };
}

/** Frames (decoded by ffprobe -count_frames) and container seconds of every segment in each folder, 2 probes at a time. */
async function countFrames(dirs: string[]): Promise<Array<{ frames: number; seconds: number; segments: number; unplayable: number; detail: string[]; firstFrames: number; firstSeconds: number }>> {
  const jobs = dirs.flatMap((dir, d) => segmentsIn(dir).map((file, n) => ({ d, first: n === 0, path: `${dir}/${file}` })));
  const out = dirs.map(() => ({ frames: 0, seconds: 0, segments: 0, unplayable: 0, detail: [] as string[], firstFrames: 0, firstSeconds: 0 }));
  let next = 0;
  const worker = async () => {
    for (let job = jobs[next++]; job; job = jobs[next++]) {
      const entry = out[job.d]!;
      entry.segments++;
      try {
        const media = await probeMedia(job.path);
        entry.frames += Number.isFinite(media.frames) ? media.frames : 0;
        entry.seconds += Number.isFinite(media.durationSeconds) ? media.durationSeconds : 0;
        if (job.first) [entry.firstFrames, entry.firstSeconds] = [media.frames, media.durationSeconds];
        entry.detail.push(`${job.path.split('/').pop()}: ${media.frames}/${media.durationSeconds.toFixed(2)}s`);
      } catch {
        entry.unplayable++;
      }
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

async function waitFor(check: () => boolean, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await sleep(50, undefined, { signal });
  }
  return true;
}

interface Window { at: number; machine: { busy: number; total: number } }
const mark = (): Window => ({ at: performance.now(), machine: machineTicks() });
function busyPct(a: Window, b: Window): number {
  return ((b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total)) * 100;
}

// ---------------------------------------------------------------------------------------------------------
// 1. Software 720p30 transcode

interface TranscodeResult {
  recorder: 'venuebox' | 'ffmpeg';
  cpuPct: number;
  rssMiB: number;
  startupCpuS: number;
  segments: number;
  seconds: number;
  frames: number;
  cameraCpuPct: number;
  busyPct: number;
  othersPct: number;
  problems: string[];
}

const OVERLAYS: NonNullable<RecordedCamera['transcode']>['overlays'] = [{ kind: 'clock' }, { kind: 'text', text: 'Arena North - Court 1', position: 'bottom-left' }];
const transcodeOf = (): NonNullable<RecordedCamera['transcode']> => ({
  sourceCodec: 'h264',
  video: { codec: 'h264', width: OUT.width, height: OUT.height, fps: OUT.fps, bitrateKbps: OUT.kbps, rateControl: 'cbr', latency: 'low' },
  overlays: OVERLAYS,
  audio: 'silent',
});

async function transcodePhase(which: 'venuebox' | 'ffmpeg', encoder: EncoderChoice, size: { width: number; height: number }, seconds: number, root: string, signal: AbortSignal): Promise<TranscodeResult> {
  const { camera, pid: camPid } = await startCamera(size.width, size.height);
  const stopCamera = started('transcode camera', () => camera.stop());
  const problems: string[] = [];
  const dir = `${root}/transcode-${which}`;
  await mkdir(dir, { recursive: true });
  const t0 = performance.now();
  let pid: () => number | undefined;
  let stop: () => Promise<void>;
  let ready: () => boolean;
  let restarts = () => 0;
  if (which === 'venuebox') {
    const rec = startRecorder({ encoders: [encoder], segmentSeconds: SEGMENT_SECONDS, spoolDir: dir, lastLedgerSeq: () => undefined, cameras: [{ id: 'cam', source: { uri: camera.url, transport: 'tcp', latencyMs: 200 }, transcode: transcodeOf() }] });
    let segments = 0;
    rec.recorder.on('segment', () => segments++);
    rec.recorder.on('source', (_id, event) => problems.push(`${event.type} at ${event.at}`));
    pid = () => rec.recorder.health()[0]?.pid;
    stop = rec.stop;
    // The output starts before the camera's first frame (it shows black until then): steady state is from the 2nd segment.
    ready = () => segments >= 2;
    restarts = () => rec.recorder.health()[0]?.restarts ?? 0;
  } else {
    const args = ['-rtsp_transport', 'tcp', '-i', camera.url, '-vf', `scale=${OUT.width}:${OUT.height},fps=${OUT.fps}`, '-c:v', 'libx264', '-preset', 'superfast', '-tune', 'zerolatency'];
    args.push('-b:v', `${OUT.kbps}k`, '-maxrate', `${OUT.kbps}k`, '-bufsize', `${OUT.kbps}k`, '-g', String(OUT.fps * SEGMENT_SECONDS), '-an');
    args.push('-f', 'segment', '-segment_time', String(SEGMENT_SECONDS), '-segment_format', 'mpegts', `${dir}/%08d.ts`);
    const ff = await startFfmpeg(args, 'ffmpeg-transcode');
    pid = () => ff.pid;
    stop = ff.stop;
    ready = () => segmentsIn(dir).length >= 3;
    const ended = ff.ended;
    stop = async () => {
      const early = ended();
      if (early) problems.push(early);
      await ff.stop();
    };
  }
  const sample = () => ({ w: mark(), rec: sampleTree(pid() ?? -1), cam: sampleTree(camPid()).ticks });
  if (!(await waitFor(ready, 30_000, signal))) problems.push(`${which}: no steady output within 30 s`);
  const warm = sample();
  await sleep(Math.max(0, t0 + seconds * 1000 - performance.now()), undefined, { signal });
  const end = sample();
  if (restarts() > 0) problems.push(`${which}: the pipeline host restarted ${restarts()} time(s)`);
  await stop();
  await stopCamera();
  const [media] = await countFrames([which === 'venuebox' ? `${dir}/cam` : dir]);
  const s = (end.w.at - warm.w.at) / 1000;
  const pct = (ticks: number) => (ticks / CLK_TCK / s) * 100;
  const recTicks = end.rec.ticks - warm.rec.ticks;
  const camTicks = end.cam - warm.cam;
  const total = end.w.machine.total - warm.w.machine.total;
  return {
    recorder: which,
    cpuPct: end.rec.alive ? pct(recTicks) : NaN,
    rssMiB: end.rec.alive ? end.rec.hwmKiB / 1024 : NaN,
    startupCpuS: warm.rec.ticks / CLK_TCK,
    segments: media?.segments ?? 0,
    seconds: media?.seconds ?? 0,
    frames: media?.frames ?? 0,
    cameraCpuPct: pct(camTicks),
    busyPct: busyPct(warm.w, end.w),
    othersPct: ((end.w.machine.busy - warm.w.machine.busy - recTicks - camTicks) / total) * 100,
    problems: [...problems.filter((p) => !/^source-/.test(p) || which === 'venuebox'), ...(media?.unplayable ? [`${media.unplayable} unplayable segment(s)`] : [])],
  };
}

/** The camera alone, read by one cheap client (ffmpeg -c copy to null) for a few seconds: its own CPU and the machine's. */
async function calibrate(size: { width: number; height: number }, signal: AbortSignal): Promise<{ cameraPct: number; busyPct: number }> {
  const { camera, pid } = await startCamera(size.width, size.height);
  const stopCamera = started('calibration camera', () => camera.stop());
  const ff = await startFfmpeg(['-rtsp_transport', 'tcp', '-i', camera.url, '-c', 'copy', '-f', 'null', '-'], 'ffmpeg-calibration');
  await sleep(3000, undefined, { signal });
  const a = { w: mark(), cam: sampleTree(pid()).ticks, ff: sampleTree(ff.pid).ticks };
  await sleep(6000, undefined, { signal });
  const b = { w: mark(), cam: sampleTree(pid()).ticks, ff: sampleTree(ff.pid).ticks };
  await ff.stop();
  await stopCamera();
  const s = (b.w.at - a.w.at) / 1000;
  return { cameraPct: ((b.cam - a.cam) / CLK_TCK / s) * 100, busyPct: busyPct(a.w, b.w) };
}

// ---------------------------------------------------------------------------------------------------------
// 2. Recovery after the camera returns

interface Outage {
  index: number;
  passthroughS: number | undefined; // camera.start() → first segment-closed of the new run
  footageS: number | undefined; // camera.start() → start time of that segment (when footage resumed)
  transcodeS: number | undefined; // camera.start() → source-restored
  failures: number; // supervisor restarts of the passthrough pipeline during this outage
  delaysS: number[]; // the backoff delays it chose
  state: string;
}

async function outageOnce(
  camera: VirtualCamera,
  recorder: Recorder,
  outageSeconds: number,
  index: number,
  withTranscode: boolean,
  signal: AbortSignal,
): Promise<Outage> {
  const segments: Array<ClosedSegment & { at: number }> = [];
  const restored: number[] = [];
  const onSegment = (s: ClosedSegment) => s.streamId === 'pt' && segments.push({ ...s, at: performance.now() });
  const onSource = (id: string, e: { type: string }) => id === 'tc' && e.type === 'source-restored' && restored.push(performance.now());
  recorder.on('segment', onSegment);
  recorder.on('source', onSource);
  try {
    const logFrom = agentLog.length;
    await camera.stop();
    await sleep(outageSeconds * 1000, undefined, { signal });
    await camera.start();
    const t0 = performance.now();
    const wall0 = Date.now();
    const back = await waitFor(() => segments.some((s) => s.at >= t0) && (!withTranscode || restored.some((r) => r >= t0)), RECOVERY_TIMEOUT_MS, signal);
    const first = segments.find((s) => s.at >= t0);
    const restarts = agentLog.slice(logFrom).filter((l) => l.stream === 'pt' && l.msg === 'pipeline ended; restarting after backoff');
    const health = recorder.supervisor('pt')?.health();
    if (!back) console.error(`  outage ${index}: not back within ${RECOVERY_TIMEOUT_MS / 1000} s (passthrough state ${health?.state})`);
    return {
      index,
      passthroughS: first ? (first.at - t0) / 1000 : undefined,
      footageS: first ? (Date.parse(first.startTime) - wall0) / 1000 : undefined,
      transcodeS: withTranscode ? ((restored.find((r) => r >= t0) ?? NaN) - t0) / 1000 : undefined,
      failures: restarts.length,
      delaysS: restarts.map((l) => (l.delayMs ?? NaN) / 1000),
      state: health?.state ?? '?',
    };
  } finally {
    recorder.off('segment', onSegment);
    recorder.off('source', onSource);
  }
}

async function recovery(encoder: EncoderChoice, size: { width: number; height: number }, n: number, fresh: number, outageSeconds: number, root: string, signal: AbortSignal) {
  const { camera } = await startCamera(size.width, size.height);
  const stopCamera = started('recovery camera', () => camera.stop());
  const source = { uri: camera.url, transport: 'tcp' as const, latencyMs: 200 };
  // (a) Repeated outages on one Recorder: the supervisor remembers (its backoff grows; a run must last a minute to reset it).
  const repeated: Outage[] = [];
  {
    const rec = startRecorder({ encoders: [encoder], segmentSeconds: SEGMENT_SECONDS, spoolDir: `${root}/recovery`, lastLedgerSeq: () => undefined, cameras: [{ id: 'pt', source }, { id: 'tc', source, transcode: transcodeOf() }] });
    let ptSegments = 0;
    rec.recorder.on('segment', (s) => s.streamId === 'pt' && ptSegments++);
    if (!(await waitFor(() => ptSegments >= 1, 30_000, signal))) throw new Error('recovery: the passthrough recording never closed a first segment');
    for (let i = 1; i <= n; i++) {
      await sleep(1000, undefined, { signal }); // the new run is recording: it has closed a segment
      const outage = await outageOnce(camera, rec.recorder, outageSeconds, i, true, signal);
      repeated.push(outage);
      console.error(`  outage ${i}: passthrough ${fix(outage.passthroughS, 1)} s, transcode ${fix(outage.transcodeS, 1)} s, restarts ${outage.failures} (${outage.delaysS.map((d) => d.toFixed(1)).join(', ')} s)`);
      if (outage.state === 'failed') break; // the restart budget is spent: the supervisor waits out its window
    }
    await rec.stop();
  }
  // (b) The first outage of a fresh Recorder, several times: what one outage after a stable minute costs.
  const firsts: Outage[] = [];
  for (let i = 1; i <= fresh; i++) {
    const rec = startRecorder({ encoders: [encoder], segmentSeconds: SEGMENT_SECONDS, spoolDir: `${root}/recovery-fresh-${i}`, lastLedgerSeq: () => undefined, cameras: [{ id: 'pt', source }] });
    let ptSegments = 0;
    rec.recorder.on('segment', () => ptSegments++);
    if (!(await waitFor(() => ptSegments >= 1, 30_000, signal))) throw new Error('recovery: a fresh recorder never closed a first segment');
    const outage = await outageOnce(camera, rec.recorder, outageSeconds, i, false, signal);
    firsts.push(outage);
    console.error(`  fresh ${i}: passthrough ${fix(outage.passthroughS, 1)} s, restarts ${outage.failures} (${outage.delaysS.map((d) => d.toFixed(1)).join(', ')} s)`);
    await rec.stop();
  }
  await stopCamera();
  return { repeated, firsts };
}

// ---------------------------------------------------------------------------------------------------------
// 3. Passthrough capacity

interface Step {
  recorder: 'venuebox' | 'ffmpeg';
  n: number;
  cpuPct: number; // all recorders together, % of one core
  rssMiB: number; // sum of peak RSS
  framesPct: number; // worst recorder
  steadyFramesPct: number; // worst recorder, its first segment left out (start-up)
  secondsMin: number;
  restarts: number;
  cameraCpuPct: number;
  busyPct: number;
  pass: boolean;
  problems: string[];
}

async function capacityStep(which: 'venuebox' | 'ffmpeg', n: number, size: { width: number; height: number }, seconds: number, root: string, signal: AbortSignal): Promise<Step> {
  const { camera, pid: camPid } = await startCamera(size.width, size.height);
  const stopCamera = started('capacity camera', () => camera.stop());
  const dirs = Array.from({ length: n }, (_, i) => `${root}/capacity-${which}-${n}/r${String(i).padStart(2, '0')}`);
  const problems: string[] = [];
  let pids: () => number[];
  let stop: () => Promise<void>;
  let ready: () => boolean;
  let restarts = () => 0;
  const t0 = performance.now();
  if (which === 'venuebox') {
    const cameras = dirs.map((d) => ({ id: d.split('/').pop()!, source: { uri: camera.url, transport: 'tcp' as const, latencyMs: 200 } }));
    const rec = startRecorder({ segmentSeconds: SEGMENT_SECONDS, spoolDir: `${root}/capacity-${which}-${n}`, lastLedgerSeq: () => undefined, cameras });
    const seen = new Set<string>();
    rec.recorder.on('segment', (s) => seen.add(s.streamId));
    pids = () => rec.recorder.health().map((h) => h.pid ?? -1);
    stop = rec.stop;
    ready = () => seen.size >= n;
    restarts = () => sum(rec.recorder.health().map((h) => h.restarts));
  } else {
    const procs: Array<Awaited<ReturnType<typeof startFfmpeg>>> = [];
    for (const [i, dir] of dirs.entries()) {
      await mkdir(dir, { recursive: true });
      procs.push(await startFfmpeg(['-rtsp_transport', 'tcp', '-i', camera.url, '-c', 'copy', '-f', 'segment', '-segment_time', String(SEGMENT_SECONDS), '-segment_format', 'mpegts', `${dir}/%08d.ts`], `ffmpeg-copy-${i}`));
    }
    pids = () => procs.map((p) => p.pid);
    stop = async () => {
      problems.push(...procs.flatMap((p) => p.ended() ?? []));
      await Promise.all(procs.map((p) => p.stop()));
    };
    ready = () => dirs.every((d) => segmentsIn(d).length >= 2);
    restarts = () => procs.filter((p) => p.ended() !== undefined).length;
  }
  const sample = () => {
    const trees = pids().map(sampleTree);
    return { w: mark(), ticks: sum(trees.map((t) => t.ticks)), hwmKiB: sum(trees.map((t) => t.hwmKiB)), alive: trees.every((t) => t.alive), cam: sampleTree(camPid()).ticks };
  };
  if (!(await waitFor(ready, 30_000, signal))) problems.push(`not every recorder closed a first segment within 30 s`);
  const warm = sample();
  await sleep(Math.max(0, t0 + seconds * 1000 - performance.now()), undefined, { signal });
  const end = sample();
  const restarted = restarts();
  await Promise.all([stop()]); // all recorders at once
  await stopCamera();
  const media = await countFrames(dirs);
  const framesPcts = media.map((m) => (m.seconds > 0 ? (m.frames / (FPS * m.seconds)) * 100 : 0));
  const s = (end.w.at - warm.w.at) / 1000;
  if (restarted > 0) problems.push(`${restarted} restart(s)/early exit(s)`);
  const unplayable = sum(media.map((m) => m.unplayable));
  if (unplayable > 0) problems.push(`${unplayable} unplayable segment(s)`);
  const framesPct = Math.min(...framesPcts);
  const steadyFramesPct = Math.min(...media.map((m) => (m.seconds - m.firstSeconds > 0 ? ((m.frames - m.firstFrames) / (FPS * (m.seconds - m.firstSeconds))) * 100 : 0)));
  const worst = media[framesPcts.indexOf(framesPct)];
  if (framesPct < FRAMES_PASS * 100) problems.push(`worst recorder's segments (frames/s): ${worst?.detail.join(', ')}`);
  return {
    recorder: which,
    n,
    cpuPct: end.alive ? ((end.ticks - warm.ticks) / CLK_TCK / s) * 100 : NaN,
    rssMiB: end.alive ? end.hwmKiB / 1024 : NaN,
    framesPct,
    steadyFramesPct,
    secondsMin: Math.min(...media.map((m) => m.seconds)),
    restarts: restarted,
    cameraCpuPct: ((end.cam - warm.cam) / CLK_TCK / s) * 100,
    busyPct: busyPct(warm.w, end.w),
    pass: restarted === 0 && framesPct >= FRAMES_PASS * 100 && problems.length === 0,
    problems,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Report

function machine(): string {
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  const gst = execFileSync('gst-launch-1.0', ['--version'], { encoding: 'utf8' }).split('\n')[1] ?? '?';
  const ffmpeg = execFileSync('ffmpeg', ['-version'], { encoding: 'utf8' }).split(' Copyright')[0] ?? '?';
  const date = execFileSync('date', ['-u'], { encoding: 'utf8' }).trim();
  return `${date} · ${cpu}, ${os.cpus().length} cores · kernel ${os.release()} · ${gst} · ${ffmpeg} · Node ${process.version}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '30' },
      outages: { type: 'string', default: '10' },
      'fresh-outages': { type: 'string', default: '5' },
      'outage-seconds': { type: 'string', default: '5' },
      'step-seconds': { type: 'string', default: '20' },
      steps: { type: 'string', default: '1,2,4,8,12,16,24,32' },
      width: { type: 'string', default: '1920' },
      height: { type: 'string', default: '1080' },
      parts: { type: 'string', default: 'transcode,recovery,capacity' },
      write: { type: 'boolean', default: false },
      /** Capacity: go on with the larger steps after a failure (to see where the steady state breaks). */
      'keep-going': { type: 'boolean', default: false },
      /** Keep --width/--height on a saturated machine (memory figures; CPU and fps then read as contended). */
      'keep-size': { type: 'boolean', default: false },
    },
  });
  const num = (s: string) => Number(s);
  const [seconds, outages, fresh, outageSeconds, stepSeconds] = [values.seconds, values.outages, values['fresh-outages'], values['outage-seconds'], values['step-seconds']].map(num) as [number, number, number, number, number];
  const steps = values.steps.split(',').map(num);
  const parts = new Set(values.parts.split(','));
  if (![seconds, outageSeconds, stepSeconds, ...steps].every((x) => Number.isFinite(x) && x > 0) || ![outages, fresh].every((x) => Number.isInteger(x) && x >= 0)) {
    throw new Error('numeric flags take positive numbers');
  }
  let size = { width: Number(values.width), height: Number(values.height) };

  const abort = new AbortController();
  const { signal } = abort;
  process.on('SIGINT', () => (signal.aborted ? process.exit(130) : abort.abort()));
  const tmp = await makeTempDir('bench-encoder');
  started('temporary folder', () => tmp.remove());
  const out: string[] = [];
  const say = (text: string) => {
    out.push(text, '');
    console.log(`${text}\n`);
  };
  const runStarted = performance.now();
  try {
    const detection = await detectEncoder();
    const encoder = detection.selected;
    if (!encoder) throw new Error('detectEncoder found no working encoder');
    say(`Encoder chosen by \`detectEncoder()\`: **${encoder.profile.id}** (\`${encoder.elements.h264}\`); rejected: ${detection.verdicts.filter((v) => v.status === 'rejected').map((v) => v.id).join(', ')}.`);

    // Does the camera's own x264 leave room? Measured with the camera alone, read by one cheap client.
    const cal = await calibrate(size, signal);
    const saturated = cal.busyPct >= SATURATED_PCT || cal.cameraPct >= (100 * os.cpus().length) / 2;
    say(
      `Camera alone (${size.width}x${size.height} @ ${FPS} fps, x264 ultrafast, ${CAMERA_KBPS} kbps, 1 s GOP, one \`ffmpeg -c copy -f null\` client): camera ${cal.cameraPct.toFixed(0)} % of a core, machine ${cal.busyPct.toFixed(0)} % of all cores busy` +
        (!saturated
          ? ': not saturated, the cameras below use this size.'
          : values['keep-size']
            ? ` — it saturates the machine (≥ ${SATURATED_PCT} % busy or ≥ one core of ${os.cpus().length}); kept at this size (--keep-size): read CPU and fps below as contended.`
            : ` — it saturates the machine (≥ ${SATURATED_PCT} % busy or ≥ one core of ${os.cpus().length}): the cameras below use 1280x720.`),
    );
    if (saturated && !values['keep-size']) size = { width: 1280, height: 720 };

    if (parts.has('transcode')) {
      const results: TranscodeResult[] = [];
      for (const which of ['venuebox', 'ffmpeg'] as const) {
        console.error(`… transcode: ${which}, ${seconds} s`);
        results.push(await transcodePhase(which, encoder, size, seconds, tmp.path, signal));
      }
      const peer = results.find((r) => r.recorder === 'ffmpeg')!;
      say(
        [
          `#### 1. Software transcode ${size.width}x${size.height}@${FPS} → ${OUT.width}x${OUT.height}@${OUT.fps}, ${OUT.kbps} kbps, one camera, ${seconds} s per recorder`,
          '',
          table(
            ['recorder', 'CPU % of a core', 'CPU vs ffmpeg', 'peak RSS MiB', 'RSS vs ffmpeg', 'CPU s to steady state', 'segments', 'recorded s', 'frames', 'fps in segments', 'camera CPU %', 'machine busy % (others)'],
            results.map((r) => [
              r.recorder,
              fix(r.cpuPct, 1),
              ratio(r.cpuPct, peer.cpuPct),
              fix(r.rssMiB, 1),
              ratio(r.rssMiB, peer.rssMiB),
              fix(r.startupCpuS, 2),
              String(r.segments),
              fix(r.seconds, 1),
              String(r.frames),
              fix(r.frames / r.seconds, 1),
              fix(r.cameraCpuPct, 0),
              `${fix(r.busyPct, 0)} (${fix(r.othersPct, 0)})`,
            ]),
          ),
          ...results.flatMap((r) => r.problems.map((p) => `- ${r.recorder}: ${p.replace(/\s+/g, ' ').slice(0, 300)}`)),
        ].join('\n'),
      );
    }

    if (parts.has('recovery')) {
      console.error(`… recovery: ${outages} outages of ${outageSeconds} s on one Recorder, then ${fresh} fresh Recorders`);
      const { repeated, firsts } = await recovery(encoder, size, outages, fresh, outageSeconds, tmp.path, signal);
      const stats = (xs: Array<number | undefined>) => {
        const ok = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
        const missing = xs.length - ok.length;
        return [fix(quantile(ok, 0.5), 1), fix(quantile(ok, 0.95), 1), fix(Math.max(...ok), 1), `${ok.length}/${xs.length}${missing ? ` (${missing} not back in ${RECOVERY_TIMEOUT_MS / 1000} s)` : ''}`];
      };
      const p95 = (xs: Array<number | undefined>) => quantile(xs.filter((x): x is number => x !== undefined && Number.isFinite(x)), 0.95);
      say(
        [
          `#### 2. Recovery after the camera returns (${outageSeconds} s outages; times from \`camera.start()\` resolving)`,
          '',
          table(
            ['what', 'outages', 'median s', 'p95 s', 'max s', 'back'],
            [
              ['passthrough → first closed segment, repeated outages on one Recorder', String(repeated.length), ...stats(repeated.map((o) => o.passthroughS))],
              ['passthrough → start of that segment (footage resumes), repeated', String(repeated.length), ...stats(repeated.map((o) => o.footageS))],
              ['transcode → source-restored (slate off), repeated outages on the same Recorder', String(repeated.length), ...stats(repeated.map((o) => o.transcodeS))],
              ['passthrough → first closed segment, first outage of a fresh Recorder', String(firsts.length), ...stats(firsts.map((o) => o.passthroughS))],
              ['passthrough → start of that segment, first outage of a fresh Recorder', String(firsts.length), ...stats(firsts.map((o) => o.footageS))],
            ],
          ),
          '',
          'Per outage (repeated, one Recorder; restarts = supervisor restarts of the passthrough pipeline during that outage, with the backoff delays it chose):',
          '',
          table(
            ['outage', 'passthrough s', 'footage resumes s', 'transcode s', 'restarts', 'backoff delays s', 'state after'],
            repeated.map((o) => [String(o.index), fix(o.passthroughS, 1), fix(o.footageS, 1), fix(o.transcodeS, 1), String(o.failures), o.delaysS.map((d) => d.toFixed(1)).join(', '), o.state]),
          ),
          '',
          'First outage of a fresh Recorder:',
          '',
          table(
            ['sample', 'passthrough s', 'footage resumes s', 'restarts', 'backoff delays s'],
            firsts.map((o) => [String(o.index), fix(o.passthroughS, 1), fix(o.footageS, 1), String(o.failures), o.delaysS.map((d) => d.toFixed(1)).join(', ')]),
          ),
          '',
          `> Target p95 ≤ 5 s: passthrough, repeated outages **${p95(repeated.map((o) => o.passthroughS)) <= 5 ? 'met' : 'not met'}** (p95 ${fix(p95(repeated.map((o) => o.passthroughS)), 1)} s); ` +
            `passthrough, first outage **${p95(firsts.map((o) => o.passthroughS)) <= 5 ? 'met' : 'not met'}** (p95 ${fix(p95(firsts.map((o) => o.passthroughS)), 1)} s); ` +
            `transcode **${p95(repeated.map((o) => o.transcodeS)) <= 5 ? 'met' : 'not met'}** (p95 ${fix(p95(repeated.map((o) => o.transcodeS)), 1)} s).`,
        ].join('\n'),
      );
    }

    if (parts.has('capacity')) {
      const results: Step[] = [];
      for (const which of ['venuebox', 'ffmpeg'] as const) {
        for (const n of steps) {
          console.error(`… capacity: ${which} × ${n}, ${stepSeconds} s`);
          const step = await capacityStep(which, n, size, stepSeconds, tmp.path, signal);
          results.push(step);
          console.error(`  ${step.pass ? 'pass' : 'FAIL'}: frames ${step.framesPct.toFixed(1)} %, CPU ${step.cpuPct.toFixed(0)} %, busy ${step.busyPct.toFixed(0)} %`);
          if (!step.pass && !values['keep-going']) break;
        }
      }
      const largest = (w: Step['recorder']) => {
        const mine = results.filter((r) => r.recorder === w);
        const firstFail = mine.find((r) => !r.pass);
        const passing = mine.filter((r) => r.pass && (!firstFail || r.n < firstFail.n));
        return { n: passing.at(-1)?.n ?? 0, failedAt: firstFail?.n };
      };
      const [v, f] = [largest('venuebox'), largest('ffmpeg')];
      const capText = (c: { n: number; failedAt: number | undefined }) => (c.failedAt ? `${c.n} (failed at ${c.failedAt})` : `≥ ${c.n} (no step failed; larger N not tried)`);
      say(
        [
          `#### 3. Passthrough capacity: N recorders of ONE shared ${size.width}x${size.height}@${FPS} camera (${CAMERA_KBPS} kbps), ${stepSeconds} s per step`,
          '',
          table(
            ['recorder', 'N', 'CPU % of a core, all recorders', 'CPU % / recorder', 'RSS MiB, sum', 'RSS MiB / recorder', 'frames % (worst recorder)', 'frames % without the first segment (worst)', 'recorded s (shortest)', 'restarts', 'camera CPU %', 'machine busy %', 'pass'],
            results.map((r) => [r.recorder, String(r.n), fix(r.cpuPct, 0), fix(r.cpuPct / r.n, 1), fix(r.rssMiB, 0), fix(r.rssMiB / r.n, 1), fix(r.framesPct, 1), fix(r.steadyFramesPct, 1), fix(r.secondsMin, 1), String(r.restarts), fix(r.cameraCpuPct, 0), fix(r.busyPct, 0), r.pass ? 'yes' : `**no**${r.problems.length ? `: ${r.problems.join('; ').replace(/\s+/g, ' ').slice(0, 200)}` : ''}`]),
          ),
          '',
          `> Largest passing N: venuebox ${capText(v)}, ffmpeg -c copy ${capText(f)}; capacity ratio venuebox/ffmpeg ${ratio(v.n, f.n)}.`,
        ].join('\n'),
      );
    }
  } finally {
    await cleanupAll();
  }
  const minutes = (performance.now() - runStarted) / 60_000;
  console.error(`run took ${minutes.toFixed(1)} min`);
  if (values.write) {
    const flags = process.argv.slice(2).filter((a) => a !== '--write').join(' ');
    const section = [BEGIN, ABOUT, `**Run of ${machine()}** · \`node --import tsx bench/encoder.ts ${flags}\` · ${minutes.toFixed(1)} min`, '', ...out, END].join('\n');
    await writeBenchSection(BEGIN, END, section, HEADING);
  }
}

runBench(main);
