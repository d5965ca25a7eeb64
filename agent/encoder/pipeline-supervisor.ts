/**
 * Supervises one pipeline: builds a host from its factory, watches it, and after any end it did not ask
 * for (error, crash, EOS from a camera that went away, a stall) builds a new one with backoff.
 *
 * INVARIANTS
 * - At most one host runs per supervisor; a new one is created only after the previous one has exited.
 * - `stop()` is final: no restart is scheduled after it, and it resolves only when the host has exited.
 * - Every failure is logged once with its cause and the child's last stderr lines, and counted.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../lib/log.ts';
import { RestartPolicy, type BackoffOptions, DEFAULT_BACKOFF } from '../lib/backoff.ts';
import { PipelineHost, type HostPipeline } from './pipeline-host.ts';
import type { HostEvent } from './pipeline-host-protocol.ts';
import { METER_SINK } from './pipeline-builder.ts';
import type { StreamStats } from './stream-meter.ts';

export type PipelineState = 'starting' | 'running' | 'backoff' | 'failed' | 'stopping' | 'stopped';

export interface ClosedSegment {
  streamId: string;
  path: string;
  startTime: string;
  durationMs: number;
  bytes: number;
  /** Hashed by the pipeline host that wrote the file; absent when it could not read it (the spool then hashes). */
  sha256?: string | undefined;
}

export interface PipelineHealth {
  streamId: string;
  state: PipelineState;
  pid: number | undefined;
  restarts: number;
  segments: number;
  lastSegmentAt: string | undefined;
  lastError: string | undefined;
  /** Measured on the stream over the last 5 s (the meter), else the last segment's average. */
  bitrateKbps: number | undefined;
  /** Frames per second measured on the stream, over the last 5 s. */
  fps: number | undefined;
  /** Between the last two keyframes. */
  keyframeIntervalMs: number | undefined;
}

export interface SupervisorOptions {
  streamId: string;
  /** Builds the pipeline for the next run (called before every start, so the segment index moves on). */
  build: () => HostPipeline;
  segmentSeconds: number;
  log: Logger;
  backoff?: BackoffOptions;
  /** How often the host reports stream stats. */
  statsIntervalMs?: number;
  /** How long a stop waits for EOS before killing (the agent must stop within 10 s in all). */
  stopTimeoutMs?: number;
}

export interface SupervisorEvents {
  /** A run ended badly; `producedSegments` is false when it never closed a segment (it failed at start). */
  failed: [{ reason: string; producedSegments: boolean }];
  source: [Extract<HostEvent, { type: 'source-lost' | 'source-restored' }>];
  segment: [ClosedSegment];
  stats: [StreamStats];
  state: [PipelineState];
  /**
   * A run that had recorded ended (its restart follows after `retryInMs`), or restarts are paused after too many
   * failures (`gaveUp`). Not said for each failed retry while the camera stays away (camera-offline says that).
   */
  restart: [{ reason: string; retryInMs: number; gaveUp: boolean; restarts: number }];
}

export class PipelineSupervisor extends EventEmitter<SupervisorEvents> {
  private host: PipelineHost | undefined;
  /** Why the current run is ending badly, set by the first event that says so (error, EOS, stall). */
  private runFailure: string | undefined;
  private state: PipelineState = 'stopped';
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private runStartedAt = 0;
  private readonly policy: RestartPolicy;
  private readonly stats = {
    restarts: 0,
    segments: 0,
    lastSegmentAt: undefined as string | undefined,
    lastError: undefined as string | undefined,
    bitrateKbps: undefined as number | undefined,
    fps: undefined as number | undefined,
    keyframeIntervalMs: undefined as number | undefined,
  };
  private meteredBitrate = false;

  constructor(private readonly options: SupervisorOptions) {
    super();
    this.policy = new RestartPolicy(options.backoff ?? DEFAULT_BACKOFF);
  }

  start(): void {
    this.stopping = false;
    this.launch();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.stallTimer);
    const host = this.host;
    if (host) {
      this.setState('stopping');
      const exit = await host.stop(this.options.stopTimeoutMs ?? 5000);
      this.options.log.info({ code: exit.code, signal: exit.signal }, 'pipeline stopped');
    }
    this.setState('stopped');
  }

  private bitrateTarget: { element: string; property: string; unit: 'kbit/s' | 'bit/s' } | undefined;
  private bitrateOverrideKbps: number | undefined;

  /**
   * Changes the encoder bitrate of a transcode pipeline at run time (the uplink's adaptation); kept across
   * restarts. Rejects for passthrough (there is no encoder to tell).
   */
  async setBitrate(kbps: number): Promise<void> {
    if (!this.bitrateTarget) throw new Error(`${this.options.streamId} is recorded passthrough: its bitrate is the camera's`);
    this.bitrateOverrideKbps = kbps;
    await this.applyBitrate();
  }

  private async applyBitrate(): Promise<void> {
    const target = this.bitrateTarget;
    const kbps = this.bitrateOverrideKbps;
    if (!target || kbps === undefined || !this.host) return;
    await this.host.setProperties({ [target.element]: { [target.property]: target.unit === 'bit/s' ? kbps * 1000 : kbps } });
    this.options.log.info({ kbps }, 'encoder bitrate changed');
  }

  /**
   * Something outside knows the source is back (the camera monitor's DESCRIBE answered): a pipeline waiting
   * out a backoff or a spent restart budget starts now instead of up to 30 s (or a budget window) later.
   * Returns whether it restarted.
   */
  retryNow(reason: string): boolean {
    if (this.stopping || (this.state !== 'backoff' && this.state !== 'failed') || this.host) return false;
    clearTimeout(this.restartTimer);
    this.options.log.info({ reason }, 'retrying the pipeline now');
    this.launch();
    return true;
  }

  /** Ends the current run as a failure (used by tests and, later, the `restart-pipeline` command). */
  restart(reason: string): void {
    if (!this.host) return;
    this.runFailure ??= reason;
    this.options.log.warn({ reason }, 'restarting pipeline');
    this.host.kill();
  }

  health(): PipelineHealth {
    return { streamId: this.options.streamId, state: this.state, pid: this.host?.pid, ...this.stats };
  }

  private setState(state: PipelineState): void {
    if (state === this.state) return;
    this.state = state;
    this.emit('state', state);
  }

  private launch(): void {
    const { log } = this.options;
    let built: HostPipeline;
    try {
      built = this.options.build();
    } catch (err) {
      this.onFailure(`the pipeline cannot be built: ${(err as Error).message}`, []);
      return;
    }
    const host = new PipelineHost(this.options.streamId);
    this.host = host;
    this.bitrateTarget = built.bitrate;
    this.runStartedAt = performance.now();
    this.setState('starting');
    this.runFailure = undefined;
    host.on('event', (event) => {
      const problem = this.onHostEvent(event);
      if (problem) this.runFailure ??= problem;
    });
    host.once('exit', (exit) => {
      clearTimeout(this.stallTimer);
      if (this.host === host) this.host = undefined;
      if (this.stopping) return;
      this.onFailure(this.runFailure ?? `pipeline host exited unexpectedly (code ${exit.code}, signal ${exit.signal})`, host.stderrTail());
    });
    log.info({ launch: built.launch }, 'starting pipeline');
    host.start({ ...built, meter: { element: METER_SINK, codec: built.codec, intervalMs: this.options.statsIntervalMs ?? 2000 } });
    // The first segment needs the RTSP handshake and a keyframe: allow more than the steady-state cadence.
    this.armStallTimer(Math.max(10_000, 3 * this.options.segmentSeconds * 1000));
  }

  /** Handles one event of the running host; returns a failure reason if the event ends the run badly. */
  private onHostEvent(event: HostEvent): string | undefined {
    const { log } = this.options;
    switch (event.type) {
      case 'started':
        // A bitrate lowered by the uplink survives a restart of the pipeline.
        if (this.bitrateOverrideKbps !== undefined) {
          this.applyBitrate().catch((err: Error) => log.warn({ err: err.message }, 'cannot re-apply the bitrate after a restart'));
        }
        return undefined;
      case 'segment-closed': {
        if (this.state === 'starting') this.setState('running');
        this.stats.segments += 1;
        this.stats.lastSegmentAt = new Date().toISOString();
        if (event.durationMs > 0 && !this.meteredBitrate) this.stats.bitrateKbps = Math.round((event.bytes * 8) / event.durationMs);
        // No segment within 2 × the segment duration is a stall (the issue's watchdog rule).
        this.armStallTimer(2 * this.options.segmentSeconds * 1000 + 1000);
        this.emit('segment', { streamId: this.options.streamId, ...event });
        return undefined;
      }
      case 'properties-set':
        return undefined;
      case 'source-lost':
        log.warn({ reason: event.reason }, 'camera lost: the slate is on air, destinations keep their stream');
        this.emit('source', event);
        return undefined;
      case 'source-restored':
        log.info({ lostMs: event.lostMs }, 'camera back: the slate is off');
        this.emit('source', event);
        return undefined;
      case 'stats':
        this.meteredBitrate = true;
        this.stats.fps = event.fps;
        this.stats.bitrateKbps = event.bitrateKbps;
        this.stats.keyframeIntervalMs = event.keyframeIntervalMs;
        this.emit('stats', event);
        return undefined;
      case 'warning':
        log.warn({ element: event.element, debug: event.debug }, `pipeline warning: ${event.message}`);
        return undefined;
      case 'error':
        return `${event.message}${event.debug ? ` (${event.debug.split('\n').pop()})` : ''}`;
      case 'eos':
        // An EOS nobody asked for is a disconnect: a killed camera gives a warning then EOS (STACK-NOTES).
        return event.requested ? undefined : 'the stream ended (EOS) without a stop request: the camera went away';
    }
  }

  private armStallTimer(ms: number): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => {
      const host = this.host;
      if (!host || this.stopping) return;
      this.runFailure ??= `stalled: no segment closed for ${ms} ms`;
      this.options.log.warn({ ms }, 'pipeline stalled: no segment closed in time; killing the host');
      host.kill();
    }, ms);
    this.stallTimer.unref();
  }

  private onFailure(reason: string, stderrTail: string[]): void {
    const { log } = this.options;
    this.stats.lastError = reason;
    // Before backoff: the owner may change what the next build makes (an encoder lower on the ladder).
    const producedSegments = this.state === 'running' || this.state === 'stopping';
    this.emit('failed', { reason, producedSegments });
    const ranForMs = this.runStartedAt ? performance.now() - this.runStartedAt : 0;
    const decision = this.policy.onFailure(performance.now(), ranForMs, producedSegments);
    if (decision.action === 'give-up') {
      this.emit('restart', { reason, retryInMs: decision.retryInMs, gaveUp: true, restarts: this.stats.restarts });
      this.setState('failed');
      log.error({ reason: this.stats.lastError, stderr: stderrTail, retryInMs: decision.retryInMs }, 'pipeline failed too often; pausing restarts');
      this.restartTimer = setTimeout(() => this.launch(), decision.retryInMs);
      return;
    }
    this.stats.restarts += 1;
    if (producedSegments) this.emit('restart', { reason, retryInMs: decision.delayMs, gaveUp: false, restarts: this.stats.restarts });
    this.setState('backoff');
    log.warn(
      { reason: this.stats.lastError, stderr: stderrTail.length > 0 ? stderrTail : undefined, attempt: decision.attempt, delayMs: decision.delayMs },
      'pipeline ended; restarting after backoff',
    );
    this.restartTimer = setTimeout(() => this.launch(), decision.delayMs);
  }
}
