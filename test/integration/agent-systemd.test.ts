// The agent under a notify socket, as systemd runs it: READY=1 once it records, WATCHDOG=1 while healthy,
// STOPPING=1 on SIGTERM. A unix datagram listener in a temp folder plays /run/systemd/notify.
import test from 'ava';
import { createRequire } from 'node:module';
import path from 'node:path';
import { makeTempDir, startMosquitto, startVirtualCamera } from '../helpers/index.ts';
import { startAgent } from '../helpers/agent.ts';

interface UnixDgramSocket {
  bind(path: string): void;
  on(event: 'message', listener: (buf: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  close(): void;
}
const unixDgram = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram'): UnixDgramSocket };

test('the agent notifies systemd: READY after start, WATCHDOG while running, STOPPING on SIGTERM', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const camera = await startVirtualCamera();
  t.teardown(() => camera.stop());
  const dir = await makeTempDir('notify');
  t.teardown(() => dir.remove());
  const socketPath = path.join(dir.path, 'notify.sock');
  const socket = unixDgram.createSocket('unix_dgram');
  t.teardown(() => socket.close());
  const datagrams: string[] = [];
  const waiters: Array<() => void> = [];
  socket.on('message', (buf) => {
    datagrams.push(buf.toString('utf8'));
    for (const wake of waiters.splice(0)) wake();
  });
  socket.on('error', (err) => t.log(`notify socket: ${err.message}`));
  socket.bind(socketPath);
  const waitFor = async (prefix: string, timeoutMs: number): Promise<number> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = datagrams.findIndex((d) => d.split('\n').some((line) => line.startsWith(prefix)));
      if (index >= 0) return index;
      if (Date.now() > deadline) throw new Error(`no ${prefix} within ${timeoutMs} ms; got ${JSON.stringify(datagrams)}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, Math.max(0, deadline - Date.now())).unref();
      });
    }
  };

  const agent = await startAgent({
    config: { boxId: 'box-notify', mqtt: { url: broker.url }, cameras: [{ id: 'cam1', rtsp: camera.url }] },
    env: { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '400000' },
  });
  t.teardown(() => agent.cleanup());
  const ready = await waitFor('READY=1', 30_000);
  // READY is sent at the end of the start sequence, right before this line is logged.
  await agent.waitForLog((l) => l.msg === 'venuebox agent running', 5_000, 'the running line');
  await waitFor('WATCHDOG=1', 5_000);
  t.false(datagrams.slice(0, ready).some((d) => d.includes('STOPPING=1')));
  const exit = await agent.stop();
  t.is(exit.code, 143);
  const stopping = await waitFor('STOPPING=1', 1_000);
  t.true(stopping > ready, 'STOPPING after READY');
});
