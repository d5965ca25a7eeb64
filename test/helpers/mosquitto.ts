// A real mosquitto broker on a free loopback port, with a generated config in a temp folder.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, tryTcp } from './ports.ts';
import { retryOnBindFailure, startProcess, type ManagedProcess } from './processes.ts';
import { makeTempDir } from './tmp.ts';

const run = promisify(execFile);

export interface MosquittoOptions {
  auth?: { username: string; password: string };
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** Run inside this network namespace (`ip netns exec`, root only), e.g. a system test's cloud host. */
  netns?: string;
  /** Deadline for the broker to accept connections; default 10 s. */
  timeoutMs?: number;
}

export interface Mosquitto {
  url: string;
  host: string;
  port: number;
  username?: string;
  password?: string;
  /** Kill the broker and remove its folder; idempotent. */
  stop(): Promise<void>;
  /** Kill the broker and start it again on the same port: a broker outage and its return. */
  restart(): Promise<void>;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const host = opts.host ?? '127.0.0.1';
  const dir = await makeTempDir('mosquitto');
  const confPath = path.join(dir.path, 'mosquitto.conf');
  try {
    const auth = opts.auth;
    if (auth) {
      await run('mosquitto_passwd', ['-b', '-c', path.join(dir.path, 'passwd'), auth.username, auth.password]);
    }
    const launch = async (port: number): Promise<ManagedProcess> => {
      const conf = [
        `listener ${port} ${host}`,
        ...(auth ? [`allow_anonymous false`, `password_file ${path.join(dir.path, 'passwd')}`] : ['allow_anonymous true']),
        'persistence false',
        // Not stdout: mosquitto's stdout is block-buffered into a pipe, so its lines arrive only at
        // exit. stderr is unbuffered.
        'log_dest stderr',
        // log_type all logs every PUBLISH/PINGREQ: too much for the 20-line error tail.
        ...['error', 'warning', 'notice', 'information'].map((t) => `log_type ${t}`),
        // Started as root, mosquitto switches to user `mosquitto`, which cannot read this 0700
        // folder. As non-root the option is ignored.
        'user root',
        '',
      ].join('\n');
      await writeFile(confPath, conf);
      const [cmd, args] = opts.netns
        ? ['ip', ['netns', 'exec', opts.netns, 'mosquitto', '-c', confPath]]
        : ['mosquitto', ['-c', confPath]];
      return await startProcess(cmd, args, {
        label: `mosquitto ${host}:${port}`,
        // "mosquitto version X running" comes after the listen sockets are open; the TCP check
        // proves it from the outside (not possible from here into another namespace).
        readyLine: / running$/,
        ...(opts.netns ? {} : { readyCheck: () => tryTcp(host, port) }),
        timeoutMs: opts.timeoutMs ?? 10_000,
      });
    };

    let port = 0;
    // Inside a fresh namespace every port is free; the loopback probe only yields a number.
    let proc = await retryOnBindFailure(() => freePort(opts.netns ? '127.0.0.1' : host), async (p) => {
      port = p;
      return await launch(p);
    });

    let stopped: Promise<void> | undefined;
    const broker: Mosquitto = {
      url: `mqtt://${host}:${port}`,
      host,
      port,
      stop: () => {
        stopped ??= (async () => {
          await proc.stop();
          await dir.remove();
        })();
        return stopped;
      },
      restart: async () => {
        if (stopped) throw new Error('mosquitto: restart() after stop()');
        await proc.stop();
        proc = await launch(port);
      },
    };
    if (auth) {
      broker.username = auth.username;
      broker.password = auth.password;
    }
    return broker;
  } catch (err) {
    await dir.remove();
    throw err;
  }
}
