/**
 * A tiny sd_notify(3) client: tells systemd READY, STATUS, WATCHDOG and STOPPING through `$NOTIFY_SOCKET`.
 * The idea is Zigbee2MQTT's `lib/util/sd-notify.ts`: without `NOTIFY_SOCKET` (a terminal, a test, a container)
 * every call is a no-op, and a failed notification is never fatal — the agent records without systemd too.
 *
 * Protocol (sd_notify(3)): one datagram of `KEY=value` lines to the AF_UNIX SOCK_DGRAM socket named by
 * `$NOTIFY_SOCKET`, an absolute path or `@name` (abstract namespace, `@` → leading NUL). systemd reads at most
 * NOTIFY_BUFFER_MAX = PIPE_BUF = 4096 bytes per datagram and drops longer ones, so STATUS is cut to fit.
 *
 * Node has no unix datagram sockets (STACK-NOTES), so the native `unix-dgram` does the send. Two defects of
 * its binding (2.0.7, src/unix_dgram.cc) shape this file:
 *  - it copies the address with `strncpy` and always passes `sizeof(sockaddr_un)`: a name starting with NUL
 *    becomes 108 NUL bytes, so it can never reach a real abstract socket (systemd binds the exact length) and
 *    would instead deliver to whoever bound that all-NUL name. Abstract names are therefore parsed but refused,
 *    reported once, and notification stays off. (Measured: a send to an exact-length abstract socket gets
 *    ECONNREFUSED; two unix-dgram binds of different abstract names collide with EADDRINUSE.) systemd 252 as
 *    PID 1 gives NOTIFY_SOCKET=/run/systemd/notify (seen in systemd-nspawn), so the box is not affected.
 *  - every socket keeps a libuv poll handle active that cannot be unref'd: an open socket would keep the
 *    process alive. So each notification opens, sends and closes its own socket (a few syscalls every 15 s),
 *    and `close()` has only timers to stop.
 *
 * No MAINPID=: the agent is the main process itself (Type=notify, ExecStart execs node directly). Letting a
 * child notify — `systemd-notify` run from a child, or a pipeline host — needs NotifyAccess=all, which lets any
 * child send READY/STOPPING (STACK-NOTES); the unit has NotifyAccess=main. The socket is CLOEXEC, so GStreamer
 * children never inherit it; they may inherit the NOTIFY_SOCKET variable, and systemd ignores what they send.
 *
 * INVARIANTS
 *  - No method throws, whatever the environment, the socket or the callbacks do.
 *  - A failing send is reported once per run of failures (the first failure after a success or at start);
 *    the repeats are counted and the count is given with the next report.
 *  - WATCHDOG=1 leaves only from `watchdog()` or from a startWatchdog tick at which `isHealthy()` returned true:
 *    a stuck event loop or a failing health check stops the pings, and systemd restarts the agent.
 */

import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { redact } from './redact.ts';

/** The part of unix-dgram (CommonJS, no types) that this file uses. Callbacks run synchronously. */
interface UnixDgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, callback: (err?: Error) => void): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
  close(): void;
}
interface UnixDgramModule {
  createSocket(type: 'unix_dgram'): UnixDgramSocket;
}

/** systemd's NOTIFY_BUFFER_MAX (PIPE_BUF): longer datagrams are dropped whole. */
export const NOTIFY_DATAGRAM_MAX_BYTES = 4096;
/** sizeof(sockaddr_un.sun_path) - 1: unix-dgram silently truncates longer paths (strncpy). */
const SUN_PATH_MAX_BYTES = 107;

export class SdNotifyError extends Error {
  override name = 'SdNotifyError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface SdNotifyOptions {
  /** Called with the first failure of each run of failures, and with configuration problems found at start. */
  onError?: (error: SdNotifyError) => void;
}

export interface SdNotify {
  /** True when NOTIFY_SOCKET names a socket this client can reach; false means every call is a no-op. */
  readonly enabled: boolean;
  /** WATCHDOG_USEC / 2 in ms, when systemd watches this very process; undefined otherwise. */
  readonly watchdogIntervalMs: number | undefined;
  ready(status?: string): void;
  stopping(): void;
  status(text: string): void;
  watchdog(): void;
  /** Sends WATCHDOG=1 every watchdogIntervalMs while isHealthy() holds; returns the stop function. */
  startWatchdog(isHealthy: () => boolean): () => void;
  close(): void;
}

export type NotifyAddress = { kind: 'path'; address: string } | { kind: 'abstract'; address: string };

/** Parses $NOTIFY_SOCKET as sd_notify(3) does: an absolute path, or `@name` for the abstract namespace. */
export function parseNotifySocket(value: string | undefined): NotifyAddress | Error | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.startsWith('@') && value.length > 1) return { kind: 'abstract', address: `\0${value.slice(1)}` };
  if (value.startsWith('/')) {
    if (Buffer.byteLength(value) > SUN_PATH_MAX_BYTES) {
      return new Error(`the path is longer than ${SUN_PATH_MAX_BYTES} bytes and cannot be a unix socket address`);
    }
    return { kind: 'path', address: value };
  }
  // vsock: (systemd ≥ 253) and relative names are not for us.
  return new Error('it is neither an absolute path nor an @abstract name');
}

/** WATCHDOG_USEC / 2 in ms if the watchdog is meant for `pid` (WATCHDOG_PID unset or equal), as sd_watchdog_enabled(3). */
export function watchdogIntervalFromEnv(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usecText = env['WATCHDOG_USEC'];
  if (usecText === undefined || !/^\d+$/.test(usecText)) return undefined;
  const usec = Number(usecText);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  const pidText = env['WATCHDOG_PID'];
  if (pidText !== undefined && pidText !== '' && pidText !== String(pid)) return undefined;
  // Half the timeout, as sd_watchdog_enabled(3) recommends: one late tick must not cost a restart.
  return Math.max(1, Math.floor(usec / 2000));
}

/** The STATUS= line, at most budgetBytes long: one line (a newline would start another assignment, e.g. READY=1), no credentials, fits a datagram. */
function statusLine(text: string, budgetBytes: number): string {
  const prefix = 'STATUS=';
  const value = redact(text).replace(/[\r\n]+/g, ' ');
  const valueBudget = budgetBytes - prefix.length;
  if (Buffer.byteLength(value) <= valueBudget) return `${prefix}${value}`;
  const ellipsis = '…';
  const room = new Uint8Array(valueBudget - Buffer.byteLength(ellipsis));
  // encodeInto writes whole characters only, so the cut never splits a UTF-8 sequence.
  const { read } = new TextEncoder().encodeInto(value, room);
  return `${prefix}${value.slice(0, read)}${ellipsis}`;
}

function errnoName(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'number' && code < 0) {
    const entry = Object.entries(osConstants.errno).find(([, n]) => n === -code);
    return entry ? `${entry[0]} (${code})` : String(code);
  }
  if (code === 1) return 'EAGAIN (receive queue full)';
  return err instanceof Error ? err.message : String(err);
}

let unixDgram: UnixDgramModule | Error | undefined;
function loadUnixDgram(): UnixDgramModule | Error {
  if (unixDgram === undefined) {
    try {
      unixDgram = createRequire(import.meta.url)('unix-dgram') as UnixDgramModule;
    } catch (err) {
      unixDgram = err instanceof Error ? err : new Error(String(err));
    }
  }
  return unixDgram;
}

const disabledNotify = (): SdNotify => ({
  enabled: false,
  watchdogIntervalMs: undefined,
  ready() {},
  stopping() {},
  status() {},
  watchdog() {},
  startWatchdog: () => () => {},
  close() {},
});

export function createSdNotify(env: NodeJS.ProcessEnv = process.env, options: SdNotifyOptions = {}): SdNotify {
  const report = (error: SdNotifyError): void => {
    try {
      options.onError?.(error);
    } catch {
      // The caller's logger failed; there is nowhere left to report to, and notify must never throw.
    }
  };

  const raw = env['NOTIFY_SOCKET'];
  const parsed = parseNotifySocket(raw);
  if (parsed === undefined) return disabledNotify();
  if (parsed instanceof Error) {
    report(new SdNotifyError(`NOTIFY_SOCKET=${raw} is not usable: ${parsed.message}; systemd notification is off`));
    return disabledNotify();
  }
  if (parsed.kind === 'abstract') {
    report(
      new SdNotifyError(
        `NOTIFY_SOCKET=${raw} is an abstract socket, which unix-dgram 2.0.7 cannot address ` +
          '(it pads the name to sizeof(sockaddr_un)); systemd notification is off',
      ),
    );
    return disabledNotify();
  }
  const module = loadUnixDgram();
  if (module instanceof Error) {
    report(new SdNotifyError('unix-dgram could not be loaded; systemd notification is off', { cause: module }));
    return disabledNotify();
  }

  const address = parsed.address;
  const watchdogIntervalMs = watchdogIntervalFromEnv(env, process.pid);
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  let failing = false;
  let suppressedFailures = 0;

  const fail = (message: string, cause: unknown): void => {
    if (failing) {
      suppressedFailures += 1;
      return;
    }
    failing = true;
    const suppressed = suppressedFailures > 0 ? ` (${suppressedFailures} earlier failures not reported)` : '';
    suppressedFailures = 0;
    report(new SdNotifyError(`${message}: ${errnoName(cause)}${suppressed}; the agent carries on`, { cause }));
  };

  const send = (lines: string[]): void => {
    if (closed) return;
    const payload = Buffer.from(lines.join('\n'));
    const what = `sd_notify ${lines.map((l) => l.split('=', 1)[0]).join('+')} to ${address}`;
    let socket: UnixDgramSocket | undefined;
    try {
      socket = module.createSocket('unix_dgram');
      // unix-dgram emits 'error' instead of throwing in some paths; an unhandled 'error' would crash the agent.
      socket.on('error', (err) => fail(`${what} failed`, err));
      socket.send(payload, 0, payload.length, address, (err) => {
        if (err) fail(`${what} failed`, err);
        else failing = false;
      });
    } catch (err) {
      fail(`${what} failed`, err);
    } finally {
      try {
        socket?.close();
      } catch (err) {
        fail(`closing the socket of ${what} failed`, err);
      }
    }
  };

  return {
    enabled: true,
    watchdogIntervalMs,
    ready(status?: string) {
      const lines = ['READY=1'];
      if (status !== undefined) lines.push(statusLine(status, NOTIFY_DATAGRAM_MAX_BYTES - 'READY=1\n'.length));
      send(lines);
    },
    stopping() {
      send(['STOPPING=1']);
    },
    status(text: string) {
      send([statusLine(text, NOTIFY_DATAGRAM_MAX_BYTES)]);
    },
    watchdog() {
      send(['WATCHDOG=1']);
    },
    startWatchdog(isHealthy: () => boolean) {
      if (watchdogIntervalMs === undefined || closed) return () => {};
      const tick = (): void => {
        let healthy = false;
        try {
          healthy = isHealthy() === true;
        } catch (err) {
          // A throwing health check is an unhealthy agent: withhold the ping and let systemd decide.
          fail('the watchdog health check threw', err);
        }
        if (healthy) send(['WATCHDOG=1']);
      };
      const timer = setInterval(tick, watchdogIntervalMs);
      // The watchdog must not keep a stopping agent alive.
      timer.unref();
      timers.add(timer);
      tick();
      return () => {
        clearInterval(timer);
        timers.delete(timer);
      };
    },
    close() {
      closed = true;
      for (const timer of timers) clearInterval(timer);
      timers.clear();
    },
  };
}
