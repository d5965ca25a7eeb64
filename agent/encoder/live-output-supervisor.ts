/**
 * Supervises one live output (one destination of one camera): runs its pipeline in a LiveOutputHost, judges
 * whether bytes reach the destination, and after any end it did not ask for builds a new host with backoff —
 * forever: a destination that is down for an hour comes back by itself when it returns.
 *
 * Why not PipelineSupervisor: its watchdog is the segment cadence and its budget gives up; a live output closes
 * no segments, and giving up on a destination is never right. The restart policy (lib/backoff.ts) is shared.
 *
 * How progress is judged (every progressIntervalMs the host reports the sink's bytes sent and whether the tap
 * is silent):
 * - bytes grow → connected, `live`;
 * - nothing grows and the tap is silent → `idle` (the camera is lost or its recording restarts): not the
 *   destination's fault, nothing to restart;
 * - nothing grows while the tap sends → `retrying` after 3 intervals, and after `stallMs` the run is ended and
 *   rebuilt. srtsink reconnects by itself after a cut (measured: back within 0.2 s of the listener's return,
 *   with a warning when it lost the peer), so short cuts heal without a restart; longer ones go through the
 *   backoff (SRT says "Connection does not exist" ~3 s after a caller finds no listener; RTMP fails at once).
 *
 * INVARIANTS
 * - At most one host runs; a new one is created only after the previous one exited.
 * - `stop()` is final: no restart is scheduled after it; it resolves when the host has exited.
 * - `connected` changes only through setConnected, which emits exactly one event per change.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../lib/log.ts';
import { redact } from '../lib/redact.ts';
import { RestartPolicy, type BackoffOptions } from '../lib/backoff.ts';
import { buildLiveOutput, INPUT_TIMEOUT_MS, LIVE_SINK, type LiveDestination, type LiveInput } from './live-output-builder.ts';
import { LiveOutputHost } from './live-output-host.ts';
import type { LiveHostEvent } from './live-output-protocol.ts';

export type LiveOutputState = 'connecting' | 'live' | 'idle' | 'retrying' | 'stopped';

export interface LiveOutputHealth {
  cameraId: string;
  /** Index in the camera's `live` list. */
  output: number;
  kind: LiveDestination['kind'];
  /** As configured: the schema refuses secrets in it, and it is redacted all the same. */
  url: string;
  state: LiveOutputState;
  /** Why it is not live (the last error, "connecting to …", "no stream from the recording"). */
  reason: string | undefined;
  since: string;
  pid: number | undefined;
  /** Times it went live. */
  connects: number;
  restarts: number;
  /** Bytes sent by the current run. */
  bytesSent: number;
  bitrateKbps: number | undefined;
  lastError: string | undefined;
}

export interface LiveOutputEvent {
  type: 'connected' | 'disconnected';
  cameraId: string;
  output: number;
  kind: LiveDestination['kind'];
  url: string;
  reason?: string | undefined;
  at: string;
}

/**
 * 1 s → 10 s: a destination is real time, so the wait after it returns is kept short (one host start costs
 * about a second of CPU). Never given up (infinite budget); the window only bounds the memory of restarts.
 */
export const LIVE_OUTPUT_BACKOFF: BackoffOptions = {
  initialMs: 1000,
  maxMs: 10_000,
  factor: 2,
  jitter: 0.5,
  budget: { restarts: Number.POSITIVE_INFINITY, windowMs: 60_000 },
  stableMs: 60_000,
};

export interface LiveOutputOptions {
  cameraId: string;
  output: number;
  destination: LiveDestination;
  /** What the camera's tap sends (asked before every run: the codec or audio may have changed). */
  input: () => LiveInput;
  log: Logger;
  backoff?: BackoffOptions | undefined;
  /** The tap sends but nothing reaches the destination for this long: the run is ended and rebuilt. */
  stallMs?: number | undefined;
  progressIntervalMs?: number | undefined;
  stopTimeoutMs?: number | undefined;
}

export class LiveOutputSupervisor extends EventEmitter<{ event: [LiveOutputEvent]; state: [LiveOutputHealth] }> {
  private host: LiveOutputHost | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly policy: RestartPolicy;
  private readonly url: string;
  private state: LiveOutputState = 'stopped';
  private reason: string | undefined;
  private since = new Date().toISOString();
  private connected = false;
  private runFailure: string | undefined;
  private runDebug: string | undefined;
  private runStartedAt = 0;
  private wentLive = false;
  private lastBytes = 0;
  private lastProgressAt = 0;
  private bitrateKbps: number | undefined;
  private connects = 0;
  private restarts = 0;
  private lastError: string | undefined;
  private lastLoggedFailure: string | undefined;
  /** The sink lost its peer: the next byte count is a new baseline, not progress (see onHostEvent). */
  private rebaseline = false;

  constructor(private readonly options: LiveOutputOptions) {
    super();
    this.policy = new RestartPolicy(options.backoff ?? LIVE_OUTPUT_BACKOFF);
    this.url = redact(options.destination.url);
  }

  start(): void {
    this.stopping = false;
    this.launch();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const host = this.host;
    if (host) await host.stop(this.options.stopTimeoutMs ?? 3000);
    this.setConnected(false, 'stopped');
    this.setState('stopped', undefined);
  }

  health(): LiveOutputHealth {
    const { cameraId, output, destination } = this.options;
    return {
      cameraId,
      output,
      kind: destination.kind,
      url: this.url,
      state: this.state,
      reason: this.reason,
      since: this.since,
      pid: this.host?.pid,
      connects: this.connects,
      restarts: this.restarts,
      bytesSent: this.lastBytes,
      bitrateKbps: this.bitrateKbps,
      lastError: this.lastError,
    };
  }

  private launch(): void {
    const interval = this.options.progressIntervalMs ?? 1000;
    // Before the build: a build that fails is a run that never went live (a fast, cheap retry loop otherwise).
    this.wentLive = false;
    this.runStartedAt = performance.now();
    let built;
    try {
      built = buildLiveOutput(this.options.destination, this.options.input());
    } catch (err) {
      this.onFailure(`the live output cannot be built: ${(err as Error).message}`, []);
      return;
    }
    const host = new LiveOutputHost();
    this.host = host;
    this.runFailure = undefined;
    this.runDebug = undefined;
    this.lastBytes = 0;
    this.rebaseline = false;
    this.bitrateKbps = undefined;
    this.lastProgressAt = this.runStartedAt;
    this.setState('connecting', `connecting to ${this.url}`);
    host.on('event', (event) => this.onHostEvent(event, interval));
    host.once('exit', (exit) => {
      if (this.host === host) this.host = undefined;
      if (this.stopping) return;
      this.onFailure(this.runFailure ?? `live output host exited unexpectedly (code ${exit.code}, signal ${exit.signal})`, host.stderrTail());
    });
    this.options.log.debug({ launch: built.launch }, 'starting live output');
    host.start({ type: 'start', launch: built.launch, properties: built.properties, sink: built.sink, input: built.input, inputTimeoutMs: INPUT_TIMEOUT_MS, progressIntervalMs: interval });
  }

  private onHostEvent(event: LiveHostEvent, interval: number): void {
    const now = performance.now();
    switch (event.type) {
      case 'progress': {
        if (this.rebaseline) {
          // srtsink adds the last bytes of the lost connection to its total after the loss (measured: the
          // counter moved once ~0.6 s after a cut, then stood still): that is no reconnection.
          this.rebaseline = false;
          this.lastBytes = event.bytesSent;
          return;
        }
        const delta = event.bytesSent - this.lastBytes;
        if (delta > 0) {
          this.bitrateKbps = Math.round((delta * 8) / Math.max(1, now - this.lastProgressAt));
          this.lastBytes = event.bytesSent;
          this.lastProgressAt = now;
          this.wentLive = true;
          this.setConnected(true);
          this.setState('live', undefined);
          return;
        }
        this.bitrateKbps = 0;
        if (event.inputIdle) {
          // Not the destination's fault: nothing to send. The stall clock waits for the tap to resume.
          this.lastProgressAt = now;
          this.setState('idle', 'no stream from the recording (the camera is lost or its pipeline restarts)');
          return;
        }
        const silentMs = now - this.lastProgressAt;
        if (silentMs >= (this.options.stallMs ?? 10_000)) {
          const reason = this.wentLive ? `no data reached the destination for ${Math.round(silentMs / 1000)} s` : `no connection to the destination after ${Math.round(silentMs / 1000)} s`;
          this.runFailure ??= reason;
          this.host?.kill();
        } else if (this.state === 'live' || this.state === 'idle') {
          if (silentMs >= 3 * interval) {
            this.setConnected(false, 'the destination accepts no data');
            this.setState('retrying', 'the destination accepts no data');
          }
        }
        return;
      }
      case 'warning': {
        if (event.element === LIVE_SINK && this.connected) {
          // srtsink lost its peer and reconnects by itself (a warning every ~3 s while it tries): a disconnect,
          // not (yet) a failure. Its warnings carry no text through the binding, only a source location.
          const reason = redact(event.message ?? `the ${this.options.destination.kind.toUpperCase()} connection was lost; reconnecting`);
          this.rebaseline = true;
          this.setConnected(false, reason);
          this.setState('retrying', reason);
        }
        const level = event.element === undefined ? 'warn' : 'debug';
        this.options.log[level]({ element: event.element, debug: event.debug }, `live output warning: ${redact(event.message ?? 'no text')}`);
        return;
      }
      case 'error':
        // The message is what health shows; GStreamer's debug string (a source location, sometimes a detail
        // line) goes to the log with the failure.
        if (this.runFailure === undefined) {
          this.runFailure = redact(event.message);
          this.runDebug = event.debug ? redact(event.debug) : undefined;
        }
        return;
      case 'eos':
        if (!event.requested) this.runFailure ??= 'the live output ended (EOS) without a stop request';
        return;
      case 'started':
        return;
    }
  }

  private onFailure(reason: string, stderrTail: string[]): void {
    const { log } = this.options;
    this.lastError = reason;
    this.setConnected(false, reason);
    const ranForMs = this.runStartedAt ? performance.now() - this.runStartedAt : 0;
    const decision = this.policy.onFailure(performance.now(), ranForMs, this.wentLive);
    // The budget is infinite for live outputs; a finite one (tests) still only delays the next try.
    const delayMs = decision.action === 'restart' ? decision.delayMs : decision.retryInMs;
    this.restarts += 1;
    this.setState('retrying', reason);
    // A dead destination fails the same way every few seconds for hours: say it once, then quietly count.
    const fields = { reason, debug: this.runDebug, retryInMs: delayMs, restarts: this.restarts, stderr: stderrTail.length > 0 ? stderrTail : undefined };
    if (reason !== this.lastLoggedFailure) log.warn(fields, 'live output failed; retrying');
    else log.debug(fields, 'live output failed again; retrying');
    this.lastLoggedFailure = reason;
    this.restartTimer = setTimeout(() => this.launch(), delayMs);
  }

  private setConnected(connected: boolean, reason?: string): void {
    if (connected === this.connected) return;
    this.connected = connected;
    const { cameraId, output, destination, log } = this.options;
    if (connected) {
      this.connects += 1;
      this.lastLoggedFailure = undefined;
      log.info({ url: this.url, connects: this.connects }, 'live output connected');
    } else {
      log[reason === 'stopped' ? 'info' : 'warn']({ url: this.url, reason }, 'live output disconnected');
    }
    this.emit('event', { type: connected ? 'connected' : 'disconnected', cameraId, output, kind: destination.kind, url: this.url, reason, at: new Date().toISOString() });
  }

  private setState(state: LiveOutputState, reason: string | undefined): void {
    if (state === this.state && reason === this.reason) return;
    if (state !== this.state) this.since = new Date().toISOString();
    this.state = state;
    this.reason = reason;
    this.emit('state', this.health());
  }
}
