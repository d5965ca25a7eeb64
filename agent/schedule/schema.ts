/**
 * The schedule message (the retained MQTT topic `schedule`, or a file) and the schedule commands' requests.
 *
 * Times are ISO 8601 with seconds and an explicit offset (`2025-06-01T20:45:00+02:00` or `…Z`): a time
 * without an offset means a different instant in every time zone, so it is refused rather than guessed.
 * They are stored in UTC (`2025-06-01T18:45:00.000Z`); the venue's time zone (`timezone`, IANA) is only for
 * showing them to people (venue-time.ts).
 *
 * A message is valid as a whole or not at all: a half-applied schedule could cancel events nobody meant to
 * cancel. Errors name the path and the rule (`events[2].end: must be after start`) and never echo a value.
 */
import { z } from 'zod';
import { formatPath, issueMessage } from '../config/errors.ts';
import { ScheduleValidationError, type ScheduleIssue } from './errors.ts';

export const DEFAULT_PRE_ROLL_SECONDS = 300;
export const DEFAULT_POST_ROLL_SECONDS = 120;
/** The longest event (end − start, also after `extend`): a typo in a date must not stream for days. */
export const MAX_EVENT_MS = 12 * 3600_000;
/** An event that ended longer ago than this is a mistake (a wrong year), not history. */
export const FAR_PAST_MS = 7 * 24 * 3600_000;
export const MAX_EVENTS = 500;
/** The most minutes one `extend` adds. */
export const MAX_EXTEND_MINUTES = 12 * 60;

/** Same alphabet as `recording.eventId`: the id is a level of the ingest's object names. */
const EVENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const eventId = z.string().regex(EVENT_ID, { error: 'must be 1–128 letters, digits, ".", "_" or "-", starting with a letter or digit' });

/** ISO 8601 with an offset → the same instant in UTC (`toISOString`). zod also refuses impossible dates (Feb 30). */
export const isoTime = z
  .iso.datetime({ offset: true, error: 'must be an ISO 8601 time with seconds and an offset, e.g. 2025-06-01T20:45:00+02:00 or …Z' })
  .transform((value) => new Date(value).toISOString());

const integer = (min: number, max: number) => z.number().refine(Number.isInteger, 'must be an integer').min(min).max(max);

/** An IANA time zone Intl knows (`Europe/Zurich`, `UTC`), returned in its canonical spelling. */
export const timeZone = z.string().transform((value, ctx) => {
  try {
    return new Intl.DateTimeFormat('en', { timeZone: value }).resolvedOptions().timeZone;
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an IANA time zone such as Europe/Zurich' });
    return z.NEVER;
  }
});

const programSchema = z
  .union([
    z.strictObject({ cameraId: z.string().min(1).max(32).meta({ description: 'A camera id (`cameras[].id`).' }) }),
    z.strictObject({ role: z.string().min(1).max(32).meta({ description: 'A camera role (`cameras[].role`), e.g. main.' }) }),
  ], { error: 'must be {"cameraId": "…"} or {"role": "…"}' })
  .meta({ description: 'The camera that carries the event: by id, or by role (resolved on the box).' });

const outputsSchema = z
  .strictObject({
    segments: z.boolean().default(true).meta({ description: 'Upload the event\'s segments to the HTTP ingest (false: they stay in the spool).' }),
    live: z
      .union([z.literal('all'), z.array(integer(0, 3)).max(4)], { error: 'must be "all" or a list of indexes into the program camera\'s live outputs' })
      .default('all')
      .meta({ description: 'Which of the program camera\'s configured live outputs (`cameras[].live`, by index) carry the event. Destinations and their secrets stay in the config file: a schedule never carries a stream key.' }),
  })
  .prefault({});

/** The ms of a time that passed `isoTime` (its UTC form); NaN for anything else (an invalid sibling, still raw). */
function asUtcMs(value: unknown): number {
  if (typeof value !== 'string') return NaN;
  const ms = Date.parse(value);
  return Number.isFinite(ms) && new Date(ms).toISOString() === value ? ms : NaN;
}

const evenWithSiblingIssues = { when: (payload: z.core.ParsePayload) => typeof payload.value === 'object' && payload.value !== null };

export const scheduleEventSchema = z
  .strictObject({
    id: eventId.meta({ description: 'Unique, never reused: the event\'s name at the ingest. Its execution state is kept across schedule updates by this id.' }),
    title: z.string().min(1).max(200).meta({ description: 'Shown to people.' }),
    start: isoTime.meta({ description: 'Kick-off: the event goes live.' }),
    end: isoTime.meta({ description: 'Planned end: live until then (or the extended end), then post-roll.' }),
    preRollSeconds: integer(0, 3600).default(DEFAULT_PRE_ROLL_SECONDS).meta({ description: 'The camera records and the pipeline warms up this long before start.' }),
    postRollSeconds: integer(0, 3600).default(DEFAULT_POST_ROLL_SECONDS).meta({ description: 'Recording goes on this long after the end.' }),
    program: programSchema,
    outputs: outputsSchema,
    recordOnly: z.boolean().default(false).meta({ description: 'Record (and upload) only: no live output, whatever outputs.live says.' }),
  })
  .superRefine((event, ctx) => {
    // Runs even when a sibling key is invalid, so one pass reports every mistake: check types defensively.
    const start = asUtcMs(event.start);
    const end = asUtcMs(event.end);
    if (Number.isFinite(start) && Number.isFinite(end)) {
      if (end <= start) ctx.addIssue({ code: 'custom', path: ['end'], message: 'must be after start' });
      else if (end - start > MAX_EVENT_MS) ctx.addIssue({ code: 'custom', path: ['end'], message: `must be at most ${MAX_EVENT_MS / 3600_000} h after start` });
    }
    const live = (event.outputs as { live?: unknown } | undefined)?.live;
    if (event.recordOnly === true && Array.isArray(live) && live.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['outputs', 'live'], message: 'must be empty when recordOnly is true' });
    }
  }, evenWithSiblingIssues)
  .meta({ description: 'One event: when it warms, goes live and ends, on which camera, to which outputs.' });

export const scheduleMessageSchema = z
  .strictObject({
    version: integer(0, Number.MAX_SAFE_INTEGER).optional().meta({ description: 'Increases with every change; an older version than the one applied is refused as stale (retained messages can arrive out of order across a broker failover).' }),
    ts: z.string().optional().meta({ description: 'When the controller wrote it (informational).' }),
    timezone: timeZone.meta({ description: 'The venue\'s IANA time zone, for showing times to people. Times in events carry their own offset.' }),
    events: z.array(scheduleEventSchema).max(MAX_EVENTS),
  })
  .superRefine((message, ctx) => {
    if (!Array.isArray(message.events)) return;
    const seen = new Map<string, number>();
    message.events.forEach((event: unknown, index) => {
      const id = (event as { id?: unknown } | null)?.id;
      if (typeof id !== 'string') return;
      const first = seen.get(id);
      if (first === undefined) seen.set(id, index);
      else ctx.addIssue({ code: 'custom', path: ['events', index, 'id'], message: `duplicate id "${id}" (also events[${first}])` });
    });
  }, evenWithSiblingIssues)
  .meta({ description: 'Retained, written by the controller (or a file on the box): the events this box streams. Replaces every event from the same source.' });

export type ScheduleEvent = z.output<typeof scheduleEventSchema>;
export type ScheduleEventInput = z.input<typeof scheduleEventSchema>;
export type ScheduleMessage = z.output<typeof scheduleMessageSchema>;
export type ScheduleMessageInput = z.input<typeof scheduleMessageSchema>;

/**
 * Validates a schedule message (already parsed JSON) at wall time `now`: the schema, then what depends on
 * the time (an event that ended more than 7 days ago). Throws ScheduleValidationError with every issue.
 */
export function parseSchedule(input: unknown, options: { now: number; what?: string }): ScheduleMessage {
  const parsed = scheduleMessageSchema.safeParse(input, { error: issueMessage });
  if (!parsed.success) throw new ScheduleValidationError(toScheduleIssues(parsed.error.issues), options.what);
  const issues: ScheduleIssue[] = [];
  parsed.data.events.forEach((event, index) => {
    if (Date.parse(event.end) < options.now - FAR_PAST_MS) {
      issues.push({ path: formatPath(['events', index, 'end']), message: `is more than ${FAR_PAST_MS / 86_400_000} days in the past` });
    }
  });
  if (issues.length > 0) throw new ScheduleValidationError(issues, options.what);
  return parsed.data;
}

/** The same from text (an MQTT payload, a file): a payload that is not JSON is one issue at `(root)`. */
export function parseScheduleText(text: string, options: { now: number; what?: string }): ScheduleMessage {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ScheduleValidationError([{ path: '(root)', message: `is not JSON (${(err as Error).message})` }], options.what, { cause: err });
  }
  return parseSchedule(json, options);
}

/** zod issues → path + message; an unknown key becomes one issue on that key's own path. */
export function toScheduleIssues(issues: readonly z.core.$ZodIssue[]): ScheduleIssue[] {
  return issues.flatMap((issue): ScheduleIssue[] =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: 'unknown key' }))
      : [{ path: formatPath(issue.path), message: issue.message }],
  );
}

const requestedBy = z.string().max(200).optional().meta({ description: 'Who asked (for the audit event).' });

/** Requests of the schedule commands (`cmd/extend`, `cmd/start-now`, `cmd/stop`), for the command router. */
export const scheduleCommandSchemas = {
  extend: z
    .strictObject({
      requestedBy,
      eventId,
      minutes: integer(1, MAX_EXTEND_MINUTES).optional().meta({ description: 'Add this many minutes to the current (extended) end.' }),
      end: isoTime.optional().meta({ description: 'Or: the new end, ISO 8601 with an offset.' }),
    })
    .superRefine((request, ctx) => {
      if ((request.minutes === undefined) === (request.end === undefined)) ctx.addIssue({ code: 'custom', path: ['minutes'], message: 'give exactly one of minutes and end' });
    }, evenWithSiblingIssues)
    .meta({ description: 'Overtime: move the end of an event that is scheduled, live or in post-roll (post-roll goes back to live). Refused once it is done, and beyond 12 h in all.' }),
  'start-now': z
    .strictObject({ requestedBy, eventId })
    .meta({ description: 'Go live now with an event that has not started yet; its end stays. Refused while another event is live on its camera.' }),
  stop: z
    .strictObject({ requestedBy, eventId })
    .meta({ description: 'End an event now (live or in post-roll) or cancel it before it starts. What was recorded is kept and uploaded.' }),
} as const;

export type ScheduleCommandName = keyof typeof scheduleCommandSchemas;
export type ExtendRequest = z.output<(typeof scheduleCommandSchemas)['extend']>;
export type StartNowRequest = z.output<(typeof scheduleCommandSchemas)['start-now']>;
export type StopRequest = z.output<(typeof scheduleCommandSchemas)['stop']>;
