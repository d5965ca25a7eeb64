// A TCP forwarder between the box and a service, standing in for the uplink where network namespaces are not
// used (no root, or a test that only needs a cut): `cut()` resets every connection and refuses new ones
// (like a router that went away), `restore()` accepts again on the same port. The system tests cut a real
// link (ip link down) in namespaces; this one is for integration tests that run without root.
import net from 'node:net';

export interface TcpLink {
  port: number;
  url(scheme?: string): string;
  cut(): void;
  restore(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTcpLink(target: { host: string; port: number }): Promise<TcpLink> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
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
        inbound.pipe(outbound).pipe(inbound);
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
    restore: listen,
    stop: close,
  };
}
