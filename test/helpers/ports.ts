// Free ports and TCP readiness for test services.
import net from 'node:net';

/**
 * Ask the kernel for a free port by binding port 0, then release it.
 * There is a window between close() and the service binding it where another test may
 * take the same port: callers retry with a new port when the service fails to bind.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('freePort: server.address() returned no port'));
        return;
      }
      const { port } = address;
      server.close(() => resolve(port));
    });
  });
}

/** One TCP connect attempt; true when the peer accepted it within timeoutMs. */
export async function tryTcp(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.removeAllListeners();
      socket.on('error', () => {}); // a late RST after destroy() must not crash the process
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Poll until a TCP connect to host:port succeeds; throws after deadlineMs. */
export async function waitForTcp(host: string, port: number, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (await tryTcp(host, port, Math.min(500, Math.max(1, deadline - Date.now())))) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`waitForTcp: ${host}:${port} did not accept a connection within ${deadlineMs} ms`);
}
