/**
 * The encoder subsystem's face: one supervised passthrough recording per camera, segments into the spool.
 * `start()` / `stop()` / `health()`; closed segments are emitted as `segment` events for the ledger.
 */
import { EventEmitter } from 'node:events';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../lib/log.ts';
import { buildRecordingPipeline, segmentSeq, type RtspSource } from './pipeline-builder.ts';
import { PipelineSupervisor, type ClosedSegment, type PipelineHealth } from './pipeline-supervisor.ts';
import type { BackoffOptions } from '../lib/backoff.ts';
import type { StreamStats } from './stream-meter.ts';
import type { HostEvent } from './pipeline-host-protocol.ts';
import type { HostPipeline } from './pipeline-host.ts';
import { buildTranscode, type TranscodeSpec } from './transcode-builder.ts';
import type { EncoderChoice } from './profile-detect.ts';

export type { ClosedSegment, PipelineHealth };
export { buildRecordingPipeline } from './pipeline-builder.ts';

export interface RecordedCamera {
  id: string;
  source: RtspSource;
  /** Decode + re-encode with a slate on camera loss; passthrough when absent. */
  transcode?: Omit<TranscodeSpec, 'streamId' | 'source' | 'segment' | 'profile' | 'encoderElement'> | undefined;
}

export interface RecorderOptions {
  cameras: RecordedCamera[];
  segmentSeconds: number;
  spoolDir: string;
  /** The highest sequence number the ledger knows for a stream (segments on disk are checked too). */
  lastLedgerSeq: (streamId: string) => number | undefined;
  backoff?: BackoffOptions;
  stopTimeoutMs?: number;
  /** The encoder proven by detection; required for transcoded cameras. */
  encoder?: EncoderChoice | undefined;
}

export interface RecorderEvents {
  segment: [ClosedSegment];
  stats: [string, StreamStats];
  source: [string, Extract<HostEvent, { type: 'source-lost' | 'source-restored' }>];
}

export class Recorder extends EventEmitter<RecorderEvents> {
  private readonly supervisors = new Map<string, PipelineSupervisor>();

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
    const { segmentSeconds, spoolDir } = this.options;
    const directory = join(spoolDir, camera.id);
    mkdirSync(directory, { recursive: true });
    const supervisor = new PipelineSupervisor({
      streamId: camera.id,
      segmentSeconds,
      log: logger('encoder').child({ stream: camera.id }),
      ...(this.options.backoff ? { backoff: this.options.backoff } : {}),
      ...(this.options.stopTimeoutMs ? { stopTimeoutMs: this.options.stopTimeoutMs } : {}),
      build: () => this.build(camera, directory),
    });
    supervisor.on('segment', (segment) => this.emit('segment', segment));
    supervisor.on('stats', (stats) => this.emit('stats', camera.id, stats));
    supervisor.on('source', (event) => this.emit('source', camera.id, event));
    this.supervisors.set(camera.id, supervisor);
    supervisor.start();
    return true;
  }

  /** Stops every pipeline in parallel (each sends EOS so its last segment closes cleanly). */
  async stop(): Promise<void> {
    await Promise.all([...this.supervisors.values()].map((s) => s.stop()));
  }

  health(): PipelineHealth[] {
    return [...this.supervisors.values()].map((s) => s.health());
  }

  supervisor(streamId: string): PipelineSupervisor | undefined {
    return this.supervisors.get(streamId);
  }

  private build(camera: RecordedCamera, directory: string): HostPipeline {
    const segment = { seconds: this.options.segmentSeconds, directory, startIndex: this.nextSeq(camera.id, directory) };
    if (!camera.transcode) return buildRecordingPipeline({ streamId: camera.id, source: camera.source, codec: 'h264', segment });
    const encoder = this.options.encoder;
    if (!encoder) throw new Error('no working encoder was detected; a transcoded camera cannot run (venuebox profiles detect says why)');
    const built = buildTranscode({ ...camera.transcode, streamId: camera.id, source: camera.source, segment, profile: encoder.profile, encoderElement: encoder.elements[camera.transcode.video.codec] });
    return {
      launch: built.output,
      properties: {},
      codec: camera.transcode.video.codec,
      source: { launch: built.source, properties: built.sourceProperties, slateElement: built.slateElement, retry: { initialMs: 1000, maxMs: 10_000 } },
      bitrate: built.bitrate,
    };
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
