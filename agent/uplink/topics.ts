/**
 * The box's MQTT contract, declared once (STYLE 5, issue 6): every topic under `{prefix}/{boxId}/`, its
 * direction, whether it is retained, and a schema per payload. The agent's publishers are typed by it,
 * `scripts/generate-docs.ts` turns it into docs/mqtt-asyncapi.yaml (AsyncAPI 3), and tests validate what the
 * agent really publishes against the same schemas.
 */
import { z } from 'zod';
import { COMMAND_NAMES, commandRequestSchemas } from './command-schemas.ts';
import { scheduleMessageSchema } from '../schedule/schema.ts';

const ts = z.string().meta({ description: 'ISO 8601 UTC time the payload was made.' });
const nullableNumber = z.number().nullable();

export const statusSchema = z
  .object({
    state: z.enum(['online', 'offline']),
    boxId: z.string(),
    bootId: z.string().meta({ description: 'Random per agent start: tells a restart from a reconnect.' }),
    bootCount: z.number().int().meta({ description: 'Agent starts, persisted across restarts.' }),
    birthSeq: z.number().int().optional().meta({ description: 'Births (connects) of this box, persisted across restarts: a controller sees every reconnect, and orders them.' }),
    version: z.string(),
    hardwareProfile: z.string().nullable().optional().meta({ description: 'The encoder profile in use (venuebox profiles detect); null when no camera needs one.' }),
    ts,
    reason: z.enum(['shutdown', 'connection-lost']).optional().meta({ description: 'Why offline: a clean stop, or the last will set by the broker.' }),
    cameras: z.array(z.string()).optional(),
  })
  .meta({ description: 'Retained. The birth (`online`) on every connect; the last will (`offline`, `connection-lost`) when the box vanishes; `offline`, `shutdown` on a clean stop.' });

const spoolStatsSchema = z.object({
  segments: z.number().int(),
  bytes: z.number(),
  backlogSegments: z.number().int(),
  backlogBytes: z.number(),
  oldestBacklogAgeSeconds: nullableNumber,
  evictions: z.number().int(),
  evictedBytes: z.number(),
  lost: z.number().int(),
});

const uplinkHealthSchema = z.object({
  state: z.enum(['online', 'degraded', 'offline']),
  reason: z.string().nullable(),
  throughputKbps: nullableNumber,
  uploaded: z.number().int(),
  uploadedBytes: z.number(),
  failures: z.number().int(),
  lastError: z.string().nullable(),
  liveLagMs: z.number(),
});

const outboxStatsSchema = z.object({
  queued: z.number().int(),
  oldestAgeSeconds: nullableNumber,
  thinnedHealth: z.number().int(),
  droppedEvents: z.number().int(),
});

export const healthSchema = z
  .object({
    boxId: z.string(),
    bootId: z.string(),
    ts,
    historical: z.boolean().optional().meta({ description: 'Replayed from the outbox after an outage.' }),
    uptimeSeconds: z.number(),
    versions: z.object({ agent: z.string(), node: z.string(), gstreamer: z.string().nullable() }),
    cpu: z.object({ loadPercent: z.number(), load1: z.number(), cores: z.number().int(), temperatureC: nullableNumber }),
    memory: z.object({ totalBytes: z.number(), usedBytes: z.number(), agentRssBytes: z.number() }),
    disk: z.object({ totalBytes: z.number(), freeBytes: z.number() }).meta({ description: 'The file system of the spool (paths.spool).' }),
    clock: z.object({
      synchronized: z.boolean().nullable().meta({ description: 'The system clock is NTP-synchronised (timedatectl); null when unknown.' }),
      offsetMs: nullableNumber.meta({ description: 'Offset to the NTP source (chrony), when known.' }),
    }),
    encoder: z.object({ profile: z.string().nullable(), gpuBusyPercent: z.number().optional().meta({ description: 'GPU use (its video engines included) where the driver exposes it without privileges (amdgpu: gpu_busy_percent); absent elsewhere (Intel i915 and NVIDIA need perf counters or nvidia-smi).' }) }),
    schedule: z
      .object({
        timezone: z.string(),
        running: z.array(z.string()).meta({ description: 'Events warming, live or in post-roll.' }),
        next: z.object({ id: z.string(), start: z.string() }).nullable().meta({ description: 'The next scheduled event (its start in UTC; `timezone` is the venue\'s).' }),
      })
      .meta({ description: 'The schedule as the box runs it.' }),
    spool: spoolStatsSchema,
    uplink: uplinkHealthSchema.nullable().meta({ description: 'null when no ingest is configured.' }),
    outbox: outboxStatsSchema,
    mqtt: z
      .object({
        connects: z.number().int().meta({ description: 'Connections to the broker since the agent started.' }),
        replayed: z.number().int().meta({ description: 'Outbox rows sent again after a reconnect (QoS 1: at least once).' }),
        refused: z.number().int().meta({ description: 'Messages the broker refused (PUBACK ≥ 0x80, e.g. not authorized): dropped.' }),
        dropped: z.number().int().meta({ description: 'Messages lost before the outbox took them (a failed outbox write), or not durable and sent while offline.' }),
      })
      .meta({ description: 'The link to this broker, since the agent started.' }),
    // One entry per camera, keyed by its id: its quality and, while it is recorded, its pipeline. Only what a
    // dashboard shows, and fields present only when they say something (no nulls, no empty reasons): 8 cameras
    // fit in ~2 KB with the rest (bench/telemetry, test/unit/health-report.test.ts).
    cameras: z
      .record(
        z.string(),
        z.object({
          quality: z.enum(['good', 'degraded', 'offline', 'unknown']),
          reasons: z.array(z.string()).optional().meta({ description: 'Why not good; absent when good.' }),
          pipeline: z.enum(['starting', 'running', 'backoff', 'failed', 'stopping', 'stopped']).optional().meta({ description: 'Its recording pipeline\'s state (backoff: waiting to restart; failed: gave up after its restart budget); absent when the camera is not recorded now (recording.mode events, between events).' }),
          segments: z.number().int().optional().meta({ description: 'Segments closed since the agent started.' }),
          kbps: z.number().optional().meta({ description: 'Bitrate recorded, measured over the last 5 s.' }),
          fps: z.number().optional().meta({ description: 'Frames per second recorded, over the last 5 s.' }),
          keyframeMs: z.number().optional().meta({ description: 'Between the last two keyframes.' }),
          restarts: z.number().int().optional().meta({ description: 'Pipeline restarts since the agent started; absent when none.' }),
          lastError: z.string().optional().meta({ description: 'Why the pipeline\'s last run ended; absent when none did.' }),
          live: z
            .array(z.object({ kind: z.string(), state: z.enum(['connecting', 'live', 'idle', 'retrying', 'stopped']), reason: z.string().nullable(), kbps: nullableNumber, connects: z.number().int() }))
            .optional()
            .meta({ description: 'The camera\'s live outputs (SRT, RTMP), when it has any.' }),
        }),
      )
      .meta({ description: 'Per camera, by its id.' }),
  })
  .meta({ description: 'Every mqtt.healthIntervalSeconds, and at once when a camera, pipeline or the uplink changes state.' });

export const cameraStateSchema = z
  .object({
    cameraId: z.string(),
    quality: z.enum(['good', 'degraded', 'offline', 'unknown']),
    reasons: z.array(z.string()),
    ts,
  })
  .meta({ description: 'Retained, one topic per camera: its last known state.' });

/** Every event type the agent publishes (live outputs add `live-*`). */
export const EVENT_TYPES = [
  'camera-online',
  'camera-offline',
  'camera-discovered',
  'camera-moved',
  'camera-bye',
  'camera-auth-refused',
  'recording-gap',
  'encoder-fallback',
  'slate-on',
  'slate-off',
  'uplink-state',
  'spool-eviction',
  'spool-reconciled',
  'segment-lost',
  'bitrate-adapted',
  'command',
  'config-applied',
  'config-rolled-back',
  'schedule-phase',
  'schedule-notice',
  'schedule-refused',
  'clock-jump',
  'readiness',
  'agent-started',
  'pipeline-restart',
  'thermal',
  'disk',
] as const;

export const eventSchema = z
  .looseObject({
    type: z.union([z.enum(EVENT_TYPES), z.string().regex(/^live-[a-z-]+$/)]),
    ts,
    historical: z.boolean().optional().meta({ description: 'Replayed from the outbox after an outage (ts is when it happened).' }),
  })
  .meta({ description: 'The box timeline: one message per thing that happened; more fields per type.' });

export const commandResponseSchema = z
  .object({
    command: z.string(),
    ok: z.boolean(),
    result: z.unknown().optional(),
    error: z.string().optional().meta({ description: 'Why the command was refused or failed.' }),
    ts,
  })
  .meta({ description: 'Sent to the request\'s MQTT 5 response topic with its correlation data (or to `responses` when the request had none).' });

export const scheduleSchema = scheduleMessageSchema.meta({ description: 'Retained, written by the controller: the events this box streams (docs/SCHEDULE.md). A message the box refuses is answered by the event schedule-refused with every issue; the box keeps the schedule it stored.' });

export const readinessSchema = z
  .object({
    eventId: z.string().nullable(),
    verdict: z.enum(['green', 'amber', 'red']),
    reasons: z.array(z.string()).meta({ description: 'Every check that is not green, worst first: "camera wide: no frames …".' }),
    checks: z.array(z.object({ check: z.string(), grade: z.enum(['green', 'amber', 'red']), reason: z.string(), detail: z.record(z.string(), z.unknown()).optional() })),
    at: z.string(),
    minutesBefore: z.number().optional().meta({ description: 'Run this long before the event\'s start (schedule.readinessMinutes).' }),
  })
  .meta({ description: 'Retained: the last readiness verdict (venuebox doctor, run by the box before each event).' });

export type StatusPayload = z.infer<typeof statusSchema>;
export type HealthPayload = z.infer<typeof healthSchema>;
export type CameraStatePayload = z.infer<typeof cameraStateSchema>;
export type EventPayload = z.infer<typeof eventSchema>;
export type CommandResponsePayload = z.infer<typeof commandResponseSchema>;
export type ReadinessPayload = z.infer<typeof readinessSchema>;

/** What the box publishes, by topic name. */
export interface TopicMap {
  status: StatusPayload;
  health: HealthPayload;
  cameras: CameraStatePayload;
  events: EventPayload;
  responses: CommandResponsePayload;
  readiness: ReadinessPayload;
}

export type TopicName = keyof TopicMap;

export interface TopicSpec {
  /** Address below `{prefix}/{boxId}/`; `{…}` are parameters. */
  address: string;
  /** publish: the box sends; subscribe: the box receives. */
  direction: 'publish' | 'subscribe';
  retained: boolean;
  schema: z.ZodType;
  title: string;
}

/** The whole contract. Commands are one subscription each (`cmd/{name}`), so an ACL can allow them one by one. */
export const TOPICS: Record<string, TopicSpec> = {
  status: { address: 'status', direction: 'publish', retained: true, schema: statusSchema, title: 'Box status (birth / last will)' },
  health: { address: 'health', direction: 'publish', retained: false, schema: healthSchema, title: 'Health report' },
  cameras: { address: 'cameras/{cameraId}', direction: 'publish', retained: true, schema: cameraStateSchema, title: 'Camera state' },
  events: { address: 'events', direction: 'publish', retained: false, schema: eventSchema, title: 'Events' },
  responses: { address: 'responses', direction: 'publish', retained: false, schema: commandResponseSchema, title: 'Command responses without a response topic' },
  readiness: { address: 'readiness', direction: 'publish', retained: true, schema: readinessSchema, title: 'Readiness verdict' },
  schedule: { address: 'schedule', direction: 'subscribe', retained: true, schema: scheduleSchema, title: 'Schedule' },
  ...Object.fromEntries(
    COMMAND_NAMES.map((name) => [`cmd-${name}`, { address: `cmd/${name}`, direction: 'subscribe', retained: false, schema: commandRequestSchemas[name], title: `Command ${name}` } satisfies TopicSpec]),
  ),
};

/** Which published topics are retained: the controller must see the last status of a box it just subscribed to. */
export const RETAINED: Record<TopicName, boolean> = { status: true, health: false, cameras: true, events: false, responses: false, readiness: true };

/** `{prefix}/{boxId}/{name}`, or `{prefix}/{boxId}/{name}/{sub}` for per-item topics (`cameras/{cameraId}`). */
export function topicOf(prefix: string, boxId: string, name: TopicName, sub?: string): string {
  return sub === undefined ? `${prefix}/${boxId}/${name}` : `${prefix}/${boxId}/${name}/${sub}`;
}

/** The schema a published payload must satisfy, by topic name. */
export const PUBLISHED_SCHEMAS: Record<TopicName, z.ZodType> = { status: statusSchema, health: healthSchema, cameras: cameraStateSchema, events: eventSchema, responses: commandResponseSchema, readiness: readinessSchema };
