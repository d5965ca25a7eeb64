/**
 * Parent side of one pipeline host child process. A host runs one pipeline once: it is started, reports
 * events, and ends; the supervisor makes a new host for the next run (never reuses one).
 *
 * The child's stderr is kept as a bounded ring of redacted lines and surfaced only when the run fails
 * (the idea of Frigate's log handling): GStreamer chatter does not flood the journal, but a failure comes
 * with its context.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { redact } from '../lib/redact.ts';
import { defaultCacheDirs, hostBundle } from './host-bundle.ts';
import type { BuiltPipeline } from './pipeline-builder.ts';
import type { HostCommand, HostEvent, MeterRequest, SourceRequest } from './pipeline-host-protocol.ts';

const CHILD_ENTRY = fileURLToPath(new URL('./pipeline-host-child.ts', import.meta.url));
const TSX_LOADER = import.meta.resolve('tsx');
const STDERR_LINES = 40;

/** How a child is started: its main module and the Node flags before it. */
export interface ChildLaunch {
  modulePath: string;
  execArgv: string[];
  /** Set when the plain-JavaScript bundle could not be had and the child runs through tsx instead. */
  fallbackReason?: string | undefined;
}

let bundleFailure: string | undefined;

/**
 * The child runs as one plain-JavaScript file on bare Node: no loader, no flags. Through tsx every child
 * carried a second V8 isolate (tsx's hooks thread) and, on a cache miss, an esbuild process: 92–96 MiB peak
 * RSS per passthrough host at 1080p30, 67 MiB as a bundle (issue 4's target is 80). Memory flags were measured
 * and not used: the V8 heap is ~5 MiB, and --jitless/--lite-mode make the meter's NAL scan ~27× slower.
 * Details: docs/DECISIONS.md "Pipeline host child"; how the bundle stays in sync: host-bundle.ts.
 * Without a bundle (no cache folder writable, esbuild broken) the child runs through tsx as before, with a
 * warning; that failure is remembered, so a broken cache costs one build attempt per agent process.
 */
export function childLaunch(env: NodeJS.ProcessEnv = process.env): ChildLaunch {
  if (bundleFailure === undefined) {
    try {
      return { modulePath: hostBundle({ entry: CHILD_ENTRY, cacheDirs: defaultCacheDirs(env) }).path, execArgv: [] };
    } catch (err) {
      bundleFailure = redact((err as Error).message);
    }
  }
  return { modulePath: CHILD_ENTRY, execArgv: ['--import', TSX_LOADER], fallbackReason: bundleFailure };
}

/** What a host runs: a launch string with its secret properties, and for transcodes a restartable source. */
export interface HostPipeline {
  launch: string;
  properties: BuiltPipeline['properties'];
  /** Codec of the metered stream. */
  codec: BuiltPipeline['codec'];
  source?: SourceRequest | undefined;
  /** Where the encoder takes its bitrate at run time (transcodes); undefined for passthrough. */
  bitrate?: { element: string; property: string; unit: 'kbit/s' | 'bit/s' } | undefined;
}

export interface HostExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface PipelineHostEvents {
  event: [HostEvent];
  exit: [HostExit];
}

export class PipelineHost extends EventEmitter<PipelineHostEvents> {
  private child: ChildProcess | undefined;
  private readonly stderrLines: string[] = [];
  private partialLine = '';
  readonly exited: Promise<HostExit>;
  private resolveExited!: (exit: HostExit) => void;

  constructor(
    private readonly label: string,
    /** How many stderr lines to keep for the failure report. */
    private readonly keepStderrLines = STDERR_LINES,
  ) {
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

  start(pipeline: Pick<HostPipeline, 'launch' | 'properties' | 'source'> & { meter?: MeterRequest | undefined }, env: NodeJS.ProcessEnv = process.env): void {
    if (this.child) throw new Error(`pipeline host ${this.label} was already started; make a new one`);
    // The notify socket belongs to the agent alone (NotifyAccess=main); a child must not even try it.
    const { NOTIFY_SOCKET: _socket, WATCHDOG_USEC: _usec, WATCHDOG_PID: _pid, ...childEnv } = env;
    const launch = childLaunch(env);
    // execArgv is always explicit: fork would otherwise pass on the agent's own flags (its tsx loader).
    const child = fork(launch.modulePath, [], {
      execArgv: launch.execArgv,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
      // One bus poll thread per host; the default pool of 4 is plenty for one pipeline.
      env: { ...childEnv, GST_DEBUG_NO_COLOR: '1' },
    });
    this.child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.onStderr(chunk));
    child.on('message', (event: HostEvent) => this.emit('event', event));
    child.on('error', (err) => {
      this.onStderr(`spawn error: ${err.message}\n`);
    });
    child.on('exit', (code, signal) => {
      const exit = { code, signal };
      this.resolveExited(exit);
      this.emit('exit', exit);
    });
    const command: HostCommand = { type: 'start', launch: pipeline.launch, properties: pipeline.properties, meter: pipeline.meter, source: pipeline.source };
    child.send(command);
    if (launch.fallbackReason) {
      const warning: HostEvent = { type: 'warning', message: `pipeline host runs through tsx (more memory per camera): ${launch.fallbackReason}` };
      process.nextTick(() => this.emit('event', warning));
    }
  }

  /** Asks for EOS (closing the last segment); kills the child if it has not exited within `timeoutMs`. */
  async stop(timeoutMs: number): Promise<HostExit> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return this.exited;
    const command: HostCommand = { type: 'stop', timeoutMs: Math.max(100, timeoutMs - 500) };
    if (child.connected) child.send(command);
    else child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private nextRequestId = 1;

  /** Sets properties on named elements of the running pipeline; resolves when the host confirms. */
  setProperties(properties: Record<string, Record<string, string | number | boolean>>, timeoutMs = 2000): Promise<void> {
    const child = this.child;
    if (!child?.connected) return Promise.reject(new Error(`pipeline host ${this.label} is not running`));
    const requestId = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const onEvent = (event: HostEvent): void => {
        if (event.type !== 'properties-set' || event.requestId !== requestId) return;
        cleanup();
        if (event.error) reject(new Error(event.error));
        else resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`pipeline host ${this.label} did not confirm the property change within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('event', onEvent);
      };
      this.on('event', onEvent);
      const command: HostCommand = { type: 'set-properties', properties, requestId };
      child.send(command);
    });
  }

  /** Kills the child at once (a stall: it will not answer an EOS request either). */
  kill(): void {
    this.child?.kill('SIGKILL');
  }

  private onStderr(chunk: string): void {
    const text = this.partialLine + chunk;
    const lines = text.split('\n');
    this.partialLine = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      this.stderrLines.push(redact(line));
      if (this.stderrLines.length > this.keepStderrLines) this.stderrLines.shift();
    }
    this.partialLine = redact(this.partialLine).slice(-2000);
  }
}
