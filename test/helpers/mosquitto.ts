// A real mosquitto broker on a free loopback port, with a generated config in a temp folder.
// Variants: password auth (`auth`), TLS with client certificates (`tls`, files from test/helpers/pki.ts: the
// certificate's CN becomes the user name, as on a fleet broker), an ACL file (`aclFile`, e.g.
// docs/mosquitto-acl.example as it is).
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
  /**
   * TLS listener (the URL becomes mqtts://). By default a client certificate signed by `caFile` is required
   * and its CN is the user name (`use_identity_as_username`): what the ACL's `%u` and `user` lines match.
   */
  tls?: {
    caFile: string;
    certFile: string;
    keyFile: string;
    requireCertificate?: boolean;
    useIdentityAsUsername?: boolean;
    /**
     * The boxes' listener as docs/OPERATIONS.md sets it up: the client id is replaced by the certificate's CN
     * (`use_username_as_clientid`), so no box can take another's session; controllers get a listener of their own
     * (`controllerUrl`, same CA and ACL, their own client ids), with `per_listener_settings true`.
     */
    clientIdFromIdentity?: boolean;
  };
  /** mosquitto ACL file (`acl_file`), used as it is. */
  aclFile?: string;
  /** Also log at debug level (mosquitto logs ACL denials, "Denied PUBLISH …", only there). */
  debugLog?: boolean;
}

export interface Mosquitto {
  url: string;
  /** With tls.clientIdFromIdentity: the controllers' listener. */
  controllerUrl?: string;
  host: string;
  port: number;
  username?: string;
  password?: string;
  /** Kill the broker and remove its folder; idempotent. */
  stop(): Promise<void>;
  /** Kill the broker and start it again on the same port: a broker outage and its return. */
  restart(): Promise<void>;
  /** The broker's last log lines (stderr). */
  output(): string;
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
    const tls = opts.tls;
    const identity = tls !== undefined && tls.requireCertificate !== false && tls.useIdentityAsUsername !== false;
    const split = identity && tls?.clientIdFromIdentity === true;
    /** One listener and its security settings (with per_listener_settings true they belong to it). */
    const listener = (port: number, clientIdFromIdentity: boolean): string[] => [
      `listener ${port} ${host}`,
      ...(tls
        ? [
            `cafile ${tls.caFile}`,
            `certfile ${tls.certFile}`,
            `keyfile ${tls.keyFile}`,
            `require_certificate ${tls.requireCertificate !== false}`,
            ...(identity ? ['use_identity_as_username true'] : []),
            ...(clientIdFromIdentity ? ['use_username_as_clientid true'] : []),
          ]
        : []),
      ...(auth ? [`allow_anonymous false`, `password_file ${path.join(dir.path, 'passwd')}`] : [`allow_anonymous ${!identity}`]),
      ...(opts.aclFile ? [`acl_file ${opts.aclFile}`] : []),
    ];
    const controllerPort = split ? await freePort(opts.netns ? '127.0.0.1' : host) : 0;
    const launch = async (port: number): Promise<ManagedProcess> => {
      const conf = [
        ...(split ? ['per_listener_settings true', ...listener(port, true), ...listener(controllerPort, false)] : listener(port, false)),
        'persistence false',
        // Not stdout: mosquitto's stdout is block-buffered into a pipe, so its lines arrive only at
        // exit. stderr is unbuffered.
        'log_dest stderr',
        // log_type all logs every PUBLISH/PINGREQ: too much for the 20-line error tail.
        ...['error', 'warning', 'notice', 'information', ...(opts.debugLog ? ['debug'] : [])].map((t) => `log_type ${t}`),
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
      url: `${opts.tls ? 'mqtts' : 'mqtt'}://${host}:${port}`,
      ...(split ? { controllerUrl: `mqtts://${host}:${controllerPort}` } : {}),
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
      output: () => proc.output(),
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
