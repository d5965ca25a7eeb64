/**
 * The cameras subsystem's face: which streams the box records. A config entry either names its RTSP URL
 * (a camera without ONVIF) or `match`es a discovered ONVIF camera by URN or MAC, whose stream URI comes
 * from the registry — so a camera that moves to another IP address is still recorded. Credentials: the
 * camera's own, else the venue default of `discovery`.
 */
import type { Config } from '../config/index.ts';
import type { RecordedCamera } from '../encoder/index.ts';
import type { CameraRegistry } from './registry.ts';
import { describeStream } from './rtsp-describe.ts';

export interface CameraResolution {
  cameras: RecordedCamera[];
  /** Configured cameras that cannot be recorded yet, and why (not discovered, no RTSP profile…). */
  waiting: Array<{ id: string; reason: string }>;
}

export function recordedCameras(config: Pick<Config, 'cameras' | 'discovery'>, registry?: CameraRegistry): CameraResolution {
  const result: CameraResolution = { cameras: [], waiting: [] };
  for (const camera of config.cameras) {
    const username = camera.username ?? config.discovery.username;
    const password = camera.username !== undefined || camera.password !== undefined ? camera.password : config.discovery.password;
    let uri = camera.rtsp;
    if (uri === undefined && camera.match) {
      const found = registry?.find(camera.match);
      if (!found) {
        result.waiting.push({ id: camera.id, reason: `no camera with ${camera.match.urn ?? camera.match.mac} has been discovered yet` });
        continue;
      }
      const profile = camera.match.profile ? found.profiles.find((p) => p.token === camera.match?.profile) : found.profiles.find((p) => p.streamUri);
      if (!profile?.streamUri) {
        const which = camera.match.profile ? `profile ${camera.match.profile}` : 'any profile';
        result.waiting.push({ id: camera.id, reason: `camera ${found.cameraId} at ${found.address} has no RTSP stream URI for ${which}` });
        continue;
      }
      uri = profile.streamUri;
    }
    if (uri === undefined) continue; // the schema requires rtsp or match
    const t = camera.transcode;
    result.cameras.push({
      id: camera.id,
      source: { uri, transport: camera.transport, latencyMs: camera.latencyMs, username, password },
      transcode: t
        ? {
            sourceCodec: 'h264',
            video: { codec: t.codec, width: t.width, height: t.height, fps: t.fps, bitrateKbps: t.bitrateKbps, rateControl: 'cbr', latency: 'low' },
            overlays: t.overlays,
            audio: 'silent',
            slateText: t.slateText,
          }
        : undefined,
    });
  }
  return result;
}

/**
 * Learns a camera's audio track from its SDP (RTSP DESCRIBE) before its pipeline is built: the passthrough
 * recording carries AAC as is and must not wait for a track that does not exist. A camera that cannot be
 * asked now is recorded without audio (its pipeline is retried by the supervisor anyway).
 */
export async function withAudioTrack(camera: RecordedCamera, log?: { info(o: object, m: string): void }): Promise<RecordedCamera> {
  if (camera.transcode || camera.source.audio !== undefined) return camera;
  const described = await describeStream(camera.source.uri, { username: camera.source.username, password: camera.source.password }, 3000);
  const audio = described.audio.includes('MPEG4-GENERIC') ? 'aac' : 'none';
  if (described.audio.length > 0 && audio === 'none') log?.info({ camera: camera.id, audio: described.audio }, 'camera audio is not AAC: recorded without audio');
  return { ...camera, source: { ...camera.source, audio } };
}
