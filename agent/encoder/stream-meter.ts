/**
 * Measures a live H.264/H.265 elementary stream from its access units: frames per second, bitrate and the
 * keyframe interval — what camera health grades and what an installer checks ("is the camera sending what
 * it says?"). Pure: fed one access unit (Annex B byte stream) at a time with the time it arrived.
 *
 * gstreamer-superficial's appsink gives buffers without PTS or keyframe flags (STACK-NOTES), so keyframes
 * are found by reading NAL unit headers: H.264 IDR = type 5 (ITU-T H.264 table 7-1); H.265 IRAP = types
 * 16–23 (ITU-T H.265 table 7-1).
 */
import type { VideoCodec } from './pipeline-builder.ts';

export interface StreamStats {
  /** Over the window. */
  fps: number;
  bitrateKbps: number;
  /** Between the last two keyframes; undefined until two were seen. */
  keyframeIntervalMs: number | undefined;
  /** Frames between the last two keyframes (the GOP length): exact, whatever the arrival jitter. */
  keyframeIntervalFrames: number | undefined;
  /** Since start. */
  frames: number;
  bytes: number;
  keyframes: number;
  /** ms since the last access unit (a frozen camera keeps the TCP session but sends nothing). */
  silenceMs: number;
}

/** NAL unit types of the Annex B access unit `au` (start codes 00 00 01 / 00 00 00 01). */
export function nalUnitTypes(au: Uint8Array, codec: VideoCodec): number[] {
  const types: number[] = [];
  for (let i = 0; i + 3 < au.length; i++) {
    if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1) {
      const header = au[i + 3]!;
      types.push(codec === 'h264' ? header & 0x1f : (header >> 1) & 0x3f);
      i += 3;
    }
  }
  return types;
}

export function isKeyframe(au: Uint8Array, codec: VideoCodec): boolean {
  return nalUnitTypes(au, codec).some((type) => (codec === 'h264' ? type === 5 : type >= 16 && type <= 23));
}

export class StreamMeter {
  private readonly window: Array<{ at: number; bytes: number }> = [];
  private frames = 0;
  private bytes = 0;
  private keyframes = 0;
  private lastKeyframeAt: number | undefined;
  private keyframeIntervalMs: number | undefined;
  private lastKeyframeFrame: number | undefined;
  private keyframeIntervalFrames: number | undefined;
  private lastAt: number | undefined;
  private readonly startedAt: number;

  constructor(
    private readonly codec: VideoCodec,
    private readonly windowMs = 5000,
    now = 0,
  ) {
    this.startedAt = now;
  }

  push(au: Uint8Array, now: number): void {
    this.frames += 1;
    this.bytes += au.length;
    this.lastAt = now;
    this.window.push({ at: now, bytes: au.length });
    this.trim(now);
    if (isKeyframe(au, this.codec)) {
      this.keyframes += 1;
      if (this.lastKeyframeAt !== undefined) this.keyframeIntervalMs = now - this.lastKeyframeAt;
      if (this.lastKeyframeFrame !== undefined) this.keyframeIntervalFrames = this.frames - this.lastKeyframeFrame;
      this.lastKeyframeAt = now;
      this.lastKeyframeFrame = this.frames;
    }
  }

  snapshot(now: number): StreamStats {
    this.trim(now);
    // Rates over the window, or over the time since start while the window is not yet full.
    const spanMs = Math.min(this.windowMs, Math.max(1, now - this.startedAt));
    const windowBytes = this.window.reduce((sum, e) => sum + e.bytes, 0);
    return {
      fps: Math.round((this.window.length * 1000 * 10) / spanMs) / 10,
      bitrateKbps: Math.round((windowBytes * 8) / spanMs),
      keyframeIntervalMs: this.keyframeIntervalMs,
      keyframeIntervalFrames: this.keyframeIntervalFrames,
      frames: this.frames,
      bytes: this.bytes,
      keyframes: this.keyframes,
      silenceMs: now - (this.lastAt ?? this.startedAt),
    };
  }

  private trim(now: number): void {
    while (this.window.length > 0 && now - this.window[0]!.at > this.windowMs) this.window.shift();
  }
}
