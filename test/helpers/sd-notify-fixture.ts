// A child process for test/integration/sd-notify.test.ts: a stand-in agent that uses createSdNotify with its own
// process.env (as agent/main.ts does), so NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read from a real
// environment and WATCHDOG_PID is compared with a real PID.
//
// Protocol: one command per stdin line, answered by JSON lines on stdout.
//   ready [STATUS] | status TEXT | watchdog | start-watchdog | stop-watchdog | healthy | unhealthy | stopping | close
// Every command is acknowledged with {"event":"ack","command":…} after its calls returned (or {"event":"threw"}).
// Other events: {"event":"started",…} once, {"event":"error","message":…} per onError call,
// {"event":"tick","healthy":…} per isHealthy() call of the watchdog timer.
// `unhealthy` also sends STATUS=unhealthy, so the listener sees on the socket itself where the flip happened.
// The process exits when stdin closes.
import { createInterface } from 'node:readline';
import { createSdNotify } from '../../agent/lib/sd-notify.ts';

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const sd = createSdNotify(process.env, { onError: (err) => emit({ event: 'error', message: err.message }) });
emit({ event: 'started', pid: process.pid, enabled: sd.enabled, watchdogIntervalMs: sd.watchdogIntervalMs ?? null });

let healthy = true;
let stopWatchdog: (() => void) | undefined;

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const space = line.indexOf(' ');
  const command = space < 0 ? line : line.slice(0, space);
  const argument = space < 0 ? undefined : line.slice(space + 1);
  try {
    switch (command) {
      case 'ready':
        sd.ready(argument);
        break;
      case 'status':
        sd.status(argument ?? '');
        break;
      case 'watchdog':
        sd.watchdog();
        break;
      case 'start-watchdog':
        stopWatchdog = sd.startWatchdog(() => {
          emit({ event: 'tick', healthy });
          return healthy;
        });
        break;
      case 'stop-watchdog':
        stopWatchdog?.();
        break;
      case 'healthy':
        healthy = true;
        break;
      case 'unhealthy':
        healthy = false;
        sd.status('unhealthy');
        break;
      case 'stopping':
        sd.stopping();
        break;
      case 'close':
        sd.close();
        break;
      default:
        emit({ event: 'unknown-command', command });
        return;
    }
    emit({ event: 'ack', command });
  } catch (err) {
    emit({ event: 'threw', command, message: err instanceof Error ? err.message : String(err) });
  }
});
