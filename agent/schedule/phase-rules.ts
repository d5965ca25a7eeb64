/**
 * The pure rules of the schedule: where an event's phase goes next at a given wall time, when to look again,
 * which event a camera's footage belongs to, and which events overlap. No clock, no timers, no I/O: the
 * scheduler (scheduler.ts) applies these to real time.
 *
 * OVERLAP RULE — first come, first served; a running event is never cut short by another.
 * Two events whose live windows [start, end) overlap on the same program camera: the one that starts first
 * (ties: the smaller id) goes live and stays live until its own (extended) end. The later one warms up as
 * usual, waits in `warming`, and goes live the moment the camera is free (reason `camera-freed`); its end
 * does not move, so it loses its first minutes. If the camera is still held at its end, it is `missed`
 * (reason `camera-busy`). Why this rule and not "the later one wins": a live event runs late for reasons
 * nobody can schedule (overtime, penalties, a delayed kick-off); cutting its stream at a moment no person
 * chose loses the part of the match that matters most, while delaying the next one loses its warm-up minutes
 * that are usually the least watched. The rule is also stable: `extend` on the running event never hands the
 * camera over silently, and an operator who wants the next one now says so (`stop`, then `start-now`).
 * Events on different cameras run at the same time. Pre- and post-roll never hold a camera: the next event
 * goes live at its start even while the previous is in post-roll (the camera keeps recording either way).
 *
 * FOOTAGE: a segment of a camera belongs to the event whose running window [start − preRoll, end + postRoll]
 * it falls in; when several run on the camera, the live one first, then the one in post-roll (its ending is
 * the part worth keeping), then the one warming; among equals the earlier start, then the smaller id.
 */
import type { Phase, PhaseReason } from './types.ts';

/** One event's boundaries in wall ms (the end already extended). */
export interface EventTimes {
  warmMs: number;
  startMs: number;
  endMs: number;
  doneMs: number;
}

export interface Step {
  to: Phase;
  reason: PhaseReason;
  /** The boundary the step stands for (wall ms). */
  plannedMs: number;
}

export function eventTimes(event: { start: string; end: string; preRollSeconds: number; postRollSeconds: number }, extendedEnd: string | null): EventTimes {
  const startMs = Date.parse(event.start);
  const endMs = Math.max(Date.parse(event.end), extendedEnd === null ? -Infinity : Date.parse(extendedEnd));
  return { warmMs: startMs - event.preRollSeconds * 1000, startMs, endMs, doneMs: endMs + event.postRollSeconds * 1000 };
}

/**
 * The next phase at wall time `now`, one step at a time (a caller that is late walks every step in order, so
 * a listener sees warming before live even after a clock jump); null when the event stays where it is.
 * `cameraFree`: no other event is live on this event's camera. Phases only move forward: a wall clock that
 * goes back never undoes a start (no double start).
 */
export function nextStep(phase: Phase, t: EventTimes, now: number, cameraFree: boolean): Step | null {
  switch (phase) {
    case 'scheduled':
      if (now >= t.endMs) return { to: 'missed', reason: 'window-passed', plannedMs: t.endMs };
      if (now >= t.warmMs) return { to: 'warming', reason: 'pre-roll', plannedMs: t.warmMs };
      return null;
    case 'warming':
      if (now >= t.endMs) return { to: 'missed', reason: cameraFree ? 'window-passed' : 'camera-busy', plannedMs: t.endMs };
      if (now >= t.startMs && cameraFree) return { to: 'live', reason: 'start', plannedMs: t.startMs };
      return null;
    case 'live':
      return now >= t.endMs ? { to: 'post-roll', reason: 'end', plannedMs: t.endMs } : null;
    case 'post-roll':
      return now >= t.doneMs ? { to: 'done', reason: 'post-roll-over', plannedMs: t.doneMs } : null;
    default:
      return null;
  }
}

/** The next boundary after `now` at which this event's phase may change; null when none (terminal). */
export function nextBoundary(phase: Phase, t: EventTimes, now: number): number | null {
  const after = (...candidates: number[]): number | null => candidates.find((ms) => ms > now) ?? null;
  switch (phase) {
    case 'scheduled':
      return after(t.warmMs, t.endMs);
    case 'warming':
      return after(t.startMs, t.endMs);
    case 'live':
      return after(t.endMs);
    case 'post-roll':
      return after(t.doneMs);
    default:
      return null;
  }
}

const FOOTAGE_PREFERENCE: Partial<Record<Phase, number>> = { live: 0, 'post-roll': 1, warming: 2 };

/** Evaluation and tie order: earlier start first, then the smaller id. This order is the first-come rule. */
export function byStart(a: { id: string; startMs: number }, b: { id: string; startMs: number }): number {
  return a.startMs - b.startMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Which of the events running on one camera its footage belongs to (see FOOTAGE above); null when none runs. */
export function footageOwner(candidates: ReadonlyArray<{ id: string; phase: Phase; startMs: number }>): string | null {
  let best: { id: string; phase: Phase; startMs: number } | undefined;
  for (const c of candidates) {
    const rank = FOOTAGE_PREFERENCE[c.phase];
    if (rank === undefined) continue;
    if (!best || rank < FOOTAGE_PREFERENCE[best.phase]! || (rank === FOOTAGE_PREFERENCE[best.phase] && byStart(c, best) < 0)) best = c;
  }
  return best?.id ?? null;
}

export interface Overlap {
  /** The event that keeps the camera (starts first). */
  first: string;
  /** The event that waits for it. */
  second: string;
  cameraId: string;
}

/** Pairs of events on the same camera whose live windows [start, end) intersect, in start order. */
export function findOverlaps(events: ReadonlyArray<{ id: string; cameraId: string | null; startMs: number; endMs: number }>): Overlap[] {
  const sorted = events.filter((e) => e.cameraId !== null).sort(byStart);
  const overlaps: Overlap[] = [];
  sorted.forEach((a, i) => {
    for (const b of sorted.slice(i + 1)) {
      if (b.startMs >= a.endMs) continue;
      if (b.cameraId === a.cameraId) overlaps.push({ first: a.id, second: b.id, cameraId: a.cameraId! });
    }
  });
  return overlaps;
}
