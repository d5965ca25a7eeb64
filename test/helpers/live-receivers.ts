// Live ingests as test services: an SRT listener (srt-live-transmit, from srt-tools) and an RTMP server
// (ffmpeg -listen 1), each writing what it receives into a file for ffprobe.
//
// Readiness is the port being bound (a bind of our own fails with EADDRINUSE), never a probe connection: a
// probe would be the one caller ffmpeg -listen 1 accepts, and an SRT handshake of its own.
import { createSocket } from 'node:dgram';
import { statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort } from './ports.ts';
import { startProcess, type ExitStatus, type ManagedProcess } from './processes.ts';

/** True when something on this host holds `port` (UDP or TCP) on 127.0.0.1 or on every address. */
export async function portBound(protocol: 'udp' | 'tcp', port: number): Promise<boolean> {
  const inUse = (err: NodeJS.ErrnoException): boolean => err.code === 'EADDRINUSE';
  if (protocol === 'udp') {
    const socket = createSocket('udp4');
    return await new Promise<boolean>((resolve) => {
      socket.once('error', (err) => {
        socket.close();
        resolve(inUse(err));
      });
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(false)));
    });
  }
  const server = net.createServer();
  return await new Promise<boolean>((resolve) => {
    server.once('error', (err) => resolve(inUse(err)));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(false)));
  });
}

/** A free UDP port on 127.0.0.1 (bound and released: the caller's service takes it moments later). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

export interface SrtReceiver {
  port: number;
  /** srt://127.0.0.1:PORT, what a caller connects to. */
  url: string;
  /** The file of the current (or last) run; each start() writes a new one. */
  file: string;
  /** Every run's file, in order. */
  files: string[];
  bytes(): number;
  output(): string;
  /** Stops the listener (a cut, seen by the caller); idempotent. */
  stop(): Promise<void>;
  /** Listens again on the same port, into a new file. */
  start(): Promise<void>;
}

/** srt-live-transmit as an SRT listener on 127.0.0.1 (optionally with a passphrase), writing the stream to `dir`. */
export async function startSrtReceiver(opts: { dir: string; passphrase?: string; port?: number; label?: string }): Promise<SrtReceiver> {
  const label = opts.label ?? 'srt';
  const port = opts.port ?? (await freeUdpPort());
  const files: string[] = [];
  let proc: ManagedProcess | undefined;
  const start = async (): Promise<void> => {
    if (proc) return;
    const file = path.join(opts.dir, `${label}-${files.length}.ts`);
    files.push(file);
    // The passphrase is on this test receiver's command line only; the box side never puts it on one.
    const uri = `srt://127.0.0.1:${port}?mode=listener${opts.passphrase ? `&passphrase=${encodeURIComponent(opts.passphrase)}` : ''}`;
    // The port was free when chosen, but it is in the ephemeral range: between a stop and a start (a cut), a
    // socket of someone else — even the box's own caller, reconnecting — can hold it for a moment (seen once:
    // "srt_bind: … unable to create/configure SRT socket"). Such a bind failure is retried for a few seconds.
    for (let attempt = 1; ; attempt++) {
      try {
        proc = await startProcess('/bin/sh', ['-c', 'exec srt-live-transmit "$1" file://con > "$2"', 'sh', uri, file], {
          label: `srt-live-transmit (${label})`,
          readyCheck: () => portBound('udp', port),
          timeoutMs: 10_000,
        });
        return;
      } catch (err) {
        if (attempt >= 8 || !/srt_bind/.test(String((err as { output?: string }).output ?? ''))) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  };
  await start();
  return {
    port,
    url: `srt://127.0.0.1:${port}`,
    get file() {
      return files.at(-1)!;
    },
    files,
    bytes: () => fileSize(files.at(-1)!),
    output: () => proc?.output() ?? '',
    stop: async () => {
      const running = proc;
      proc = undefined;
      await running?.stop();
    },
    start,
  };
}

export interface RtmpReceiver {
  port: number;
  /** rtmp://127.0.0.1:PORT/live: the ingest URL without the key, as the box's config gives it. */
  url: string;
  streamKey: string;
  file: string;
  /** Resolves when ffmpeg ends (the publisher unpublished or went away): the file is complete then. */
  exited: Promise<ExitStatus>;
  bytes(): number;
  output(): string;
  stop(): Promise<void>;
}

/** ffmpeg accepting one RTMP publisher at rtmp://127.0.0.1:PORT/live/KEY, copying it into an FLV file. */
export async function startRtmpReceiver(opts: { dir: string; streamKey: string; label?: string }): Promise<RtmpReceiver> {
  const label = opts.label ?? 'rtmp';
  const port = await freePort();
  const file = path.join(opts.dir, `${label}.flv`);
  // ffmpeg warns "Unexpected stream X, expecting KEY" when a publisher's key differs: tests look for it.
  const proc = await startProcess('ffmpeg', ['-hide_banner', '-loglevel', 'warning', '-listen', '1', '-i', `rtmp://127.0.0.1:${port}/live/${opts.streamKey}`, '-c', 'copy', '-f', 'flv', '-y', file], {
    label: `ffmpeg rtmp listener (${label})`,
    readyCheck: () => portBound('tcp', port),
    timeoutMs: 10_000,
  });
  return {
    port,
    url: `rtmp://127.0.0.1:${port}/live`,
    streamKey: opts.streamKey,
    file,
    exited: proc.exited,
    bytes: () => fileSize(file),
    output: () => proc.output(),
    stop: () => proc.stop(),
  };
}
