/**
 * The health subsystem's face: builds the periodic health report from the latest box sample and the
 * subsystems' own `health()`, and hands it to a publisher every `intervalMs`.
 */
import type { HealthPayload } from '../uplink/topics.ts';
import type { PipelineHealth } from '../encoder/index.ts';
import type { LiveOutputHealth } from '../encoder/live-output-supervisor.ts';
import type { CameraHealthReport } from '../cameras/camera-monitor.ts';
import { BoxSampler, type BoxSample } from './box-sampler.ts';
import { logger } from '../lib/log.ts';

export interface HealthSources {
  boxId: string;
  bootId: string;
  versions: HealthPayload['versions'];
  /** The encoder profile in use; null when none is (passthrough only). */
  encoderProfile: () => string | null;
  spoolPath: string;
  pipelines: () => Array<PipelineHealth & { live?: LiveOutputHealth[] | undefined }>;
  cameras: () => CameraHealthReport[];
  spool: () => HealthPayload['spool'];
  uplink: () => HealthPayload['uplink'];
  outbox: () => HealthPayload['outbox'];
  mqtt: () => HealthPayload['mqtt'];
  schedule: () => HealthPayload['schedule'];
  /** The timeline's thermal and disk events go here (on a change of state, with hysteresis). */
  publishEvent?: (event: { type: string; [key: string]: unknown }) => void;
  /** Free space on the spool's file system below which the disk is reported low (before the quota must evict). */
  diskLowBytes?: number;
  /** Where sysfs is (tests give a tree of their own); default /sys. */
  sysRoot?: string;
}

/** The CPU is reported hot from here, and normal again 5 °C below (x86 mini-PCs throttle at ~95–100 °C). */
export const THERMAL_HOT_C = 85;

export class HealthReporter {
  private readonly sampler: BoxSampler;
  private timer: NodeJS.Timeout | undefined;
  private readonly startedAt = performance.now();

  constructor(
    private readonly sources: HealthSources,
    private readonly intervalMs: number,
    private readonly publish: (report: HealthPayload) => unknown,
  ) {
    // Sample a little more often than we report, so every report carries a fresh sample.
    this.sampler = new BoxSampler(sources.spoolPath, Math.max(1000, Math.floor(intervalMs / 2)), logger('health'), sources.sysRoot);
  }

  async start(): Promise<void> {
    await this.sampler.start();
    this.schedule();
  }

  /** A fresh sample now (the next report carries it). */
  refresh(): Promise<void> {
    return this.sampler.sampleNow();
  }

  stop(): void {
    clearInterval(this.timer);
    clearTimeout(this.soon);
    this.sampler.stop();
  }

  private soon: NodeJS.Timeout | undefined;

  /**
   * Something changed state (a camera, a pipeline, the uplink): a report goes out within a second instead
   * of at the next tick — several changes at once make one report — and the periodic timer restarts from it.
   */
  stateChanged(): void {
    if (this.soon || !this.timer) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.publish(this.report());
      this.schedule();
    }, 1000);
    this.soon.unref();
  }

  private schedule(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.publish(this.report()), this.intervalMs);
    this.timer.unref();
  }

  private thermalHot = false;
  private diskLow = false;

  /** Thermal and disk state changes as timeline events, each said once per crossing (hysteresis both ways). */
  private watchThresholds(sample: BoxSample): void {
    const publish = this.sources.publishEvent;
    if (!publish) return;
    const t = sample.cpu.temperatureC;
    if (t !== null) {
      const hot = this.thermalHot ? t >= THERMAL_HOT_C - 5 : t >= THERMAL_HOT_C;
      if (hot !== this.thermalHot) {
        this.thermalHot = hot;
        publish({ type: 'thermal', state: hot ? 'hot' : 'normal', temperatureC: t, hotC: THERMAL_HOT_C });
      }
    }
    const low = this.sources.diskLowBytes;
    const free = sample.disk.freeBytes;
    if (low !== undefined && sample.disk.totalBytes > 0 && (this.diskLow ? free >= low * 1.25 : free < low)) {
      this.diskLow = !this.diskLow;
      publish({ type: 'disk', state: this.diskLow ? 'low' : 'ok', freeBytes: free, lowBytes: low });
    }
  }

  report(): HealthPayload {
    const sample = this.sampler.current();
    if (sample) this.watchThresholds(sample);
    return {
      boxId: this.sources.boxId,
      bootId: this.sources.bootId,
      ts: new Date().toISOString(),
      uptimeSeconds: Math.round((performance.now() - this.startedAt) / 1000),
      versions: this.sources.versions,
      cpu: sample?.cpu ?? { loadPercent: 0, load1: 0, cores: 0, temperatureC: null },
      memory: sample?.memory ?? { totalBytes: 0, usedBytes: 0, agentRssBytes: process.memoryUsage.rss() },
      disk: sample?.disk ?? { totalBytes: 0, freeBytes: 0 },
      clock: sample?.clock ?? { synchronized: null, offsetMs: null },
      // Where the driver exposes it (amdgpu's sysfs file); absent (unknown) rather than guessed elsewhere.
      encoder: { profile: this.sources.encoderProfile(), ...(sample?.gpuBusyPercent !== undefined ? { gpuBusyPercent: sample.gpuBusyPercent } : {}) },
      schedule: this.sources.schedule(),
      spool: this.sources.spool(),
      uplink: this.sources.uplink(),
      outbox: this.sources.outbox(),
      mqtt: this.sources.mqtt(),
      cameras: cameraEntries(this.sources.cameras(), this.sources.pipelines()),
    };
  }
}

/** Camera quality and pipeline merged by camera id (a pipeline's stream id is its camera's id). */
function cameraEntries(cameras: CameraHealthReport[], pipelines: Array<PipelineHealth & { live?: LiveOutputHealth[] | undefined }>): HealthPayload['cameras'] {
  const entries: HealthPayload['cameras'] = {};
  for (const c of cameras) {
    entries[c.cameraId] = {
      quality: c.quality,
      ...(c.reasons.length > 0 ? { reasons: c.reasons } : {}),
    };
  }
  for (const p of pipelines) {
    entries[p.streamId] = {
      ...(entries[p.streamId] ?? { quality: 'unknown' }),
      pipeline: p.state,
      segments: p.segments,
      ...(p.bitrateKbps !== undefined ? { kbps: Math.round(p.bitrateKbps) } : {}),
      ...(p.fps !== undefined ? { fps: Math.round(p.fps * 10) / 10 } : {}),
      ...(p.keyframeIntervalMs !== undefined ? { keyframeMs: Math.round(p.keyframeIntervalMs) } : {}),
      ...(p.restarts > 0 ? { restarts: p.restarts } : {}),
      ...(p.lastError ? { lastError: p.lastError } : {}),
      ...(p.live && p.live.length > 0
        ? { live: p.live.map((o) => ({ kind: o.kind, state: o.state, reason: o.reason ?? null, kbps: o.bitrateKbps ?? null, connects: o.connects })) }
        : {}),
    };
  }
  return entries;
}
