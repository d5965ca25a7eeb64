import test from 'ava';
import { RestartPolicy, type BackoffOptions } from '../../agent/lib/backoff.ts';

const OPTIONS: BackoffOptions = { initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0, budget: { restarts: 5, windowMs: 60_000 }, stableMs: 10_000 };

test('backoff doubles from 1 s and is capped at 30 s', (t) => {
  const policy = new RestartPolicy({ ...OPTIONS, budget: { restarts: 100, windowMs: 1000 } });
  const delays: number[] = [];
  for (let i = 0; i < 8; i++) {
    const d = policy.onFailure(i * 100_000, 0);
    if (d.action === 'restart') delays.push(d.delayMs);
  }
  t.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
});

test('a stable run resets the backoff to the initial delay', (t) => {
  const policy = new RestartPolicy(OPTIONS);
  policy.onFailure(0, 0);
  policy.onFailure(1, 0);
  const d = policy.onFailure(2, 10_000);
  t.deepEqual(d, { action: 'restart', delayMs: 1000, attempt: 1 });
});

test('the restart budget per window gives up, and allows restarts again when the window has passed', (t) => {
  const policy = new RestartPolicy(OPTIONS);
  for (let i = 0; i < 5; i++) t.is(policy.onFailure(i * 1000, 0).action, 'restart');
  const giveUp = policy.onFailure(5000, 0);
  t.deepEqual(giveUp, { action: 'give-up', retryInMs: 55_000 });
  t.is(policy.onFailure(61_000, 0).action, 'restart');
});

test('jitter spreads delays within [base × (1 − jitter), base]', (t) => {
  const low = new RestartPolicy({ ...OPTIONS, jitter: 0.5 }, () => 1).onFailure(0, 0);
  const high = new RestartPolicy({ ...OPTIONS, jitter: 0.5 }, () => 0).onFailure(0, 0);
  t.deepEqual([low.action === 'restart' && low.delayMs, high.action === 'restart' && high.delayMs], [500, 1000]);
});

test('a productive run (it closed segments before it ended) restarts from the initial delay', (t) => {
  const policy = new RestartPolicy(OPTIONS);
  policy.onFailure(0, 0);
  policy.onFailure(1, 0);
  t.deepEqual(policy.onFailure(2, 0), { action: 'restart', delayMs: 4000, attempt: 3 }, 'failing at start: the delay grows');
  t.deepEqual(policy.onFailure(3, 2000, true), { action: 'restart', delayMs: 1000, attempt: 1 }, 'after a productive run: back to 1 s');
});
