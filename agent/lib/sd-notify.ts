// PLACEHOLDER until the systemd helper lands its implementation (same API).
export interface SdNotify {
  enabled: boolean;
  ready(status?: string): void;
  stopping(): void;
  status(text: string): void;
  watchdog(): void;
  watchdogIntervalMs: number | undefined;
  startWatchdog(isHealthy: () => boolean): () => void;
  close(): void;
}
export function createSdNotify(_env: NodeJS.ProcessEnv = process.env, _options: { onError?: (err: Error) => void } = {}): SdNotify {
  return { enabled: false, ready() {}, stopping() {}, status() {}, watchdog() {}, watchdogIntervalMs: undefined, startWatchdog: () => () => {}, close() {} };
}
