// A fake clock for pure policy (schedules): wall and monotonic time move only when the test says so, timers
// fire in order as time advances, and the wall clock can be stepped alone like an NTP correction. No real timers.
import type { SchedulerClock } from '../../agent/schedule/types.ts';

export class FakeClock implements SchedulerClock {
  private mono = 0;
  private seq = 0;
  private readonly timers = new Map<number, { due: number; fn: () => void }>();

  constructor(private wall: number) {}

  now(): number {
    return this.wall;
  }

  monotonic(): number {
    return this.mono;
  }

  setTimer(ms: number, fn: () => void): unknown {
    const id = ++this.seq;
    this.timers.set(id, { due: this.mono + Math.max(0, ms), fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Moves both clocks by `ms`, firing every timer due on the way, in order, each at its own time. */
  advance(ms: number): void {
    const target = this.mono + ms;
    for (;;) {
      let next: [number, { due: number; fn: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].due <= target && (!next || entry[1].due < next[1].due)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.wall += next[1].due - this.mono;
      this.mono = next[1].due;
      next[1].fn();
    }
    this.wall += target - this.mono;
    this.mono = target;
  }

  /** Advances until the wall clock reads `wallMs` (it must be ahead). */
  advanceTo(wallMs: number): void {
    this.advance(wallMs - this.wall);
  }

  /** Steps the wall clock alone (an NTP correction); the monotonic clock and the timers do not notice. */
  stepWall(ms: number): void {
    this.wall += ms;
  }

  pendingTimers(): number {
    return this.timers.size;
  }
}
