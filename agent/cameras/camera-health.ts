/**
 * Camera quality: a grade per sample (good / degraded / offline, with reasons) and a tracker with
 * hysteresis, so that one lost probe or a second of low frame rate does not flap a dashboard. A worse grade
 * must hold for `downMs` before it is reported, a better one for `upMs` (longer: a camera that comes back
 * must prove it stays). Pure: samples carry their own monotonic time.
 */

export type CameraQuality = 'good' | 'degraded' | 'offline';

export interface CameraHealthSample {
  /** Monotonic time in ms. */
  at: number;
  /** A TCP connection to the camera's RTSP port succeeded. */
  reachable?: boolean | undefined;
  /** RTSP DESCRIBE answered 200 with an SDP. */
  describeOk?: boolean | undefined;
  /** What a running pipeline measured (stream meter). */
  stream?: { fps: number; bitrateKbps: number; keyframeIntervalMs: number | undefined; silenceMs: number } | undefined;
}

export interface CameraExpectations {
  /** What the camera's profile says; 0 or undefined = do not check. */
  fps?: number | undefined;
  keyframeIntervalMs?: number | undefined;
  minBitrateKbps?: number | undefined;
}

/** A stream that sent nothing for this long is offline, even if its TCP session is open (a frozen camera). */
export const SILENCE_OFFLINE_MS = 5000;
const ORDER: Record<CameraQuality, number> = { good: 0, degraded: 1, offline: 2 };

export function gradeSample(sample: CameraHealthSample, expect: CameraExpectations = {}): { quality: CameraQuality; reasons: string[] } {
  const offline: string[] = [];
  if (sample.reachable === false) offline.push('unreachable');
  if (sample.describeOk === false) offline.push('RTSP DESCRIBE failed');
  if (sample.stream && sample.stream.silenceMs >= SILENCE_OFFLINE_MS) offline.push(`no frames for ${Math.round(sample.stream.silenceMs / 1000)} s`);
  if (offline.length > 0) return { quality: 'offline', reasons: offline };
  const degraded: string[] = [];
  const s = sample.stream;
  if (s) {
    if (expect.fps && s.fps < expect.fps * 0.8) degraded.push(`${s.fps} fps, expected ${expect.fps}`);
    // Segments are cut at keyframes: a GOP much longer than promised makes segments long and live latency high.
    if (expect.keyframeIntervalMs && s.keyframeIntervalMs !== undefined && s.keyframeIntervalMs > expect.keyframeIntervalMs * 1.5) {
      degraded.push(`keyframe every ${(s.keyframeIntervalMs / 1000).toFixed(1)} s, expected ${(expect.keyframeIntervalMs / 1000).toFixed(1)} s`);
    }
    if (expect.minBitrateKbps && s.bitrateKbps < expect.minBitrateKbps) degraded.push(`${s.bitrateKbps} kbps, below ${expect.minBitrateKbps}`);
  }
  return degraded.length > 0 ? { quality: 'degraded', reasons: degraded } : { quality: 'good', reasons: [] };
}

export type CameraHealthEvent =
  | { type: 'quality'; cameraId: string; from: CameraQuality | 'unknown'; to: CameraQuality; reasons: string[]; at: number }
  | { type: 'online' | 'offline'; cameraId: string; reasons: string[]; at: number };

export class CameraQualityTracker {
  private current: CameraQuality | 'unknown' = 'unknown';
  private candidate: { quality: CameraQuality; since: number; reasons: string[] } | undefined;
  private lastReasons: string[] = [];

  constructor(
    readonly cameraId: string,
    private readonly expect: CameraExpectations = {},
    private readonly downMs = 5000,
    private readonly upMs = 15_000,
  ) {}

  get quality(): CameraQuality | 'unknown' {
    return this.current;
  }

  get reasons(): string[] {
    return this.lastReasons;
  }

  /** Feeds one sample; returns the events it causes (none while a change has not held long enough). */
  update(sample: CameraHealthSample): CameraHealthEvent[] {
    const { quality, reasons } = gradeSample(sample, this.expect);
    if (this.current === 'unknown') return this.change(quality, reasons, sample.at);
    if (quality === this.current) {
      this.candidate = undefined;
      this.lastReasons = reasons;
      return [];
    }
    if (!this.candidate || this.candidate.quality !== quality) this.candidate = { quality, since: sample.at, reasons };
    this.candidate.reasons = reasons;
    const holdMs = ORDER[quality] > ORDER[this.current] ? this.downMs : this.upMs;
    return sample.at - this.candidate.since >= holdMs ? this.change(quality, reasons, sample.at) : [];
  }

  private change(to: CameraQuality, reasons: string[], at: number): CameraHealthEvent[] {
    const from = this.current;
    this.current = to;
    this.candidate = undefined;
    this.lastReasons = reasons;
    const events: CameraHealthEvent[] = [{ type: 'quality', cameraId: this.cameraId, from, to, reasons, at }];
    const wasOnline = from !== 'unknown' && from !== 'offline';
    if (to === 'offline' && from !== 'offline') events.push({ type: 'offline', cameraId: this.cameraId, reasons, at });
    if (to !== 'offline' && !wasOnline) events.push({ type: 'online', cameraId: this.cameraId, reasons, at });
    return events;
  }
}
