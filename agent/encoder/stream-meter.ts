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

/** What the stream meter measures on the access units it is fed. */
export interface MeterStats {
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

/**
 * What the pipeline dropped of the camera's stream, as GStreamer counts it. Cumulative for the run of one
 * pipeline host, from its start (a host rebuilt by the supervisor starts again at 0; in a transcode the
 * camera side is rebuilt inside the host and its counts carry on). Per-interval rates are differences of
 * consecutive stats events. Drops of the meter's own leaky queue are not stream drops and are not counted.
 */
export interface DropStats {
  /** Camera RTP packets (video and audio) that never arrived: sequence-number gaps the jitterbuffer gave up on (rtpjitterbuffer `stats` num-lost). */
  packetsLost: number;
  /** Camera RTP packets that arrived after their turn was given up, and were thrown away (num-late). */
  packetsLate: number;
  /**
   * Transcode only (0 in passthrough, which touches no frame): decoded camera frames videorate dropped to
   * hold the output frame rate. Includes the planned rate conversion: a 30 fps camera into a 15 fps output
   * drops 15 frames a second by design.
   */
  framesDropped: number;
  /** Transcode only: frames videorate repeated to fill a gap (a camera slower than the output, lost frames). */
  framesDuplicated: number;
  /** ms since the counters were read (they are read on a slow timer, see pipeline-host-child); undefined before the first read. */
  ageMs: number | undefined;
}

/** Stats of a running pipeline: the meter's, and the drops GStreamer counted. */
export interface StreamStats extends MeterStats {
  dropped: DropStats;
}

export type DropCounts = Omit<DropStats, 'ageMs'>;

/**
 * Pure: the counters of an rtpjitterbuffer `stats` GstStructure in its string form, as gstreamer-superficial
 * hands a boxed structure to JavaScript (g_value_transform to a string), e.g.
 * `application/x-rtp-jitterbuffer-stats, num-pushed=(guint64)477, num-lost=(guint64)7, num-late=(guint64)0, …`.
 * Undefined when the text is not such a structure.
 */
export function parseJitterbufferStats(text: unknown): { lost: number; late: number } | undefined {
  if (typeof text !== 'string' || !text.startsWith('application/x-rtp-jitterbuffer-stats')) return undefined;
  const field = (name: string): number | undefined => {
    const match = new RegExp(`[ ,]${name}=\\((?:guint64|uint|int|gint64)\\)(\\d+)`).exec(text);
    return match ? Number(match[1]) : undefined;
  };
  const lost = field('num-lost');
  const late = field('num-late');
  return lost === undefined || late === undefined ? undefined : { lost, late };
}

/**
 * Pure bookkeeping of drop counters read from GStreamer elements. Every element's counters only grow during
 * its life, and an element is never reused, so the run's total is the sum over every element ever read of its
 * last reading: an element that went away (a camera pipeline rebuilt after a loss) keeps its last counts.
 * Keys must name an element uniquely for the run (GStreamer's default element names are unique per process).
 */
export class DropLedger {
  private readonly last = new Map<string, Partial<DropCounts>>();
  private readAt: number | undefined;

  record(key: string, counts: Partial<DropCounts>, now: number): void {
    this.last.set(key, { ...this.last.get(key), ...counts });
    this.readAt = now;
  }

  snapshot(now: number): DropStats {
    const total: DropStats = { packetsLost: 0, packetsLate: 0, framesDropped: 0, framesDuplicated: 0, ageMs: this.readAt === undefined ? undefined : Math.round(now - this.readAt) };
    for (const counts of this.last.values()) {
      total.packetsLost += counts.packetsLost ?? 0;
      total.packetsLate += counts.packetsLate ?? 0;
      total.framesDropped += counts.framesDropped ?? 0;
      total.framesDuplicated += counts.framesDuplicated ?? 0;
    }
    return total;
  }
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

  snapshot(now: number): MeterStats {
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
