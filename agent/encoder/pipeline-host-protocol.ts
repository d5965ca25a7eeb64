/** Messages between the agent and a pipeline host child process (Node IPC channel, JSON). */
import type { VideoCodec } from './pipeline-builder.ts';
import type { StreamStats } from './stream-meter.ts';

export interface SourceRequest {
  launch: string;
  properties: Record<string, Record<string, string | number | boolean>>;
  /** The output's overlay shown while the source is lost (its `silent` property is toggled). */
  slateElement: string;
  /** Backoff between source restarts. */
  retry: { initialMs: number; maxMs: number };
}

export interface MeterRequest {
  /** The appsink to read access units from. */
  element: string;
  codec: VideoCodec;
  intervalMs: number;
}

export type HostCommand =
  | {
      type: 'start';
      launch: string;
      properties: Record<string, Record<string, string | number | boolean>>;
      meter?: MeterRequest | undefined;
      /** Transcode mode: a restartable camera pipeline feeding `launch` (the output) through an inter channel. */
      source?: SourceRequest | undefined;
    }
  /** Send EOS so the last segment is closed cleanly, then exit. */
  | { type: 'stop'; timeoutMs: number }
  /** Set properties on named elements of the running pipeline (run-time bitrate, overlay text, slate). */
  | { type: 'set-properties'; properties: Record<string, Record<string, string | number | boolean>>; requestId: number };

export type HostEvent =
  | { type: 'started' }
  | { type: 'segment-closed'; path: string; startTime: string; durationMs: number; bytes: number }
  | { type: 'warning'; message: string; debug?: string | undefined; element?: string | undefined }
  | { type: 'error'; message: string; debug?: string | undefined; element?: string | undefined }
  | { type: 'eos'; requested: boolean }
  | { type: 'properties-set'; requestId: number; error?: string | undefined }
  /** Transcode mode: the camera was lost (the slate is on air) / is back (the slate is off). */
  | { type: 'source-lost'; reason: string; at: string }
  | { type: 'source-restored'; lostMs: number; at: string }
  | ({ type: 'stats' } & StreamStats);
