/**
 * The live output host: a child process that owns one live output pipeline (tap → SRT or RTMP destination)
 * through gstreamer-superficial. Like the recording's pipeline host (pipeline-host-child.ts), a process per
 * pipeline: a destination's element that crashes or hangs takes down only this destination, and the binding
 * never frees a pipeline, so a host runs one pipeline once and is replaced, never reused.
 *
 * It reports progress by reading the sink's `stats` structure (srtsink `bytes-sent-total`, rtmp2sink
 * `out-bytes-total`; the binding returns a GstStructure as its string form) and the input's idleness from
 * udpsrc's GstUDPSrcTimeout messages. Whether that progress is good enough is the supervisor's call.
 *
 * Exit: an error exits 1 after reporting it; a stop request sends EOS and exits 0. The pipeline is set to NULL
 * before process.exit: with a running srtsink, process.exit hung in native teardown (measured on 1.22).
 */
import { createRequire } from 'node:module';
import { bytesFromStats } from './live-output-builder.ts';
import type { LiveHostCommand, LiveHostEvent } from './live-output-protocol.ts';

interface GstElement {
  [property: string]: unknown;
}
interface GstPipeline {
  play(): void;
  stop(): void;
  sendEOS(): void;
  findChild(name: string): GstElement | null;
  pollBus(callback: (message: Record<string, unknown>) => void): void;
}

// gstreamer-superficial is CommonJS without types and cannot be imported from ESM directly (STACK-NOTES).
const gstreamer = createRequire(import.meta.url)('gstreamer-superficial') as { Pipeline: new (launch: string) => GstPipeline };

let pipeline: GstPipeline | undefined;
let stopRequested = false;
let exiting = false;
let lastInputTimeoutAt = -Infinity;

function send(event: LiveHostEvent): void {
  if (process.connected) process.send?.(event);
}

function exit(code: number): void {
  if (exiting) return;
  exiting = true;
  try {
    pipeline?.stop();
  } catch {
    // Torn down because it failed; that failure was already reported.
  }
  // Let the IPC channel flush the last events before exiting.
  setImmediate(() => process.exit(code));
}

function start(command: Extract<LiveHostCommand, { type: 'start' }>): void {
  let running: GstPipeline;
  try {
    running = new gstreamer.Pipeline(command.launch);
    for (const [elementName, properties] of Object.entries(command.properties)) {
      const element = running.findChild(elementName);
      if (!element) throw new Error(`element ${elementName} not found in the pipeline`);
      Object.assign(element, properties);
    }
  } catch (err) {
    send({ type: 'error', message: `the live output pipeline cannot be built: ${(err as Error).message}` });
    exit(1);
    return;
  }
  pipeline = running;
  running.pollBus((message) => onBusMessage(message, command.input));
  running.play();
  send({ type: 'started' });
  const sink = running.findChild(command.sink.element);
  let bytesSent = 0;
  setInterval(() => {
    if (exiting) return;
    // A stats structure without the field (srtsink while it reconnects lists only the total): keep the last.
    bytesSent = bytesFromStats(sink?.['stats'], command.sink.bytesField) ?? bytesSent;
    const inputIdle = performance.now() - lastInputTimeoutAt < command.inputTimeoutMs * 1.5;
    send({ type: 'progress', bytesSent, inputIdle });
  }, command.progressIntervalMs).unref();
}

function onBusMessage(message: Record<string, unknown>, inputName: string): void {
  const type = message['type'];
  const element = typeof message['_src_element_name'] === 'string' ? message['_src_element_name'] : undefined;
  if (type === 'element' && message['name'] === 'GstUDPSrcTimeout' && element === inputName) {
    lastInputTimeoutAt = performance.now();
    return;
  }
  if (type === 'warning') {
    // gstreamer-superficial gives a warning's debug string but not its text (measured with srtsink).
    send({ type, message: typeof message['message'] === 'string' ? message['message'] : undefined, debug: typeof message['debug'] === 'string' ? message['debug'] : undefined, element });
    return;
  }
  if (type === 'error') {
    send({ type, message: String(message['message'] ?? 'unknown'), debug: typeof message['debug'] === 'string' ? message['debug'] : undefined, element });
    exit(1);
    return;
  }
  if (type === 'eos') {
    send({ type: 'eos', requested: stopRequested });
    exit(0);
  }
}

function stop(timeoutMs: number): void {
  if (stopRequested) return;
  stopRequested = true;
  if (!pipeline) return exit(0);
  pipeline.sendEOS();
  setTimeout(() => exit(0), timeoutMs).unref();
}

process.on('message', (command: LiveHostCommand) => {
  if (command.type === 'start') start(command);
  else if (command.type === 'stop') stop(command.timeoutMs);
});
// The agent died or closed the channel: do not outlive it as an orphan streaming on its own.
process.on('disconnect', () => stop(1000));
process.on('SIGTERM', () => stop(1000));
