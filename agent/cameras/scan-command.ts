/**
 * `venuebox cameras scan [--interface IF]... [--subnet CIDR]... [--port P]... [--timeout SECONDS]
 *  [--connect-timeout MS] [--username U] [--password-file F] [--json]` — the installer's view of the venue's cameras.
 * A progress line on stderr while scanning; a table (or with --json an array) on stdout. Exit 0 when the
 * scan ran, even if cameras failed (their errors are in the output); 2 on bad arguments.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { scanCameras, type ScannedCamera } from './camera-scan.ts';
import { hostsOf } from './lan-interfaces.ts';
import { registerSecret, redact } from '../lib/redact.ts';

const DEFAULT_PORTS = [80, 8080, 8000, 8899, 2020, 8081, 10080, 888, 5000];

export class UsageError extends Error {}

export interface ScanCommandIo {
  out: NodeJS.WritableStream & { isTTY?: boolean };
  err: NodeJS.WritableStream & { isTTY?: boolean };
}

export async function runCamerasScan(args: string[], io: ScanCommandIo = { out: process.stdout, err: process.stderr }): Promise<number> {
  let options;
  try {
    options = await parseScanArgs(args);
  } catch (err) {
    io.err.write(`venuebox cameras scan: ${(err as Error).message}\n`);
    return 2;
  }
  const started = performance.now();
  let lastProgress = 0;
  const result = await scanCameras({
    ...options,
    onProgress: (p) => {
      const now = performance.now();
      if (now - lastProgress < 200) return;
      lastProgress = now;
      const sweep = p.sweepTotal ? `, swept ${p.swept}/${p.sweepTotal}` : '';
      const line = p.phase === 'discovering' ? `scanning… ${p.found} found${sweep}` : `asking cameras… ${p.interrogated}/${p.found}`;
      io.err.write(io.err.isTTY ? `\r\x1b[2K${line}` : `${line}\n`);
    },
  });
  if (io.err.isTTY) io.err.write('\r\x1b[2K');
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  io.err.write(`scan finished in ${seconds} s: ${result.cameras.length} camera(s) on ${result.interfaces.join(', ') || 'no interface'}${options.subnets.length ? ` and ${options.subnets.join(', ')}` : ''}\n`);
  for (const problem of result.problems) io.err.write(`problem: ${problem.where}: ${problem.message}\n`);
  io.out.write(redact(options.json ? `${JSON.stringify(result.cameras.map(toJson), null, 2)}\n` : table(result.cameras)));
  return 0;
}

async function parseScanArgs(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      interface: { type: 'string', multiple: true, default: [] },
      subnet: { type: 'string', multiple: true, default: [] },
      port: { type: 'string', multiple: true, default: [] },
      timeout: { type: 'string', default: '3' },
      'connect-timeout': { type: 'string', default: '800' },
      username: { type: 'string' },
      'password-file': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout < 0.5 || timeout > 60) throw new UsageError('--timeout must be between 0.5 and 60 seconds');
  for (const subnet of values.subnet) hostsOf(subnet); // throws a clear message for a bad CIDR
  const connectTimeoutMs = Number(values['connect-timeout']);
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 100 || connectTimeoutMs > 10_000) throw new UsageError('--connect-timeout must be 100 to 10000 ms');
  const ports = values.port.map((p) => {
    const n = Number(p);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--port ${p} is not a port number`);
    return n;
  });
  let password: string | undefined;
  if (values['password-file']) {
    try {
      password = (await readFile(values['password-file'], 'utf8')).replace(/[\r\n]+$/, '');
    } catch (err) {
      throw new UsageError(`cannot read --password-file ${values['password-file']}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    registerSecret(password);
  }
  if (password !== undefined && values.username === undefined) throw new UsageError('--password-file needs --username');
  return {
    interfaces: values.interface,
    subnets: values.subnet,
    ports: ports.length > 0 ? ports : DEFAULT_PORTS,
    windowMs: timeout * 1000,
    repeats: 3,
    sweepConcurrency: 128,
    connectTimeoutMs,
    username: values.username,
    password,
    json: values.json,
  };
}

function toJson(c: ScannedCamera) {
  return {
    id: c.id ?? null,
    name: c.name ?? null,
    manufacturer: c.manufacturer ?? null,
    model: c.model ?? null,
    firmware: c.firmware ?? null,
    mac: c.mac ?? null,
    urn: c.urn ?? null,
    address: c.address,
    xaddrs: c.xaddrs,
    clockOffsetMs: c.clockOffsetMs ?? null,
    auth: c.auth,
    foundBy: c.foundBy,
    profiles: c.profiles.map((p) => ({
      token: p.token,
      name: p.name,
      encoding: p.encoding,
      width: p.width ?? null,
      height: p.height ?? null,
      fps: p.fps ?? null,
      bitrateKbps: p.bitrateKbps ?? null,
      streamUri: p.streamUri ?? null,
      snapshotUri: p.snapshotUri ?? null,
    })),
    errors: c.errors,
  };
}

function table(cameras: ScannedCamera[]): string {
  if (cameras.length === 0) return 'no cameras found\n';
  const rows = cameras.map((c) => [
    c.id ?? '?',
    c.address,
    [c.manufacturer, c.model].filter(Boolean).join(' ') || '?',
    c.firmware ?? '?',
    c.auth,
    c.clockOffsetMs === undefined ? '?' : formatOffset(c.clockOffsetMs),
    c.profiles.map((p) => `${p.encoding} ${p.width ?? '?'}x${p.height ?? '?'}@${p.fps ?? '?'}`).join(', ') || '-',
    c.errors.length === 0 ? 'ok' : `${c.errors.length} error(s)`,
  ]);
  const header = ['ID', 'ADDRESS', 'CAMERA', 'FIRMWARE', 'AUTH', 'CLOCK', 'PROFILES', 'STATUS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  const lines = [line(header), ...rows.map(line)];
  for (const c of cameras) {
    for (const p of c.profiles) if (p.streamUri) lines.push(`  ${c.id ?? c.address} ${p.token}: ${p.streamUri}`);
    for (const e of c.errors) lines.push(`  ${c.id ?? c.address} error in ${e.operation}: ${e.message}`);
  }
  return `${lines.join('\n')}\n`;
}

function formatOffset(ms: number): string {
  const abs = Math.abs(ms);
  const sign = ms < 0 ? '-' : '+';
  if (abs < 2000) return 'in sync';
  if (abs < 120_000) return `${sign}${Math.round(abs / 1000)} s`;
  if (abs < 7_200_000) return `${sign}${Math.round(abs / 60_000)} min`;
  return `${sign}${(abs / 3_600_000).toFixed(1)} h`;
}
