/**
 * The schedule's vocabulary: an event as the box runs it (times in UTC), its execution phases and the state
 * that survives a restart, the clock the scheduler runs on, and what the scheduler tells its listeners.
 */
import type { ScheduleEvent } from './schema.ts';

export type { ScheduleEvent };

/**
 * scheduled → warming (start − preRoll) → live (start) → post-roll (end, or the extended end) → done
 * (end + postRoll). Or cancelled (`stop` command, or removed from the schedule before it went live), or
 * missed (its live window passed before it could go live: the box was down, the clock jumped past it, or its
 * camera was held by an earlier event until after its end).
 */
export const PHASES = ['scheduled', 'warming', 'live', 'post-roll', 'done', 'cancelled', 'missed'] as const;
export type Phase = (typeof PHASES)[number];

/** Phases in which the event's camera records for it and the event counts as running. */
export const ACTIVE_PHASES: ReadonlySet<Phase> = new Set(['warming', 'live', 'post-roll']);
/** Phases an event never leaves. */
export const TERMINAL_PHASES: ReadonlySet<Phase> = new Set(['done', 'cancelled', 'missed']);

/** Where an event came from; a replace from one source never touches the events of another. */
export const SCHEDULE_SOURCES = ['mqtt', 'file', 'command'] as const;
export type ScheduleSource = (typeof SCHEDULE_SOURCES)[number];

/** What survives an agent restart (stored with the event, kept when the schedule is replaced). */
export interface ExecutionState {
  phase: Phase;
  /** ISO UTC: when the event went live (late, early by start-now, or on time). */
  startedAt: string | null;
  /** ISO UTC: the end set by `extend`; the effective end is the later of this and the scheduled end. */
  extendedEnd: string | null;
  /** ISO UTC: when a `stop` command ended or cancelled it. */
  stoppedAt: string | null;
}

export const INITIAL_STATE: ExecutionState = { phase: 'scheduled', startedAt: null, extendedEnd: null, stoppedAt: null };

/** An event with its execution state, as the store keeps it and the scheduler runs it. */
export interface StoredEvent {
  event: ScheduleEvent;
  source: ScheduleSource;
  state: ExecutionState;
}

/**
 * The scheduler's clock. `now` is the wall clock (what times in the schedule mean); `monotonic` never jumps
 * and `setTimer` counts on it (Node's setTimeout is driven by libuv's monotonic clock). Injected so that the
 * tests run on a fake clock without real timers.
 */
export interface SchedulerClock {
  /** Wall clock, ms since the epoch (Date.now). */
  now(): number;
  /** Monotonic ms (performance.now). */
  monotonic(): number;
  setTimer(ms: number, fn: () => void): unknown;
  clearTimer(handle: unknown): void;
}

/** Why a phase changed. */
export type PhaseReason =
  | 'pre-roll' // scheduled → warming at start − preRoll
  | 'start' // warming → live at start
  | 'camera-freed' // warming → live after start, when the earlier event holding the camera left live
  | 'end' // live → post-roll at the (extended) end
  | 'post-roll-over' // post-roll → done at end + postRoll
  | 'window-passed' // → missed: the live window passed before the event could go live (box down, clock jump)
  | 'camera-busy' // warming → missed: an earlier event held the camera until after this one's end
  | 'start-now' // command
  | 'extend' // command: post-roll → live again
  | 'stop' // command
  | 'removed' // no longer in the schedule, before it went live
  | 'resume'; // agent restart: the event is (still) in this phase; from === to

export interface PhaseChange {
  eventId: string;
  title: string;
  /** The program camera; null when the program names a camera or role this box does not have. */
  cameraId: string | null;
  from: Phase;
  to: Phase;
  /** ISO UTC: when the change happened. */
  at: string;
  /** ISO UTC: the schedule boundary it stands for (start − preRoll, start, end, end + postRoll); null for commands and resumes. */
  plannedAt: string | null;
  reason: PhaseReason;
  /** true for every change made while picking up the stored state at start (an agent restart). */
  resumed: boolean;
}

export type NoticeKind = 'overlap' | 'deferred' | 'unresolved-program' | 'removed-while-running' | 'extended';

/** Something about the schedule a person should know; not a phase change. */
export interface ScheduleNotice {
  kind: NoticeKind;
  eventId: string;
  otherEventId?: string;
  cameraId?: string | null;
  message: string;
  at: string;
}

export interface ClockJump {
  /** How far the wall clock moved against the monotonic clock: + forward, − backward. */
  jumpMs: number;
  /** ISO UTC wall time after the jump. */
  at: string;
}

export interface SchedulerEvents {
  phase: [PhaseChange];
  notice: [ScheduleNotice];
  'clock-jump': [ClockJump];
}

/** One event as health and readiness see it. */
export interface EventStatus {
  id: string;
  title: string;
  source: ScheduleSource;
  cameraId: string | null;
  phase: Phase;
  start: string;
  /** The effective end (the later of the scheduled and the extended end). */
  end: string;
  warmAt: string;
  doneAt: string;
  startedAt: string | null;
  stoppedAt: string | null;
  /** Set while the event waits for an earlier event to leave its camera. */
  waitingFor: string | null;
}
