/**
 * The ONVIF face of one virtual camera: a device service (SOAP 1.2 over HTTP: device, media, media2) and a
 * WS-Discovery responder, with switchable quirks of real cameras. Independent of agent/cameras on purpose:
 * a bug shared by client and simulator would cancel out.
 *
 *   node --import tsx scripts/virtual-onvif.ts --json-config '{"bind":"10.77.1.10","vendor":"axis",…}'
 *   node --import tsx scripts/virtual-onvif.ts --bind 127.0.0.1 --http-port 8080 --uri-whitespace --profiles 4
 *
 * Options: scripts/virtual-onvif/config.ts. The password comes from $VIRTUAL_ONVIF_PASSWORD or
 * --password-file, never from argv (anyone can read a command line with `ps`).
 * Prints exactly one line `READY {"deviceServiceUrl",…}` on stdout once both servers listen; logs go to stderr.
 * SIGTERM/SIGINT: Bye, then exit 0. Exit 1: bad options; 2: a port could not be bound (the message says why).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { ConfigError, PASSWORD_ENV, optionsSchema, parseOptions, resolveConfig } from './virtual-onvif/config.ts';
import { DiscoveryResponder } from './virtual-onvif/discovery-responder.ts';
import { serviceUrl } from './virtual-onvif/device-ops.ts';
import { DeviceHttpServer } from './virtual-onvif/http-server.ts';

/** `--json-config JSON`, or `--kebab-key value` flags (values parsed as JSON when they are; a bare flag is true). */
export function parseArgs(argv: readonly string[]): { options: Record<string, unknown>; passwordFile?: string } {
  let options: Record<string, unknown> = {};
  let passwordFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (!m?.[1]) throw new ConfigError(`unexpected argument ${arg}`);
    const next = argv[i + 1];
    const takesValue = m[2] === undefined && next !== undefined && !next.startsWith('--');
    const raw = m[2] ?? (takesValue ? next : undefined);
    if (takesValue) i++;
    if (m[1] === 'json-config') {
      options = { ...options, ...(JSON.parse(raw ?? '{}') as Record<string, unknown>) };
      continue;
    }
    if (m[1] === 'password-file') {
      passwordFile = raw;
      continue;
    }
    const key = m[1].replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    options[key] = flagValue(key, raw);
  }
  return passwordFile === undefined ? { options } : { options, passwordFile };
}

/** A flag's value: the text itself where the option takes text (`--name 42`), else its JSON (`--profiles 4`). */
function flagValue(key: string, raw: string | undefined): unknown {
  if (raw === undefined) return true;
  const field = (optionsSchema.shape as Record<string, { safeParse(v: unknown): { success: boolean } } | undefined>)[key];
  if (field?.safeParse(raw).success) return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw; // the schema will say what is wrong with it
  }
}

/** The address to write into URLs: the bind address, or the first external IPv4 address for 0.0.0.0. */
function advertisedAddress(bind: string): string {
  if (bind !== '0.0.0.0') return bind;
  const external = Object.values(os.networkInterfaces()).flat().find((a) => a?.family === 'IPv4' && !a.internal);
  return external?.address ?? '127.0.0.1';
}

async function main(): Promise<number> {
  if (process.argv.includes('--help')) {
    const keys = Object.keys(optionsSchema.shape).map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    process.stdout.write(`usage: virtual-onvif.ts --json-config JSON | [flags]\nflags: ${keys.join(' ')} --password-file F\n`);
    return 0;
  }
  const { options: raw, passwordFile } = parseArgs(process.argv.slice(2));
  const password = passwordFile !== undefined ? readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '') : process.env[PASSWORD_ENV];
  const options = parseOptions(raw, raw['username'] === undefined ? undefined : password);
  const tag = `virtual-onvif[${options.name}]`;
  const log = (line: string) => void process.stderr.write(`${tag} ${line}\n`);

  const http = new DeviceHttpServer(log);
  const httpPort = await http.listen(options.httpPort, options.bind);
  const config = resolveConfig(options, advertisedAddress(options.bind), httpPort);
  http.configure(config);
  const discovery = new DiscoveryResponder(config, log);
  let discoveryPort: number;
  try {
    discoveryPort = await discovery.start(options.discoveryPort);
  } catch (err) {
    await http.close();
    throw err;
  }

  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    // processes.ts repeats SIGTERM every 250 ms until we exit: only the first one starts the shutdown.
    stopping ??= (async () => {
      log(`${signal}: sending Bye and stopping`);
      setTimeout(() => process.exit(1), 5000).unref(); // a stuck close must not keep the camera alive
      await discovery.stop();
      await http.close();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  const ready = {
    deviceServiceUrl: serviceUrl(config, 'device'),
    discoveryPort,
    httpPort,
    address: config.address,
    urn: config.urn,
    mac: config.mac,
    vendor: config.vendor,
    profiles: config.profiles.map((p) => ({ token: p.token, name: p.name, streamUri: p.streamUri })),
  };
  process.stdout.write(`READY ${JSON.stringify(ready)}\n`);
  return await new Promise<number>(() => {}); // runs until a signal
}

main().then((code) => process.exit(code)).catch((err: Error & { code?: string }) => {
  if (err instanceof ConfigError || err instanceof SyntaxError) {
    process.stderr.write(`virtual-onvif: ${err.message}\n`);
    process.exit(1);
  }
  const bindFailure = err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL' || err.code === 'EACCES';
  process.stderr.write(`virtual-onvif: ${bindFailure ? `could not bind (${err.code}): ` : ''}${err.message}\n`);
  process.exit(bindFailure ? 2 : 1);
});
