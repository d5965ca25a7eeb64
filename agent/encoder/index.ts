/**
 * The encoder subsystem's face: one supervised passthrough recording per camera, segments into the spool.
 * `start()` / `stop()` / `health()`; closed segments are emitted as `segment` events for the ledger.
 * A camera's live outputs (SRT, RTMP) run beside its recording, fed by its live tap, and can never stop it
 * (live-output-tap.ts); their connects and disconnects are `live` events.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../lib/log.ts';
import { buildRecordingPipeline, segmentSeq, type CameraAudio, type RtspSource } from './pipeline-builder.ts';
import { PipelineSupervisor, type ClosedSegment, type PipelineHealth, type PipelineState, type SupervisorEvents } from './pipeline-supervisor.ts';
import type { BackoffOptions } from '../lib/backoff.ts';
import type { StreamStats } from './stream-meter.ts';
import type { HostEvent } from './pipeline-host-protocol.ts';
import type { HostPipeline } from './pipeline-host.ts';
import { buildTranscode, type TranscodeSpec } from './transcode-builder.ts';
import type { EncoderChoice } from './profile-detect.ts';
import type { LiveDestination, LiveInput } from './live-output-builder.ts';
import { CameraLiveOutputs } from './live-outputs.ts';
import type { LiveOutputEvent, LiveOutputHealth } from './live-output-supervisor.ts';

export type { ClosedSegment, PipelineHealth, LiveDestination, LiveOutputEvent, LiveOutputHealth };
export { buildRecordingPipeline } from './pipeline-builder.ts';

export interface RecordedCamera {
  id: string;
  source: RtspSource;
  /** Decode + re-encode with a slate on camera loss; passthrough when absent. */
  transcode?: Omit<TranscodeSpec, 'streamId' | 'source' | 'segment' | 'profile' | 'encoderElement' | 'liveTapPorts'> | undefined;
  /** Live destinations (SRT, RTMP), secrets resolved. */
  live?: readonly LiveDestination[] | undefined;
}

export interface RecorderOptions {
  cameras: RecordedCamera[];
  segmentSeconds: number;
  spoolDir: string;
  /** The highest sequence number the ledger knows for a stream (segments on disk are checked too). */
  lastLedgerSeq: (streamId: string) => number | undefined;
  backoff?: BackoffOptions;
  stopTimeoutMs?: number;
  /** Every encoder that passed detection, in ladder order: the first is used, the rest are the fall-back path
   * when one fails at run time. Required for transcoded cameras. */
  encoders?: EncoderChoice[] | undefined;
  /** Live outputs' restart policy and stall limit (defaults: live-output-supervisor.ts); tests shorten them. */
  liveOutputs?: { backoff?: BackoffOptions | undefined; stallMs?: number | undefined } | undefined;
}

/** Failed starts of a transcode output in a row before its encoder is given up for the next on the ladder. */
export const ENCODER_FAILURES_BEFORE_FALLBACK = 2;

export interface RecorderEvents {
  segment: [ClosedSegment];
  stats: [string, StreamStats];
  /** A camera's pipeline changed state (running, backoff after its stream ended, …). */
  'pipeline-state': [string, PipelineState];
  /** A camera's recording run ended and restarts (or restarts are paused): see the supervisor's `restart`. */
  'pipeline-restart': [string, SupervisorEvents['restart'][0]];
  source: [string, Extract<HostEvent, { type: 'source-lost' | 'source-restored' }>];
  'encoder-fallback': [{ cameraId: string; from: string; to: string | undefined; reason: string }];
  live: [LiveOutputEvent];
  /** A live output changed state (connecting, live, idle, retrying with its reason, stopped). */
  'live-state': [LiveOutputHealth];
}

export class Recorder extends EventEmitter<RecorderEvents> {
  private readonly supervisors = new Map<string, PipelineSupervisor>();
  /** Each recorded camera as its next run is built (its audio may be learned after the start). */
  private readonly current = new Map<string, RecordedCamera>();
  /** Per transcoded camera: its place on the ladder of working encoders, and failed starts in a row. */
  private readonly encoderState = new Map<string, { index: number; failedStarts: number }>();
  private readonly liveOutputs = new Map<string, CameraLiveOutputs>();
  private stopped = false;

  constructor(private readonly options: RecorderOptions) {
    super();
  }

  private started = false;

  start(): void {
    this.started = true;
    for (const camera of this.options.cameras) this.add(camera);
  }

  /** Starts recording a camera (one that was discovered after start); a camera already recorded is kept. */
  add(camera: RecordedCamera): boolean {
    if (!this.started || this.supervisors.has(camera.id)) return false;
    this.current.set(camera.id, camera);
    const { segmentSeconds, spoolDir } = this.options;
    const directory = join(spoolDir, camera.id);
    mkdirSync(directory, { recursive: true });
    const supervisor = new PipelineSupervisor({
      streamId: camera.id,
      segmentSeconds,
      log: logger('encoder').child({ stream: camera.id }),
      ...(this.options.backoff ? { backoff: this.options.backoff } : {}),
      ...(this.options.stopTimeoutMs ? { stopTimeoutMs: this.options.stopTimeoutMs } : {}),
      build: () => this.build(this.current.get(camera.id) ?? camera, directory),
    });
    supervisor.on('segment', (segment) => this.emit('segment', segment));
    supervisor.on('stats', (stats) => this.emit('stats', camera.id, stats));
    supervisor.on('state', (state) => this.emit('pipeline-state', camera.id, state));
    supervisor.on('restart', (restart) => this.emit('pipeline-restart', camera.id, restart));
    supervisor.on('source', (event) => this.emit('source', camera.id, event));
    if (camera.transcode) supervisor.on('failed', (failure) => this.onTranscodeFailure(camera.id, failure));
    this.supervisors.set(camera.id, supervisor);
    if (camera.live && camera.live.length > 0) this.startWithLiveOutputs(camera, supervisor);
    else supervisor.start();
    return true;
  }

  /**
   * The live outputs first: the recording's tap sends to their ports, so the ports must be known when its
   * pipeline is built (they stay the same across its restarts). Finding no ports costs the live outputs, never
   * the recording.
   */
  private startWithLiveOutputs(camera: RecordedCamera, recording: PipelineSupervisor): void {
    const log = logger('live').child({ stream: camera.id });
    const live = new CameraLiveOutputs({ cameraId: camera.id, destinations: camera.live ?? [], input: () => liveInputOf(camera), log, ...this.options.liveOutputs });
    this.liveOutputs.set(camera.id, live);
    live.on('event', (event) => this.emit('live', event));
    live.on('state', (health) => this.emit('live-state', health));
    live
      .start()
      .catch((err: Error) => log.error({ err: err.message }, 'live outputs cannot start; recording without them'))
      .finally(() => {
        if (!this.stopped) recording.start();
      });
  }

  /**
   * The camera's audio track became known (its first DESCRIBE answered after the start: the camera was down
   * then). The next run records it; a run already going without it is restarted once to take it — the camera has
   * only just come back, so this costs a moment of footage once rather than the match's sound.
   */
  setAudio(cameraId: string, audio: CameraAudio): boolean {
    const camera = this.current.get(cameraId);
    if (!camera || camera.source.audio !== undefined) return false;
    this.current.set(cameraId, { ...camera, source: { ...camera.source, audio } });
    if (audio !== 'none') this.supervisors.get(cameraId)?.restart(`the camera's audio (${audio}) is known now`);
    return true;
  }

  /** Stops recording a camera (its event is over, in event-driven recording); its last segment is closed. */
  async remove(cameraId: string): Promise<boolean> {
    const supervisor = this.supervisors.get(cameraId);
    if (!supervisor) return false;
    this.supervisors.delete(cameraId);
    this.current.delete(cameraId);
    const live = this.liveOutputs.get(cameraId);
    this.liveOutputs.delete(cameraId);
    await Promise.all([supervisor.stop(), live?.stop()]);
    return true;
  }

  /** Stops every pipeline in parallel (each sends EOS so its last segment closes cleanly) and every live output. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...[...this.supervisors.values()].map((s) => s.stop()), ...[...this.liveOutputs.values()].map((l) => l.stop())]);
  }

  /** Each camera's pipeline, with its live outputs' state when it has some. */
  health(): Array<PipelineHealth & { live?: LiveOutputHealth[] }> {
    return [...this.supervisors.entries()].map(([id, supervisor]) => {
      const live = this.liveOutputs.get(id);
      return live ? { ...supervisor.health(), live: live.health() } : supervisor.health();
    });
  }

  supervisor(streamId: string): PipelineSupervisor | undefined {
    return this.supervisors.get(streamId);
  }

  private build(camera: RecordedCamera, directory: string): HostPipeline {
    const segment = { seconds: this.options.segmentSeconds, directory, startIndex: this.nextSeq(camera.id, directory) };
    const liveTapPorts = this.liveOutputs.get(camera.id)?.ports;
    if (!camera.transcode) return buildRecordingPipeline({ streamId: camera.id, source: camera.source, codec: 'h264', segment, liveTapPorts });
    const encoder = this.encoderFor(camera.id);
    if (!encoder) throw new Error('no working encoder is left; a transcoded camera cannot run (venuebox profiles detect says why)');
    const built = buildTranscode({ ...camera.transcode, streamId: camera.id, source: camera.source, segment, profile: encoder.profile, encoderElement: encoder.elements[camera.transcode.video.codec], liveTapPorts });
    return {
      launch: built.output,
      properties: {},
      codec: camera.transcode.video.codec,
      source: { launch: built.source, properties: built.sourceProperties, slateElement: built.slateElement, retry: { initialMs: 1000, maxMs: 10_000 } },
      bitrate: built.bitrate,
    };
  }

  private encoderFor(cameraId: string): EncoderChoice | undefined {
    const ladder = this.options.encoders ?? [];
    const state = this.encoderState.get(cameraId) ?? { index: 0, failedStarts: 0 };
    this.encoderState.set(cameraId, state);
    return ladder[state.index];
  }

  /**
   * A transcode output has no camera in it (the camera is its own pipeline): when it fails before closing a
   * single segment, again and again, the encoder is what fails — a driver that went away, a GPU hang. Drop
   * to the next encoder that passed detection and say so; the next build uses it.
   */
  private onTranscodeFailure(cameraId: string, failure: { reason: string; producedSegments: boolean }): void {
    const state = this.encoderState.get(cameraId);
    if (!state) return;
    state.failedStarts = failure.producedSegments ? 0 : state.failedStarts + 1;
    if (state.failedStarts < ENCODER_FAILURES_BEFORE_FALLBACK) return;
    const ladder = this.options.encoders ?? [];
    const from = ladder[state.index];
    if (!from) return;
    state.index += 1;
    state.failedStarts = 0;
    const to = ladder[state.index];
    logger('encoder').error({ stream: cameraId, from: from.profile.id, to: to?.profile.id, reason: failure.reason }, to ? 'encoder fails: falling to the next profile on the ladder' : 'encoder fails and no other profile works');
    this.emit('encoder-fallback', { cameraId, from: from.profile.id, to: to?.profile.id, reason: failure.reason });
  }

  /**
   * The next free sequence number: above both the ledger and any file on disk. A file without a row is a
   * segment that was being written when the agent died (kill -9): it must never be overwritten.
   */
  private nextSeq(streamId: string, directory: string): number {
    let highest = this.options.lastLedgerSeq(streamId) ?? -1;
    for (const name of readdirSync(directory)) {
      const seq = segmentSeq(name);
      if (seq !== undefined && seq > highest) highest = seq;
    }
    return highest + 1;
  }
}

/** What a camera's live tap carries: the recorded video codec, and AAC whenever the recording has audio. */
function liveInputOf(camera: RecordedCamera): Omit<LiveInput, 'port'> {
  if (camera.transcode) return { codec: camera.transcode.video.codec, audio: camera.transcode.audio !== 'none' };
  return { codec: 'h264', audio: camera.source.audio !== undefined && camera.source.audio !== 'none' };
}
