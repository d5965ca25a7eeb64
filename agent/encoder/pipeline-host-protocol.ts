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
  /** How often GStreamer's drop counters are read into the stats (default DROP_COUNTERS_INTERVAL_MS). */
  dropsIntervalMs?: number | undefined;
}

/**
 * Default period of reading the drop counters. Slow on purpose: each read of rtpjitterbuffer's `stats`
 * through gstreamer-superficial leaks ~0.8 KB (measured 830 B/read: the binding never unsets the GValue of
 * a boxed GstStructure nor its string form), so a camera with audio costs ~2.4 MB a day at this period, and
 * would cost ~70 MB a day if read at every 2 s stats tick.
 */
export const DROP_COUNTERS_INTERVAL_MS = 60_000;

/** Name of the transcode source's videorate, whose `drop`/`duplicate` counters the host reads. */
export const VIDEORATE_ELEMENT = 'rate';

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
  | { type: 'segment-closed'; path: string; startTime: string; durationMs: number; bytes: number; /** Of the closed file, hashed by the host that wrote it. */ sha256?: string }
  | { type: 'warning'; message: string; debug?: string | undefined; element?: string | undefined }
  | { type: 'error'; message: string; debug?: string | undefined; element?: string | undefined }
  | { type: 'eos'; requested: boolean }
  | { type: 'properties-set'; requestId: number; error?: string | undefined }
  /** Transcode mode: the camera was lost (the slate is on air) / is back (the slate is off). */
  | { type: 'source-lost'; reason: string; at: string }
  | { type: 'source-restored'; lostMs: number; at: string }
  | ({ type: 'stats' } & StreamStats);
