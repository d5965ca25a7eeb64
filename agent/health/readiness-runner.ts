/**
 * Runs the readiness checks by itself before each scheduled event (issue 7: T−30 min and T−5 min by default,
 * `schedule.readinessMinutes`) and hands the verdict on (the agent publishes it retained and as an event).
 * A box that starts inside the window checks at once rather than never. One run at a time; each (event,
 * minutes) pair once per agent run.
 */
import type { Logger } from 'pino';
import { errorMessage } from '../lib/errors.ts';
import type { EventWindow } from './event-needs.ts';
import type { Verdict } from './readiness.ts';

export interface ReadinessRunnerOptions {
  minutesBefore: readonly number[];
  /** The schedule's events with their start (ISO) and phase. */
  events: () => Array<EventWindow & { start: string }>;
  run: (event: EventWindow, minutesBefore: number) => Promise<Verdict>;
  publish: (verdict: Verdict, minutesBefore: number) => void;
  log: Logger;
  tickMs?: number;
}

export class ReadinessRunner {
  private readonly done = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: ReadinessRunnerOptions) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.options.tickMs ?? 10_000);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Checks now which events are due (also after a schedule change). */
  tick(): void {
    if (this.running) return;
    const now = Date.now();
    const due: Array<[EventWindow, number]> = [];
    for (const event of this.options.events()) {
      if (event.phase !== 'scheduled') continue;
      const start = Date.parse(event.start);
      if (now >= start) continue;
      // The nearest threshold already reached: one run covers every earlier one.
      const reached = [...this.options.minutesBefore].filter((m) => now >= start - m * 60_000).sort((a, b) => a - b)[0];
      if (reached === undefined || this.done.has(`${event.id}@${reached}`)) continue;
      for (const m of this.options.minutesBefore) if (m >= reached) this.done.add(`${event.id}@${m}`);
      due.push([event, reached]);
    }
    if (due.length === 0) return;
    this.running = (async () => {
      for (const [event, minutes] of due) {
        try {
          const verdict = await this.options.run(event, minutes);
          this.options.log.info({ eventId: event.id, verdict: verdict.verdict, reasons: verdict.reasons, minutesBefore: minutes }, `readiness ${verdict.verdict}`);
          this.options.publish(verdict, minutes);
        } catch (err) {
          this.options.log.error({ eventId: event.id, err: errorMessage(err) }, 'readiness checks failed to run');
        }
      }
    })().finally(() => (this.running = undefined));
  }
}
