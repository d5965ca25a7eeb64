/**
 * The execution engine of the schedule: walks every event through scheduled → warming → live → post-roll →
 * done (or cancelled / missed) against the wall clock, takes the extend, start-now and stop commands, and
 * tells its listeners (`phase`, `notice`, `clock-jump`). The rules themselves (phase steps, the overlap rule,
 * footage ownership) are pure and live in phase-rules.ts; the overlap rule is documented there and in
 * docs/SCHEDULE.md.
 *
 * Time: the schedule means wall time, but timers are armed on the monotonic clock (clock.setTimer), never
 * for longer than `tickMs` (1 s), and every tick re-evaluates every event against the wall clock. So an NTP
 * step of the wall clock is acted on within a tick: forward, the events whose boundaries it passed walk
 * through every phase in order (late, `plannedAt` says by how much); backward, nothing goes back (phases only
 * move forward: no double start) and the running event simply runs until the wall clock reaches its end.
 * A step of more than `jumpThresholdMs` (2 s) between wall and monotonic clock is reported as `clock-jump`.
 *
 * Restart: the scheduler is built from the stored events and their execution state; `start()` evaluates them
 * at the current wall time with `resumed: true` on every change, and announces every running event that did
 * not change (`from === to`, reason `resume`), so the agent restarts its pipelines and outputs. An event whose
 * live window passed while the box was down is `missed` (it never went live) or `done` (it had).
 *
 * INVARIANTS
 * - Phases only move forward, except post-roll → live by an explicit `extend`.
 * - At most one event is live per camera (the first-come rule: evaluation in start order).
 * - The state is persisted (options.persist) before the change is announced.
 * - Everything runs on the one event loop; commands evaluate first, so they act on the current phase.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { logger } from '../lib/log.ts';
import { errorMessage } from '../lib/errors.ts';
import { systemClock } from './clock.ts';
import { ScheduleCommandRefused } from './errors.ts';
import { byStart, eventTimes, findOverlaps, footageOwner, nextBoundary, nextStep, type EventTimes } from './phase-rules.ts';
import { MAX_EVENT_MS } from './schema.ts';
import {
  ACTIVE_PHASES,
  TERMINAL_PHASES,
  type EventStatus,
  type ExecutionState,
  type NoticeKind,
  type Phase,
  type PhaseReason,
  type ScheduleEvent,
  type ScheduleSource,
  type SchedulerClock,
  type SchedulerEvents,
  type StoredEvent,
} from './types.ts';

export interface SchedulerOptions {
  clock?: SchedulerClock;
  /** role → camera id, for programs given by role (`cameraDirectory` builds it from the config). */
  camerasByRole: ReadonlyMap<string, string>;
  /** The box's camera ids: a program naming another camera is reported. Unchecked when absent. */
  cameraIds?: ReadonlySet<string>;
  /** The stored schedule, with execution state (ScheduleStore.load()). */
  events?: readonly StoredEvent[];
  /** Called with the new state before a change is announced (ScheduleStore.saveState). */
  persist?: (eventId: string, state: ExecutionState) => void;
  log?: Logger;
  /** Longest sleep between two evaluations, ms. */
  tickMs?: number;
  /** A change of wall − monotonic larger than this is a clock jump, ms. */
  jumpThresholdMs?: number;
}

interface Entry {
  event: ScheduleEvent;
  source: ScheduleSource;
  state: ExecutionState;
  cameraId: string | null;
  times: EventTimes;
  /** The event holding this one's camera while it waits to go live. */
  waitingFor: string | null;
}

export interface ExtendResult { eventId: string; phase: Phase; previousEnd: string; end: string }
export interface StartNowResult { eventId: string; startedAt: string; end: string }
export interface StopResult { eventId: string; from: Phase; stoppedAt: string }

const iso = (ms: number): string => new Date(ms).toISOString();

export class Scheduler extends EventEmitter<SchedulerEvents> {
  private readonly clock: SchedulerClock;
  private readonly log: Logger;
  private readonly tickMs: number;
  private readonly jumpThresholdMs: number;
  private readonly entries = new Map<string, Entry>();
  /** Notices already given (overlap pairs, unresolved programs), so a re-delivered schedule does not repeat them. */
  private readonly noticed = new Set<string>();
  private timer: unknown;
  private running = false;
  private resuming = false;
  private lastOffset: number | null = null;
  /** The wall time of the last evaluation: arm() looks for the boundaries after it. */
  private evaluatedAt = -Infinity;

  constructor(private readonly options: SchedulerOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? logger('schedule');
    this.tickMs = options.tickMs ?? 1000;
    this.jumpThresholdMs = options.jumpThresholdMs ?? 2000;
    for (const stored of options.events ?? []) this.entries.set(stored.event.id, this.entryOf(stored, { ...stored.state }));
  }

  /** Picks up the stored state at the current wall time (a restart mid-event resumes it) and starts the timers. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.resuming = true;
    try {
      this.reportProblems();
      const moved = this.evaluate();
      for (const entry of this.ordered()) {
        if (ACTIVE_PHASES.has(entry.state.phase) && !moved.has(entry.event.id)) this.announce(entry, entry.state.phase, 'resume', null);
      }
    } finally {
      this.resuming = false;
    }
    this.arm();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  /**
   * The whole schedule after a change (every source): known ids keep their in-memory execution state; events
   * gone from it are cancelled if they had not gone live yet, and kept to their end if they had (a running
   * event is never cut short by an update; `stop` ends it).
   */
  setEvents(events: readonly StoredEvent[]): void {
    const incoming = new Map(events.map((stored) => [stored.event.id, stored]));
    for (const [id, entry] of this.entries) {
      if (incoming.has(id)) continue;
      const { phase } = entry.state;
      if (TERMINAL_PHASES.has(phase)) this.entries.delete(id);
      else if (phase === 'scheduled' || phase === 'warming') {
        this.transition(entry, 'cancelled', 'removed', null);
        this.entries.delete(id);
      } else this.notice('removed-while-running', entry, `event ${id} is no longer in the schedule but is ${phase}: it runs to its end; send stop to end it now`);
    }
    for (const [id, stored] of incoming) {
      const known = this.entries.get(id);
      this.entries.set(id, this.entryOf(stored, known ? known.state : { ...stored.state }));
      if (known) this.entries.get(id)!.waitingFor = known.waitingFor;
    }
    this.reportProblems();
    this.evaluate();
    this.arm();
  }

  /** Moves the end later: `minutes` added to the current (extended) end, or a new `end`. Post-roll goes back to live. */
  extend(eventId: string, change: { minutes: number } | { end: string }): ExtendResult {
    this.evaluate();
    const entry = this.require(eventId);
    const { phase } = entry.state;
    if (TERMINAL_PHASES.has(phase)) throw new ScheduleCommandRefused(`event ${eventId} is ${phase}: it can no longer be extended; schedule a new event`);
    const now = this.clock.now();
    const previous = entry.times.endMs;
    const end = 'minutes' in change ? previous + change.minutes * 60_000 : Date.parse(change.end);
    if (!Number.isFinite(end) || end <= previous) throw new ScheduleCommandRefused(`the new end must be after the current end ${iso(previous)}; to end event ${eventId} earlier, send stop`);
    if (end - entry.times.startMs > MAX_EVENT_MS) throw new ScheduleCommandRefused(`event ${eventId} would last more than ${MAX_EVENT_MS / 3600_000} h from its start ${entry.event.start}`);
    if (phase === 'post-roll') {
      if (end <= now) throw new ScheduleCommandRefused(`the new end ${iso(end)} has already passed; event ${eventId} is in post-roll since ${iso(previous)}: extend by more`);
      const holder = this.holder(entry);
      if (holder) throw new ScheduleCommandRefused(`camera ${entry.cameraId} is live with event ${holder.event.id} since ${holder.state.startedAt}; event ${eventId} cannot go live again (a running event is never cut short)`);
    }
    entry.state = { ...entry.state, extendedEnd: iso(end) };
    entry.times = eventTimes(entry.event, entry.state.extendedEnd);
    if (phase === 'post-roll') this.transition(entry, 'live', 'extend', null);
    else this.save(entry);
    this.notice('extended', entry, `event ${eventId} extended from ${iso(previous)} to ${iso(end)}`);
    this.evaluate();
    this.arm();
    return { eventId, phase: entry.state.phase, previousEnd: iso(previous), end: iso(end) };
  }

  /** Goes live now with an event that has not started yet; its end stays. */
  startNow(eventId: string): StartNowResult {
    this.evaluate();
    const entry = this.require(eventId);
    const { phase } = entry.state;
    if (phase === 'live') throw new ScheduleCommandRefused(`event ${eventId} is already live since ${entry.state.startedAt}`);
    if (phase === 'post-roll') throw new ScheduleCommandRefused(`event ${eventId} is in post-roll: send extend to go live again`);
    if (TERMINAL_PHASES.has(phase)) throw new ScheduleCommandRefused(`event ${eventId} is ${phase}: schedule a new event`);
    const holder = this.holder(entry);
    if (holder) throw new ScheduleCommandRefused(`camera ${entry.cameraId} is live with event ${holder.event.id}: send stop for ${holder.event.id} first (a running event is never cut short)`);
    const now = this.clock.now();
    if (entry.times.endMs - now > MAX_EVENT_MS) throw new ScheduleCommandRefused(`event ${eventId} would be live for more than ${MAX_EVENT_MS / 3600_000} h (until ${iso(entry.times.endMs)})`);
    if (phase === 'scheduled') this.transition(entry, 'warming', 'start-now', null);
    this.transition(entry, 'live', 'start-now', null);
    this.arm();
    return { eventId, startedAt: entry.state.startedAt!, end: iso(entry.times.endMs) };
  }

  /** Ends an event now: cancelled, whatever phase it was in (what was recorded is kept). */
  stopEvent(eventId: string): StopResult {
    this.evaluate();
    const entry = this.require(eventId);
    const from = entry.state.phase;
    if (TERMINAL_PHASES.has(from)) throw new ScheduleCommandRefused(`event ${eventId} is already ${from}`);
    const stoppedAt = iso(this.clock.now());
    entry.state = { ...entry.state, stoppedAt };
    this.transition(entry, 'cancelled', 'stop', null);
    // The camera may be free now for an event waiting on it.
    this.evaluate();
    this.arm();
    return { eventId, from, stoppedAt };
  }

  /** The event a segment of this camera belongs to now (see FOOTAGE in phase-rules.ts); null outside events. */
  currentEvent(cameraId: string): string | null {
    const candidates = [...this.entries.values()]
      .filter((e) => e.cameraId === cameraId)
      .map((e) => ({ id: e.event.id, phase: e.state.phase, startMs: e.times.startMs }));
    return footageOwner(candidates);
  }

  /** Events warming, live or in post-roll (their recordings are not complete yet). */
  runningEvents(): Set<string> {
    return new Set([...this.entries.values()].filter((e) => ACTIVE_PHASES.has(e.state.phase)).map((e) => e.event.id));
  }

  /** Events live now (a reboot would cut them). */
  liveEvents(): Set<string> {
    return new Set([...this.entries.values()].filter((e) => e.state.phase === 'live').map((e) => e.event.id));
  }

  /** Every event, in start order. */
  status(): EventStatus[] {
    return this.ordered().map((e) => ({
      id: e.event.id,
      title: e.event.title,
      source: e.source,
      cameraId: e.cameraId,
      phase: e.state.phase,
      start: e.event.start,
      end: iso(e.times.endMs),
      warmAt: iso(e.times.warmMs),
      doneAt: iso(e.times.doneMs),
      startedAt: e.state.startedAt,
      stoppedAt: e.state.stoppedAt,
      waitingFor: e.waitingFor,
    }));
  }

  phaseOf(eventId: string): Phase | undefined {
    return this.entries.get(eventId)?.state.phase;
  }

  private entryOf(stored: StoredEvent, state: ExecutionState): Entry {
    return { event: stored.event, source: stored.source, state, cameraId: this.resolve(stored.event), times: eventTimes(stored.event, state.extendedEnd), waitingFor: null };
  }

  private resolve(event: ScheduleEvent): string | null {
    if ('role' in event.program) return this.options.camerasByRole.get(event.program.role) ?? null;
    const { cameraId } = event.program;
    return this.options.cameraIds === undefined || this.options.cameraIds.has(cameraId) ? cameraId : null;
  }

  private ordered(): Entry[] {
    return [...this.entries.values()].sort((a, b) => byStart({ id: a.event.id, startMs: a.times.startMs }, { id: b.event.id, startMs: b.times.startMs }));
  }

  private require(eventId: string): Entry {
    const entry = this.entries.get(eventId);
    if (!entry) throw new ScheduleCommandRefused(`no event "${eventId}" in the schedule`);
    return entry;
  }

  /** The other event live on this event's camera, if any. */
  private holder(entry: Entry): Entry | undefined {
    if (entry.cameraId === null) return undefined;
    for (const other of this.entries.values()) {
      if (other !== entry && other.cameraId === entry.cameraId && other.state.phase === 'live') return other;
    }
    return undefined;
  }

  /** Applies every step due at the current wall time, earliest start first, until nothing moves. Returns the ids moved. */
  private evaluate(): Set<string> {
    const now = this.clock.now();
    this.evaluatedAt = now;
    this.checkJump(now);
    const moved = new Set<string>();
    for (let changed = true; changed; ) {
      changed = false;
      for (const entry of this.ordered()) {
        const holder = this.holder(entry);
        const step = nextStep(entry.state.phase, entry.times, now, holder === undefined);
        if (step === null) {
          if (entry.state.phase === 'warming' && holder && now >= entry.times.startMs && entry.waitingFor !== holder.event.id) {
            entry.waitingFor = holder.event.id;
            this.notice('deferred', entry, `event ${entry.event.id} waits for camera ${entry.cameraId}: event ${holder.event.id} is live on it until ${iso(holder.times.endMs)} (first come, first served)`, holder.event.id);
          }
          continue;
        }
        const reason: PhaseReason = step.to === 'live' && entry.waitingFor !== null ? 'camera-freed' : step.reason;
        this.transition(entry, step.to, reason, step.plannedMs);
        moved.add(entry.event.id);
        changed = true;
      }
    }
    return moved;
  }

  private checkJump(now: number): void {
    const offset = now - this.clock.monotonic();
    if (this.lastOffset !== null && Math.abs(offset - this.lastOffset) > this.jumpThresholdMs) {
      const jumpMs = Math.round(offset - this.lastOffset);
      this.log.warn({ jumpMs }, `the wall clock jumped ${jumpMs > 0 ? 'forward' : 'backward'} by ${Math.abs(jumpMs)} ms; re-evaluating the schedule against it`);
      this.safeEmit('clock-jump', { jumpMs, at: iso(now) });
    }
    this.lastOffset = offset;
  }

  private transition(entry: Entry, to: Phase, reason: PhaseReason, plannedMs: number | null): void {
    const now = this.clock.now();
    const from = entry.state.phase;
    entry.state = { ...entry.state, phase: to, startedAt: to === 'live' && entry.state.startedAt === null ? iso(now) : entry.state.startedAt };
    if (to === 'live' || TERMINAL_PHASES.has(to)) entry.waitingFor = null;
    this.save(entry);
    const lateMs = plannedMs === null ? 0 : now - plannedMs;
    this.log.info({ eventId: entry.event.id, cameraId: entry.cameraId, from, to, reason, resumed: this.resuming, ...(lateMs > 1000 ? { lateMs } : {}) }, `event ${entry.event.id}: ${from} → ${to} (${reason})`);
    this.announce(entry, from, reason, plannedMs);
  }

  private announce(entry: Entry, from: Phase, reason: PhaseReason, plannedMs: number | null): void {
    if (reason === 'resume') this.log.info({ eventId: entry.event.id, phase: from }, `event ${entry.event.id}: resumed in ${from}`);
    this.safeEmit('phase', {
      eventId: entry.event.id,
      title: entry.event.title,
      cameraId: entry.cameraId,
      from,
      to: entry.state.phase,
      at: iso(this.clock.now()),
      plannedAt: plannedMs === null ? null : iso(plannedMs),
      reason,
      resumed: this.resuming,
    });
  }

  private save(entry: Entry): void {
    try {
      this.options.persist?.(entry.event.id, entry.state);
    } catch (err) {
      // The event runs on from memory; only a restart before the next successful save would lose this change.
      this.log.error({ eventId: entry.event.id, err: errorMessage(err) }, 'cannot store the execution state of an event; it runs on from memory');
    }
  }

  private notice(kind: NoticeKind, entry: Entry, message: string, otherEventId?: string): void {
    this.log.warn({ eventId: entry.event.id, kind, otherEventId }, message);
    this.safeEmit('notice', { kind, eventId: entry.event.id, ...(otherEventId !== undefined ? { otherEventId } : {}), cameraId: entry.cameraId, message, at: iso(this.clock.now()) });
  }

  /** Overlaps and unresolved programs, each once per event (pair) while it stays in the schedule. */
  private reportProblems(): void {
    const live = [...this.entries.values()].filter((e) => !TERMINAL_PHASES.has(e.state.phase));
    for (const entry of live) {
      if (entry.cameraId !== null || this.noticed.has(`unresolved/${entry.event.id}`)) continue;
      this.noticed.add(`unresolved/${entry.event.id}`);
      const program = 'role' in entry.event.program ? `role "${entry.event.program.role}": no camera of this box has it` : `camera "${entry.event.program.cameraId}": not a camera of this box`;
      this.notice('unresolved-program', entry, `event ${entry.event.id} cannot be streamed: program ${program}`);
    }
    const overlaps = findOverlaps(live.map((e) => ({ id: e.event.id, cameraId: e.cameraId, startMs: e.times.startMs, endMs: e.times.endMs })));
    for (const { first, second, cameraId } of overlaps) {
      const key = `overlap/${first}/${second}`;
      if (this.noticed.has(key)) continue;
      this.noticed.add(key);
      this.notice('overlap', this.entries.get(second)!, `event ${second} overlaps event ${first} on camera ${cameraId}: it goes live when ${first} ends (first come, first served)`, first);
    }
  }

  private safeEmit<K extends keyof SchedulerEvents>(name: K, ...args: SchedulerEvents[K]): void {
    try {
      (this.emit as (n: K, ...a: SchedulerEvents[K]) => boolean)(name, ...args);
    } catch (err) {
      // A listener's failure (a publish, a pipeline start) must not stop the schedule.
      this.log.error({ err: errorMessage(err), event: name }, 'a schedule listener failed; the schedule goes on');
    }
  }

  /** One timer: the next boundary of any event, but never more than a tick away (clock jumps are caught within it). */
  private arm(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    if (!this.running) return;
    const now = this.clock.now();
    let delay = this.tickMs;
    for (const entry of this.entries.values()) {
      // After the instant the events were evaluated at, not after now: a boundary that passed in between (one
      // millisecond is enough) would be skipped until the next tick — seen as a live phase 1 s late.
      const next = nextBoundary(entry.state.phase, entry.times, this.evaluatedAt);
      if (next !== null) delay = Math.min(delay, next - now);
    }
    this.timer = this.clock.setTimer(Math.max(1, delay), () => {
      this.timer = undefined;
      this.evaluate();
      this.arm();
    });
  }
}
