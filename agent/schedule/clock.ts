/** The real clock of the scheduler: wall time from Date.now, timers on Node's monotonic timer queue. */
import type { SchedulerClock } from './types.ts';

export const systemClock: SchedulerClock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  // libuv runs timers on its monotonic clock: an NTP step of the wall clock neither fires them early nor late.
  // unref: the scheduler alone must not keep a process (a CLI, a test) alive.
  setTimer: (ms, fn) => setTimeout(fn, ms).unref(),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
