/**
 * N virtual cameras with ONVIF faces for people (run through scripts/virtual-camera): RTSP test patterns,
 * device services and WS-Discovery responders on one address, vendor styles in turn, until Ctrl-C.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startVirtualCamera, type VirtualCamera } from '../../test/helpers/virtual-camera.ts';
import { VENDORS } from './presets.ts';

const USAGE = `usage: scripts/virtual-camera --count N [--base-port P] [--bind ADDR] [--discovery-port 3702]
                             [--username U --password-file F] [--width W --height H --fps F]

Starts N virtual cameras (RTSP + ONVIF device service + WS-Discovery), vendor styles in turn
(${VENDORS.join(', ')}), prints a table and runs until Ctrl-C.
  --base-port P     camera i gets RTSP port P+2i and ONVIF port P+2i+1 (default: free ports)
  --discovery-port  shared by all cameras, as on a LAN (default 3702; 0 = one free port each)
  --password-file   the password of --username, for RTSP and ONVIF (or $VIRTUAL_CAMERA_PASSWORD)`;

const say = (text: string) => void process.stdout.write(`${text}\n`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string' },
      'base-port': { type: 'string' },
      bind: { type: 'string', default: '127.0.0.1' },
      'discovery-port': { type: 'string', default: '3702' },
      username: { type: 'string' },
      'password-file': { type: 'string' },
      width: { type: 'string', default: '640' },
      height: { type: 'string', default: '360' },
      fps: { type: 'string', default: '25' },
      help: { type: 'boolean' },
    },
  });
  const count = Number(values.count);
  if (values.help || !Number.isInteger(count) || count < 1 || count > 64) {
    say(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  // The wrapper cds to the repository; relative paths are the caller's.
  const cwd = process.env['VIRTUAL_CAMERA_CWD'] ?? process.cwd();
  const passwordFile = values['password-file'];
  const password = passwordFile ? readFileSync(path.resolve(cwd, passwordFile), 'utf8').replace(/\r?\n$/, '') : process.env['VIRTUAL_CAMERA_PASSWORD'];
  if ((values.username === undefined) !== (password === undefined)) {
    say('--username and --password-file (or $VIRTUAL_CAMERA_PASSWORD) go together');
    process.exit(2);
  }
  const basePort = values['base-port'] === undefined ? undefined : Number(values['base-port']);
  const discoveryPort = Number(values['discovery-port']);

  const cameras: VirtualCamera[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say(`\nstopping ${cameras.length} camera(s) (Bye)…`);
    await Promise.allSettled(cameras.map((c) => c.stop()));
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  say(`starting ${count} virtual camera(s) on ${values.bind}…`);
  try {
    for (let i = 0; i < count; i++) {
      const vendor = VENDORS[i % VENDORS.length] ?? 'generic';
      const camera = await startVirtualCamera({
        bind: values.bind,
        width: Number(values.width),
        height: Number(values.height),
        fps: Number(values.fps),
        ...(basePort !== undefined ? { port: basePort + 2 * i } : {}),
        ...(values.username !== undefined && password !== undefined ? { username: values.username, password } : {}),
        onvif: {
          vendor,
          name: `Virtual ${vendor} ${i + 1}`,
          location: 'venuebox-lab',
          discoveryPort,
          ...(basePort !== undefined ? { httpPort: basePort + 2 * i + 1 } : {}),
        },
      });
      cameras.push(camera);
    }
  } catch (err) {
    say(`could not start the cameras: ${(err as Error).message}`);
    await stopAll(1);
  }

  const rows = cameras.map((c, i) => [String(i + 1), VENDORS[i % VENDORS.length] ?? '', c.url, c.onvif?.deviceServiceUrl ?? '', c.onvif?.urn ?? '', c.onvif?.mac ?? '']);
  const header = ['#', 'vendor', 'RTSP URL', 'ONVIF device service', 'endpoint URN', 'MAC'];
  const widths = header.map((h, col) => Math.max(h.length, ...rows.map((r) => (r[col] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, col) => cell.padEnd(widths[col] ?? 0)).join('  ').trimEnd();
  say('');
  say(line(header));
  for (const row of rows) say(line(row));
  say('');
  say(values.username ? `credentials: user "${values.username}", the password you gave (RTSP digest and ONVIF WS-Security)` : 'no credentials');
  say(`WS-Discovery: UDP ${discoveryPort || '(one free port each)'} on ${values.bind}, group 239.255.255.250. Ctrl-C stops them all.`);
}

await main();
