// A TCP forwarder between the box and a service, standing in for the uplink where network namespaces are not
// used (no root, or a test that only needs a cut): `cut()` resets every connection and refuses new ones
// (like a router that went away), `restore()` accepts again on the same port. The system tests cut a real
// link (ip link down) in namespaces; this one is for integration tests that run without root.
// `limit(bytesPerSecond)` shapes the box → service direction like a slow uplink (one bucket for all
// connections; `tc tbf` does it in the kernel in the system tests).
// `blackhole(true)` makes the link go silent without closing anything: bytes in either direction are swallowed,
// sockets stay open, new connections are accepted and never forwarded — a dead route, a NAT that lost its state,
// what a keepalive exists to detect (the system tests do it with an nft drop rule). `blackhole(false)` lets
// traffic through again (connections that lost bytes meanwhile are broken for good, as they would be).
import net from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';

export interface TcpLink {
  port: number;
  url(scheme?: string): string;
  cut(): void;
  restore(): Promise<void>;
  /** Shape the upload direction to this rate; undefined lifts the limit. */
  limit(bytesPerSecond: number | undefined): void;
  /** Swallow everything in both directions, closing nothing (on), or forward again (off). */
  blackhole(on: boolean): void;
  /** Date.now() when bytes last went through towards the service: when the service last heard from the box. */
  readonly lastUpstreamAt: number;
  stop(): Promise<void>;
}

export async function startTcpLink(target: { host: string; port: number }): Promise<TcpLink> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  let rate: number | undefined;
  let nextFree = 0;
  let silent = false;
  let lastUpstreamAt = 0;
  /** Drops every chunk while the link is a blackhole. */
  const gate = (upstream: boolean) =>
    new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
        if (!silent && upstream) lastUpstreamAt = Date.now();
        done(null, silent ? undefined : chunk);
      },
    });
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
        if (silent) {
          // Accepted, never forwarded, never answered: the client times out on its own.
          sockets.add(inbound);
          inbound.on('error', () => sockets.delete(inbound)).on('close', () => sockets.delete(inbound));
          inbound.resume();
          return;
        }
        const outbound = net.connect(target.port, target.host);
        sockets.add(inbound);
        sockets.add(outbound);
        const close = () => {
          inbound.destroy();
          outbound.destroy();
          sockets.delete(inbound);
          sockets.delete(outbound);
        };
        // While the link is a blackhole, an end or a close on one side never reaches the other (no FIN, no RST
        // crosses a dead path): only that side goes; the other stays open until its owner gives up.
        const ended = (socket: net.Socket) => () => {
          if (!silent) return close();
          socket.destroy();
          sockets.delete(socket);
        };
        inbound.on('error', ended(inbound)).on('close', ended(inbound));
        outbound.on('error', ended(outbound)).on('close', ended(outbound));
        const up = inbound.pipe(gate(true)).pipe(shaper());
        up.pipe(outbound, { end: false });
        up.on('end', () => {
          if (!silent) outbound.end();
        });
        const down = outbound.pipe(gate(false));
        down.pipe(inbound, { end: false });
        down.on('end', () => {
          if (!silent) inbound.end();
        });
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
    get lastUpstreamAt() {
      return lastUpstreamAt;
    },
    url: (scheme = 'http') => `${scheme}://127.0.0.1:${port}`,
    cut: () => void close(),
    limit: (bytesPerSecond) => {
      rate = bytesPerSecond;
      nextFree = 0;
    },
    blackhole: (on) => {
      silent = on;
    },
    restore: listen,
    stop: close,
  };
}
