/**
 * The pipeline host: a child process that owns exactly one GStreamer pipeline through gstreamer-superficial.
 * Why a process (DESIGN decision 1): a crash, leak or stuck element in GStreamer must not take down the agent
 * or other cameras; and the binding never frees a pipeline (~0.23 MB per create/stop, STACK-NOTES), so a
 * host is replaced, never reused.
 *
 * Lifecycle: parent sends `start` → `started`; bus messages become events; `stop` → EOS → the last segment
 * is closed → exit 0. An error exits 1 after reporting it. If the parent goes away, the host stops itself.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { DROP_COUNTERS_INTERVAL_MS, VIDEORATE_ELEMENT, type HostCommand, type HostEvent, type MeterRequest, type SourceRequest } from './pipeline-host-protocol.ts';
import { DropLedger, parseJitterbufferStats, StreamMeter } from './stream-meter.ts';

interface GstElement {
  [property: string]: unknown;
  pull?(callback: (buffer: Buffer | null, caps: unknown) => void): void;
}
interface GstPipeline {
  play(): void;
  stop(): void;
  sendEOS(): void;
  findChild(name: string): GstElement | null;
  pollBus(callback: (message: Record<string, unknown>) => void): void;
}
interface GstModule {
  Pipeline: new (launch: string) => GstPipeline;
}

// gstreamer-superficial is CommonJS without types and cannot be imported from ESM directly (STACK-NOTES).
const gstreamer = createRequire(import.meta.url)('gstreamer-superficial') as GstModule;

let pipeline: GstPipeline | undefined;
let stopRequested = false;
let exiting = false;
/** Fragments opened and not yet closed, by location: running time (ns) of their first buffer. */
const openFragments = new Map<string, number>();
/**
 * Wall-clock ms at running time 0, fixed at the first fragment. Segment start times are derived from the
 * running time, not from when a bus message happened to arrive (that lags by up to a second at start-up),
 * so consecutive segments of a run abut exactly and a gap in start times means footage is really missing.
 */
let wallClockAtZeroMs: number | undefined;
/** Transcode mode: stops the camera-side pipeline (before the output's EOS, so nothing feeds it any more). */
let stopSource: (() => void) | undefined;
/** Drop counters of the run, over every camera-side pipeline it had. */
const drops = new DropLedger();
/** The pipeline with the camera's rtspsrc (the only one in passthrough; the current source in a transcode). */
let cameraSide: DropProbe | undefined;

function send(event: HostEvent): void {
  if (process.connected) process.send?.(event);
}

function exit(code: number): void {
  if (exiting) return;
  exiting = true;
  try {
    pipeline?.stop();
  } catch {
    // The pipeline is being torn down because it failed; its own error was already reported.
  }
  // Let the IPC channel flush the last events before exiting.
  setImmediate(() => process.exit(code));
}

function onBusMessage(message: Record<string, unknown>): void {
  const type = message['type'];
  const name = message['name'];
  if (type === 'element' && (name === 'splitmuxsink-fragment-opened' || name === 'splitmuxsink-fragment-closed')) {
    const location = String(message['location']);
    // 64-bit values come back as strings (STACK-NOTES).
    const runningTimeNs = Number(message['running-time']);
    if (name === 'splitmuxsink-fragment-opened') {
      wallClockAtZeroMs ??= Date.now() - runningTimeNs / 1e6;
      openFragments.set(location, runningTimeNs);
      return;
    }
    const openedNs = openFragments.get(location);
    openFragments.delete(location);
    // Size and sha256 from one read, here in the process that wrote the file, while it is in the page cache: the
    // agent's event loop (MQTT, uploads, every camera) does not hash every camera's segments. Synchronous on
    // purpose: a segment-closed always goes out before this host's eos/exit. The meter branch is leaky, so the
    // recording never waits on this loop.
    let bytes = 0;
    let sha256: string | undefined;
    try {
      const data = readFileSync(location);
      bytes = data.length;
      sha256 = createHash('sha256').update(data).digest('hex');
    } catch (err) {
      send({ type: 'warning', message: `closed segment ${location} cannot be read: ${(err as Error).message}` });
    }
    send({
      type: 'segment-closed',
      path: location,
      startTime: new Date(Math.round((wallClockAtZeroMs ?? Date.now()) + (openedNs ?? runningTimeNs) / 1e6)).toISOString(),
      durationMs: openedNs !== undefined ? Math.round((runningTimeNs - openedNs) / 1e6) : 0,
      bytes,
      ...(sha256 ? { sha256 } : {}),
    });
    return;
  }
  if (type === 'error' || type === 'warning') {
    send({
      type,
      message: String(message['message'] ?? 'unknown'),
      debug: typeof message['debug'] === 'string' ? message['debug'] : undefined,
      element: typeof message['_src_element_name'] === 'string' ? message['_src_element_name'] : undefined,
    });
    if (type === 'error') exit(1);
    return;
  }
  if (type === 'eos') {
    send({ type: 'eos', requested: stopRequested });
    exit(0);
  }
}

function start(command: Extract<HostCommand, { type: 'start' }>): void {
  try {
    pipeline = new gstreamer.Pipeline(command.launch);
  } catch (err) {
    send({ type: 'error', message: `the pipeline cannot be built: ${(err as Error).message}` });
    exit(1);
    return;
  }
  for (const [elementName, properties] of Object.entries(command.properties)) {
    const element = pipeline.findChild(elementName);
    if (!element) {
      send({ type: 'error', message: `element ${elementName} not found in the pipeline` });
      exit(1);
      return;
    }
    Object.assign(element, properties);
  }
  pipeline.pollBus(onBusMessage);
  pipeline.play();
  if (!command.source) cameraSide = new DropProbe(pipeline, 'main');
  if (command.meter) startMeter(pipeline, command.meter);
  if (command.source) startSource(command.source);
  send({ type: 'started' });
}

/**
 * Transcode mode: the camera side runs as its own pipeline feeding the output through an inter channel.
 * Its end (camera gone: EOS or an error) is not the host's end: the slate goes on air, the source is
 * rebuilt with backoff, and when data flows again (async-done: the live source prerolled) the slate goes off.
 * INVARIANT: at most one source pipeline exists; a new one is built only after the old one was stopped.
 */
function startSource(request: SourceRequest): void {
  let source: GstPipeline | undefined;
  let delayMs = request.retry.initialMs;
  let lostAt: number | undefined;
  let generation = 0;
  const slate = (onAir: boolean): void => {
    const overlay = pipeline?.findChild(request.slateElement);
    if (overlay) overlay['silent'] = !onAir;
  };
  const lose = (reason: string, mine: number): void => {
    if (mine !== generation || exiting || stopRequested) return;
    generation += 1;
    // The last counts of the pipeline that goes away (a loss is rare: one read per element).
    if (source && cameraSide?.pipeline === source) cameraSide.read(drops, performance.now());
    try {
      source?.stop();
    } catch {
      // Already torn down by its own error; the replacement is what matters.
    }
    source = undefined;
    if (lostAt === undefined) {
      lostAt = Date.now();
      slate(true);
      send({ type: 'source-lost', reason, at: new Date(lostAt).toISOString() });
    }
    const wait = delayMs;
    delayMs = Math.min(delayMs * 2, request.retry.maxMs);
    setTimeout(build, wait).unref();
  };
  stopSource = () => {
    generation += 1;
    const running = source;
    source = undefined;
    try {
      running?.stop();
    } catch {
      // Stopping a source that already failed: nothing left to release.
    }
  };
  const build = (): void => {
    if (exiting || stopRequested) return;
    const mine = generation;
    try {
      source = new gstreamer.Pipeline(request.launch);
      cameraSide = new DropProbe(source, `source${mine}`);
      for (const [name, properties] of Object.entries(request.properties)) {
        const element = source.findChild(name);
        if (element) Object.assign(element, properties);
      }
    } catch (err) {
      lose(`the source pipeline cannot be built: ${(err as Error).message}`, mine);
      return;
    }
    source.pollBus((message) => {
      const type = message['type'];
      if (type === 'error') lose(String(message['message'] ?? 'error'), mine);
      else if (type === 'eos') lose('the camera ended its stream (EOS)', mine);
      else if (type === 'async-done' && mine === generation && lostAt !== undefined) {
        slate(false);
        send({ type: 'source-restored', lostMs: Date.now() - lostAt, at: new Date().toISOString() });
        lostAt = undefined;
        delayMs = request.retry.initialMs;
      }
    });
    source.play();
  };
  build();
}

/**
 * Reads every access unit of the meter appsink and reports stats every `intervalMs`. A pending pull holds
 * one libuv threadpool thread (STACK-NOTES); with the bus poll that is two of the default four.
 */
function startMeter(running: GstPipeline, request: MeterRequest): void {
  const sink = running.findChild(request.element);
  if (!sink?.pull) {
    send({ type: 'warning', message: `meter element ${request.element} is not an appsink; no stream stats` });
    return;
  }
  const meter = new StreamMeter(request.codec, 5000, performance.now());
  const pull = sink.pull.bind(sink);
  const onBuffer = (buffer: Buffer | null): void => {
    if (exiting || stopRequested) return;
    // null: not yet playing, or EOS. Ask again shortly; EOS itself is handled on the bus.
    if (!buffer) {
      setTimeout(() => pull(onBuffer), 100).unref();
      return;
    }
    meter.push(buffer, performance.now());
    pull(onBuffer);
  };
  pull(onBuffer);
  const dropsIntervalMs = request.dropsIntervalMs ?? DROP_COUNTERS_INTERVAL_MS;
  let dropsReadAt: number | undefined;
  setInterval(() => {
    const now = performance.now();
    // Each camera-side pipeline is read as soon as its packets flow (its jitterbuffers exist), then on the slow timer.
    if (cameraSide && (!cameraSide.hasRead || dropsReadAt === undefined || now - dropsReadAt >= dropsIntervalMs) && cameraSide.read(drops, now)) dropsReadAt = now;
    send({ type: 'stats', ...meter.snapshot(now), dropped: drops.snapshot(now) });
  }, request.intervalMs).unref();
}

/**
 * Reads GStreamer's drop counters of one camera-side pipeline into the run's ledger. What this binding
 * can reach (gstreamer-superficial: properties of elements found by name; it has no call to emit a signal and
 * none to list a bin's children):
 * - rtspsrc's jitterbuffers (one per RTP stream: video, audio) have a `stats` GstStructure with num-lost /
 *   num-late. They are made inside rtspsrc's rtpbin with GStreamer's default names, `rtpjitterbuffer<N>` with N
 *   counting up per process, and gst_bin_get_by_name searches nested bins: they are found by probing the next
 *   names. rtpbin's `get-session`/`get-storage` action signals would be the clean way but cannot be called here.
 * - the transcode source's videorate (named, VIDEORATE_ELEMENT): `drop` and `duplicate` (guint64, read as strings).
 * Each element is looked up once per pipeline: every findChild hit allocates a wrapper the binding never frees
 * (measured ~43 KB each); a miss costs nothing lasting.
 * Not counted, because GStreamer exposes no counter for them here: frames a transcode's encoder never took
 * (intervideosrc repeats or skips frames silently when the encoder falls behind), access units h264parse or
 * the depayloader discard after a loss, and the meter's own leaky queue (not a stream drop).
 */
class DropProbe {
  private readonly jitterbuffers = new Map<string, GstElement>();
  private videorate: GstElement | null | undefined;
  /** Whether a reading succeeded (the camera's packets flow). */
  hasRead = false;

  constructor(
    readonly pipeline: GstPipeline,
    private readonly key: string,
  ) {}

  /**
   * Reads every counter it can find; false while the camera sends nothing yet (no jitterbuffer exists: then
   * no frame reached videorate either, and reading it would only cost the binding's leak).
   */
  read(ledger: DropLedger, now: number): boolean {
    this.discoverJitterbuffers();
    let read = false;
    for (const [name, element] of this.jitterbuffers) {
      const stats = parseJitterbufferStats(element['stats']);
      if (!stats) continue;
      // Names are unique in this process, so a jitterbuffer is its own key across source pipelines.
      ledger.record(name, { packetsLost: stats.lost, packetsLate: stats.late }, now);
      read = true;
    }
    if (!read) return false;
    this.hasRead = true;
    if (this.videorate === undefined) this.videorate = this.pipeline.findChild(VIDEORATE_ELEMENT) ?? null;
    if (this.videorate) {
      // guint64 properties come back as strings (STACK-NOTES).
      ledger.record(`${this.key}.${VIDEORATE_ELEMENT}`, { framesDropped: Number(this.videorate['drop'] ?? 0), framesDuplicated: Number(this.videorate['duplicate'] ?? 0) }, now);
    }
    return true;
  }

  private discoverJitterbuffers(): void {
    // Names below nextJitterbuffer were found already, or belonged to a pipeline that is gone. A window,
    // not just the next name: a source rebuilt between two reads leaves numbers this pipeline does not have.
    for (let index = nextJitterbuffer; index < nextJitterbuffer + JITTERBUFFER_PROBE_WINDOW; index++) {
      const name = `rtpjitterbuffer${index}`;
      if (this.jitterbuffers.has(name)) continue;
      const element = this.pipeline.findChild(name);
      if (element) this.jitterbuffers.set(name, element);
    }
    for (const name of this.jitterbuffers.keys()) nextJitterbuffer = Math.max(nextJitterbuffer, Number(name.slice('rtpjitterbuffer'.length)) + 1);
  }
}

/** The lowest jitterbuffer number not yet found (GStreamer numbers default element names per process). */
let nextJitterbuffer = 0;
/** Names probed past nextJitterbuffer per read. */
const JITTERBUFFER_PROBE_WINDOW = 8;

function stop(timeoutMs: number): void {
  if (stopRequested) return;
  stopRequested = true;
  if (!pipeline) return exit(0);
  stopSource?.();
  // EOS closes the last fragment cleanly (~5 ms when data flows); a source that never answers is cut off.
  pipeline.sendEOS();
  setTimeout(() => {
    send({ type: 'warning', message: `no EOS within ${timeoutMs} ms of the stop request; stopping hard` });
    exit(0);
  }, timeoutMs).unref();
}

/** Sets properties on the running pipeline's named elements; answers with the outcome. */
function setProperties(command: Extract<HostCommand, { type: 'set-properties' }>): void {
  try {
    if (!pipeline) throw new Error('the pipeline is not running');
    for (const [elementName, properties] of Object.entries(command.properties)) {
      const element = pipeline.findChild(elementName);
      if (!element) throw new Error(`element ${elementName} not found in the pipeline`);
      Object.assign(element, properties);
    }
    send({ type: 'properties-set', requestId: command.requestId });
  } catch (err) {
    send({ type: 'properties-set', requestId: command.requestId, error: (err as Error).message });
  }
}

process.on('message', (command: HostCommand) => {
  if (command.type === 'start') start(command);
  else if (command.type === 'stop') stop(command.timeoutMs);
  else if (command.type === 'set-properties') setProperties(command);
});
// The agent died or closed the channel: do not outlive it as an orphan writing into the spool.
process.on('disconnect', () => stop(2000));
process.on('SIGTERM', () => stop(2000));
