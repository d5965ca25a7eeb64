// A TCP forwarder between the box and a service, standing in for the uplink where network namespaces are not
// used (no root, or a test that only needs a cut): `cut()` resets every connection and refuses new ones
// (like a router that went away), `restore()` accepts again on the same port. The system tests cut a real
// link (ip link down) in namespaces; this one is for integration tests that run without root.
// `limit(bytesPerSecond)` shapes the box → service direction like a slow uplink (one bucket for all
// connections; `tc tbf` does it in the kernel in the system tests).
import net from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';

export interface TcpLink {
  port: number;
  url(scheme?: string): string;
  cut(): void;
  restore(): Promise<void>;
  /** Shape the upload direction to this rate; undefined lifts the limit. */
  limit(bytesPerSecond: number | undefined): void;
  stop(): Promise<void>;
}

export async function startTcpLink(target: { host: string; port: number }): Promise<TcpLink> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  let rate: number | undefined;
  let nextFree = 0;
  const shaper = () =>
    new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
        if (rate === undefined) return done(null, chunk);
        const now = performance.now();
        const sendAt = Math.max(now, nextFree);
        nextFree = sendAt + (chunk.length / rate) * 1000;
        setTimeout(() => done(null, chunk), sendAt - now);
      },
    });
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      server = net.createServer((inbound) => {
        const outbound = net.connect(target.port, target.host);
        sockets.add(inbound);
        sockets.add(outbound);
        const close = () => {
          inbound.destroy();
          outbound.destroy();
          sockets.delete(inbound);
          sockets.delete(outbound);
        };
        inbound.on('error', close).on('close', close);
        outbound.on('error', close).on('close', close);
        inbound.pipe(shaper()).pipe(outbound).pipe(inbound);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as net.AddressInfo).port;
        resolve();
      });
    });
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.resetAndDestroy();
      sockets.clear();
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });
  await listen();
  return {
    get port() {
      return port;
    },
    url: (scheme = 'http') => `${scheme}://127.0.0.1:${port}`,
    cut: () => void close(),
    limit: (bytesPerSecond) => {
      rate = bytesPerSecond;
      nextFree = 0;
    },
    restore: listen,
    stop: close,
  };
}
