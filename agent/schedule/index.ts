/**
 * The schedule subsystem's face (issue 7): takes schedule messages (MQTT, a file), validates and stores them,
 * runs the scheduler on them, answers the extend / start-now / stop commands, and tells the agent which
 * event a camera's footage belongs to. Start it right after the store and before the uplink and the
 * recorder: they ask `currentEvent` and `runningEvents` from their first segment on.
 *
 * What the agent does on a `phase` change (docs/SCHEDULE.md): warming → make sure the program camera records
 * (footage is the event's from now); live → start the event's live outputs unless recordOnly; post-roll →
 * keep everything running; done / cancelled / missed → stop the event's live outputs and finalise its
 * recording (uploader.eventEnded). `resumed: true` marks the changes made while picking up after a restart.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Store } from '../store/index.ts';
import { logger } from '../lib/log.ts';
import { errorMessage } from '../lib/errors.ts';
import { systemClock } from './clock.ts';
import { ScheduleCommandRefused, ScheduleFileError, ScheduleValidationError } from './errors.ts';
import { parseSchedule, parseScheduleText, type ExtendRequest, type StartNowRequest, type StopRequest } from './schema.ts';
import { Scheduler, type ExtendResult, type StartNowResult, type StopResult } from './scheduler.ts';
import { ScheduleStore, type ReplaceResult } from './store.ts';
import { formatVenueTime, venueIsoString } from './venue-time.ts';
import type { EventStatus, ScheduleNotice, ScheduleSource, SchedulerClock, SchedulerEvents } from './types.ts';

export * from './types.ts';
export * from './errors.ts';
export { scheduleMessageSchema, scheduleEventSchema, scheduleCommandSchemas, parseSchedule, parseScheduleText, type ScheduleMessage, type ScheduleMessageInput, type ScheduleEventInput, type ScheduleCommandName, type ExtendRequest, type StartNowRequest, type StopRequest } from './schema.ts';
export { Scheduler, type SchedulerOptions, type ExtendResult, type StartNowResult, type StopResult } from './scheduler.ts';
export { ScheduleStore, loadScheduleFile, type ReplaceResult } from './store.ts';
export { formatVenueTime, venueIsoString } from './venue-time.ts';
export { systemClock } from './clock.ts';

/** Before any schedule names one: times are shown in UTC. */
const FALLBACK_TIMEZONE = 'UTC';

export interface CameraDirectory {
  byRole: Map<string, string>;
  ids: Set<string>;
  /** Roles held by more than one camera: the first in config order takes the role. */
  duplicateRoles: string[];
}

/** role → camera id and the set of ids, from `config.cameras`. */
export function cameraDirectory(cameras: ReadonlyArray<{ id: string; role?: string | undefined }>): CameraDirectory {
  const byRole = new Map<string, string>();
  const duplicateRoles: string[] = [];
  for (const camera of cameras) {
    if (camera.role === undefined) continue;
    if (byRole.has(camera.role)) duplicateRoles.push(camera.role);
    else byRole.set(camera.role, camera.id);
  }
  return { byRole, ids: new Set(cameras.map((c) => c.id)), duplicateRoles };
}

export interface ScheduleServiceOptions {
  store: Store;
  cameras: ReadonlyArray<{ id: string; role?: string | undefined }>;
  /** A schedule file read at every start (source `file`); its problems are logged, the stored schedule runs on. */
  file?: string | undefined;
  clock?: SchedulerClock;
  log?: Logger;
}

export interface ScheduleHealth {
  timezone: string;
  events: Array<EventStatus & { startVenue: string; endVenue: string }>;
  running: string[];
  lastApplied: { source: ScheduleSource; at: string; version: number | null; events: number } | null;
  /** The last schedule refused, and why. */
  lastError: string | null;
  clockJumps: number;
}

export type ScheduleServiceEvents = SchedulerEvents & { applied: [ReplaceResult] };

export class ScheduleService extends EventEmitter<ScheduleServiceEvents> {
  private readonly clock: SchedulerClock;
  private readonly log: Logger;
  private readonly schedules: ScheduleStore;
  private scheduler: Scheduler | undefined;
  private lastApplied: ScheduleHealth['lastApplied'] = null;
  private lastError: string | null = null;
  private clockJumps = 0;

  constructor(private readonly options: ScheduleServiceOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? logger('schedule');
    this.schedules = new ScheduleStore(options.store);
  }

  async start(signal?: AbortSignal): Promise<void> {
    if (this.scheduler) return;
    const cameras = cameraDirectory(this.options.cameras);
    for (const role of cameras.duplicateRoles) this.log.warn({ role, camera: cameras.byRole.get(role) }, `several cameras have the role "${role}"; schedules by role use the first, ${cameras.byRole.get(role)}`);
    if (this.options.file !== undefined) await this.reloadFile().catch(() => undefined); // logged by reloadFile
    const scheduler = new Scheduler({
      clock: this.clock,
      camerasByRole: cameras.byRole,
      cameraIds: cameras.ids,
      events: this.schedules.load(),
      persist: (id, state) => this.schedules.saveState(id, state),
      log: this.log,
    });
    scheduler.on('phase', (change) => this.emit('phase', change));
    scheduler.on('notice', (notice) => this.emit('notice', notice));
    scheduler.on('clock-jump', (jump) => {
      this.clockJumps += 1;
      this.emit('clock-jump', jump);
    });
    this.scheduler = scheduler;
    scheduler.start();
    signal?.addEventListener('abort', () => this.stop(), { once: true });
  }

  stop(): void {
    this.scheduler?.stop();
  }

  /**
   * A schedule message (the MQTT payload as text, or parsed JSON) from `source`: validated, stored, run.
   * Throws ScheduleValidationError (every issue by path, or stale) and then changes nothing.
   */
  applyMessage(payload: string | unknown, source: ScheduleSource): ReplaceResult {
    const now = this.clock.now();
    try {
      if (typeof payload === 'string' && payload.trim() === '') {
        // A cleared retained message: not an instruction to drop every event (that is `"events": []`).
        throw new ScheduleValidationError([{ path: '(root)', message: 'is empty (a cleared retained message); ignored. To remove every event send {"timezone": …, "events": []}' }], `${source} schedule`);
      }
      const what = source === 'file' && this.options.file !== undefined ? `schedule file ${this.options.file}` : `${source} schedule`;
      const message = typeof payload === 'string' ? parseScheduleText(payload, { now, what }) : parseSchedule(payload, { now, what });
      const result = this.schedules.replace(source, message, now);
      this.scheduler?.setEvents(this.schedules.load());
      for (const id of result.keptRunning) this.emitNotice({ kind: 'removed-while-running', eventId: id, message: `event ${id} is no longer in the ${source} schedule but is running: it runs to its end; send stop to end it now`, at: new Date(now).toISOString() });
      this.lastApplied = { source, at: new Date(now).toISOString(), version: result.version, events: message.events.length };
      this.lastError = null;
      this.log.info({ source, version: result.version, added: result.added, updated: result.updated, removed: result.removed, keptRunning: result.keptRunning }, `schedule from ${source} applied: ${message.events.length} events`);
      this.emit('applied', result);
      return result;
    } catch (err) {
      this.lastError = errorMessage(err);
      this.log.warn({ source, err: this.lastError }, `schedule from ${source} refused; the stored schedule runs on`);
      throw err;
    }
  }

  /** Reads the schedule file again (source `file`); the same validation as a message. */
  async reloadFile(): Promise<ReplaceResult> {
    const file = this.options.file;
    if (file === undefined) throw new ScheduleCommandRefused('no schedule file is configured');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      this.lastError = `cannot read the schedule file ${file}: ${errorMessage(err)}`;
      this.log.warn({ file, err: this.lastError }, 'schedule file not applied; the stored schedule runs on');
      throw new ScheduleFileError(this.lastError, { cause: err });
    }
    return this.applyMessage(text, 'file');
  }

  extend(request: ExtendRequest): ExtendResult {
    return this.running().extend(request.eventId, request.minutes !== undefined ? { minutes: request.minutes } : { end: request.end! });
  }

  startNow(request: StartNowRequest): StartNowResult {
    return this.running().startNow(request.eventId);
  }

  stopEvent(request: StopRequest): StopResult {
    return this.running().stopEvent(request.eventId);
  }

  /** Handlers for the command router, by command name (requests validated by scheduleCommandSchemas). */
  commandHandlers(): { extend: (r: ExtendRequest) => Promise<ExtendResult>; 'start-now': (r: StartNowRequest) => Promise<StartNowResult>; stop: (r: StopRequest) => Promise<StopResult> } {
    return {
      extend: async (request) => this.extend(request),
      'start-now': async (request) => this.startNow(request),
      stop: async (request) => this.stopEvent(request),
    };
  }

  /** The event a segment of this camera belongs to now; null outside any event. */
  currentEvent(cameraId: string): string | null {
    return this.scheduler?.currentEvent(cameraId) ?? null;
  }

  runningEvents(): Set<string> {
    return this.scheduler?.runningEvents() ?? new Set();
  }

  /** Every event with its phase and window, without the venue-time strings of health() (called per segment). */
  statuses(): ReturnType<Scheduler['status']> {
    return this.scheduler?.status() ?? [];
  }

  liveEvents(): Set<string> {
    return this.scheduler?.liveEvents() ?? new Set();
  }

  /** The venue's time zone, from the schedule applied last. */
  timezone(): string {
    return this.schedules.timezone() ?? FALLBACK_TIMEZONE;
  }

  /** A time for people, in the venue's time zone: `Sun, 1 Jun 2025, 20:45 CEST`. */
  formatTime(time: string | number): string {
    return formatVenueTime(time, this.timezone());
  }

  health(): ScheduleHealth {
    const timezone = this.timezone();
    const events = (this.scheduler?.status() ?? []).map((e) => ({ ...e, startVenue: venueIsoString(e.start, timezone), endVenue: venueIsoString(e.end, timezone) }));
    return { timezone, events, running: [...this.runningEvents()], lastApplied: this.lastApplied, lastError: this.lastError, clockJumps: this.clockJumps };
  }

  private running(): Scheduler {
    if (!this.scheduler) throw new ScheduleCommandRefused('the schedule is not running yet; retry in a few seconds');
    return this.scheduler;
  }

  private emitNotice(notice: ScheduleNotice): void {
    this.log.warn({ eventId: notice.eventId, kind: notice.kind }, notice.message);
    this.emit('notice', notice);
  }
}
