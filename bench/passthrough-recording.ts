/**
 * Benchmark: passthrough recording of RTSP cameras into 2 s MPEG-TS segments (DESIGN decision 2), three ways
 * against the same virtual cameras, one after the other, each for the same duration:
 *   venuebox   — one PipelineHost child per camera running buildRecordingPipeline's launch string, started as the
 *                supervisor starts it (with the stream meter): the agent's real path
 *   ffmpeg     — the peer: `ffmpeg -rtsp_transport tcp -i URL -c copy -f segment …`, one process per camera
 *   gst-launch — the same launch string in gst-launch-1.0: venuebox minus gst-launch is the cost of the Node host
 * The house rule: performance is measured against a real peer in the same run and reported as ratios; tests never
 * assert timings. Usage and results: docs/BENCHMARKS.md.
 *
 *   node --import tsx bench/passthrough-recording.ts [--seconds 30] [--cameras 1 --cameras 4] [--width 1920 --height 1080] [--write]
 */
import { runBench, writeBenchSection } from './bench-report.ts';
import { cameraPid, CLK_TCK, machineTicks, sampleTree } from './proc-stats.ts';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, watch } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { buildRecordingPipeline, METER_SINK } from '../agent/encoder/pipeline-builder.ts';
import { PipelineHost } from '../agent/encoder/pipeline-host.ts';
import { probeMedia } from '../test/helpers/media.ts';
import { startProcess } from '../test/helpers/processes.ts';
import { makeTempDir } from '../test/helpers/tmp.ts';
import { startVirtualCamera, type VirtualCamera } from '../test/helpers/virtual-camera.ts';

const RECORDERS = ['venuebox', 'ffmpeg', 'gst-launch'] as const;
type Recorder = (typeof RECORDERS)[number];
const FPS = 25;
const BITRATE_KBPS = 4000;
const SEGMENT_SECONDS = 2;
/** Above this share of all cores busy, the cameras and recorders compete for CPU and the figures are not clean. */
const SATURATED_PCT = 90;
const FALLBACK = { width: 1280, height: 720 };
const [BEGIN, END] = ['<!-- bench:passthrough-recording:begin -->', '<!-- bench:passthrough-recording:end -->'];

interface Config { cameras: number; width: number; height: number; seconds: number }
interface Recording { pid(): number | undefined; ended(): string | undefined; stop(): Promise<void> }
interface Result {
  recorder: Recorder;
  cpuPct: number; // steady state (all first segments in → stop), % of one core per camera
  startupCpuS: number; // per camera, spawn → all first segments in (Node start-up shows here; tsx too before the plain-JS child)
  rssMiB: number; // peak RSS per camera
  firstSegmentS: number; // mean over cameras
  stopS: number; // stop request → every recorder exited (EOS closes the last segment)
  segments: number; // per camera
  recordedS: number; // per camera, ffprobe container durations (timestamps: GStreamer and ffmpeg may differ)
  frames: number; // per camera, decoded: what was really recorded, whatever the timestamps say
  segmentS: [number, number]; // shortest and longest segment, the last of each camera (cut by the stop) left out
  playable: string;
  cameraCpuPct: number; // the virtual cameras (x264), per camera: the contention a reader must judge
  machineBusyPct: number; // all cores, steady window
  otherBusyPct: number; // of which neither recorders nor cameras (this script, other users): contention from outside
  problems: string[];
}

/** gst-launch escapes the spaces of each argv element (gst_parse_launchv): split the string outside quotes. */
function launchTokens(launch: string): string[] {
  return launch.match(/(?:[^\s"]+|"(?:\\.|[^"\\])*")+/g) ?? [];
}

/** A CLI recorder; SIGINT is the clean stop for both (ffmpeg writes its trailer, gst-launch -e sends EOS). */
async function startCli(cmd: string, args: string[], label: string): Promise<Recording> {
  const proc = await startProcess(cmd, args, { label, timeoutMs: 5000, killAfterMs: 5000 });
  let stopping = false;
  let endedEarly: string | undefined;
  void proc.exited.then((exit) => {
    if (!stopping) endedEarly = `${label} exited early (${exit.code ?? exit.signal}): ${proc.output().slice(-300)}`;
  });
  return {
    pid: () => proc.child.pid,
    ended: () => endedEarly,
    stop: async () => {
      stopping = true;
      proc.child.kill('SIGINT');
      await Promise.race([proc.exited, sleep(5000)]);
      await proc.stop(); // SIGTERM/SIGKILL if SIGINT was not enough; a no-op after a clean exit
    },
  };
}

async function startRecording(recorder: Recorder, url: string, directory: string, label: string): Promise<Recording> {
  if (recorder === 'ffmpeg') {
    // -nostdin/-loglevel as a deployment would run it (Frigate does the same); the recording arguments are the peer's.
    const args = ['-hide_banner', '-nostdin', '-loglevel', 'warning', '-rtsp_transport', 'tcp', '-i', url];
    return startCli('ffmpeg', [...args, '-c', 'copy', '-f', 'segment', '-segment_time', String(SEGMENT_SECONDS), '-segment_format', 'mpegts', `${directory}/%08d.ts`], label);
  }
  const pipeline = buildRecordingPipeline({
    streamId: label,
    source: { uri: url, transport: 'tcp', latencyMs: 200 },
    codec: 'h264',
    segment: { seconds: SEGMENT_SECONDS, directory, startIndex: 0 },
  });
  if (recorder === 'gst-launch') {
    // Nobody pulls the meter appsink here, and its default wait-on-eos holds the pipeline's EOS until its queue is
    // drained: gst-launch never stopped (measured: killed after 8 s). The property only changes the stop.
    const launch = pipeline.launch.replace(`appsink name=${METER_SINK}`, `appsink name=${METER_SINK} wait-on-eos=false`);
    return startCli('gst-launch-1.0', ['-q', '-e', ...launchTokens(launch)], label);
  }
  const host = new PipelineHost(label);
  let stopping = false;
  let endedEarly: string | undefined;
  let lastError = '';
  host.on('event', (event) => {
    if (event.type === 'error') lastError = `${event.message} ${event.debug ?? ''}`;
  });
  host.on('exit', (exit) => {
    if (!stopping) endedEarly = `${label} exited early (${exit.code ?? exit.signal}): ${lastError} ${host.stderrTail().slice(-3).join(' | ')}`;
  });
  // As the supervisor starts it: with the stream meter reading every access unit in JS (its cost is part of the path).
  host.start({ ...pipeline, meter: { element: METER_SINK, codec: pipeline.codec, intervalMs: 2000 } });
  return {
    pid: () => host.pid,
    ended: () => endedEarly,
    stop: async () => {
      stopping = true;
      await host.stop(5000); // EOS closes the last segment, as the supervisor stops a host
    },
  };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** ffprobe of every segment, decoding every frame: playable, not just parseable. Problems are appended. */
async function probeSegments(dirs: string[], problems: string[]) {
  const found = { total: 0, playable: 0, seconds: 0, frames: 0, lengths: [] as number[] };
  for (const dir of dirs) {
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();
    for (const [n, file] of files.entries()) {
      found.total++;
      try {
        const media = await probeMedia(`${dir}/${file}`);
        if (media.frames > 0) found.playable++;
        found.frames += Number.isFinite(media.frames) ? media.frames : 0;
        const length = Number.isFinite(media.durationSeconds) ? media.durationSeconds : 0;
        found.seconds += length;
        if (n < files.length - 1) found.lengths.push(length); // the last one is cut short by the stop
      } catch (err) {
        problems.push(`${dir}/${file} is not playable: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }
  return found;
}

/** One recorder against fresh cameras (so every recorder meets a cold camera and a first keyframe at once). */
async function runPhase(recorder: Recorder, cfg: Config, root: string, signal: AbortSignal): Promise<Result> {
  const undo: Array<() => Promise<void>> = [];
  const watchers: Array<ReturnType<typeof watch>> = [];
  try {
    const cameras: Array<{ camera: VirtualCamera; pid: number; dir: string }> = [];
    for (let i = 0; i < cfg.cameras; i++) {
      const camera = await startVirtualCamera({ width: cfg.width, height: cfg.height, fps: FPS, bitrateKbps: BITRATE_KBPS });
      undo.push(() => camera.stop());
      cameras.push({ camera, pid: cameraPid(camera.port), dir: `${root}/${recorder}-${cfg.cameras}x${cfg.height}p-${i}` });
    }
    const recordings: Recording[] = [];
    const firstAt: Array<number | undefined> = cameras.map(() => undefined);
    const startedAt: number[] = [];
    for (const [i, { camera, dir }] of cameras.entries()) {
      await mkdir(dir);
      // A segment is complete when the next one is opened: both muxers close a file before opening the next.
      const watcher = watch(dir, () => {
        if (firstAt[i] === undefined && readdirSync(dir).filter((f) => f.endsWith('.ts')).length >= 2) firstAt[i] = performance.now();
      });
      watcher.on('error', (err) => console.error(`watching ${dir} failed: ${err.message}; its latency stays unknown`));
      watchers.push(watcher);
      startedAt.push(performance.now());
      const recording = await startRecording(recorder, camera.url, dir, `${recorder}-${i}`);
      undo.push(() => recording.stop());
      recordings.push(recording);
    }
    const sample = () => ({
      at: performance.now(),
      machine: machineTicks(),
      rec: recordings.map((r) => sampleTree(r.pid() ?? -1)),
      cam: cameras.map((c) => sampleTree(c.pid).ticks),
    });
    const deadline = (startedAt[0] ?? performance.now()) + cfg.seconds * 1000;
    while (firstAt.some((t) => t === undefined) && performance.now() < deadline) await sleep(20, undefined, { signal });
    const warm = sample(); // steady state starts when every camera has its first segment: start-up is reported apart
    await sleep(Math.max(0, deadline - performance.now()), undefined, { signal });
    const end = sample();
    // All at once: one after the other, the last recorders would keep recording while the first ones stop.
    await Promise.all(recordings.map((r) => r.stop()));
    const stopS = (performance.now() - end.at) / 1000;
    for (const { camera } of cameras) await camera.stop();

    const problems = recordings.flatMap((r) => r.ended() ?? []);
    firstAt.forEach((t, i) => t === undefined && problems.push(`camera ${i}: no complete segment within ${cfg.seconds} s`));
    const media = await probeSegments(cameras.map((c) => c.dir), problems);
    const seconds = (end.at - warm.at) / 1000;
    const perCameraPct = (ticks: number) => (ticks / CLK_TCK / seconds / cfg.cameras) * 100;
    const recTicks = sum(end.rec.map((s) => s.ticks)) - sum(warm.rec.map((s) => s.ticks));
    const camTicks = sum(end.cam) - sum(warm.cam);
    const machineBusy = end.machine.busy - warm.machine.busy;
    const machineTotal = end.machine.total - warm.machine.total;
    // A recorder that died before the end sample has no figures of its own (it is listed in problems).
    const allAlive = end.rec.every((s) => s.alive);
    return {
      recorder,
      cpuPct: allAlive ? perCameraPct(recTicks) : NaN,
      startupCpuS: sum(warm.rec.map((s) => s.ticks)) / CLK_TCK / cfg.cameras,
      rssMiB: allAlive ? sum(end.rec.map((s) => s.hwmKiB)) / 1024 / cfg.cameras : NaN,
      // NaN when a camera never completed a segment (listed in problems).
      firstSegmentS: sum(firstAt.map((t, i) => (t === undefined ? NaN : t - startedAt[i]!))) / 1000 / cfg.cameras,
      stopS,
      segments: media.total / cfg.cameras,
      recordedS: media.seconds / cfg.cameras,
      frames: media.frames / cfg.cameras,
      segmentS: media.lengths.length ? [Math.min(...media.lengths), Math.max(...media.lengths)] : [NaN, NaN],
      playable: `${media.playable}/${media.total}`,
      cameraCpuPct: perCameraPct(camTicks),
      machineBusyPct: (machineBusy / machineTotal) * 100,
      // /proc/stat counts in USER_HZ, the same unit as /proc/PID/stat.
      otherBusyPct: ((machineBusy - recTicks - camTicks) / machineTotal) * 100,
      problems,
    };
  } finally {
    for (const watcher of watchers) watcher.close();
    for (const step of undo.reverse()) {
      await step().catch((err: unknown) => console.error(`cleanup step failed: ${(err as Error).message}`));
    }
  }
}

function table(cfg: Config, results: Result[]): string {
  const peer = results.find((r) => r.recorder === 'ffmpeg');
  const fix = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : '–');
  const ratio = (a: number, b: number | undefined) => (b && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '–');
  const columns: Array<[string, (r: Result) => string]> = [
    ['recorder', (r) => r.recorder],
    ['CPU % of a core / camera', (r) => fix(r.cpuPct, 1)],
    ['CPU vs ffmpeg', (r) => ratio(r.cpuPct, peer?.cpuPct)],
    ['peak RSS MiB / camera', (r) => fix(r.rssMiB, 1)],
    ['RSS vs ffmpeg', (r) => ratio(r.rssMiB, peer?.rssMiB)],
    ['CPU s to first segment / camera', (r) => fix(r.startupCpuS, 2)],
    ['first segment after s', (r) => fix(r.firstSegmentS, 2)],
    ['stop s', (r) => fix(r.stopS, 2)],
    ['segments / camera', (r) => fix(r.segments, 1)],
    ['recorded s / camera (ffprobe)', (r) => fix(r.recordedS, 1)],
    ['frames / camera', (r) => fix(r.frames, 0)],
    ['segment s, min–max', (r) => r.segmentS.map((x) => fix(x, 2)).join('–')],
    ['playable', (r) => r.playable],
    ['virtual cameras CPU % / camera', (r) => fix(r.cameraCpuPct, 0)],
    ['machine busy % of all cores (others)', (r) => `${fix(r.machineBusyPct, 0)} (${fix(r.otherBusyPct, 0)})`],
  ];
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const problems = results.flatMap((r) => r.problems.map((p) => `- ${r.recorder}: ${p.replace(/\s+/g, ' ').slice(0, 400)}`));
  return [
    `#### ${cfg.cameras} camera${cfg.cameras > 1 ? 's' : ''}, ${cfg.width}x${cfg.height} @ ${FPS} fps, ${BITRATE_KBPS} kbps, 1 s GOP, ${cfg.seconds} s per recorder`,
    '',
    row(columns.map(([title]) => title)),
    row(columns.map((_, i) => (i === 0 ? '---' : '--:'))),
    ...results.map((r) => row(columns.map(([, cell]) => cell(r)))),
    ...(problems.length ? ['', 'Problems:', ...problems] : []),
  ].join('\n');
}

function machine(): string {
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  const gst = execFileSync('gst-launch-1.0', ['--version'], { encoding: 'utf8' }).split('\n')[1] ?? '?';
  const ffmpeg = execFileSync('ffmpeg', ['-version'], { encoding: 'utf8' }).split(' Copyright')[0] ?? '?';
  return `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${cpu}, ${os.cpus().length} cores · kernel ${os.release()} · ${gst} · ${ffmpeg} · Node ${process.version}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '30' },
      cameras: { type: 'string', multiple: true, default: ['1', '4'] },
      width: { type: 'string', default: '1920' },
      height: { type: 'string', default: '1080' },
      write: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const counts = values.cameras.flatMap((c) => c.split(',')).map(Number);
  const [width, height] = [Number(values.width), Number(values.height)];
  if (![seconds, width, height, ...counts].every((n) => Number.isInteger(n) && n > 0)) throw new Error('--seconds, --cameras, --width and --height take positive integers');

  // Ctrl-C aborts the current sleep; the finally blocks stop every camera and recorder and remove the folder.
  const abort = new AbortController();
  process.on('SIGINT', () => (abort.signal.aborted ? process.exit(130) : abort.abort()));
  const tmp = await makeTempDir('bench-passthrough');
  const sections: string[] = [];
  const notes: string[] = [];
  try {
    const queue: Config[] = counts.map((cameras) => ({ cameras, width, height, seconds }));
    for (let cfg = queue.shift(); cfg; cfg = queue.shift()) {
      const results: Result[] = [];
      for (const recorder of RECORDERS) {
        console.error(`… ${recorder}: ${cfg.cameras} × ${cfg.width}x${cfg.height} for ${cfg.seconds} s`);
        results.push(await runPhase(recorder, cfg, tmp.path, abort.signal));
      }
      sections.push(table(cfg, results));
      console.log(`${sections.at(-1)}\n`);
      // Measured, not assumed: when the cameras' own x264 leaves the recorders no idle core, step the resolution down.
      const busiest = results.reduce((a, b) => (b.machineBusyPct > a.machineBusyPct ? b : a));
      if (busiest.machineBusyPct >= SATURATED_PCT) {
        const cameraShare = (busiest.cameraCpuPct * cfg.cameras) / os.cpus().length;
        const retry = cfg.cameras > 1 && cfg.height > FALLBACK.height;
        const note =
          `${cfg.cameras} × ${cfg.width}x${cfg.height}: the machine was saturated (${busiest.machineBusyPct.toFixed(0)} % of all cores busy during ${busiest.recorder}; ` +
          `virtual cameras ${cameraShare.toFixed(0)} %, other processes ${busiest.otherBusyPct.toFixed(0)} %)` +
          (retry ? `; repeated at ${FALLBACK.width}x${FALLBACK.height}.` : '; read its figures as measured under contention.');
        notes.push(note);
        console.log(`${note}\n`);
        if (retry) queue.unshift({ ...cfg, ...FALLBACK });
      }
    }
  } finally {
    await tmp.remove();
  }
  const section = [BEGIN, `**Run of ${machine()}**`, '', ...sections.flatMap((s) => [s, '']), ...notes.flatMap((n) => [`> ${n}`, '']), END].join('\n');
  if (values.write) {
    await writeBenchSection(BEGIN, END, section);
  }
}

runBench(main);
