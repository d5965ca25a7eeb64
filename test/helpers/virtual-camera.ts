// The virtual camera as a test service: scripts/virtual-camera.py (gst-rtsp-server, H.264 test pattern) and,
// when asked, its ONVIF face (scripts/virtual-onvif.ts: device service and WS-Discovery responder) next to it,
// on the same address and in the same network namespace.
//
// stop() and start() take both down and up together, so a restart looks like a reboot: Bye, silence, Hello,
// same URN and MAC. start({ bind }) brings the camera back on another address (a DHCP lease that changed).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VirtualOnvifOptions as OnvifProcessOptions } from '../../scripts/virtual-onvif/config.ts';
import { PRESETS } from '../../scripts/virtual-onvif/presets.ts';
import { freePort } from './ports.ts';
import { retryOnBindFailure, startProcess, type ManagedProcess } from './processes.ts';

// Debian's python: a pyenv python3 earlier on PATH has no `gi` module.
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../scripts/virtual-camera.py', import.meta.url));
const ONVIF_SCRIPT = fileURLToPath(new URL('../../scripts/virtual-onvif.ts', import.meta.url));
const REPO = path.dirname(path.dirname(ONVIF_SCRIPT));

/**
 * The ONVIF face (see scripts/virtual-onvif/config.ts for every option). Address, RTSP URL, credentials and
 * main stream size come from the camera. In a namespace the ports are a real camera's: HTTP 80 (URLs then
 * carry no port) and WS-Discovery 3702. On the host each camera gets free ports of its own, so that a unicast
 * Probe reaches exactly this camera.
 */
export type VirtualOnvifOptions = Omit<OnvifProcessOptions, 'bind' | 'rtspUrl' | 'username' | 'width' | 'height' | 'fps' | 'bitrateKbps'>;

export interface VirtualCameraOptions {
  width?: number;
  height?: number;
  fps?: number;
  /** Frames between keyframes; default fps (1 s). */
  keyint?: number;
  bitrateKbps?: number;
  /**
   * Test pattern: `ball` (default, cheap), `smpte` (bright bars: tests tell it from a black slate), `snow`,
   * `flash` (white and black by turns, changing on every whole second, the audio a beep at the same instants:
   * an A/V sync reference).
   */
  pattern?: 'ball' | 'smpte' | 'snow' | 'flash';
  /**
   * Also serve an audio track (a 440 Hz tone), as cameras with a microphone do: `aac` (also `true`; 48 kHz
   * stereo, RFC 3640) or G.711 `pcma` / `pcmu` (8 kHz mono, static payload types 8 / 0), the most common;
   * `g726` (G726-32) is one venuebox does not record.
   */
  audio?: boolean | 'aac' | 'pcma' | 'pcmu' | 'g726';
  /** Drop this share (0–100) of the video RTP packets before sending: the client sees sequence gaps (lost packets). */
  lossPercent?: number;
  /** RTSP mount; default /stream, or the vendor's path when onvif.vendor is given. */
  path?: string;
  username?: string;
  password?: string;
  /** RTSP auth method when credentials are given; default digest, like most cameras. */
  auth?: 'digest' | 'basic';
  /** Fixed port; default a free one. */
  port?: number;
  bind?: string;
  /** Run inside this network namespace (`ip netns exec`); needs root. */
  netns?: string;
  timeoutMs?: number;
  /** Give the camera an ONVIF face; it shares the RTSP credentials, as a camera has one account. */
  onvif?: VirtualOnvifOptions;
}

export interface VirtualOnvifFace {
  /** http://ADDRESS:PORT/onvif/device_service */
  deviceServiceUrl: string;
  /** urn:uuid:…, the same across restarts and address changes. */
  urn: string;
  mac: string;
  address: string;
  httpPort: number;
  discoveryPort: number;
  profiles: Array<{ token: string; name: string; streamUri: string }>;
  /** What the ONVIF process printed (auth refusals are logged with their reason, never a password). */
  output(): string;
}

export interface VirtualCamera {
  /** rtsp://BIND:PORT/PATH, without credentials. Changes with start({ bind }). */
  url: string;
  port: number;
  /** The address both servers are bound to now. */
  bind: string;
  width: number;
  height: number;
  fps: number;
  keyint: number;
  username?: string;
  password?: string;
  /** Present when the camera was started with `onvif`. */
  onvif?: VirtualOnvifFace;
  /** Stop the camera (ONVIF face: Bye first); idempotent. */
  stop(): Promise<void>;
  /**
   * Start it again on the same ports after stop(): an outage and its return (Hello again). With `bind`, it
   * comes back on that address with the same identity. No-op while running (an error if `bind` differs).
   */
  start(opts?: { bind?: string }): Promise<void>;
}

interface OnvifReady {
  deviceServiceUrl: string;
  discoveryPort: number;
  httpPort: number;
  address: string;
  urn: string;
  mac: string;
  profiles: VirtualOnvifFace['profiles'];
}

export async function startVirtualCamera(opts: VirtualCameraOptions = {}): Promise<VirtualCamera> {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const fps = opts.fps ?? 25;
  const keyint = opts.keyint ?? fps;
  const bitrateKbps = opts.bitrateKbps ?? 800;
  const path = opts.path ?? (opts.onvif ? PRESETS[opts.onvif.vendor ?? 'generic'].rtspPath : '/stream');
  let bind = opts.bind ?? '127.0.0.1';
  if ((opts.username === undefined) !== (opts.password === undefined)) {
    throw new Error('startVirtualCamera: username and password go together');
  }
  const inNamespace = (cmd: string, args: string[]): [string, string[]] =>
    opts.netns ? ['ip', ['netns', 'exec', opts.netns, cmd, ...args]] : [cmd, args];

  let proc: ManagedProcess | undefined; // the running RTSP server, undefined while stopped
  let onvifProc: ManagedProcess | undefined; // the running ONVIF face
  const launch = async (port: number): Promise<ManagedProcess> => {
    const args = [SCRIPT, '--port', String(port), '--path', path, '--bind', bind];
    args.push('--width', String(width), '--height', String(height), '--fps', String(fps));
    args.push('--keyint', String(keyint), '--bitrate', String(bitrateKbps), '--pattern', opts.pattern ?? 'ball');
    if (opts.audio) args.push('--audio', opts.audio === true ? 'aac' : opts.audio);
    if (opts.lossPercent) args.push('--loss', String(opts.lossPercent));
    if (opts.username !== undefined && opts.password !== undefined) {
      args.push('--username', opts.username, '--auth', opts.auth ?? 'digest');
    }
    const [cmd, argv] = inNamespace(PYTHON, args);
    const started = await startProcess(cmd, argv, {
      label: `virtual camera ${bind}:${port}${path}`,
      readyLine: /^READY rtsp:\/\//,
      timeoutMs: opts.timeoutMs ?? 15_000,
      // In the environment, not argv: anyone can read a command line with `ps`.
      ...(opts.password !== undefined ? { env: { VIRTUAL_CAMERA_PASSWORD: opts.password } } : {}),
    });
    // A camera that died on its own counts as stopped, so start() brings it back.
    void started.exited.then(() => {
      if (proc === started) proc = undefined;
    });
    return started;
  };

  let port = opts.port ?? 0;
  proc = opts.port
    ? await launch(opts.port)
    : await retryOnBindFailure(
        // Inside a fresh namespace every port is free; the loopback probe only yields a number.
        () => freePort(opts.netns || bind === '0.0.0.0' ? '127.0.0.1' : bind),
        async (p) => {
          port = p;
          return await launch(p);
        },
      );

  const host = () => (bind === '0.0.0.0' ? '127.0.0.1' : bind);
  // Pinned by the first start, so that a restart is the same camera: same ports, URN and MAC.
  let pinned: Partial<OnvifProcessOptions> = {};
  let face: VirtualOnvifFace | undefined;
  const launchOnvif = async (onvif: VirtualOnvifOptions): Promise<ManagedProcess> => {
    const processOptions: OnvifProcessOptions = {
      // In a namespace the camera has the ports of a real one; on the host, free ports of its own.
      discoveryPort: opts.netns ? 3702 : 0,
      httpPort: opts.netns ? 80 : 0,
      ...onvif,
      ...pinned,
      bind,
      rtspUrl: `rtsp://${host()}:${port}${path}`,
      width,
      height,
      fps,
      bitrateKbps,
      ...(opts.username !== undefined ? { username: opts.username } : {}),
    };
    const [cmd, argv] = inNamespace(process.execPath, ['--import', 'tsx', ONVIF_SCRIPT, '--json-config', JSON.stringify(processOptions)]);
    const started = await startProcess(cmd, argv, {
      cwd: REPO, // where `--import tsx` resolves
      label: `virtual ONVIF ${bind}`,
      readyLine: /^READY (\{.*\})$/,
      // node + tsx compiling the simulator: ~1 s idle, several on a loaded 2-core machine.
      timeoutMs: opts.timeoutMs ?? 30_000,
      ...(opts.password !== undefined ? { env: { VIRTUAL_ONVIF_PASSWORD: opts.password } } : {}),
    });
    void started.exited.then(() => {
      if (onvifProc === started) onvifProc = undefined;
    });
    const ready = JSON.parse(started.readyMatch?.[1] ?? '{}') as OnvifReady;
    pinned = { uuid: ready.urn.replace(/^urn:uuid:/, ''), mac: ready.mac, httpPort: ready.httpPort, discoveryPort: ready.discoveryPort };
    const { deviceServiceUrl, urn, mac, address, httpPort, discoveryPort, profiles } = ready;
    const fresh: VirtualOnvifFace = { deviceServiceUrl, urn, mac, address, httpPort, discoveryPort, profiles, output: () => started.output() };
    if (face) Object.assign(face, fresh); // the object the caller holds follows the restarts
    else face = fresh;
    return started;
  };
  if (opts.onvif) {
    try {
      onvifProc = await launchOnvif(opts.onvif);
    } catch (err) {
      await proc.stop();
      throw err;
    }
  }

  const camera: VirtualCamera = {
    url: `rtsp://${host()}:${port}${path}`,
    port,
    bind,
    width,
    height,
    fps,
    keyint,
    stop: async () => {
      const running = [onvifProc, proc];
      proc = onvifProc = undefined;
      await Promise.all(running.map((p) => p?.stop()));
    },
    start: async (startOpts = {}) => {
      if (startOpts.bind !== undefined && startOpts.bind !== bind) {
        if (proc || onvifProc) throw new Error('VirtualCamera.start({ bind }): stop() the camera first');
        bind = startOpts.bind;
        camera.bind = bind;
        camera.url = `rtsp://${host()}:${port}${path}`;
      }
      proc ??= await launch(port);
      if (opts.onvif) onvifProc ??= await launchOnvif(opts.onvif);
    },
  };
  if (face) camera.onvif = face;
  if (opts.username !== undefined) camera.username = opts.username;
  if (opts.password !== undefined) camera.password = opts.password;
  return camera;
}
