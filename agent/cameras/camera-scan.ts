/**
 * A full camera scan, as `venuebox cameras scan` and the agent run it: multicast WS-Discovery on every LAN
 * interface and a unicast sweep of configured subnets at the same time; a unicast Probe to every host the
 * sweep found (to learn its endpoint URN); then every camera is interrogated over ONVIF, a few at a time.
 * The result lists every camera with its errors, and the problems of the scan itself.
 */
import { interrogateCamera, type InterrogationResult } from './camera-interrogation.ts';
import { derivedCameraId, identityKey } from './registry.ts';
import { sweepSubnets } from './unicast-sweep.ts';
import { probeCameras, type DiscoveredDevice, type DiscoveryProblem } from './ws-discovery.ts';
import { mapLimit } from '../lib/concurrency.ts';

export interface ScanOptions {
  interfaces: readonly string[];
  subnets: readonly string[];
  ports: readonly number[];
  windowMs: number;
  repeats: number;
  sweepConcurrency: number;
  connectTimeoutMs: number;
  username?: string | undefined;
  password?: string | undefined;
  /** Skip multicast (a sweep only). */
  multicast?: boolean;
  onProgress?: (progress: { phase: 'discovering' | 'interrogating'; found: number; swept?: number; sweepTotal?: number; interrogated?: number }) => void;
}

export interface ScannedCamera extends InterrogationResult {
  /** Stable id from the identity (URN, else MAC); undefined when the camera gave neither. */
  id: string | undefined;
  urn: string | undefined;
  name: string | undefined;
  location: string | undefined;
  xaddrs: string[];
  foundBy: Array<'multicast' | 'sweep'>;
}

export interface ScanResult {
  cameras: ScannedCamera[];
  problems: DiscoveryProblem[];
  interfaces: string[];
}

export async function scanCameras(options: ScanOptions): Promise<ScanResult> {
  let found = 0;
  const report = (p: Parameters<NonNullable<ScanOptions['onProgress']>>[0]): void => options.onProgress?.(p);
  const [multicast, sweep] = await Promise.all([
    options.multicast === false
      ? Promise.resolve({ devices: [] as DiscoveredDevice[], problems: [] as DiscoveryProblem[], interfaces: [] })
      : probeCameras({ interfaces: options.interfaces, windowMs: options.windowMs, repeats: options.repeats }).then((r) => {
          found += r.devices.length;
          report({ phase: 'discovering', found });
          return r;
        }),
    sweepSubnets({
      subnets: options.subnets,
      ports: options.ports,
      concurrency: options.sweepConcurrency,
      timeoutMs: options.connectTimeoutMs,
      onProgress: (swept, sweepTotal, sweepFound) => report({ phase: 'discovering', found: found + sweepFound, swept, sweepTotal }),
    }),
  ]);
  const problems: DiscoveryProblem[] = [...multicast.problems, ...sweep.problems];

  // Candidates by device service URL; multicast ones carry their URN and scopes.
  const candidates = new Map<string, { url: string; discovered?: DiscoveredDevice; foundBy: Set<'multicast' | 'sweep'> }>();
  const byHost = new Map<string, string>();
  for (const device of multicast.devices) {
    const url = device.xaddrsRewritten[0];
    if (!url) {
      problems.push({ where: device.address, message: `${device.urn} answered without a usable XAddr` });
      continue;
    }
    candidates.set(url, { url, discovered: device, foundBy: new Set(['multicast']) });
    byHost.set(new URL(url).hostname, url);
  }
  const sweptOnly = sweep.found.filter((f) => {
    const known = candidates.get(f.deviceServiceUrl) ?? candidates.get(byHost.get(f.host) ?? '');
    if (known && new URL(known.url).port === new URL(f.deviceServiceUrl).port) {
      known.foundBy.add('sweep');
      return false;
    }
    return true;
  });
  if (sweptOnly.length > 0) {
    // A unicast Probe to each swept host: its answer carries the endpoint URN (the identity) and scopes.
    const unicast = await probeCameras({ multicast: false, unicastTargets: sweptOnly.map((f) => f.host), windowMs: Math.min(options.windowMs, 2000), repeats: 2 });
    const urnByHost = new Map(unicast.devices.map((d) => [d.address, d]));
    for (const f of sweptOnly) candidates.set(f.deviceServiceUrl, { url: f.deviceServiceUrl, ...(urnByHost.has(f.host) ? { discovered: urnByHost.get(f.host)! } : {}), foundBy: new Set(['sweep']) });
  }

  let interrogated = 0;
  const cameras = await mapLimit([...candidates.values()], 8, async (candidate) => {
    const result = await interrogateCamera({ deviceServiceUrl: candidate.url, username: options.username, password: options.password, timeoutMs: Math.max(2000, options.connectTimeoutMs * 3) });
    interrogated += 1;
    report({ phase: 'interrogating', found: candidates.size, interrogated });
    const d = candidate.discovered;
    const mac = result.mac ?? d?.mac;
    const key = identityKey({ urn: d?.urn, mac });
    return {
      ...result,
      mac,
      id: key ? derivedCameraId(key) : undefined,
      urn: d?.urn,
      name: d?.name,
      location: d?.location,
      xaddrs: d?.xaddrsRewritten ?? [candidate.url],
      foundBy: [...candidate.foundBy],
    } satisfies ScannedCamera;
  });
  const merged = mergeByIdentity(cameras);
  merged.sort((a, b) => a.address.localeCompare(b.address, 'en', { numeric: true }) || a.deviceServiceUrl.localeCompare(b.deviceServiceUrl));
  return { cameras: merged, problems, interfaces: multicast.interfaces.map((i) => `${i.name} ${i.cidr}`) };
}

/** One camera answering on several ports or found twice is one entry: the one with the fewest errors. */
function mergeByIdentity(cameras: ScannedCamera[]): ScannedCamera[] {
  const byId = new Map<string, ScannedCamera>();
  const anonymous: ScannedCamera[] = [];
  for (const camera of cameras) {
    if (!camera.id) {
      anonymous.push(camera);
      continue;
    }
    const seen = byId.get(camera.id);
    if (!seen) {
      byId.set(camera.id, camera);
      continue;
    }
    const [keep, drop] = camera.errors.length < seen.errors.length ? [camera, seen] : [seen, camera];
    keep.xaddrs = [...new Set([...keep.xaddrs, ...drop.xaddrs, drop.deviceServiceUrl])];
    keep.foundBy = [...new Set([...keep.foundBy, ...drop.foundBy])];
    byId.set(camera.id, keep);
  }
  return [...byId.values(), ...anonymous];
}
