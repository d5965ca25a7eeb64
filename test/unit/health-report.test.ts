// The health report as the controller receives it (issue 6): it validates against the contract, merges each
// camera's quality with its pipeline, and a box with 8 recording cameras stays within the ~2 KB budget; the CPU
// temperature and load come from sysfs and /proc (a sysfs tree of real files stands in for a box's hardware).
import test from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { BoxSampler, findCpuTemperatureFile, findGpuBusyFiles, parseProcStat } from '../../agent/health/box-sampler.ts';
import { HealthReporter, type HealthSources } from '../../agent/health/index.ts';
import { healthSchema } from '../../agent/uplink/topics.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const cameraIds = Array.from({ length: 8 }, (_, i) => `cam${i + 1}`);

function sources(spoolPath: string, overrides: Partial<HealthSources> = {}): HealthSources {
  return {
    boxId: 'stadium-north-01',
    bootId: '6f1c2a4e-9b7d-4c1e-8a55-0d3e2f1b7c90',
    versions: { agent: '0.1.0', node: '20.20.2', gstreamer: '1.22.0' },
    encoderProfile: () => null,
    spoolPath,
    cameras: () =>
      cameraIds.map((cameraId) => ({ cameraId, quality: 'good' as const, reasons: [], describe: { ok: true, status: 200, latencyMs: 4, at: new Date().toISOString() }, stream: { fps: 25, bitrateKbps: 2011, keyframeIntervalMs: 2000 } })),
    pipelines: () =>
      cameraIds.map((streamId) => ({ streamId, state: 'running' as const, pid: 1234, restarts: 0, segments: 1843, lastSegmentAt: new Date().toISOString(), lastError: undefined, bitrateKbps: 2011.4, fps: 25.02, keyframeIntervalMs: 2000 })),
    spool: () => ({ segments: 14_744, bytes: 7_412_300_112, backlogSegments: 3, backlogBytes: 1_512_336, oldestBacklogAgeSeconds: 6, evictions: 0, evictedBytes: 0, lost: 0 }),
    uplink: () => ({ state: 'online', reason: null, throughputKbps: 48_213, uploaded: 14_741, uploadedBytes: 7_410_787_776, failures: 2, lastError: null, liveLagMs: 812 }),
    outbox: () => ({ queued: 0, oldestAgeSeconds: null, thinnedHealth: 0, droppedEvents: 0 }),
    mqtt: () => ({ connects: 3, replayed: 412, refused: 0, dropped: 0 }),
    schedule: () => ({ timezone: 'Europe/Berlin', running: ['2026-11-28-home-vs-away'], next: { id: '2026-12-05-away-vs-home', start: '2026-12-05T14:30:00.000Z' } }),
    ...overrides,
  };
}

test('a box with 8 recording cameras: the health report validates against the contract and stays within 2 KB', async (t) => {
  const dir = await makeTempDir('health-report');
  t.teardown(() => dir.remove());
  const reporter = new HealthReporter(sources(dir.path), 30_000, () => undefined);
  await reporter.start(); // a real sample of this machine (CPU, memory, the spool's disk)
  t.teardown(() => reporter.stop());
  const report = reporter.report();
  const parsed = healthSchema.safeParse(report);
  t.true(parsed.success, parsed.error?.message);
  const bytes = Buffer.byteLength(JSON.stringify(report));
  t.true(bytes <= 2048, `${bytes} bytes: ${JSON.stringify(report)}`);
  t.log(`${bytes} bytes with 8 cameras; one camera: ${JSON.stringify(report.cameras['cam1'])}`);
  t.deepEqual(report.cameras['cam1'], { quality: 'good', pipeline: 'running', segments: 1843, kbps: 2011, fps: 25, keyframeMs: 2000 });
  t.true(report.cpu.cores > 0 && report.memory.totalBytes > 0 && report.disk.freeBytes > 0);
  t.deepEqual(report.mqtt, { connects: 3, replayed: 412, refused: 0, dropped: 0 });
});

test('a camera not recorded now has its quality only; a troubled one says why, with restarts, last error and live outputs', (t) => {
  const reporter = new HealthReporter(
    sources('/', {
      cameras: () => [
        { cameraId: 'wide', quality: 'good', reasons: [], describe: null, stream: null },
        { cameraId: 'tight', quality: 'degraded', reasons: ['12 fps, expected 25'], describe: { ok: false, status: null, latencyMs: 5000, at: new Date().toISOString() }, stream: null },
      ],
      pipelines: () => [
        {
          streamId: 'tight',
          state: 'backoff',
          pid: undefined,
          restarts: 2,
          segments: 10,
          lastSegmentAt: undefined,
          lastError: 'rtspsrc: Could not open resource for reading',
          bitrateKbps: undefined,
          fps: undefined,
          keyframeIntervalMs: undefined,
          live: [{ cameraId: 'tight', output: 0, kind: 'srt', url: 'srt://cdn.example:9000', state: 'retrying', reason: 'connection refused', since: new Date().toISOString(), bitrateKbps: undefined, connects: 1 }] as never,
        },
      ],
    }),
    30_000,
    () => undefined,
  );
  const report = reporter.report();
  t.true(healthSchema.safeParse(report).success);
  t.deepEqual(report.cameras, {
    wide: { quality: 'good' },
    tight: {
      quality: 'degraded',
      reasons: ['12 fps, expected 25'],
      pipeline: 'backoff',
      segments: 10,
      restarts: 2,
      lastError: 'rtspsrc: Could not open resource for reading',
      live: [{ kind: 'srt', state: 'retrying', reason: 'connection refused', kbps: null, connects: 1 }],
    },
  });
});

/** A sysfs tree with the given files (path below the root → content). */
async function sysfs(t: { teardown(fn: () => Promise<void>): void }, files: Record<string, string>): Promise<string> {
  const dir = await makeTempDir('sysfs');
  t.teardown(() => dir.remove());
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir.path, file)), { recursive: true });
    await writeFile(path.join(dir.path, file), `${content}\n`);
  }
  return dir.path;
}

test('the CPU temperature comes from the package sensor of the CPU\'s hwmon driver, before any thermal zone', async (t) => {
  const intel = await sysfs(t, {
    'class/hwmon/hwmon0/name': 'acpitz',
    'class/hwmon/hwmon0/temp1_input': '27800',
    'class/hwmon/hwmon2/name': 'coretemp',
    'class/hwmon/hwmon2/temp2_label': 'Core 0',
    'class/hwmon/hwmon2/temp2_input': '51000',
    'class/hwmon/hwmon2/temp1_label': 'Package id 0',
    'class/hwmon/hwmon2/temp1_input': '53000',
    'class/thermal/thermal_zone0/type': 'x86_pkg_temp',
    'class/thermal/thermal_zone0/temp': '53000',
  });
  t.is(await findCpuTemperatureFile(intel), path.join(intel, 'class/hwmon/hwmon2/temp1_input'));

  const amd = await sysfs(t, {
    'class/hwmon/hwmon1/name': 'k10temp',
    'class/hwmon/hwmon1/temp1_label': 'Tctl',
    'class/hwmon/hwmon1/temp1_input': '61250',
    'class/hwmon/hwmon1/temp3_label': 'Tccd1',
    'class/hwmon/hwmon1/temp3_input': '58000',
  });
  t.is(await findCpuTemperatureFile(amd), path.join(amd, 'class/hwmon/hwmon1/temp1_input'));

  const zonesOnly = await sysfs(t, {
    'class/thermal/thermal_zone0/type': 'acpitz',
    'class/thermal/thermal_zone0/temp': '27800',
    'class/thermal/thermal_zone1/type': 'x86_pkg_temp',
    'class/thermal/thermal_zone1/temp': '47500',
  });
  t.is(await findCpuTemperatureFile(zonesOnly), path.join(zonesOnly, 'class/thermal/thermal_zone1/temp'), 'the package zone before the ACPI one');

  t.is(await findCpuTemperatureFile(await sysfs(t, { 'class/thermal/cooling_device0/type': 'Processor' })), undefined, 'a VM exposes none');

  // The sampler reads it in degrees Celsius.
  const spool = await makeTempDir('health-spool');
  t.teardown(() => spool.remove());
  const sampler = new BoxSampler(spool.path, 60_000, pino({ level: 'silent' }), amd);
  await sampler.start();
  t.teardown(() => sampler.stop());
  t.is(sampler.current()?.cpu.temperatureC, 61.3);
});

test('CPU load is the busy share of /proc/stat\'s jiffies (idle and iowait are not busy)', (t) => {
  t.deepEqual(parseProcStat('cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n'), { busy: 160, total: 1000 });
  t.is(parseProcStat('intr 12 3\n'), undefined);
});

test('GPU use is read where the driver exposes it (amdgpu\'s gpu_busy_percent), the busiest card; absent elsewhere', async (t) => {
  const amd = await sysfs(t, {
    'class/drm/card0/device/gpu_busy_percent': '12',
    'class/drm/card1/device/gpu_busy_percent': '47',
    'class/drm/card1-HDMI-A-1/status': 'connected',
    'class/drm/renderD128/dev': '226:128',
  });
  t.deepEqual(await findGpuBusyFiles(amd), [path.join(amd, 'class/drm/card0/device/gpu_busy_percent'), path.join(amd, 'class/drm/card1/device/gpu_busy_percent')]);
  const spool = await makeTempDir('health-spool');
  t.teardown(() => spool.remove());
  const sampler = new BoxSampler(spool.path, 60_000, pino({ level: 'silent' }), amd);
  await sampler.start();
  t.teardown(() => sampler.stop());
  t.is(sampler.current()?.gpuBusyPercent, 47);

  const intel = await sysfs(t, { 'class/drm/card0/gt_act_freq_mhz': '350', 'class/drm/card0/device/vendor': '0x8086' });
  t.deepEqual(await findGpuBusyFiles(intel), [], 'i915 has no busy file: unknown, not 0');
});

test('thermal and disk go on the timeline once per crossing: hot at 85 °C, normal again below 80; disk low, ok again above 1.25 × the mark', async (t) => {
  const sys = await sysfs(t, { 'class/hwmon/hwmon0/name': 'coretemp', 'class/hwmon/hwmon0/temp1_label': 'Package id 0', 'class/hwmon/hwmon0/temp1_input': '70000' });
  const spool = await makeTempDir('health-spool');
  t.teardown(() => spool.remove());
  const events: Array<Record<string, unknown>> = [];
  const src = sources(spool.path, { sysRoot: sys, publishEvent: (e) => events.push(e), diskLowBytes: 1 });
  const reporter = new HealthReporter(src, 30_000, () => undefined);
  await reporter.start();
  t.teardown(() => reporter.stop());
  const step = async (milliC: number) => {
    await writeFile(path.join(sys, 'class/hwmon/hwmon0/temp1_input'), `${milliC}\n`);
    await reporter.refresh();
    reporter.report();
  };
  await step(70_000);
  await step(86_000);
  await step(82_000); // still hot: within the 5 °C hysteresis
  await step(90_000);
  await step(79_000);
  t.deepEqual(
    events.filter((e) => e['type'] === 'thermal').map((e) => [e['state'], e['temperatureC']]),
    [['hot', 86], ['normal', 79]],
  );
  // The disk: low once its free space is under the mark (here: a mark above what this disk has), ok again above 1.25 ×.
  const free = reporter.report().disk.freeBytes;
  src.diskLowBytes = free * 2;
  await step(70_000);
  src.diskLowBytes = Math.floor(free / 1.2); // above the mark, but not by 25 %: still low
  await step(70_000);
  src.diskLowBytes = Math.floor(free / 2);
  await step(70_000);
  t.deepEqual(events.filter((e) => e['type'] === 'disk').map((e) => e['state']), ['low', 'ok']);
});
