/**
 * Readiness (issue 7): before kick-off, will this event go out? Each check is real — frames from the camera,
 * a test encode, a test PUT to the ingest, a measured upload, the spool's room, the clock — and gives
 * green / amber / red with a reason a person can act on. The verdict is the worst of them.
 *
 * Used by `venuebox doctor` (a separate process: it opens its own short RTSP session per camera) and by the
 * agent at T−30 min and T−5 min (published retained and as an event).
 */
import { randomBytes } from 'node:crypto';
import { stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { buildRecordingPipeline, type RtspSource } from '../encoder/pipeline-builder.ts';
import { PipelineHost } from '../encoder/pipeline-host.ts';
import type { StreamStats } from '../encoder/stream-meter.ts';
import { detectEncoder } from '../encoder/profile-detect.ts';
import { HttpPutClient } from '../uplink/http-put.ts';
import { clockSync } from './box-sampler.ts';
import { errorMessage } from '../lib/errors.ts';

export type Grade = 'green' | 'amber' | 'red';

export interface CheckResult {
  check: string;
  grade: Grade;
  reason: string;
  /** Numbers behind the grade (fps, kbps, bytes …). */
  detail?: Record<string, unknown>;
}

export interface Verdict {
  eventId: string | null;
  verdict: Grade;
  /** The reasons of every check that is not green, worst first. */
  reasons: string[];
  checks: CheckResult[];
  at: string;
}

const RANK: Record<Grade, number> = { green: 0, amber: 1, red: 2 };

export function combine(eventId: string | null, checks: CheckResult[], at = new Date()): Verdict {
  const verdict = checks.reduce<Grade>((worst, c) => (RANK[c.grade] > RANK[worst] ? c.grade : worst), 'green');
  const reasons = [...checks].filter((c) => c.grade !== 'green').sort((a, b) => RANK[b.grade] - RANK[a.grade]).map((c) => `${c.check}: ${c.reason}`);
  return { eventId, verdict, reasons, checks, at: at.toISOString() };
}

export interface CameraExpectation {
  cameraId: string;
  source: RtspSource;
  /** From the camera's ONVIF profile when known. */
  fps?: number | undefined;
  /** The keyframe interval the segments need: at most one segment long. */
  maxKeyframeIntervalMs: number;
}

/**
 * Frames from the camera for `seconds`, measured by the same stream meter as the recording (a pipeline host
 * that records nothing): fps against the expected rate, keyframe interval against the segment length.
 */
export async function checkCamera(camera: CameraExpectation, seconds = 4): Promise<CheckResult> {
  const check = `camera ${camera.cameraId}`;
  const built = buildRecordingPipeline({ streamId: camera.cameraId, source: camera.source, codec: 'h264', segment: { seconds: 2, directory: '/nonexistent', startIndex: 0 } });
  // Depayload and meter only: the launch up to the tee, ending in the meter (no files written).
  const head = built.launch.slice(0, built.launch.indexOf(' ! tee name=t'));
  const launch = `${head} ! appsink name=meter sync=false drop=true max-buffers=200`;
  const host = new PipelineHost(`doctor-${camera.cameraId}`);
  const stats: StreamStats[] = [];
  let failure: string | undefined;
  host.on('event', (event) => {
    if (event.type === 'stats') stats.push(event);
    if (event.type === 'error') failure ??= event.message;
  });
  try {
    host.start({ launch, properties: built.properties, meter: { element: 'meter', codec: 'h264', intervalMs: seconds * 500 } });
    await Promise.race([host.exited, new Promise((resolve) => setTimeout(resolve, seconds * 1000 + 1500))]);
  } finally {
    await host.stop(3000).catch(() => undefined);
  }
  const last = stats.at(-1);
  if (!last || last.frames === 0) return { check, grade: 'red', reason: failure ? `no frames: ${failure}` : `no frames within ${seconds} s` };
  const detail = { fps: last.fps, keyframeIntervalMs: last.keyframeIntervalMs ?? null, bitrateKbps: last.bitrateKbps };
  if (camera.fps !== undefined && last.fps < camera.fps * 0.8) return { check, grade: 'amber', reason: `${last.fps.toFixed(1)} fps, expected ${camera.fps}`, detail };
  if (last.keyframeIntervalMs === undefined) return { check, grade: 'amber', reason: `no second keyframe within ${seconds} s (keyframe interval too long for ${camera.maxKeyframeIntervalMs / 1000} s segments)`, detail };
  if (last.keyframeIntervalMs > camera.maxKeyframeIntervalMs * 1.1) {
    return { check, grade: 'amber', reason: `keyframe every ${(last.keyframeIntervalMs / 1000).toFixed(1)} s: segments will be longer than ${camera.maxKeyframeIntervalMs / 1000} s`, detail };
  }
  return { check, grade: 'green', reason: `${last.fps.toFixed(1)} fps, keyframe every ${(last.keyframeIntervalMs / 1000).toFixed(1)} s`, detail };
}

/** The encoder the event needs passes a real test encode (passthrough needs none). */
export async function checkEncoder(needed: boolean): Promise<CheckResult> {
  if (!needed) return { check: 'encoder', grade: 'green', reason: 'passthrough: no encoder needed' };
  const report = await detectEncoder();
  if (!report.selected) return { check: 'encoder', grade: 'red', reason: `no encoder passes a test encode (${report.verdicts.map((v) => `${v.id}: ${v.reasons[0] ?? v.status}`).join('; ')})` };
  return { check: 'encoder', grade: 'green', reason: `${report.selected.profile.id} passed a test encode` };
}

export interface IngestTarget {
  /** URL of a scratch object beside the event's segments. */
  url: (name: string) => string;
  headers: Record<string, string>;
  ca?: string | undefined;
}

/**
 * A test PUT with the event's credentials, then a timed upload of a few segments' worth of bytes: does the
 * measured uplink carry the event's bitrate (with 20 % headroom for backfill and retries)?
 */
export async function checkIngestAndUplink(target: IngestTarget, requiredKbps: number): Promise<CheckResult[]> {
  const client = new HttpPutClient({ headers: target.headers, ca: target.ca, inactivityTimeoutMs: 10_000 });
  try {
    let put: { status: number };
    try {
      put = await client.put(target.url('readiness.txt'), { data: Buffer.from(`venuebox readiness ${new Date().toISOString()}\n`) }, { 'content-type': 'text/plain' });
    } catch (err) {
      return [
        { check: 'ingest', grade: 'red', reason: `the test upload failed: ${errorMessage(err)}` },
        { check: 'uplink', grade: 'red', reason: 'not measured: the ingest cannot be reached' },
      ];
    }
    if (put.status < 200 || put.status > 299) {
      return [
        { check: 'ingest', grade: 'red', reason: `the ingest refused the test upload: HTTP ${put.status}` },
        { check: 'uplink', grade: 'red', reason: 'not measured: the ingest refuses uploads' },
      ];
    }
    const ingest: CheckResult = { check: 'ingest', grade: 'green', reason: `accepted a test upload (HTTP ${put.status})` };
    // Two seconds of the event's bitrate, at least 256 KB: long enough to measure, short enough not to hurt.
    const bytes = Math.max(256 * 1024, Math.round((requiredKbps * 1000 * 2) / 8));
    const result = await client.put(target.url('readiness.bin'), { data: randomBytes(bytes) }, { 'content-type': 'application/octet-stream' });
    const kbps = Math.round((bytes * 8) / result.elapsedMs);
    const detail = { measuredKbps: kbps, requiredKbps };
    if (kbps < requiredKbps) return [ingest, { check: 'uplink', grade: 'red', reason: `measured ${kbps} kbit/s, the event needs ${requiredKbps}`, detail }];
    if (kbps < requiredKbps * 1.2) return [ingest, { check: 'uplink', grade: 'amber', reason: `measured ${kbps} kbit/s for ${requiredKbps} needed: no room for backfill`, detail }];
    return [ingest, { check: 'uplink', grade: 'green', reason: `measured ${kbps} kbit/s, the event needs ${requiredKbps}`, detail }];
  } finally {
    client.close();
  }
}

/** The spool can hold the whole event (for an outage as long as the event) within its quota and the disk's floor. */
export async function checkSpool(opts: { spoolDir: string; maxBytes: number; minFreeBytes: number; ownedBytes: number; eventSeconds: number; kbps: number }): Promise<CheckResult> {
  const needed = Math.round((opts.eventSeconds * opts.kbps * 1000) / 8);
  let free: number;
  try {
    // Before the agent's first run the spool folder may not exist yet: its file system is that of the
    // nearest folder above it.
    let dir = opts.spoolDir;
    while (!(await stat(dir).then((s) => s.isDirectory(), () => false)) && dirname(dir) !== dir) dir = dirname(dir);
    const fs = await statfs(dir);
    free = fs.bavail * fs.bsize;
  } catch (err) {
    return { check: 'spool', grade: 'red', reason: `cannot read the spool's file system: ${errorMessage(err)}` };
  }
  const room = Math.max(0, Math.min(opts.maxBytes - opts.ownedBytes, free - opts.minFreeBytes));
  const detail = { neededBytes: needed, roomBytes: room };
  const mb = (n: number) => `${Math.round(n / 1e6)} MB`;
  if (room < needed) return { check: 'spool', grade: 'red', reason: `room for ${mb(room)}, the whole event needs ${mb(needed)}`, detail };
  if (room < needed * 1.5) return { check: 'spool', grade: 'amber', reason: `room for ${mb(room)}: little margin over the ${mb(needed)} the event needs`, detail };
  return { check: 'spool', grade: 'green', reason: `room for ${mb(room)}, the event needs ${mb(needed)}`, detail };
}

export async function checkClock(): Promise<CheckResult> {
  const clock = await clockSync();
  if (clock.synchronized === true) return { check: 'clock', grade: 'green', reason: clock.offsetMs === null ? 'NTP-synchronised' : `NTP-synchronised (offset ${clock.offsetMs} ms)` };
  if (clock.synchronized === false) return { check: 'clock', grade: 'amber', reason: 'the clock is not NTP-synchronised: the event may start at the wrong time' };
  return { check: 'clock', grade: 'amber', reason: 'clock synchronisation unknown (no chrony, timesyncd or timedatectl answered)' };
}

