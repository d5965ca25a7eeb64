// ejabberd's MQTT broker (mod_mqtt, Debian's ejabberd 23.01) as a second, real broker for the tests: unlike
// mosquitto 2.0, which looks at keepalives on a ~5 s sweep in whole seconds, ejabberd keeps a timer per session
// (reset by every byte received) and ends a silent session round(1.5 × keepalive) seconds after its last packet,
// to a few milliseconds. It shows what the box's last will does against a broker that keeps the MQTT keepalive
// rule to the letter.
//
// Run as a plain child process: `erl -s ejabberd` with its own config, Mnesia and log in a temp folder, no node
// name (a non-distributed node: no epmd, no cookie file, nothing shared between two instances). Anonymous
// login: any user name with a non-empty password. Stopped by SIGTERM (a clean `init:stop`, ~1 s, its port
// programs with it).
import { readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir } from './tmp.ts';
import { freePort, tryTcp } from './ports.ts';
import { startProcess, type ManagedProcess } from './processes.ts';

export interface EjabberdOptions {
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** Run inside this network namespace (`ip netns exec`, root only). */
  netns?: string;
  /** Inside a namespace the test cannot connect to check readiness: this runs the check there (true once it accepts). */
  readyCheck?: (port: number) => Promise<boolean>;
  timeoutMs?: number;
}

export interface Ejabberd {
  url: string;
  host: string;
  port: number;
  /** The anonymous login: any user, this password (ejabberd refuses an empty one). */
  username: string;
  password: string;
  output(): string;
  stop(): Promise<void>;
}

/** Where Debian puts ejabberd's Erlang applications: /usr/lib/<multiarch>/ejabberd-<version>. */
function erlLibs(): string {
  for (const arch of readdirSync('/usr/lib').filter((d) => d.endsWith('-linux-gnu'))) {
    const dir = path.join('/usr/lib', arch);
    if (readdirSync(dir).some((d) => /^ejabberd-\d/.test(d))) return dir;
  }
  throw new Error('ejabberd is not installed (no /usr/lib/*-linux-gnu/ejabberd-*): scripts/setup installs it');
}

export async function startEjabberd(opts: EjabberdOptions = {}): Promise<Ejabberd> {
  const host = opts.host ?? '127.0.0.1';
  const dir = await makeTempDir('ejabberd');
  let proc: ManagedProcess | undefined;
  let port = 0;
  try {
    port = await freePort(opts.netns ? '127.0.0.1' : host);
    await mkdir(path.join(dir.path, 'mnesia'));
    const config = path.join(dir.path, 'ejabberd.yml');
    await writeFile(
      config,
      [
        'hosts: [localhost]',
        'loglevel: info',
        'log_rotate_count: 0',
        'acme: {auto: false}',
        'certfiles: []',
        'auth_method: [anonymous]',
        'anonymous_protocol: login_anon',
        'listen:',
        `  - {port: ${port}, ip: "${host}", module: mod_mqtt}`,
        'modules:',
        '  mod_mqtt: {}',
        '',
      ].join('\n'),
    );
    const erl = ['/usr/bin/erl', '-noinput', '-noshell', '-mnesia', 'dir', JSON.stringify(path.join(dir.path, 'mnesia')), '-s', 'ejabberd'];
    const [cmd, args] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, ...erl]] : [erl[0]!, erl.slice(1)];
    proc = await startProcess(cmd, args, {
      cwd: dir.path,
      env: {
        EJABBERD_CONFIG_PATH: config,
        EJABBERD_LOG_PATH: path.join(dir.path, 'ejabberd.log'),
        CONTRIB_MODULES_PATH: path.join(dir.path, 'modules'),
        CONTRIB_MODULES_CONF_DIR: path.join(dir.path, 'modules', 'conf'),
        ERL_LIBS: erlLibs(),
        ERL_CRASH_DUMP_BYTES: '0',
      },
      label: `ejabberd ${host}:${port}`,
      readyCheck: opts.netns ? () => opts.readyCheck?.(port) ?? Promise.resolve(true) : () => tryTcp(host, port),
      pollMs: 100,
      timeoutMs: opts.timeoutMs ?? 30_000,
      killAfterMs: 5000,
    });
  } catch (err) {
    await proc?.stop();
    await dir.remove();
    throw err;
  }
  const running = proc;
  let stopped: Promise<void> | undefined;
  return {
    url: `mqtt://${host}:${port}`,
    host,
    port,
    username: 'controller',
    password: 'anonymous',
    output: () => running.output(),
    stop: () => (stopped ??= running.stop().finally(() => dir.remove())),
  };
}
