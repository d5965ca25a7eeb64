/**
 * Parent side of one live output host child process (live-output-child.ts): started once, reports events, ends.
 * The live output supervisor makes a new host for every run. The child's stderr is kept as a bounded ring of
 * redacted lines, surfaced only when the run fails.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { redact } from '../lib/redact.ts';
import { defaultCacheDirs, hostBundle } from './host-bundle.ts';
import type { LiveHostCommand, LiveHostEvent } from './live-output-protocol.ts';

const CHILD_ENTRY = fileURLToPath(new URL('./live-output-child.ts', import.meta.url));
const TSX_LOADER = import.meta.resolve('tsx');
const STDERR_LINES = 20;

let bundleFailure: string | undefined;

/**
 * The child as one plain-JavaScript bundle on bare Node, like the pipeline host (host-bundle.ts, DECISIONS
 * "Pipeline host child"). Measured here for this child: 96 MiB RSS and 0.27 s of CPU per start as a bundle,
 * 130 MiB and 0.60 s through tsx — a destination that is down restarts its host every few seconds, and a box
 * runs one host per destination. Through tsx when no bundle can be had (remembered: one try per agent).
 */
function childLaunch(env: NodeJS.ProcessEnv): { modulePath: string; execArgv: string[]; fallbackReason?: string } {
  if (bundleFailure === undefined) {
    try {
      return { modulePath: hostBundle({ entry: CHILD_ENTRY, cacheDirs: defaultCacheDirs(env) }).path, execArgv: [] };
    } catch (err) {
      bundleFailure = redact((err as Error).message);
      return { modulePath: CHILD_ENTRY, execArgv: ['--import', TSX_LOADER], fallbackReason: bundleFailure };
    }
  }
  return { modulePath: CHILD_ENTRY, execArgv: ['--import', TSX_LOADER] };
}

export interface LiveHostExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class LiveOutputHost extends EventEmitter<{ event: [LiveHostEvent]; exit: [LiveHostExit] }> {
  private child: ChildProcess | undefined;
  private readonly stderrLines: string[] = [];
  private partialLine = '';
  readonly exited: Promise<LiveHostExit>;
  private resolveExited!: (exit: LiveHostExit) => void;

  constructor() {
    super();
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last lines the child wrote to stderr, redacted. */
  stderrTail(): string[] {
    return [...this.stderrLines, ...(this.partialLine ? [this.partialLine] : [])];
  }

  start(command: Extract<LiveHostCommand, { type: 'start' }>, env: NodeJS.ProcessEnv = process.env): void {
    if (this.child) throw new Error('a live output host runs once; make a new one');
    // The notify socket belongs to the agent alone (NotifyAccess=main).
    const { NOTIFY_SOCKET: _socket, WATCHDOG_USEC: _usec, WATCHDOG_PID: _pid, ...childEnv } = env;
    const launch = childLaunch(env);
    // execArgv always explicit: fork would otherwise pass on the agent's own flags (its tsx loader).
    const child = fork(launch.modulePath, [], {
      execArgv: launch.execArgv,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
      env: { ...childEnv, GST_DEBUG_NO_COLOR: '1' },
    });
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.onStderr(chunk));
    child.on('message', (event: LiveHostEvent) => this.emit('event', event));
    child.on('error', (err) => this.onStderr(`spawn error: ${err.message}\n`));
    child.on('exit', (code, signal) => {
      const exit = { code, signal };
      this.resolveExited(exit);
      this.emit('exit', exit);
    });
    // The secrets go over IPC only: never on a command line, where `ps` would show them.
    child.send(command);
    if (launch.fallbackReason) {
      // No element: the supervisor logs it as a warning of the agent's own (said once per agent).
      const warning: LiveHostEvent = { type: 'warning', message: `live output hosts run through tsx (more memory each): ${launch.fallbackReason}` };
      process.nextTick(() => this.emit('event', warning));
    }
  }

  /** Asks for EOS (an RTMP ingest sees the stream unpublished); kills the child if it has not exited in time. */
  async stop(timeoutMs: number): Promise<LiveHostExit> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return this.exited;
    const command: LiveHostCommand = { type: 'stop', timeoutMs: Math.max(100, timeoutMs - 500) };
    if (child.connected) child.send(command);
    else child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the child at once (it stalled: it would not answer a stop request either). */
  kill(): void {
    this.child?.kill('SIGKILL');
  }

  private onStderr(chunk: string): void {
    const lines = (this.partialLine + chunk).split('\n');
    this.partialLine = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      this.stderrLines.push(redact(line));
      if (this.stderrLines.length > STDERR_LINES) this.stderrLines.shift();
    }
    this.partialLine = redact(this.partialLine).slice(-2000);
  }
}

/**
 * A free UDP port on 127.0.0.1 for a camera's live tap, found by binding port 0 and releasing it. The live output
 * pipeline binds it again moments later; in that window another program could take it (its udpsrc then fails
 * to bind, which the supervisor reports and retries).
 */
export async function freeLoopbackUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => resolve());
    });
    return socket.address().port;
  } finally {
    try {
      socket.close();
    } catch {
      // Never bound (the bind failed and that error is what the caller gets).
    }
  }
}
