/**
 * Samples the box on a timer so that building a health report never waits on it. A failed sample keeps the
 * previous values and is counted, never thrown into a publisher.
 *
 * CPU load and temperature are read here from /proc/stat and sysfs, not through systeminformation: its
 * `currentLoad()` runs `cat /proc/stat` with execSync (blocking the event loop) and `cpuTemperature()` starts
 * two or three shells per call (cat, a hwmon loop, `sensors`) — together most of what an idle agent spent
 * (bench/telemetry --cpu-prof). Memory still comes from systeminformation's `mem()`, which reads /proc/meminfo.
 */
import si from 'systeminformation';
import { execFile } from 'node:child_process';
import { access, readdir, readFile, statfs } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { availableParallelism, loadavg } from 'node:os';
import type { Logger } from '../lib/log.ts';
import { errorMessage } from '../lib/errors.ts';

export interface BoxSample {
  takenAt: string;
  /** Busy share of the GPU (its video engines included), where the driver exposes one; undefined otherwise. */
  gpuBusyPercent: number | undefined;
  cpu: { loadPercent: number; load1: number; cores: number; temperatureC: number | null };
  memory: { totalBytes: number; usedBytes: number; agentRssBytes: number };
  disk: { totalBytes: number; freeBytes: number };
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

/** Jiffies from the aggregate `cpu` line of /proc/stat: busy (all but idle and iowait) and total. */
export function parseProcStat(text: string): { busy: number; total: number } | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  // user nice system idle iowait irq softirq steal (guest and guest_nice are already inside user and nice).
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n))) return undefined;
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/** hwmon drivers that measure the CPU package, best first, and the sensor label to prefer within each. */
const HWMON_CPU = [
  { name: 'coretemp', label: /^package id/i }, // Intel
  { name: 'k10temp', label: /^(tdie|tctl)$/i }, // AMD
  { name: 'zenpower', label: /^(tdie|tctl)$/i },
  { name: 'cpu_thermal', label: /./ }, // Raspberry Pi and other ARM boards
  { name: 'soc_thermal', label: /./ },
  { name: 'acpitz', label: /./ },
];
/** Thermal zones that stand for the CPU, best first, when no hwmon driver above is there. */
const ZONE_CPU = ['x86_pkg_temp', 'cpu-thermal', 'cpu_thermal', 'soc_thermal', 'soc-thermal', 'acpitz'];

/**
 * The GPUs' busy files: amdgpu exposes `gpu_busy_percent` per card in sysfs (Intel's i915 only through perf
 * counters, NVIDIA through nvidia-smi — neither cheap nor unprivileged, so not read). Empty when none.
 */
export async function findGpuBusyFiles(sysRoot = '/sys'): Promise<string[]> {
  const drm = path.join(sysRoot, 'class/drm');
  const cards = (await readdir(drm).catch(() => [] as string[])).filter((c) => /^card\d+$/.test(c)).sort();
  const files: string[] = [];
  for (const card of cards) {
    const file = path.join(drm, card, 'device/gpu_busy_percent');
    if (await access(file).then(() => true, () => false)) files.push(file);
  }
  return files;
}

/**
 * The one sysfs file (millidegrees Celsius) that gives the CPU's temperature on this box, found once: a hwmon CPU
 * driver's package sensor, else a CPU thermal zone; undefined when the box exposes none (VMs, containers).
 */
export async function findCpuTemperatureFile(sysRoot = '/sys'): Promise<string | undefined> {
  const read = (file: string) => readFile(file, 'utf8').then((t) => t.trim(), () => undefined);
  const list = (dir: string) => readdir(dir).then((names) => names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })), () => [] as string[]);
  const hwmonDir = path.join(sysRoot, 'class/hwmon');
  const hwmons = await Promise.all((await list(hwmonDir)).map(async (h) => ({ dir: path.join(hwmonDir, h), name: await read(path.join(hwmonDir, h, 'name')) })));
  for (const wanted of HWMON_CPU) {
    for (const hwmon of hwmons.filter((h) => h.name === wanted.name)) {
      const inputs = (await list(hwmon.dir)).filter((f) => /^temp\d+_input$/.test(f));
      let fallback: string | undefined;
      for (const input of inputs) {
        const label = await read(path.join(hwmon.dir, input.replace('_input', '_label')));
        if (label !== undefined && wanted.label.test(label)) return path.join(hwmon.dir, input);
        fallback ??= path.join(hwmon.dir, input);
      }
      if (fallback) return fallback;
    }
  }
  const zoneDir = path.join(sysRoot, 'class/thermal');
  const zones = await Promise.all((await list(zoneDir)).filter((z) => z.startsWith('thermal_zone')).map(async (z) => ({ file: path.join(zoneDir, z, 'temp'), type: await read(path.join(zoneDir, z, 'type')) })));
  for (const type of ZONE_CPU) {
    const zone = zones.find((z) => z.type === type);
    if (zone) return zone.file;
  }
  return undefined;
}

export class BoxSampler {
  private latest: BoxSample | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  private failures = 0;
  private clock: ClockSync = { synchronized: null, offsetMs: null };
  private clockAt = 0;
  private temperatureFile: string | undefined;
  private gpuBusyFiles: string[] = [];
  private lastCpu: { busy: number; total: number } | undefined;

  constructor(
    private readonly spoolPath: string,
    private readonly intervalMs: number,
    private readonly log: Logger,
    private readonly sysRoot = '/sys',
  ) {}

  /** Takes a first sample (so the first report has numbers), then samples every `intervalMs`. */
  async start(): Promise<void> {
    this.temperatureFile = await findCpuTemperatureFile(this.sysRoot);
    this.gpuBusyFiles = await findGpuBusyFiles(this.sysRoot);
    this.log.debug({ temperatureFile: this.temperatureFile ?? null, gpuBusyFiles: this.gpuBusyFiles }, 'CPU temperature and GPU load sources');
    // A first reading of /proc/stat: the first sample's load is the average since this one, not since boot.
    this.lastCpu = parseProcStat(await readFile('/proc/stat', 'utf8'));
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

  /** A sample now (shared with one already running). */
  sampleNow(): Promise<void> {
    return this.sample();
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
      const [stat, mem, temp, fs, gpu] = await Promise.all([
        readFile('/proc/stat', 'utf8'),
        si.mem(),
        this.temperatureFile ? readFile(this.temperatureFile, 'utf8').catch(() => undefined) : undefined,
        statfs(this.spoolPath),
        Promise.all(this.gpuBusyFiles.map((f) => readFile(f, 'utf8').then(Number, () => NaN))),
      ]);
      // Several GPUs: the busiest (the one doing the encoding shows).
      const gpuBusy = gpu.filter(Number.isFinite);
      const cpu = parseProcStat(stat);
      const previous = this.lastCpu;
      this.lastCpu = cpu;
      const loadPercent = cpu && previous && cpu.total > previous.total ? (100 * (cpu.busy - previous.busy)) / (cpu.total - previous.total) : 0;
      const milliC = Number(temp);
      this.latest = {
        takenAt: new Date().toISOString(),
        gpuBusyPercent: gpuBusy.length > 0 ? Math.max(...gpuBusy) : undefined,
        cpu: {
          loadPercent: Math.round(loadPercent * 10) / 10,
          load1: Math.round((loadavg()[0] ?? 0) * 100) / 100,
          cores: availableParallelism(),
          temperatureC: temp !== undefined && Number.isFinite(milliC) ? Math.round(milliC / 100) / 10 : null,
        },
        // `active` excludes cache and buffers: what programs really hold.
        memory: { totalBytes: mem.total, usedBytes: mem.active, agentRssBytes: process.memoryUsage.rss() },
        disk: { totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize },
        clock: this.clock,
      };
    } catch (err) {
      this.failures += 1;
      this.log.warn({ err: errorMessage(err), failures: this.failures }, 'health sample failed; keeping the previous one');
    }
  }
}
