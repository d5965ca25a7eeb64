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

export type { ClosedSegment, PipelineHealth };
export { buildRecordingPipeline } from './pipeline-builder.ts';

export interface RecordedCamera {
  id: string;
  source: RtspSource;
}

export interface RecorderOptions {
  cameras: RecordedCamera[];
  segmentSeconds: number;
  spoolDir: string;
  /** The highest sequence number the ledger knows for a stream (segments on disk are checked too). */
  lastLedgerSeq: (streamId: string) => number | undefined;
  backoff?: BackoffOptions;
  stopTimeoutMs?: number;
}

export interface RecorderEvents {
  segment: [ClosedSegment];
  stats: [string, StreamStats];
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
      build: () =>
        buildRecordingPipeline({
          streamId: camera.id,
          source: camera.source,
          codec: 'h264',
          segment: { seconds: segmentSeconds, directory, startIndex: this.nextSeq(camera.id, directory) },
        }),
    });
    supervisor.on('segment', (segment) => this.emit('segment', segment));
    supervisor.on('stats', (stats) => this.emit('stats', camera.id, stats));
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
