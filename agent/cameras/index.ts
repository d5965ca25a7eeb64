/**
 * The cameras subsystem's face: which streams the box records. A config entry either names its RTSP URL
 * (a camera without ONVIF) or `match`es a discovered ONVIF camera by URN or MAC, whose stream URI comes
 * from the registry — so a camera that moves to another IP address is still recorded. Credentials: the
 * camera's own, else the venue default of `discovery`.
 */
import type { Config } from '../config/index.ts';
import type { RecordedCamera } from '../encoder/index.ts';
import type { CameraAudio } from '../encoder/pipeline-builder.ts';
import type { CameraRegistry } from './registry.ts';
import { describeStream, type DescribeResult } from './rtsp-describe.ts';

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
            // The camera's own sound when it has some (learnt by withAudioTrack), silence otherwise.
            audio: 'camera',
            slateText: t.slateText,
          }
        : undefined,
      // Live destinations as configured, secrets resolved (the config's shape is the encoder's LiveDestination).
      live: camera.live,
    });
  }
  return result;
}

/** SDP encoding names (RFC 4566 rtpmap, any case) of the audio codecs venuebox records. */
const RECORDED_AUDIO: Record<string, Exclude<CameraAudio, 'none'>> = { 'MPEG4-GENERIC': 'aac', PCMA: 'pcma', PCMU: 'pcmu' };

/**
 * Pure: the audio track to record from the audio encoding names of a camera's SDP, in SDP order: the first
 * one venuebox can record. `unsupported` names the codecs of a camera whose audio cannot be recorded at all
 * (G.726, Opus, MP4A-LATM…), for the log.
 */
export function cameraAudioFromSdp(encodings: string[]): { audio: CameraAudio; unsupported: string[] } {
  for (const encoding of encodings) {
    const audio = RECORDED_AUDIO[encoding.toUpperCase()];
    if (audio) return { audio, unsupported: [] };
  }
  return { audio: 'none', unsupported: encodings.map((e) => e.toUpperCase()) };
}

/** Cameras whose unrecordable audio was already logged, with the codecs: said once per camera and codec set. */
const reportedUnsupported = new Set<string>();

/** Whether a camera's recording takes the camera's sound (passthrough always; a transcode when `audio: camera`). */
export function wantsCameraAudio(camera: RecordedCamera): boolean {
  return camera.transcode ? camera.transcode.audio === 'camera' : true;
}

/**
 * The camera with its audio track as an answered DESCRIBE names it (AAC, G.711, or 'none' — an unrecordable codec
 * is said once). Unchanged when the DESCRIBE did not answer: its audio stays unknown (recorded without audio
 * until a DESCRIBE answers — the camera monitor's, which then updates the recorder).
 */
export function withAudioFrom(camera: RecordedCamera, described: DescribeResult, log?: { warn(o: object, m: string): void }): RecordedCamera {
  if (!wantsCameraAudio(camera) || camera.source.audio !== undefined || !described.ok) return camera;
  const { audio, unsupported } = cameraAudioFromSdp(described.audio);
  const key = `${camera.id}:${unsupported.join(',')}`;
  if (unsupported.length > 0 && !reportedUnsupported.has(key)) {
    reportedUnsupported.add(key);
    log?.warn({ camera: camera.id, audio: unsupported }, `camera audio ${unsupported.join(', ')} cannot be recorded (only AAC and G.711 can): recorded without audio`);
  }
  return { ...camera, source: { ...camera.source, audio } };
}

/**
 * Learns a camera's audio track from its SDP (RTSP DESCRIBE) before its pipeline is built: the passthrough
 * recording carries it (AAC as is, G.711 as AAC) and must not wait for a track that does not exist; a
 * transcode with `audio: 'camera'` decodes it into its output. A camera that cannot be asked now keeps its audio
 * unknown (see withAudioFrom).
 */
export async function withAudioTrack(camera: RecordedCamera, log?: { warn(o: object, m: string): void }): Promise<RecordedCamera> {
  if (!wantsCameraAudio(camera) || camera.source.audio !== undefined) return camera;
  const described = await describeStream(camera.source.uri, { username: camera.source.username, password: camera.source.password }, 3000);
  return withAudioFrom(camera, described, log);
}
