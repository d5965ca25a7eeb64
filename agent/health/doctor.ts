/**
 * The readiness verdict of one event (or of the box as configured, when no event is given): the checks of
 * readiness.ts run for what that event needs — its cameras, its encoder, its ingest and bitrate, its length.
 */
import type { Config } from '../config/index.ts';
import { redact } from '../lib/redact.ts';
import { objectUrl } from '../uplink/uploader.ts';
import { checkCamera, checkClock, checkEncoder, checkIngestAndUplink, checkSpool, combine, type CheckResult, type Verdict } from './readiness.ts';
import { readFile } from 'node:fs/promises';

export interface EventNeeds {
  id: string | null;
  /** Seconds recorded (pre-roll + event + post-roll). */
  seconds: number;
  cameraIds: string[];
}

const MIB = 1024 * 1024;
/** A camera's bitrate when it could not be measured (a 1080p camera at a typical setting). */
const FALLBACK_CAMERA_KBPS = 4000;

export async function readiness(config: Config, event: EventNeeds, ownedBytes: number): Promise<Verdict> {
  const cameras = config.cameras.filter((c) => event.cameraIds.includes(c.id));
  const checks: CheckResult[] = [];
  const unknown = event.cameraIds.filter((id) => !cameras.some((c) => c.id === id));
  for (const id of unknown) checks.push({ check: `camera ${id}`, grade: 'red', reason: 'not in the config' });

  // Cameras one after the other: a box on a weak CPU should not open every session at once.
  let kbps = 0;
  for (const camera of cameras) {
    if (!camera.rtsp) {
      checks.push({ check: `camera ${camera.id}`, grade: 'amber', reason: 'matched by discovery: checked once the agent has found it' });
      kbps += camera.transcode?.bitrateKbps ?? FALLBACK_CAMERA_KBPS;
      continue;
    }
    const result = await checkCamera({
      cameraId: camera.id,
      source: { uri: camera.rtsp, transport: camera.transport, latencyMs: camera.latencyMs, username: camera.username, password: camera.password },
      maxKeyframeIntervalMs: config.recording.segmentSeconds * 1000,
    });
    checks.push({ ...result, reason: redact(result.reason) });
    const measured = Number(result.detail?.['bitrateKbps']);
    kbps += camera.transcode?.bitrateKbps ?? (Number.isFinite(measured) && measured > 0 ? measured : FALLBACK_CAMERA_KBPS);
  }
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

/** People's view: one line per check. */
export function formatVerdict(verdict: Verdict): string {
  const mark = { green: 'ok   ', amber: 'WARN ', red: 'FAIL ' } as const;
  const lines = [`readiness${verdict.eventId ? ` of event ${verdict.eventId}` : ''}: ${verdict.verdict.toUpperCase()}`];
  for (const c of verdict.checks) lines.push(`  ${mark[c.grade]} ${c.check.padEnd(18)} ${c.reason}`);
  return lines.join('\n') + '\n';
}
