/**
 * What an event needs from the box, for the readiness checks: its program camera and how long it records
 * (pre-roll to post-roll), from the stored schedule. Without an id: the next event that is not over yet.
 */
import type { Config } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import { ScheduleStore } from '../schedule/store.ts';
import type { EventNeeds } from './doctor.ts';

export interface EventWindow {
  id: string;
  cameraId: string | null;
  warmAt: string;
  doneAt: string;
  phase: string;
}

export function eventNeeds(event: EventWindow): EventNeeds {
  return {
    id: event.id,
    seconds: Math.max(0, (Date.parse(event.doneAt) - Date.parse(event.warmAt)) / 1000),
    cameraIds: event.cameraId === null ? [] : [event.cameraId],
  };
}

const OVER = new Set(['done', 'cancelled', 'missed']);

/** For `venuebox doctor`: the event `eventId`, or the next one not over; null when there is none. */
export function resolveEventNeeds(config: Config, store: Store, eventId: string | undefined): EventNeeds | null {
  const windows = new ScheduleStore(store).load().map((stored) => toWindow(stored, config));
  const chosen = eventId !== undefined ? windows.find((w) => w.id === eventId) : windows.filter((w) => !OVER.has(w.phase)).sort((a, b) => a.warmAt.localeCompare(b.warmAt))[0];
  return chosen ? eventNeeds(chosen) : null;
}

function toWindow(stored: ReturnType<ScheduleStore['load']>[number], config: Config): EventWindow {
  const event = stored.event;
  const program = event.program as { cameraId?: string; role?: string };
  const cameraId = program.cameraId ?? config.cameras.find((c) => c.role === program.role)?.id ?? null;
  const end = stored.state.extendedEnd ?? event.end;
  return {
    id: event.id,
    cameraId,
    warmAt: new Date(Date.parse(event.start) - event.preRollSeconds * 1000).toISOString(),
    doneAt: new Date(Date.parse(end) + event.postRollSeconds * 1000).toISOString(),
    phase: stored.state.phase,
  };
}
