// An append-only list of things seen (log lines, MQTT messages) with "wait for the first one that matches,
// seen already or still to come", bounded by a deadline. Synchronisation by event, never by sleeping.

export interface WaitList<T> {
  readonly items: T[];
  push(item: T): void;
  /** Resolves with the first matching item; rejects after `timeoutMs` with `describe()` in the message. */
  waitFor(match: (item: T) => boolean, timeoutMs: number, what: string, describe: () => string): Promise<T>;
  /** Rejects every pending wait (the source ended: an exited process, a closed connection). */
  fail(reason: (what: string) => string): void;
}

export function createWaitList<T>(): WaitList<T> {
  const items: T[] = [];
  const waiters = new Set<{ match: (item: T) => boolean; resolve: (item: T) => void; reject: (err: Error) => void; what: string }>();
  return {
    items,
    push(item) {
      items.push(item);
      for (const waiter of [...waiters]) if (waiter.match(item)) waiter.resolve(item);
    },
    waitFor(match, timeoutMs, what, describe) {
      const seen = items.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<T>((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(waiter);
        };
        const waiter = { match, what, resolve: (item: T) => (done(), resolve(item)), reject: (err: Error) => (done(), reject(err)) };
        const timer = setTimeout(() => waiter.reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${describe()}`)), timeoutMs);
        waiters.add(waiter);
      });
    },
    fail(reason) {
      for (const waiter of [...waiters]) waiter.reject(new Error(reason(waiter.what)));
    },
  };
}
