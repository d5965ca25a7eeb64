/**
 * Bitrate adaptation: when the measured uplink cannot carry the live streams, the transcoded ones are
 * lowered (the encoder's run-time bitrate control), and raised again step by step when the link recovers.
 * Passthrough streams cannot be changed (their bitrate is the camera's): they count as a fixed load.
 *
 * The rule, checked once per segment duration:
 * - budget = measured upload throughput × headroom − the passthrough streams' measured bitrate;
 * - down at once when the transcoded streams' targets exceed the budget, or the live edge lags while the
 *   link is up: every transcoded stream is scaled to fit (never below `minShare` of its configured rate);
 * - up only after `upChecks` checks in a row with the live edge on time and room for 30 % more, by 25 %
 *   per step up to the configured rate (slow up, fast down: a link that flaps does not make the picture pump).
 * Offline (nothing is measured), nothing changes.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { errorMessage } from '../lib/errors.ts';
import type { UplinkHealth } from './uploader.ts';

export interface AdaptiveStream {
  streamId: string;
  /** Transcoded streams: the configured bitrate and how to change it. Passthrough: undefined. */
  configuredKbps: number | undefined;
  /** The stream's measured bitrate (passthrough load), kbit/s. */
  measuredKbps: number | undefined;
  setBitrate?: ((kbps: number) => Promise<void>) | undefined;
}

export interface AdaptationOptions {
  streams: () => AdaptiveStream[];
  uplink: () => UplinkHealth | null;
  segmentSeconds: number;
  log: Logger;
  /** Share of the measured throughput the live streams may use. */
  headroom?: number;
  /** Lowest share of its configured bitrate a stream is lowered to. */
  minShare?: number;
  upChecks?: number;
}

export interface BitrateChange {
  streamId: string;
  fromKbps: number;
  toKbps: number;
  configuredKbps: number;
  reason: string;
}

export class BitrateAdaptation extends EventEmitter<{ adapted: [BitrateChange] }> {
  private readonly targets = new Map<string, number>();
  private goodChecks = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: AdaptationOptions) {
    super();
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.options.segmentSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  check(): Promise<void> {
    this.running ??= this.decide().finally(() => (this.running = undefined));
    return this.running;
  }

  private async decide(): Promise<void> {
    const health = this.options.uplink();
    if (!health || health.state === 'offline' || health.throughputKbps === null) return;
    const headroom = this.options.headroom ?? 0.8;
    const minShare = this.options.minShare ?? 0.25;
    const streams = this.options.streams();
    const adaptive = streams.filter((s) => s.configuredKbps !== undefined && s.setBitrate !== undefined);
    if (adaptive.length === 0) return;
    const fixed = streams.filter((s) => s.configuredKbps === undefined).reduce((sum, s) => sum + (s.measuredKbps ?? 0), 0);
    const budget = health.throughputKbps * headroom - fixed;
    const current = (s: AdaptiveStream) => this.targets.get(s.streamId) ?? s.configuredKbps!;
    const total = adaptive.reduce((sum, s) => sum + current(s), 0);
    const lagging = health.liveLagMs > 2 * this.options.segmentSeconds * 1000;

    if (total > budget || lagging) {
      this.goodChecks = 0;
      const scale = Math.min(lagging ? 0.7 : 1, Math.max(0, budget) / total);
      const reason = lagging
        ? `the live edge trails by ${(health.liveLagMs / 1000).toFixed(1)} s`
        : `measured uplink ${health.throughputKbps} kbit/s cannot carry ${Math.round(total + fixed)} kbit/s`;
      await this.apply(adaptive, (s) => Math.max(Math.round(s.configuredKbps! * minShare), Math.round(current(s) * scale)), reason);
      return;
    }
    if (total * 1.3 <= budget) this.goodChecks += 1;
    else this.goodChecks = 0;
    if (this.goodChecks < (this.options.upChecks ?? 3)) return;
    this.goodChecks = 0;
    await this.apply(adaptive, (s) => Math.min(s.configuredKbps!, Math.round(current(s) * 1.25)), `measured uplink ${health.throughputKbps} kbit/s has room again`);
  }

  private async apply(streams: AdaptiveStream[], next: (s: AdaptiveStream) => number, reason: string): Promise<void> {
    for (const stream of streams) {
      const from = this.targets.get(stream.streamId) ?? stream.configuredKbps!;
      const to = next(stream);
      if (to === from) continue;
      try {
        await stream.setBitrate!(to);
        this.targets.set(stream.streamId, to);
        const change: BitrateChange = { streamId: stream.streamId, fromKbps: from, toKbps: to, configuredKbps: stream.configuredKbps!, reason };
        this.options.log.warn(change, to < from ? 'uplink adaptation: bitrate lowered' : 'uplink adaptation: bitrate raised');
        this.emit('adapted', change);
      } catch (err) {
        // A pipeline between runs cannot take it now; the next check tries again.
        this.options.log.warn({ streamId: stream.streamId, err: errorMessage(err) }, 'uplink adaptation: bitrate change failed');
      }
    }
  }
}
