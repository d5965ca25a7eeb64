/**
 * Watches the health of every recorded camera: an RTSP DESCRIBE every `intervalMs` (reachable, stream
 * answers) combined with what its running pipeline measures (fps, bitrate, keyframe interval, silence),
 * graded with hysteresis (camera-health.ts). Emits debounced quality and online/offline events for the
 * health report and MQTT. Probes run on a timer, one camera after another: never on a request path.
 */
import { EventEmitter } from 'node:events';
import { CameraQualityTracker, type CameraHealthEvent, type CameraQuality, type CameraExpectations } from './camera-health.ts';
import { describeStream, type DescribeResult } from './rtsp-describe.ts';
import type { RecordedCamera } from '../encoder/index.ts';
import type { StreamStats } from '../encoder/stream-meter.ts';

export interface CameraHealthReport {
  cameraId: string;
  quality: CameraQuality | 'unknown';
  reasons: string[];
  describe: { ok: boolean; status: number | null; latencyMs: number; at: string } | null;
  stream: { fps: number; bitrateKbps: number; keyframeIntervalMs: number | null } | null;
}

interface Watched {
  camera: RecordedCamera;
  tracker: CameraQualityTracker;
  describe?: DescribeResult & { at: string };
  stream?: StreamStats & { receivedAt: number };
  describedAt?: number;
}

/** Stream stats younger than this (the recorder reports every 2 s) show the camera's stream flowing. */
const STREAM_FRESH_MS = 10_000;
/** How often a camera with a flowing stream is still asked for a DESCRIBE. */
const FLOWING_PROBE_MS = 60_000;

export class CameraMonitor extends EventEmitter<{ event: [CameraHealthEvent]; describe: [string, DescribeResult] }> {
  private readonly watched = new Map<string, Watched>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: { intervalMs: number; timeoutMs: number; downMs?: number; upMs?: number }) {
    super();
  }

  watch(camera: RecordedCamera, expect: CameraExpectations = {}): void {
    this.watched.set(camera.id, { camera, tracker: new CameraQualityTracker(camera.id, expect, this.options.downMs, this.options.upMs) });
  }

  /** Stream stats of a camera's running pipeline (from the recorder). */
  streamStats(cameraId: string, stats: StreamStats): void {
    const entry = this.watched.get(cameraId);
    if (!entry) return;
    entry.stream = { ...stats, receivedAt: performance.now() };
    this.feed(entry);
  }

  /**
   * The camera's stream stopped reaching its pipeline (it ended, the pipeline left `running`, or a transcode
   * slates over a lost source): its last stream stats no longer prove it, so the next round asks it again.
   */
  streamEnded(cameraId: string): void {
    const entry = this.watched.get(cameraId);
    if (!entry) return;
    entry.stream = undefined;
    entry.describedAt = undefined;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.probeAll().finally(() => (this.running = undefined));
    }, this.options.intervalMs);
    this.timer.unref();
    this.running = this.probeAll().finally(() => (this.running = undefined));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  health(): CameraHealthReport[] {
    return [...this.watched.values()].map((w) => ({
      cameraId: w.camera.id,
      quality: w.tracker.quality,
      reasons: w.tracker.reasons,
      describe: w.describe ? { ok: w.describe.ok, status: w.describe.status ?? null, latencyMs: w.describe.latencyMs, at: w.describe.at } : null,
      stream: w.stream ? { fps: w.stream.fps, bitrateKbps: w.stream.bitrateKbps, keyframeIntervalMs: w.stream.keyframeIntervalMs ?? null } : null,
    }));
  }

  private async probeAll(): Promise<void> {
    const now = performance.now();
    for (const entry of this.watched.values()) {
      // A camera whose recording delivers frames is proven by them: its DESCRIBE (an extra RTSP session a cheap
      // camera feels, and agent CPU) only once a minute, for the answer time. Without a stream: every round.
      const flowing = entry.stream !== undefined && now - entry.stream.receivedAt < STREAM_FRESH_MS;
      if (flowing && entry.describedAt !== undefined && now - entry.describedAt < FLOWING_PROBE_MS) continue;
      entry.describedAt = now;
      const { source } = entry.camera;
      const result = await describeStream(source.uri, { username: source.username, password: source.password }, this.options.timeoutMs);
      entry.describe = { ...result, at: new Date().toISOString() };
      this.emit('describe', entry.camera.id, result);
      this.feed(entry);
    }
  }

  private feed(entry: Watched): void {
    const now = performance.now();
    // Stream stats older than two report intervals mean the pipeline is down (restarting): not evidence.
    const stream = entry.stream && now - entry.stream.receivedAt < STREAM_FRESH_MS ? entry.stream : undefined;
    const describe = entry.describe;
    const events = entry.tracker.update({
      at: now,
      reachable: describe ? describe.status !== undefined || describe.ok : undefined,
      describeOk: describe?.ok,
      stream: stream ? { fps: stream.fps, bitrateKbps: stream.bitrateKbps, keyframeIntervalMs: stream.keyframeIntervalMs, silenceMs: stream.silenceMs } : undefined,
    });
    for (const event of events) this.emit('event', event);
  }
}
