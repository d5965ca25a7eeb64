/**
 * Discovery while the agent runs: a scan at start and every `rescanMinutes`, and Hello/Bye between scans
 * (a camera plugged in later appears without waiting for the next scan). Every camera found is
 * interrogated and recorded in the registry by identity; a new camera, an address change and a refused
 * login are events. After each change the agent re-resolves the configured cameras, so a `match`ed camera
 * starts recording as soon as it is found.
 */
import { EventEmitter } from 'node:events';
import { scanCameras, type ScannedCamera } from './camera-scan.ts';
import { interrogateCamera } from './camera-interrogation.ts';
import { DiscoveryListener, type DiscoveredDevice } from './ws-discovery.ts';
import type { CameraRegistry, RegistryChange } from './registry.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../lib/log.ts';
import { errorMessage } from '../lib/errors.ts';

export type DiscoveryEvent =
  | { type: 'camera-discovered' | 'camera-moved'; cameraId: string; urn: string | null; address: string; previousAddress?: string | null; model: string | null }
  | { type: 'camera-auth-refused'; cameraId: string | null; address: string }
  | { type: 'camera-bye'; urn: string; address: string };

export class CameraDiscoveryService extends EventEmitter<{ event: [DiscoveryEvent]; changed: [] }> {
  private listener: DiscoveryListener | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private scanning: Promise<void> | undefined;
  private lastScan: { cameras: Array<{ id?: string | undefined; address: string; model?: string | undefined }>; problems: number } | undefined;
  private readonly interrogating = new Set<string>();

  constructor(
    private readonly config: Config['discovery'],
    private readonly registry: CameraRegistry,
    private readonly log: Logger,
  ) {
    super();
  }

  async start(): Promise<void> {
    if (!this.config.enabled) return;
    const listener = new DiscoveryListener(this.config.interfaces);
    this.listener = listener;
    listener.on('hello', (device) => void this.onHello(device));
    listener.on('bye', (bye) => {
      this.log.info(bye, 'camera said Bye');
      this.emit('event', { type: 'camera-bye', ...bye });
    });
    listener.on('problem', (problem) => this.log.warn(problem, 'discovery problem'));
    try {
      await listener.start();
    } catch (err) {
      // Another program holds UDP 3702 without SO_REUSEADDR: scans still work, Hello is not heard.
      this.log.error({ err: errorMessage(err) }, 'cannot listen for camera Hello on UDP 3702; relying on periodic scans');
    }
    this.scanning = this.scan();
    if (this.config.rescanMinutes > 0) {
      this.timer = setInterval(() => {
        this.scanning ??= this.scan();
      }, this.config.rescanMinutes * 60_000);
      this.timer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.listener?.close();
  }

  /** A scan now (the `rescan-cameras` command); joins one already running. Answers with what it found. */
  async rescan(): Promise<{ cameras: Array<{ id?: string | undefined; address: string; model?: string | undefined }>; problems: number }> {
    this.scanning ??= this.scan();
    await this.scanning;
    return this.lastScan ?? { cameras: [], problems: 0 };
  }

  private async scan(): Promise<void> {
    try {
      const result = await scanCameras({
        interfaces: this.config.interfaces,
        subnets: this.config.subnets,
        ports: this.config.ports,
        windowMs: this.config.probeWindowSeconds * 1000,
        repeats: this.config.probeRepeats,
        sweepConcurrency: this.config.sweepConcurrency,
        connectTimeoutMs: this.config.connectTimeoutMs,
        username: this.config.username,
        password: this.config.password,
      });
      if (this.stopped) return;
      for (const problem of result.problems) this.log.warn(problem, 'discovery problem');
      for (const camera of result.cameras) this.record(camera);
      this.lastScan = { cameras: result.cameras.map((c) => ({ id: c.id, address: c.address, model: c.model })), problems: result.problems.length };
      this.log.info({ cameras: result.cameras.length, interfaces: result.interfaces, subnets: this.config.subnets }, 'camera scan finished');
      this.emit('changed');
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'camera scan failed; the next one runs at the rescan interval');
    } finally {
      this.scanning = undefined;
    }
  }

  private async onHello(device: DiscoveredDevice): Promise<void> {
    const url = device.xaddrsRewritten[0];
    if (!url || this.interrogating.has(device.urn) || this.stopped) return;
    const known = this.registry.find({ urn: device.urn });
    if (known && known.address === device.address && known.profiles.length > 0) return; // a reboot, nothing new
    this.interrogating.add(device.urn);
    try {
      const result = await interrogateCamera({ deviceServiceUrl: url, username: this.config.username, password: this.config.password, timeoutMs: Math.max(2000, this.config.connectTimeoutMs * 3) });
      if (this.stopped) return;
      this.record({ ...result, id: undefined, urn: device.urn, name: device.name, location: device.location, xaddrs: device.xaddrsRewritten, foundBy: ['multicast'], mac: result.mac ?? device.mac });
      this.emit('changed');
    } finally {
      this.interrogating.delete(device.urn);
    }
  }

  private record(camera: ScannedCamera): void {
    if (camera.auth === 'refused') {
      this.log.warn({ address: camera.address, cameraId: camera.id }, 'camera refused the venue credentials');
      this.emit('event', { type: 'camera-auth-refused', cameraId: camera.id ?? null, address: camera.address });
    }
    if (!camera.urn && !camera.mac) {
      this.log.warn({ address: camera.address, errors: camera.errors }, 'camera has neither URN nor MAC: not registered');
      return;
    }
    let change: RegistryChange;
    let registered;
    try {
      ({ camera: registered, change } = this.registry.observe({
        urn: camera.urn,
        mac: camera.mac,
        address: camera.address,
        xaddrs: camera.xaddrs,
        name: camera.name,
        manufacturer: camera.manufacturer,
        model: camera.model,
        firmware: camera.firmware,
        serial: camera.serial,
        clockOffsetMs: camera.clockOffsetMs,
        auth: camera.auth === 'refused' || camera.auth === 'unknown' ? undefined : camera.auth,
        // A refused login says nothing about the profiles: keep what the registry knew.
        profiles: camera.profiles.length > 0 ? camera.profiles : undefined,
      }));
    } catch (err) {
      this.log.error({ err: errorMessage(err), address: camera.address }, 'camera not registered');
      return;
    }
    if (change === 'seen') return;
    const type = change === 'new' ? 'camera-discovered' : 'camera-moved';
    this.log.info({ cameraId: registered.cameraId, address: registered.address, previousAddress: registered.previousAddress }, type === 'camera-moved' ? 'camera moved to a new address' : 'new camera discovered');
    this.emit('event', { type, cameraId: registered.cameraId, urn: registered.urn ?? null, address: registered.address, previousAddress: registered.previousAddress ?? null, model: registered.model ?? null });
  }
}
