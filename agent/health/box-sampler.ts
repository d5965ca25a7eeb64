/**
 * Samples the box on a timer (systeminformation) so that building a health report never waits on it:
 * `currentLoad()` takes ~560 ms on its first call and ~25 ms after (STACK-NOTES). A failed sample keeps the
 * previous values and is counted, never thrown into a publisher.
 */
import si from 'systeminformation';
import { execFile } from 'node:child_process';
import { access, statfs } from 'node:fs/promises';
import { promisify } from 'node:util';
import { availableParallelism, loadavg } from 'node:os';
import type { Logger } from '../lib/log.ts';
import { errorMessage } from '../lib/errors.ts';

export interface BoxSample {
  takenAt: string;
  cpu: { loadPercent: number; load1: number; cores: number; temperatureC: number | null };
  memory: { totalBytes: number; usedBytes: number; agentRssBytes: number };
  disk: { spoolPath: string; totalBytes: number; freeBytes: number };
  clock: ClockSync;
}

export interface ClockSync {
  synchronized: boolean | null;
  offsetMs: number | null;
}

const run = promisify(execFile);

/**
 * Whether the system clock is NTP-synchronised, from whichever time daemon the box runs: chrony (offset
 * and leap status from `chronyc -c tracking`), systemd-timesyncd (its `synchronized` flag file), or
 * `timedatectl`. Unknown (null) when none answers — e.g. in a container. Never throws.
 */
export async function clockSync(): Promise<ClockSync> {
  try {
    const { stdout } = await run('chronyc', ['-c', 'tracking'], { timeout: 2000 });
    // CSV: ref id, ref name, stratum, ref time, system time offset (s), …, leap status (last field).
    const fields = stdout.trim().split(',');
    const offset = Number(fields[4]);
    return { synchronized: fields.at(-1) === 'Normal', offsetMs: Number.isFinite(offset) ? Math.round(offset * 1e6) / 1e3 : null };
  } catch {
    // No chrony: try the next source.
  }
  try {
    await access('/run/systemd/timesync/synchronized');
    return { synchronized: true, offsetMs: null };
  } catch {
    // Not timesyncd (or not synchronised yet): ask timedatectl.
  }
  try {
    const { stdout } = await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { timeout: 2000 });
    const value = stdout.trim();
    return { synchronized: value === 'yes' ? true : value === 'no' ? false : null, offsetMs: null };
  } catch {
    return { synchronized: null, offsetMs: null };
  }
}

/** The clock is asked less often than the rest: it changes slowly and each ask runs a process. */
const CLOCK_EVERY_MS = 60_000;

export class BoxSampler {
  private latest: BoxSample | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private failures = 0;
  private clock: ClockSync = { synchronized: null, offsetMs: null };
  private clockAt = 0;

  constructor(
    private readonly spoolPath: string,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  /** Takes a first sample (so the first report has numbers), then samples every `intervalMs`. */
  async start(): Promise<void> {
    await this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  current(): BoxSample | undefined {
    return this.latest;
  }

  get failedSamples(): number {
    return this.failures;
  }

  private sample(): Promise<void> {
    // Never two samples at once: a slow systeminformation call must not pile up.
    this.sampling ??= this.takeSample().finally(() => (this.sampling = undefined));
    return this.sampling;
  }

  private async takeSample(): Promise<void> {
    try {
      if (performance.now() - this.clockAt > CLOCK_EVERY_MS || this.clockAt === 0) {
        this.clockAt = performance.now();
        this.clock = await clockSync();
      }
      const [load, mem, temp, fs] = await Promise.all([si.currentLoad(), si.mem(), si.cpuTemperature(), statfs(this.spoolPath)]);
      this.latest = {
        takenAt: new Date().toISOString(),
        cpu: {
          loadPercent: Math.round(load.currentLoad * 10) / 10,
          load1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
          cores: availableParallelism(),
          temperatureC: typeof temp.main === 'number' && Number.isFinite(temp.main) ? temp.main : null,
        },
        // `active` excludes cache and buffers: what programs really hold.
        memory: { totalBytes: mem.total, usedBytes: mem.active, agentRssBytes: process.memoryUsage.rss() },
        disk: { spoolPath: this.spoolPath, totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize },
        clock: this.clock,
      };
    } catch (err) {
      this.failures += 1;
      this.log.warn({ err: errorMessage(err), failures: this.failures }, 'health sample failed; keeping the previous one');
    }
  }
}
