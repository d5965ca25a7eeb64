/**
 * The readiness verdict of one event (or of the box as configured, when no event is given): the checks of
 * readiness.ts run for what that event needs — its cameras, its encoder, its ingest and bitrate, its length.
 */
import type { Config } from '../config/index.ts';
import { redact } from '../lib/redact.ts';
import { objectUrl } from '../uplink/uploader.ts';
import { checkCamera, checkClock, checkEncoder, checkIngestAndUplink, checkSpool, combine, type CheckResult, type Verdict } from './readiness.ts';
import { readFile } from 'node:fs/promises';
import { recordedCameras } from '../cameras/index.ts';
import type { CameraRegistry } from '../cameras/registry.ts';

export interface EventNeeds {
  id: string | null;
  /** Seconds recorded (pre-roll + event + post-roll). */
  seconds: number;
  cameraIds: string[];
}

const MIB = 1024 * 1024;
/** A camera's bitrate when it could not be measured (a 1080p camera at a typical setting). */
const FALLBACK_CAMERA_KBPS = 4000;

export async function readiness(config: Config, event: EventNeeds, ownedBytes: number, registry?: CameraRegistry): Promise<Verdict> {
  const checks: CheckResult[] = [];
  // Each camera as the agent records it: a configured rtsp URL, or a matched camera's stream from the registry
  // (with the frame rate its ONVIF profile promises — the "expected fps").
  const resolved = recordedCameras(config, registry);
  let kbps = 0;
  for (const id of event.cameraIds) {
    const configured = config.cameras.find((c) => c.id === id);
    if (!configured) {
      checks.push({ check: `camera ${id}`, grade: 'red', reason: 'not in the config' });
      continue;
    }
    const camera = resolved.cameras.find((c) => c.id === id);
    if (!camera) {
      const waiting = resolved.waiting.find((w) => w.id === id);
      checks.push({ check: `camera ${id}`, grade: 'red', reason: waiting?.reason ?? 'cannot be recorded' });
      kbps += configured.transcode?.bitrateKbps ?? FALLBACK_CAMERA_KBPS;
      continue;
    }
    // Cameras one after the other: a box on a weak CPU should not open every session at once.
    const result = await checkCamera({ cameraId: id, source: camera.source, fps: expectedFps(configured, registry), maxKeyframeIntervalMs: config.recording.segmentSeconds * 1000 });
    checks.push({ ...result, reason: redact(result.reason) });
    const measured = Number(result.detail?.['bitrateKbps']);
    kbps += configured.transcode?.bitrateKbps ?? (Number.isFinite(measured) && measured > 0 ? measured : FALLBACK_CAMERA_KBPS);
  }
  const cameras = config.cameras.filter((c) => event.cameraIds.includes(c.id));
  kbps = Math.round(kbps);

  checks.push(await checkEncoder(cameras.some((c) => c.transcode !== undefined)));

  const uplink = config.uplink;
  if (!uplink) {
    checks.push({ check: 'ingest', grade: 'red', reason: 'no ingest configured (uplink.url): the event would stay on the box' });
  } else {
    const headers: Record<string, string> = {};
    if (uplink.auth?.password !== undefined && uplink.urlTemplate === undefined) headers[uplink.auth.header] = uplink.auth.password;
    const target = { boxId: config.boxId, baseUrl: uplink.url, urlTemplate: uplink.urlTemplate, token: uplink.urlTemplate !== undefined ? uplink.auth?.password : undefined };
    const ca = uplink.caFile !== undefined ? await readFile(uplink.caFile, 'utf8') : undefined;
    const results = await checkIngestAndUplink({ url: (name) => objectUrl(target, event.id, '_readiness', name), headers, ca }, kbps);
    checks.push(...results.map((r) => ({ ...r, reason: redact(r.reason) })));
  }

  checks.push(
    await checkSpool({
      spoolDir: config.paths.spool,
      maxBytes: config.spool.maxMegabytes * MIB,
      minFreeBytes: config.spool.minFreeMegabytes * MIB,
      ownedBytes,
      eventSeconds: event.seconds,
      kbps,
    }),
  );
  checks.push(await checkClock());
  return combine(event.id, checks);
}

/** The frame rate a matched camera's ONVIF profile promises; undefined for a plain rtsp URL (nothing promised). */
function expectedFps(camera: Config['cameras'][number], registry: CameraRegistry | undefined): number | undefined {
  const match = camera.match;
  if (!match || !registry) return undefined;
  const found = registry.find(match);
  const profile = match.profile ? found?.profiles.find((p) => p.token === match.profile) : found?.profiles.find((p) => p.streamUri);
  return profile?.fps ?? undefined;
}

/** People's view: one line per check. */
export function formatVerdict(verdict: Verdict): string {
  const mark = { green: 'ok   ', amber: 'WARN ', red: 'FAIL ' } as const;
  const lines = [`readiness${verdict.eventId ? ` of event ${verdict.eventId}` : ''}: ${verdict.verdict.toUpperCase()}`];
  for (const c of verdict.checks) lines.push(`  ${mark[c.grade]} ${c.check.padEnd(18)} ${c.reason}`);
  return lines.join('\n') + '\n';
}
