// The virtual camera (scripts/virtual-camera.py: gst-rtsp-server, H.264 test pattern) as a test service.
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';
import { retryOnBindFailure, startProcess, type ManagedProcess } from './processes.ts';

// Debian's python: a pyenv python3 earlier on PATH has no `gi` module.
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../scripts/virtual-camera.py', import.meta.url));

export interface VirtualCameraOptions {
  width?: number;
  height?: number;
  fps?: number;
  /** Frames between keyframes; default fps (1 s). */
  keyint?: number;
  bitrateKbps?: number;
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
}

export interface VirtualCamera {
  /** rtsp://BIND:PORT/PATH, without credentials. */
  url: string;
  port: number;
  width: number;
  height: number;
  fps: number;
  keyint: number;
  username?: string;
  password?: string;
  /** Kill the camera; idempotent. */
  stop(): Promise<void>;
  /** Start it again on the same port after stop(): a camera outage and its return. No-op while running. */
  start(): Promise<void>;
}

export async function startVirtualCamera(opts: VirtualCameraOptions = {}): Promise<VirtualCamera> {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const fps = opts.fps ?? 25;
  const keyint = opts.keyint ?? fps;
  const path = opts.path ?? '/stream';
  const bind = opts.bind ?? '127.0.0.1';
  if ((opts.username === undefined) !== (opts.password === undefined)) {
    throw new Error('startVirtualCamera: username and password go together');
  }

  let proc: ManagedProcess | undefined; // the running camera, undefined while stopped
  const launch = async (port: number): Promise<ManagedProcess> => {
    const args = [SCRIPT, '--port', String(port), '--path', path, '--bind', bind];
    args.push('--width', String(width), '--height', String(height), '--fps', String(fps));
    args.push('--keyint', String(keyint), '--bitrate', String(opts.bitrateKbps ?? 800));
    if (opts.username !== undefined && opts.password !== undefined) {
      args.push('--username', opts.username, '--auth', opts.auth ?? 'digest');
    }
    const [cmd, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, PYTHON, ...args]] : [PYTHON, args];
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

  const host = bind === '0.0.0.0' ? '127.0.0.1' : bind;
  const camera: VirtualCamera = {
    url: `rtsp://${host}:${port}${path}`,
    port,
    width,
    height,
    fps,
    keyint,
    stop: async () => {
      const running = proc;
      proc = undefined;
      await running?.stop();
    },
    start: async () => {
      proc ??= await launch(port);
    },
  };
  if (opts.username !== undefined) camera.username = opts.username;
  if (opts.password !== undefined) camera.password = opts.password;
  return camera;
}
