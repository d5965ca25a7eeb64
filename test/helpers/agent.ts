// Runs the real agent (`bin/venuebox.js agent`) as a child process with a config in a temp folder.
// Every line it writes is kept (the canary test reads all of it); JSON log lines are parsed for waits.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, type TempDir } from './tmp.ts';
import { createWaitList } from './wait-list.ts';

const BIN = fileURLToPath(new URL('../../bin/venuebox.js', import.meta.url));
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface LogLine {
  level: string;
  ns?: string;
  msg?: string;
  [key: string]: unknown;
}

export interface AgentProcess {
  dir: string;
  configFile: string;
  spoolDir: string;
  databaseFile: string;
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  logs(): LogLine[];
  waitForLog(match: (line: LogLine) => boolean, timeoutMs: number, what?: string): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, wait for the exit (SIGKILL after killAfterMs). Idempotent; also removes the temp folder when `cleanup`. */
  stop(options?: { signal?: NodeJS.Signals; killAfterMs?: number }): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Removes the temp folder (after stop). */
  cleanup(): Promise<void>;
}

export interface StartAgentOptions {
  /** The config object; `paths` default to folders inside the temp dir. */
  config: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** Reuse a folder (to restart an agent on the same state). */
  dir?: TempDir;
  /** With `dir`: start with the config file already there, untouched. */
  keepConfig?: boolean;
  /**
   * Run inside this network namespace (root only): `ip netns exec` execs node, so `child.pid` is the agent's
   * own pid and a signal sent to `child` reaches the agent itself.
   */
  netns?: string;
  /** Node options before the script (`--cpu-prof`, which NODE_OPTIONS does not allow). */
  nodeArgs?: string[];
}

export async function startAgent(options: StartAgentOptions): Promise<AgentProcess> {
  const temp = options.dir ?? (await makeTempDir('agent'));
  const configFile = path.join(temp.path, 'config.json');
  const spoolDir = path.join(temp.path, 'state', 'spool');
  const databaseFile = path.join(temp.path, 'state', 'venuebox.db');
  const config = { paths: { state: path.join(temp.path, 'state'), logs: path.join(temp.path, 'logs') }, ...options.config };
  // A restart as systemd does it keeps the config file as it is (a config update may have changed it).
  if (!options.keepConfig) await writeFile(configFile, JSON.stringify(config, null, 2));
  const argv = [...(options.nodeArgs ?? []), BIN, 'agent', '--config', configFile];
  const [cmd, args] = options.netns ? ['ip', ['netns', 'exec', options.netns, process.execPath, ...argv]] : [process.execPath, argv];
  const child = spawn(cmd, args, {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let text = '';
  let partial = '';
  const tail = (): string => text.split('\n').slice(-15).join('\n');
  const lines = createWaitList<LogLine>();
  const onData = (chunk: Buffer): void => {
    const s = chunk.toString('utf8');
    text += s;
    const parts = (partial + s).split('\n');
    partial = parts.pop() ?? '';
    for (const part of parts) {
      if (!part.startsWith('{')) continue;
      let line: LogLine;
      try {
        line = JSON.parse(part) as LogLine;
      } catch {
        continue;
      }
      lines.push(line);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
      lines.fail((what) => `the agent exited while waiting for ${what}; output tail:\n${tail()}`);
    }),
  );
  let stopping: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  return {
    dir: temp.path,
    configFile,
    spoolDir,
    databaseFile,
    child,
    output: () => text,
    logs: () => lines.items,
    exited,
    waitForLog: (match, timeoutMs, what = 'a log line') => lines.waitFor(match, timeoutMs, what, () => `agent output tail:\n${tail()}`),
    stop({ signal = 'SIGTERM', killAfterMs = 15_000 } = {}) {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill(signal);
          const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
          await exited;
          clearTimeout(timer);
        }
        return exited;
      })();
      return stopping;
    },
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      if (!options.dir) await temp.remove();
    },
  };
}
