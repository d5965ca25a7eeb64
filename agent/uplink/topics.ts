/**
 * The box's MQTT contract, declared once (STYLE 5): every topic under `{prefix}/{boxId}/` and its payload
 * type. Publishers use these helpers; the telemetry issue adds JSON Schemas and the AsyncAPI document.
 */
import type { SpoolStats } from './spool.ts';
import type { UplinkHealth } from './uploader.ts';
import type { OutboxStats } from './outbox.ts';

export interface StatusPayload {
  state: 'online' | 'offline';
  boxId: string;
  /** Random per agent start: lets the controller tell a restart from a reconnect. */
  bootId: string;
  /** Persisted across restarts, incremented at each start. */
  bootCount: number;
  version: string;
  ts: string;
  /** Why offline: `shutdown` (clean stop) or `connection-lost` (the last will, set by the broker). */
  reason?: 'shutdown' | 'connection-lost';
  cameras?: string[];
}

export interface HealthPayload {
  boxId: string;
  bootId: string;
  ts: string;
  uptimeSeconds: number;
  cpu: { loadPercent: number; load1: number; cores: number; temperatureC: number | null };
  memory: { totalBytes: number; usedBytes: number; agentRssBytes: number };
  disk: { spoolPath: string; totalBytes: number; freeBytes: number };
  spool: SpoolStats;
  /** null when no ingest is configured. */
  uplink: UplinkHealth | null;
  /** Messages waiting for the broker (durable outbox). */
  outbox: OutboxStats;
  cameras: Array<{
    cameraId: string;
    quality: string;
    reasons: string[];
    describe: { ok: boolean; status: number | null; latencyMs: number; at: string } | null;
  }>;
  pipelines: Array<{
    streamId: string;
    state: string;
    restarts: number;
    segments: number;
    lastSegmentAt: string | null;
    bitrateKbps: number | null;
    fps: number | null;
    keyframeIntervalMs: number | null;
    lastError: string | null;
  }>;
}

/** `cameras/{cameraId}`, retained: the last known state of each camera. */
export interface CameraStatePayload {
  cameraId: string;
  quality: 'good' | 'degraded' | 'offline' | 'unknown';
  reasons: string[];
  ts: string;
}

/** `events`: the box's timeline, one message per thing that happened. */
export interface EventPayload {
  type: string;
  ts: string;
  [detail: string]: unknown;
}

export interface TopicMap {
  status: StatusPayload;
  health: HealthPayload;
  cameras: CameraStatePayload;
  events: EventPayload;
}

export type TopicName = keyof TopicMap;

/** Which topics are retained: the controller must see the last status of a box it just subscribed to. */
export const RETAINED: Record<TopicName, boolean> = { status: true, health: false, cameras: true, events: false };

/** `{prefix}/{boxId}/{name}`, or `{prefix}/{boxId}/{name}/{sub}` for per-item topics (`cameras/{cameraId}`). */
export function topicOf(prefix: string, boxId: string, name: TopicName, sub?: string): string {
  return sub === undefined ? `${prefix}/${boxId}/${name}` : `${prefix}/${boxId}/${name}/${sub}`;
}
