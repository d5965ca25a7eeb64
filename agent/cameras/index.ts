/**
 * The cameras subsystem's face. For now the cameras are the static list of the config; discovery
 * (WS-Discovery, unicast sweep), the ONVIF client and the registry keyed by endpoint URN arrive with issue 3.
 */
import type { CameraConfig } from '../config/index.ts';
import type { RecordedCamera } from '../encoder/index.ts';

/** The recording sources of the configured cameras (credentials resolved from file or env by the config loader). */
export function recordedCameras(cameras: readonly CameraConfig[]): RecordedCamera[] {
  return cameras.map((camera) => ({
    id: camera.id,
    source: { uri: camera.rtsp, transport: camera.transport, latencyMs: camera.latencyMs, username: camera.username, password: camera.password },
  }));
}
