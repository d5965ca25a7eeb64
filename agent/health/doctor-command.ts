/**
 * `venuebox doctor [--config FILE] [--event ID] [--hours N] [--json]`: will the next event (or event ID) go
 * out? Runs every readiness check for real (agent/health/readiness.ts) and prints one line per check, or with
 * --json the verdict document the agent also publishes. Exit 0 green, 1 amber, 3 red, 2 bad arguments or
 * config. Safe beside a running agent: it opens its own short camera sessions and uploads scratch objects only.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config/index.ts';
import { Store } from '../store/index.ts';
import { CameraRegistry } from '../cameras/registry.ts';
import { formatVerdict, readiness, type EventNeeds } from './doctor.ts';

export interface DoctorIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/** Finds what an event needs from the box's stored schedule; null when the box has no such event. */
export type EventResolver = (config: Config, store: Store, eventId: string | undefined) => EventNeeds | null | Promise<EventNeeds | null>;

export const EXIT: Record<'green' | 'amber' | 'red', number> = { green: 0, amber: 1, red: 3 };

export async function runDoctor(args: string[], configFile: string, resolveEvent: EventResolver, io: DoctorIo = { out: process.stdout, err: process.stderr }): Promise<number> {
  let values: { config?: string | undefined; event?: string | undefined; hours: string; json: boolean };
  try {
    values = parseArgs({
      args,
      strict: true,
      options: { config: { type: 'string' }, event: { type: 'string' }, hours: { type: 'string', default: '2' }, json: { type: 'boolean', default: false } },
    }).values as typeof values;
  } catch (err) {
    io.err.write(`venuebox doctor: ${(err as Error).message}\nusage: venuebox doctor [--config FILE] [--event ID] [--hours N] [--json]\n`);
    return 2;
  }
  const hours = Number(values.hours);
  if (!Number.isFinite(hours) || hours <= 0 || hours > 24) {
    io.err.write('venuebox doctor: --hours must be between 0 and 24\n');
    return 2;
  }
  let config: Config;
  try {
    config = await loadConfig(values.config ?? configFile);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const issue of err.issues) io.err.write(`${issue.path}: ${issue.message}\n`);
    return 2;
  }
  const store = Store.open(config.paths.database);
  try {
    let event = await resolveEvent(config, store, values.event);
    if (values.event !== undefined && event === null) {
      io.err.write(`venuebox doctor: no event "${values.event}" in this box's schedule\n`);
      return 2;
    }
    // No event: the box as configured, every camera, for --hours.
    event ??= { id: null, seconds: hours * 3600, cameraIds: config.cameras.map((c) => c.id) };
    const owned = (store.prepare("SELECT coalesce(sum(bytes), 0) AS b FROM segments WHERE state IN ('pending', 'uploaded')").get() as { b: number }).b;
    const verdict = await readiness(config, event, owned, new CameraRegistry(store));
    io.out.write(values.json ? `${JSON.stringify(verdict, null, 2)}\n` : formatVerdict(verdict));
    return EXIT[verdict.verdict];
  } finally {
    store.close();
  }
}
