/**
 * `venuebox cameras watch [--interface IF]... [--duration SECONDS]` — prints every WS-Discovery Hello and
 * Bye on the LAN as one JSON line, as it happens: an installer plugs a camera in and sees it arrive. Runs
 * until Ctrl-C (or for --duration). Problems (no interface, a malformed message) go to stderr.
 */
import { parseArgs } from 'node:util';
import { DiscoveryListener } from './ws-discovery.ts';

export async function runCamerasWatch(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, strict: true, options: { interface: { type: 'string', multiple: true, default: [] }, duration: { type: 'string' } } }));
  } catch (err) {
    process.stderr.write(`venuebox cameras watch: ${(err as Error).message}\n`);
    return 2;
  }
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (duration !== undefined && !(duration > 0)) {
    process.stderr.write('venuebox cameras watch: --duration must be a positive number of seconds\n');
    return 2;
  }
  const listener = new DiscoveryListener(values.interface);
  listener.on('hello', (d) => process.stdout.write(`${JSON.stringify({ event: 'hello', urn: d.urn, address: d.address, xaddrs: d.xaddrsRewritten, name: d.name ?? null, mac: d.mac ?? null, at: new Date().toISOString() })}\n`));
  listener.on('bye', (b) => process.stdout.write(`${JSON.stringify({ event: 'bye', urn: b.urn, address: b.address, at: new Date().toISOString() })}\n`));
  listener.on('problem', (p) => process.stderr.write(`problem: ${p.where}: ${p.message}\n`));
  let interfaces;
  try {
    interfaces = await listener.start();
  } catch (err) {
    process.stderr.write(`venuebox cameras watch: cannot listen on UDP 3702: ${(err as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`watching for camera Hello/Bye on ${interfaces.map((i) => `${i.name} ${i.cidr}`).join(', ') || 'no interface'}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (duration !== undefined) setTimeout(resolve, duration * 1000).unref();
  });
  listener.close();
  return 0;
}
