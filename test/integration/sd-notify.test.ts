// sd_notify against real unix datagram sockets: a listener bound in a temp folder plays systemd's notify socket,
// and a child process (test/helpers/sd-notify-fixture.ts) plays the agent with NOTIFY_SOCKET in its environment.
// Synchronisation is by events (datagrams, the child's stdout lines), each wait bounded by a deadline.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  createSdNotify,
  NOTIFY_DATAGRAM_MAX_BYTES,
  watchdogIntervalFromEnv,
  type SdNotifyError,
} from '../../agent/lib/sd-notify.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = path.join(REPO, 'test/helpers/sd-notify-fixture.ts');
const DEADLINE_MS = 10_000;
// Debian's python3 (STACK-NOTES: one earlier on PATH may be another build); used only as an exact-length
// abstract socket listener, which unix-dgram cannot bind.
const PYTHON = '/usr/bin/python3';

interface UnixDgramServer {
  bind(path: string): void;
  on(event: 'message', listener: (buf: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  send(buf: Buffer, offset: number, length: number, path: string, callback: (err?: Error & { code?: unknown }) => void): void;
  close(): void;
}
const unixDgram = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram'): UnixDgramServer };

function withDeadline<T>(promise: Promise<T>, what: () => string, ms = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what()}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** An append-only log of items with "wait for the first item from index i that matches". */
class EventLog<T> {
  readonly items: T[] = [];
  private readonly emitter = new EventEmitter();

  push(item: T): void {
    this.items.push(item);
    this.emitter.emit('item');
  }

  /** Resolves with the index of the first item at or after `from` that matches. */
  waitFor(match: (item: T) => boolean, label: string, from = 0): Promise<number> {
    const found = (): number => this.items.findIndex((item, i) => i >= from && match(item));
    const promise = new Promise<number>((resolve) => {
      const check = (): void => {
        const index = found();
        if (index >= 0) {
          this.emitter.off('item', check);
          resolve(index);
        }
      };
      this.emitter.on('item', check);
      check();
    });
    return withDeadline(promise, () => `${label}; so far: ${JSON.stringify(this.items.slice(from))}`);
  }
}

/** A unix datagram listener at a filesystem path: what systemd's /run/systemd/notify is. */
function listenNotify(socketPath: string): { messages: EventLog<string>; close(): void } {
  const messages = new EventLog<string>();
  const server = unixDgram.createSocket('unix_dgram');
  server.on('message', (buf) => messages.push(buf.toString('utf8')));
  let bindError: Error | undefined;
  server.on('error', (err) => {
    bindError = err;
  });
  server.bind(socketPath); // synchronous: 'error' has fired by now if it failed
  if (bindError) throw bindError;
  return {
    messages,
    close: () => server.close(),
  };
}

type FixtureEvent = { event: string } & Record<string, unknown>;

/** The fixture's `started` event (an onError report from createSdNotify itself comes before it). */
function startedEvent(fixture: Fixture): FixtureEvent {
  const started = fixture.events.items.find((e) => e.event === 'started');
  if (!started) throw new Error('the fixture has not started');
  return started;
}

interface Fixture {
  events: EventLog<FixtureEvent>;
  child: ChildProcess;
  command(line: string): Promise<number>;
  stderr(): string;
  /** Closes stdin and waits for the exit code. */
  finish(): Promise<number | null>;
}

function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  // The test runner itself may run under systemd; its notify variables must not leak into the child.
  for (const key of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[key];
  return env;
}

async function startFixture(env: NodeJS.ProcessEnv): Promise<Fixture> {
  const child = spawn(process.execPath, ['--import=tsx', FIXTURE], { cwd: REPO, env, stdio: ['pipe', 'pipe', 'pipe'] });
  const events = new EventLog<FixtureEvent>();
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as FixtureEvent);
    } catch {
      events.push({ event: 'non-json', line });
    }
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  await withDeadline(
    Promise.race([events.waitFor((e) => e.event === 'started', 'the fixture to start'), exited.then(() => -1)]),
    () => `the fixture to start; stderr: ${stderr}`,
  );
  if (child.exitCode !== null) throw new Error(`the fixture exited at start: ${stderr}`);
  return {
    events,
    child,
    stderr: () => stderr,
    command: (line) => {
      const from = events.items.length;
      const name = line.split(' ', 1)[0];
      child.stdin!.write(`${line}\n`);
      return events.waitFor((e) => (e.event === 'ack' || e.event === 'threw') && e['command'] === name, `ack of "${line}"`, from);
    },
    finish: async () => {
      child.stdin!.end();
      const [code] = await withDeadline(exited, () => `the fixture to exit; stderr: ${stderr}`);
      return code;
    },
  };
}

test('path socket: READY, STATUS, WATCHDOG only while healthy, STOPPING, from a child process', async (t) => {
  const dir = await makeTempDir('sdnotify');
  t.teardown(() => dir.remove());
  const socketPath = path.join(dir.path, 'notify');
  const notify = listenNotify(socketPath);
  t.teardown(() => notify.close());
  const { messages } = notify;

  const fixture = await startFixture({ ...baseEnv(), NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '200000' });
  t.teardown(() => fixture.child.kill('SIGKILL'));
  const started = startedEvent(fixture);
  t.true(started['enabled'], 'enabled with a path NOTIFY_SOCKET');
  t.is(started['watchdogIntervalMs'], 100, 'half of WATCHDOG_USEC=200000');

  await fixture.command('ready venuebox test');
  await messages.waitFor((m) => m === 'READY=1\nSTATUS=venuebox test', 'READY=1 with STATUS');

  await fixture.command('status recording 2 camera(s)');
  await messages.waitFor((m) => m === 'STATUS=recording 2 camera(s)', 'STATUS');

  // Healthy: WATCHDOG=1 keeps arriving (three in a row is more than one timer tick).
  let from = messages.items.length;
  await fixture.command('start-watchdog');
  for (let i = 0; i < 3; i++) {
    from = (await messages.waitFor((m) => m === 'WATCHDOG=1', `WATCHDOG=1 #${i + 1} while healthy`, from)) + 1;
  }

  // Unhealthy: the timer still ticks (the child reports each isHealthy() call) but nothing is sent.
  const ticksFrom = fixture.events.items.length;
  await fixture.command('unhealthy');
  const flip = await messages.waitFor((m) => m === 'STATUS=unhealthy', 'the STATUS=unhealthy marker');
  let tick = ticksFrom;
  for (let i = 0; i < 3; i++) {
    tick = (await fixture.events.waitFor((e) => e.event === 'tick' && e['healthy'] === false, `unhealthy tick #${i + 1}`, tick)) + 1;
  }
  // A datagram is queued at the listener when sent, so a marker sent after those ticks arrives after any
  // WATCHDOG=1 the ticks might (wrongly) have sent.
  await fixture.command('status probe after three unhealthy ticks');
  const probe = await messages.waitFor((m) => m === 'STATUS=probe after three unhealthy ticks', 'the probe marker', flip);
  t.deepEqual(
    messages.items.slice(flip + 1, probe).filter((m) => m.includes('WATCHDOG')),
    [],
    'no WATCHDOG=1 while unhealthy',
  );

  // Healthy again: the pings resume.
  await fixture.command('healthy');
  await messages.waitFor((m) => m === 'WATCHDOG=1', 'WATCHDOG=1 after recovery', probe);

  await fixture.command('stopping');
  await messages.waitFor((m) => m === 'STOPPING=1', 'STOPPING=1');
  await fixture.command('close');

  t.is(await fixture.finish(), 0, `the fixture exits cleanly; stderr: ${fixture.stderr()}`);
  t.deepEqual(fixture.events.items.filter((e) => e.event === 'error' || e.event === 'threw'), [], 'no errors reported');
  // Every datagram is one of ours, none above systemd's limit.
  for (const m of messages.items) t.true(Buffer.byteLength(m) <= NOTIFY_DATAGRAM_MAX_BYTES);
});

test('without NOTIFY_SOCKET every call is a no-op, nothing throws, nothing is reported', async (t) => {
  // WATCHDOG_USEC alone (a unit with WatchdogSec= but no socket cannot happen, but a stray variable can).
  const fixture = await startFixture({ ...baseEnv(), WATCHDOG_USEC: '200000' });
  t.teardown(() => fixture.child.kill('SIGKILL'));
  const started = startedEvent(fixture);
  t.false(started['enabled']);
  t.is(started['watchdogIntervalMs'], null);
  for (const command of ['ready x', 'status y', 'watchdog', 'start-watchdog', 'unhealthy', 'stopping', 'stop-watchdog', 'close', 'watchdog']) {
    await fixture.command(command);
  }
  t.is(await fixture.finish(), 0, fixture.stderr());
  const events = fixture.events.items.map((e) => e.event);
  t.deepEqual([...new Set(events)], ['started', 'ack'], 'only acks: no threw, no error, no tick (the watchdog never started)');
});

/**
 * A real abstract-namespace listener bound with the exact name length, as systemd and sd_notify(3) do.
 * `mark()` makes the listener send itself MARK and resolves with every datagram received before it.
 */
async function listenAbstract(name: string): Promise<{ mark(): Promise<string[]>; close(): void }> {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is needed for an exact-length abstract socket listener; install python3`);
  const script = `
import select, socket, sys
addr = b'\\0' + sys.argv[1].encode()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(addr)
print('bound', flush=True)
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [])
    if s in ready:
        print('got ' + s.recv(65536).hex(), flush=True)
    if sys.stdin in ready:
        if not sys.stdin.readline():
            break
        c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        c.sendto(b'MARK', addr)
        c.close()
`;
  const child = spawn(PYTHON, ['-c', script, name], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = new EventLog<string>();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  await lines.waitFor((l) => l === 'bound', `the abstract listener to bind (stderr: ${stderr})`);
  return {
    mark: async () => {
      const from = lines.items.length;
      child.stdin.write('mark\n');
      const markLine = `got ${Buffer.from('MARK').toString('hex')}`;
      const at = await lines.waitFor((l) => l === markLine, 'MARK at the abstract listener', from);
      return lines.items
        .slice(1, at)
        .filter((l) => l.startsWith('got '))
        .map((l) => Buffer.from(l.slice(4), 'hex').toString('utf8'));
    },
    close: () => child.kill('SIGKILL'),
  };
}

test('abstract NOTIFY_SOCKET (@name): refused and reported once, because unix-dgram cannot address it', async (t) => {
  const name = `venuebox-sdnotify-test-${process.pid}-${Date.now()}`;
  const listener = await listenAbstract(name);
  t.teardown(() => listener.close());

  const fixture = await startFixture({ ...baseEnv(), NOTIFY_SOCKET: `@${name}`, WATCHDOG_USEC: '200000' });
  t.teardown(() => fixture.child.kill('SIGKILL'));
  const started = startedEvent(fixture);
  t.false(started['enabled'], 'notification off rather than sent to the wrong address');
  t.is(started['watchdogIntervalMs'], null);
  for (const command of ['ready x', 'status y', 'watchdog', 'start-watchdog', 'stopping', 'close']) await fixture.command(command);
  t.is(await fixture.finish(), 0, fixture.stderr());

  const errors = fixture.events.items.filter((e) => e.event === 'error');
  t.is(errors.length, 1, 'reported exactly once');
  t.regex(String(errors[0]?.['message']), /abstract socket.*unix-dgram/);
  t.false(fixture.events.items.some((e) => e.event === 'threw'));
  t.deepEqual(await listener.mark(), [], 'nothing reached the abstract listener');
});

test('canary: unix-dgram 2.0.7 still cannot reach an exact-length abstract socket (else enable @names in sd-notify.ts)', async (t) => {
  const name = `venuebox-sdnotify-canary-${process.pid}-${Date.now()}`;
  const listener = await listenAbstract(name);
  t.teardown(() => listener.close());
  const client = unixDgram.createSocket('unix_dgram');
  const payload = Buffer.from('READY=1');
  let sendError: (Error & { code?: unknown }) | undefined;
  client.send(payload, 0, payload.length, `\0${name}`, (err) => (sendError = err));
  client.close();
  const received = await listener.mark();
  t.log(`unix-dgram send to @${name}: ${sendError ? `error ${String(sendError.code)}` : 'no error'}`);
  t.deepEqual(received, [], 'if READY=1 arrived, unix-dgram can address abstract sockets now: remove the refusal in sd-notify.ts');
});

test('in process: watchdog interval from WATCHDOG_USEC and WATCHDOG_PID', (t) => {
  const pid = process.pid;
  const table: Array<[NodeJS.ProcessEnv, number | undefined]> = [
    [{ WATCHDOG_USEC: '200000' }, 100],
    [{ WATCHDOG_USEC: '30000000' }, 15_000], // WatchdogSec=30 in the unit
    [{ WATCHDOG_USEC: '200000', WATCHDOG_PID: String(pid) }, 100],
    [{ WATCHDOG_USEC: '200000', WATCHDOG_PID: String(pid + 1) }, undefined], // meant for another process
    [{ WATCHDOG_USEC: '200000', WATCHDOG_PID: '' }, 100],
    [{ WATCHDOG_USEC: '0' }, undefined],
    [{ WATCHDOG_USEC: '-5' }, undefined],
    [{ WATCHDOG_USEC: '1.5' }, undefined],
    [{ WATCHDOG_USEC: 'abc' }, undefined],
    [{}, undefined],
  ];
  for (const [env, expected] of table) t.is(watchdogIntervalFromEnv(env, pid), expected, JSON.stringify(env));

  const other = createSdNotify({ NOTIFY_SOCKET: '/run/venuebox-test/none', WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' });
  t.true(other.enabled);
  t.is(other.watchdogIntervalMs, undefined);
  let calls = 0;
  other.startWatchdog(() => ++calls > 0)();
  t.is(calls, 0, 'no watchdog timer for a watchdog meant for another PID');
  other.close();
});

test('in process: a failing send never throws and is reported once per run of failures', async (t) => {
  const dir = await makeTempDir('sdnotify');
  t.teardown(() => dir.remove());
  const socketPath = path.join(dir.path, 'notify');
  const errors: SdNotifyError[] = [];
  const sd = createSdNotify({ NOTIFY_SOCKET: socketPath }, { onError: (err) => errors.push(err) });
  t.true(sd.enabled);

  // Nobody listens yet: five failures, one report.
  t.notThrows(() => {
    sd.ready('starting');
    sd.status('x');
    sd.watchdog();
    sd.watchdog();
    sd.stopping();
  });
  t.is(errors.length, 1);
  t.regex(errors[0]!.message, /READY\+STATUS to .*notify failed: (ENOENT|ECONNREFUSED)/);

  // A listener appears: the send succeeds, and the next failure is a new run, reported with the count.
  const notify = listenNotify(socketPath);
  sd.status('recovered');
  await notify.messages.waitFor((m) => m === 'STATUS=recovered', 'STATUS=recovered');
  notify.close();
  sd.watchdog();
  t.is(errors.length, 2);
  t.regex(errors[1]!.message, /WATCHDOG to .* failed: .*\(4 earlier failures not reported\)/);

  // A throwing onError does not escape either.
  const hostile = createSdNotify({ NOTIFY_SOCKET: socketPath }, { onError: () => { throw new Error('the logger broke'); } });
  t.notThrows(() => hostile.ready());
  sd.close();
  hostile.close();
});

test('in process: STATUS is one line, redacted, and cut to fit one datagram', async (t) => {
  const dir = await makeTempDir('sdnotify');
  t.teardown(() => dir.remove());
  const socketPath = path.join(dir.path, 'notify');
  const notify = listenNotify(socketPath);
  t.teardown(() => notify.close());
  const errors: SdNotifyError[] = [];
  const sd = createSdNotify({ NOTIFY_SOCKET: socketPath }, { onError: (err) => errors.push(err) });

  sd.status('camera 1 lost\nREADY=1');
  const injected = await notify.messages.waitFor((m) => m.startsWith('STATUS=camera 1'), 'the newline status');
  t.is(notify.messages.items[injected], 'STATUS=camera 1 lost READY=1', 'a newline cannot smuggle in READY=1');

  sd.status('cannot reach rtsp://admin:hunter22@10.0.0.5/stream1');
  const secret = await notify.messages.waitFor((m) => m.includes('cannot reach'), 'the URL status');
  t.false(notify.messages.items[secret]!.includes('hunter22'));

  const long = '€'.repeat(5000); // 15 000 bytes of 3-byte characters
  sd.status(long);
  sd.ready(long);
  const first = await notify.messages.waitFor((m) => m.startsWith('STATUS=€'), 'the long status');
  const second = await notify.messages.waitFor((m) => m.startsWith('READY=1\nSTATUS=€'), 'the long ready', first + 1);
  for (const index of [first, second]) {
    const text = notify.messages.items[index]!;
    t.true(Buffer.byteLength(text) <= NOTIFY_DATAGRAM_MAX_BYTES, `${Buffer.byteLength(text)} bytes`);
    t.true(Buffer.byteLength(text) > NOTIFY_DATAGRAM_MAX_BYTES - 4, 'cut close to the limit, not far below it');
    t.false(text.includes('\uFFFD'), 'no UTF-8 sequence split');
    t.true(text.endsWith('…'));
  }
  t.deepEqual(errors, []);
  sd.close();
});

test('in process: unusable NOTIFY_SOCKET values turn notification off with one report', (t) => {
  for (const value of ['relative/notify', 'vsock:2:1234', '@', `/${'x'.repeat(120)}`]) {
    const errors: SdNotifyError[] = [];
    const sd = createSdNotify({ NOTIFY_SOCKET: value, WATCHDOG_USEC: '200000' }, { onError: (err) => errors.push(err) });
    t.false(sd.enabled, value);
    t.is(sd.watchdogIntervalMs, undefined, value);
    t.notThrows(() => {
      sd.ready('x');
      sd.watchdog();
      sd.startWatchdog(() => true)();
      sd.close();
    });
    t.is(errors.length, 1, `${value}: one report`);
  }
  t.false(createSdNotify({ NOTIFY_SOCKET: '' }).enabled);
  t.false(createSdNotify({}).enabled);
});
