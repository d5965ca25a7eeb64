/**
 * Structured JSON logging (pino) to stdout, for journald. One root logger; each subsystem takes a child with
 * its namespace (`log.child('encoder')`) so a line always says where it came from. Levels change at run time
 * (`setLogLevel`, later the `set-log-level` command) for the root and every namespace at once.
 *
 * Every line passes through `redact()` on its way out (pino's `hooks.streamWrite`): credentials never reach
 * the journal, whichever field, error message or child-process stderr they hid in.
 */
import pino, { type Logger, type Level } from 'pino';
import { redact } from './redact.ts';

export type { Logger };
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const children = new Map<string, Logger>();

/** The last lines written, already redacted, for the `get-logs` command (the journal has the rest). */
const TAIL_LINES = 1000;
const tail: string[] = [];

/** The last `lines` log lines (redacted JSON, oldest first). */
export function logTail(lines: number): string[] {
  return tail.slice(-lines);
}

function keep(line: string): string {
  tail.push(line.endsWith('\n') ? line.slice(0, -1) : line);
  if (tail.length > TAIL_LINES) tail.splice(0, tail.length - TAIL_LINES);
  return line;
}

function createRoot(destination: pino.DestinationStream | number = 1): Logger {
  return pino(
    {
      level: process.env['VENUEBOX_LOG_LEVEL'] ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Field-level redaction for structured objects; the streamWrite hook catches everything else.
      redact: {
        paths: ['password', '*.password', 'passphrase', '*.passphrase', 'token', '*.token', 'streamKey', '*.streamKey'],
        censor: '[redacted]',
      },
      serializers: { err: pino.stdSerializers.err },
      hooks: { streamWrite: (line: string) => keep(redact(line)) },
    },
    typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination,
  );
}

let root: Logger = createRoot();

/** The logger of one subsystem. Children share the root's level and redaction. */
export function logger(namespace: string): Logger {
  let child = children.get(namespace);
  if (!child) {
    child = root.child({ ns: namespace });
    children.set(namespace, child);
  }
  return child;
}

/** Changes the level of the root and every namespace; with `namespace`, only that one. */
export function setLogLevel(level: LogLevel, namespace?: string): void {
  if (namespace) {
    logger(namespace).level = level;
    return;
  }
  root.level = level;
  for (const child of children.values()) child.level = level;
}

export function getLogLevel(): Level {
  return root.level as Level;
}

/** For tests: send all logging to another stream. */
export function setLogDestination(destination: pino.DestinationStream): void {
  root = createRoot(destination);
  children.clear();
}
