// Child processes for test services: spawn, wait for readiness by an event, stop for sure.
//
// INVARIANTS
// - Every spawned child is in `liveChildren` from spawn until its 'exit' event; the 'exit' hook of
//   this (test worker) process SIGKILLs every group still in the set, so a crashed worker leaves
//   nothing running.
// - Each child leads its own process group (detached), so stop() also reaches its helpers
//   (nginx's worker) and a Ctrl-C on the terminal does not race our own shutdown.
// - stop() is idempotent: every call returns the same promise.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartProcessOptions {
  cwd?: string;
  /** Added to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Ready when a line of stdout or stderr matches. */
  readyLine?: RegExp;
  /** Ready when this resolves true; polled every pollMs until the deadline. */
  readyCheck?: () => Promise<boolean>;
  timeoutMs: number;
  pollMs?: number;
  /** Names the process in errors; defaults to the command's base name. */
  label?: string;
  /** Lines of output kept (ring buffer); default 200. */
  keepLines?: number;
  /** Time between SIGTERM and SIGKILL in stop(); default 3000 ms. */
  killAfterMs?: number;
}

export interface ManagedProcess {
  child: ChildProcess;
  /** The last kept lines of stdout and stderr, interleaved in arrival order. */
  output(): string;
  stop(): Promise<void>;
  exited: Promise<ExitStatus>;
  /** The match of readyLine, when one was given. */
  readyMatch?: RegExpMatchArray;
}

export class ProcessStartError extends Error {
  constructor(
    message: string,
    readonly output: string,
    readonly exit?: ExitStatus,
  ) {
    super(message);
    this.name = 'ProcessStartError';
  }
}

const liveChildren = new Set<ChildProcess>();

process.on('exit', () => {
  for (const child of liveChildren) killGroup(child, 'SIGKILL');
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is already gone. Fall back to the leader alone in case it left its group.
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

// The exit hook cannot run when the worker itself is SIGKILLed (ava timeouts, OOM): PR_SET_PDEATHSIG,
// set by util-linux setpriv before exec, makes the kernel kill the child then.
const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = existsSync(SETPRIV);

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startProcess(
  cmd: string,
  args: readonly string[],
  opts: StartProcessOptions,
): Promise<ManagedProcess> {
  const label = opts.label ?? path.basename(cmd);
  const keepLines = opts.keepLines ?? 200;
  const lines: string[] = [];
  const remember = (line: string) => {
    lines.push(line.length > 2000 ? `${line.slice(0, 2000)}…` : line);
    if (lines.length > keepLines) lines.shift();
  };
  const output = () => lines.join('\n');
  const tail = () => lines.slice(-20).join('\n');

  const [file, argv] = hasSetpriv ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', cmd, ...args]] : [cmd, [...args]];
  const child = spawn(file, argv, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  liveChildren.add(child);

  let readyMatch: RegExpMatchArray | undefined;
  let exitStatus: ExitStatus | undefined;
  // Wakes the readiness loop early on a new line or the exit, so readiness costs no poll interval.
  let wake = () => {};
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      liveChildren.delete(child);
      exitStatus = { code, signal };
      resolve(exitStatus);
      wake();
    });
    child.once('error', (err) => {
      // spawn failed (ENOENT, EACCES): there will be no 'exit' event.
      remember(`[spawn error] ${err.message}`);
      liveChildren.delete(child);
      exitStatus = { code: null, signal: null };
      resolve(exitStatus);
      wake();
    });
  });
  // 'exit' may come before the last output is read; 'close' comes after the pipes are drained.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));

  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      if (partial.length > 65536) {
        parts.push(partial); // output without newlines must not grow without bound
        partial = '';
      }
      for (const line of parts) {
        remember(line);
        if (readyMatch === undefined && opts.readyLine) readyMatch = line.match(opts.readyLine) ?? undefined;
      }
      if (opts.readyLine) wake();
    });
    stream?.on('end', () => {
      if (partial) remember(partial);
    });
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (exitStatus === undefined) {
        // SIGTERM again every 250 ms: a daemon can lose one sent just after it got ready (mosquitto
        // 2.0 sets its run flag after installing the handler and ignored ~1 in 10 such SIGTERMs here).
        killGroup(child, 'SIGTERM');
        const resend = setInterval(() => killGroup(child, 'SIGTERM'), 250);
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), opts.killAfterMs ?? 3000);
        await exited;
        clearInterval(resend);
        clearTimeout(timer);
      }
      // A helper of the leader (nginx's worker) may outlive it; its group still has the leader's id.
      killGroup(child, 'SIGKILL');
    })();
    return stopping;
  };

  // Wait for readiness: the ready line, the ready check, the process's exit, or the deadline.
  const deadline = Date.now() + opts.timeoutMs;
  const pollMs = opts.pollMs ?? 50;
  for (;;) {
    if (opts.readyLine ? readyMatch !== undefined : true) {
      if (!opts.readyCheck || (await opts.readyCheck())) break;
    }
    if (exitStatus !== undefined) {
      await Promise.race([closed, delay(500)]); // a daemonised helper may hold the pipes open
      throw new ProcessStartError(
        `${label} exited before it was ready (code ${exitStatus.code}, signal ${exitStatus.signal}); last output:\n${tail()}`,
        output(),
        exitStatus,
      );
    }
    if (Date.now() > deadline) {
      await stop();
      throw new ProcessStartError(`${label} was not ready within ${opts.timeoutMs} ms; last output:\n${tail()}`, output());
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, pollMs);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  const started: ManagedProcess = { child, output, stop, exited };
  if (readyMatch) started.readyMatch = readyMatch;
  return started;
}

const BIND_FAILURE = /address already in use|EADDRINUSE|could not bind/i;

/**
 * Start a service on a fresh free port, retrying with another port when it fails to bind:
 * freePort() releases the port before the service takes it, so a parallel test may win the race.
 */
export async function retryOnBindFailure<T>(
  pickPort: () => Promise<number>,
  start: (port: number) => Promise<T>,
  attempts = 3,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = await pickPort();
    try {
      return await start(port);
    } catch (err) {
      const bindFailed = err instanceof ProcessStartError && BIND_FAILURE.test(err.output);
      if (!bindFailed || attempt >= attempts) throw err;
    }
  }
}
