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

export interface StreamListing {
  ok: boolean;
  streams: Array<Record<string, unknown>>;
  stderr: string;
}

/** ffprobe -show_streams of a URL or file; a failure is a result (ok: false, with ffprobe's stderr), not a throw. */
export async function probeStreams(url: string): Promise<StreamListing> {
  try {
    const args = ['-v', 'error', ...(url.startsWith('rtsp:') ? ['-rtsp_transport', 'tcp', '-timeout', '5000000'] : []), '-show_streams', '-of', 'json', url];
    const { stdout, stderr } = await run('ffprobe', args, { timeout: 20_000 });
    return { ok: true, streams: (JSON.parse(stdout) as { streams: StreamListing['streams'] }).streams, stderr };
  } catch (err) {
    return { ok: false, streams: [], stderr: String((err as { stderr?: string }).stderr ?? err) };
  }
}

/** `url` with userinfo added (for a player; never logged). */
export function withCredentials(url: string, username: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(username);
  u.password = encodeURIComponent(password);
  return u.toString();
}
