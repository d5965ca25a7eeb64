/**
 * Restart policy for supervised children (pure; tested with fake time). Exponential backoff with full
 * jitter between `initialMs` and `maxMs`; a budget of restarts per sliding window after which the child is
 * given up as failed (reported, retried only after the window); a run that stayed up `stableMs` resets
 * the exponent, so a camera that drops once a day restarts in a second, not in 30.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** Fraction of each delay that is random: 0.5 → a delay in [base/2, base], so restarts of many children spread out. */
  jitter: number;
  budget: { restarts: number; windowMs: number };
  stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 1000,
  maxMs: 30_000,
  factor: 2,
  jitter: 0.5,
  budget: { restarts: 20, windowMs: 10 * 60_000 },
  stableMs: 60_000,
};

export type RestartDecision = { action: 'restart'; delayMs: number; attempt: number } | { action: 'give-up'; retryInMs: number };

export class RestartPolicy {
  private attempt = 0;
  private readonly restarts: number[] = [];

  constructor(
    private readonly options: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Called when the child ended unexpectedly after running `ranForMs`; `now` is a monotonic time in ms.
   * `productive`: the run did its job before it ended (closed a segment). Such an end is an outage of what it
   * depends on (the camera went away), not a crash loop: the backoff starts again from `initialMs`, so a camera
   * that drops every few minutes is picked up in about a second each time (bench/encoder measured p95 27 s
   * after repeated outages when only a stable minute reset it). The budget still bounds a flapping loop.
   */
  onFailure(now: number, ranForMs: number, productive = false): RestartDecision {
    const { initialMs, maxMs, factor, jitter, budget, stableMs } = this.options;
    if (ranForMs >= stableMs || productive) this.attempt = 0;
    while (this.restarts.length > 0 && now - (this.restarts[0] ?? now) > budget.windowMs) this.restarts.shift();
    if (this.restarts.length >= budget.restarts) {
      const oldest = this.restarts[0] ?? now;
      return { action: 'give-up', retryInMs: Math.max(0, oldest + budget.windowMs - now) };
    }
    this.restarts.push(now);
    const base = Math.min(maxMs, initialMs * factor ** this.attempt);
    this.attempt += 1;
    const delayMs = Math.round(base * (1 - jitter * this.random()));
    return { action: 'restart', delayMs, attempt: this.attempt };
  }
}
