// ffprobe summaries of recorded media: what a user checks to know a segment is playable.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface MediaSummary {
  codec: string;
  width: number;
  height: number;
  /** Container duration in seconds. */
  durationSeconds: number;
  /** Frames counted by decoding the stream (proves the segment decodes, not just that it has headers). */
  frames: number;
}

/** Probes a file (or URL) with ffprobe, decoding every frame; throws with ffprobe's stderr when it is not playable. */
export async function probeMedia(target: string, extraArgs: string[] = []): Promise<MediaSummary> {
  // A live stream never ends: count the frames of its first 2 seconds only.
  const live = /^rtsps?:\/\//.test(target) ? ['-read_intervals', '%+2'] : [];
  const { stdout } = await run(
    'ffprobe',
    ['-v', 'error', ...extraArgs, ...live, '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,nb_read_frames:format=duration', '-of', 'json', target],
    { timeout: 30_000 },
  );
  const parsed = JSON.parse(stdout) as { streams?: Array<Record<string, unknown>>; format?: { duration?: string } };
  const stream = parsed.streams?.[0];
  if (!stream) throw new Error(`ffprobe found no video stream in ${target}`);
  return {
    codec: String(stream['codec_name']),
    width: Number(stream['width']),
    height: Number(stream['height']),
    durationSeconds: Number(parsed.format?.duration ?? NaN),
    frames: Number(stream['nb_read_frames'] ?? NaN),
  };
}
