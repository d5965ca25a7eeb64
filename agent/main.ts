/**
 * The composition root: the story of the box in one straight list. Config, store, MQTT voice, recording,
 * health, then systemd READY. On SIGTERM everything stops in reverse, each step on its own (one failing
 * step does not skip the rest), within 10 s in all; the exit code tells systemd what happened
 * (143 after SIGTERM, 130 after SIGINT, 1 on a fatal start error, 2 on a config error).
 */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, readFileSync } from 'node:fs';
import { loadConfig, ConfigError, type Config } from './config/index.ts';
import { Store } from './store/index.ts';
import { Recorder, type RecordedCamera } from './encoder/index.ts';
import { CameraMonitor } from './cameras/camera-monitor.ts';
import { detectEncoder, type EncoderChoice } from './encoder/profile-detect.ts';
import { CameraDiscoveryService } from './cameras/camera-discovery-service.ts';
import type { CameraExpectations } from './cameras/camera-health.ts';
import { recordedCameras, withAudioFrom, withAudioTrack } from './cameras/index.ts';
import { CameraRegistry } from './cameras/registry.ts';
import { UplinkService } from './uplink/index.ts';
import { BitrateAdaptation } from './uplink/adaptation.ts';
import { MqttLink } from './uplink/mqtt-link.ts';
import { Outbox } from './uplink/outbox.ts';
import { CommandRouter } from './uplink/commands.ts';
import type { HealthPayload } from './uplink/topics.ts';
import { ReadinessRunner } from './health/readiness-runner.ts';
import { readiness } from './health/doctor.ts';
import { eventNeeds } from './health/event-needs.ts';
import { ScheduleService, ScheduleStore, ScheduleValidationError, type PhaseChange } from './schedule/index.ts';
import { dirname, resolve as resolvePath } from 'node:path';
import { createCommandHandlers } from './uplink/command-handlers.ts';
import { checkPendingUpdate, confirmConfig, rollbackConfig, type PendingUpdate } from './config/config-update.ts';
import { HealthReporter } from './health/index.ts';
import { createSdNotify } from './lib/sd-notify.ts';
import { logger, setLogLevel, getLogLevel } from './lib/log.ts';
import { errorMessage, FatalStartError } from './lib/errors.ts';

const STOP_DEADLINE_MS = 10_000;
/** Exit code of a requested restart (EX_TEMPFAIL): systemd starts the agent again. */
export const EXIT_RESTART = 75;
/** Events after which a health report goes out at once (issue 6: "and at once when a state changes"). */
const STATE_EVENTS = new Set(['camera-online', 'camera-offline', 'uplink-state', 'slate-on', 'slate-off', 'encoder-fallback', 'spool-eviction', 'pipeline-restart', 'thermal', 'disk']);
const log = logger('agent');

export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface Step {
  name: string;
  stop: () => Promise<void> | void;
}

export async function runAgent(configFile: string): Promise<number> {
  let config: Config;
  // A config update on probation (update-config): this start counts; a crash loop rolls it back.
  const probation = await checkPendingUpdate(configFile).catch((err: unknown) => {
    log.error({ err: errorMessage(err) }, 'cannot read the pending config update; ignoring it');
    return {} as Awaited<ReturnType<typeof checkPendingUpdate>>;
  });
  let rolledBack = probation.rolledBack;
  try {
    try {
      config = await loadConfig(configFile);
    } catch (err) {
      if (!(err instanceof ConfigError) || !probation.pending) throw err;
      rolledBack = `the new config is refused at start: ${err.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
      await rollbackConfig(configFile);
      probation.pending = undefined;
      config = await loadConfig(configFile);
    }
    if (rolledBack) log.error({ reason: rolledBack }, 'config update rolled back to the previous config');
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const issue of err.issues) process.stderr.write(`${issue.path}: ${issue.message}\n`);
      log.fatal({ file: configFile, issues: err.issues.length }, 'the config is invalid; not starting');
      return 2;
    }
    throw err;
  }
  setLogLevel(config.log.level);
  // Run-time level change without a restart: SIGUSR2 toggles between the configured level and a more
  // verbose one (debug; info when debug or trace is configured).
  process.on('SIGUSR2', () => {
    const verbose = config.log.level === 'debug' || config.log.level === 'trace' ? 'info' : 'debug';
    const next = getLogLevel() === config.log.level ? verbose : config.log.level;
    setLogLevel(next);
    log.warn({ logLevel: next }, 'log level changed (SIGUSR2)');
  });
  const sd = createSdNotify(process.env, { onError: (err: Error) => log.warn({ err: errorMessage(err) }, 'sd_notify failed') });
  const steps: Step[] = [];
  const bootId = randomUUID();
  let hardwareProfile: string | null = null;
  let router: CommandRouter | undefined;
  // Assigned once the store is open; the MQTT link (which may deliver the schedule) starts before.
  let schedule!: ScheduleService;
  let onPhase: ((change: PhaseChange) => void) | undefined;

  let signalled: NodeJS.Signals | 'restart' | undefined;
  let requestRestart: (reason: string) => void = () => undefined;
  const stopRequested = new Promise<NodeJS.Signals | 'restart'>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        signalled = signal;
        resolve(signal);
      });
    }
    // A command (restart-agent, update-config) or a failed config probation: stop cleanly, exit 75, and
    // systemd (Restart=always) starts the agent again.
    requestRestart = (reason: string) => {
      log.warn({ reason }, 'restarting the agent');
      signalled ??= 'restart';
      resolve('restart');
    };
  });

  try {
    const store = Store.open(config.paths.database);
    steps.push({ name: 'store', stop: () => store.close() });
    const bootCount = store.increment('boot_count');
    // Whether the previous run went through its stop sequence: not (a kill -9, a crash, a power cut) is worth saying.
    const previousExit = bootCount === 1 ? 'first-start' : store.getMeta('agent.stopped_cleanly') === '1' ? 'clean' : 'unclean';
    store.setMeta('agent.stopped_cleanly', '0');
    steps.push({ name: 'clean-stop mark', stop: () => store.setMeta('agent.stopped_cleanly', '1') });
    log.info({ version: VERSION, boxId: config.boxId, bootId, bootCount, database: store.path, migrated: store.appliedMigrations }, 'venuebox agent starting');


    // What the box says while the broker is away waits in SQLite and is replayed in order (DESIGN decision 5).
    const outbox = new Outbox(store);
    const mqtt = new MqttLink({
      ...config.mqtt,
      boxId: config.boxId,
      log: logger('mqtt'),
      birth: () => ({ boxId: config.boxId, bootId, bootCount, version: VERSION, hardwareProfile, cameras: config.cameras.map((c) => c.id) }),
      nextBirthSeq: () => store.increment('birth_seq'),
      onSchedule: (payload) => {
        try {
          const result = schedule.applyMessage(payload, 'mqtt');
          log.info({ result }, 'schedule received from the controller');
        } catch (err) {
          const issues = err instanceof ScheduleValidationError ? err.issues.map((i) => `${i.path}: ${i.message}`) : [errorMessage(err)];
          log.error({ issues }, 'schedule from the controller refused; keeping the stored one');
          publishEvent({ type: 'schedule-refused', issues });
        }
      },
      onCommand: (name, payload) =>
        router ? router.handle(name, payload) : Promise.resolve({ command: name, ok: false, error: 'the agent is still starting; retry in a few seconds', ts: new Date().toISOString() }),
      outbox,
    });
    mqtt.start();
    steps.push({ name: 'mqtt', stop: () => mqtt.stop() });

    // Late-bound: health starts last, but a state change before then is already worth a report.
    let health: HealthReporter | undefined;
    const publishEvent = (event: { type: string; [key: string]: unknown }): void => {
      void mqtt.publish('events', { ...event, ts: new Date().toISOString() });
      if (STATE_EVENTS.has(event.type)) health?.stateChanged();
    };
    publishEvent({ type: 'agent-started', bootId, bootCount, version: VERSION, previousExit });
    mkdirSync(config.paths.spool, { recursive: true });
    const fixedEvent = config.recording.eventId ?? null;
    // The schedule before the uplink and the recorder: they ask it which event a segment belongs to. The
    // stored schedule runs even when the controller is unreachable; resumed events carry on after a restart.
    schedule = new ScheduleService({
      store,
      cameras: config.cameras,
      file: config.schedule.file !== undefined ? resolvePath(dirname(configFile), config.schedule.file) : undefined,
      log: logger('schedule'),
    });
    schedule.on('phase', (change) => {
      publishEvent({ type: 'schedule-phase', ...change });
      onPhase?.(change);
    });
    schedule.on('notice', (notice) => publishEvent({ type: 'schedule-notice', ...notice }));
    schedule.on('clock-jump', (jump) => publishEvent({ type: 'clock-jump', ...jump }));
    await schedule.start();
    steps.push({ name: 'schedule', stop: () => schedule.stop() });
    // camera → the event whose recording is closing (events mode, after done/cancelled/missed): a segment is
    // reported closed only after its footage ended (the next keyframe, the jitter buffer, IPC), so the
    // segments the pipeline closes now are still that event's, and the event counts as running until they
    // are in the ledger — its event playlist gets EXT-X-ENDLIST once, with every segment.
    const closing = new Map<string, string>();
    // Each scheduled event's outputs (which live destinations, whether segments go to the ingest), refreshed
    // when a schedule arrives: asked per segment and per camera start, not read from the database each time.
    const outputsOf = new Map<string, { segments: boolean; live: 'all' | number[]; recordOnly: boolean }>();
    const refreshOutputs = (): void => {
      outputsOf.clear();
      for (const { event } of new ScheduleStore(store).load()) outputsOf.set(event.id, { segments: event.outputs.segments, live: event.outputs.live, recordOnly: event.recordOnly });
    };
    refreshOutputs();
    schedule.on('applied', refreshOutputs);
    // By the segment's start, not by when it closed: the segment that straddles an event's end is the event's.
    const currentEvent = (cameraId: string, startTime?: string): string | null =>
      (startTime !== undefined ? eventAt(schedule, cameraId, Date.parse(startTime)) : schedule.currentEvent(cameraId)) ?? closing.get(cameraId) ?? fixedEvent;
    const runningEvents = (): Set<string> => new Set([...schedule.runningEvents(), ...closing.values(), ...(fixedEvent === null ? [] : [fixedEvent])]);
    const uplink = new UplinkService({
      config: { boxId: config.boxId, spoolDir: config.paths.spool, segmentSeconds: config.recording.segmentSeconds, spool: config.spool, uplink: config.uplink },
      store,
      log: logger('uplink'),
      publishEvent,
      currentEvent,
      runningEvents,
      uploadsEvent: (eventId) => outputsOf.get(eventId)?.segments ?? true,
    });
    // Before any pipeline writes: files and rows are reconciled (crash leftovers adopted or reported).
    await uplink.start();
    steps.push({ name: 'uplink', stop: () => uplink.stop() });

    const registry = new CameraRegistry(store);
    const cameraPlan = recordedCameras(config, registry);
    for (const waiting of cameraPlan.waiting) log.warn(waiting, 'camera not recorded yet');
    // Prove an encoder by a real test encode only when a camera needs one (passthrough needs none).
    const encoders = config.cameras.some((c) => c.transcode) ? await detectEncoderForAgent() : [];
    hardwareProfile = encoders[0]?.profile.id ?? null;
    if (hardwareProfile !== null && mqtt.connected) void mqtt.publish('status', { ...mqtt.birth(), state: 'online', ts: new Date().toISOString() });
    const toRecord = config.recording.enabled ? await Promise.all(cameraPlan.cameras.map((c) => withAudioTrack(c, log))) : [];
    // Event-driven recording: a camera runs only while an event needs it (pre-roll to post-roll).
    const byEvents = config.recording.mode === 'events';
    const needed = (cameraId: string): boolean => !byEvents || schedule.currentEvent(cameraId) !== null;
    const recordable = new Map(toRecord.map((c) => [c.id, c]));
    /** A camera as an event records it: only the live destinations the event names, none when record-only. */
    const forEvent = (camera: RecordedCamera, eventId: string | null): RecordedCamera => {
      const outputs = eventId === null ? undefined : outputsOf.get(eventId);
      if (!byEvents || !outputs || !camera.live) return camera;
      const live = outputs.recordOnly ? [] : outputs.live === 'all' ? camera.live : camera.live.filter((_, i) => (outputs.live as number[]).includes(i));
      return { ...camera, live };
    };
    const recorder = new Recorder({
      encoders,
      cameras: toRecord.filter((c) => needed(c.id)).map((c) => forEvent(c, schedule.currentEvent(c.id))),
      segmentSeconds: config.recording.segmentSeconds,
      spoolDir: config.paths.spool,
      lastLedgerSeq: (streamId) => uplink.lastSeq(streamId),
    });
    /** Per camera, its last segment's way into the ledger (rows go in one at a time, in close order). */
    const recorded = new Map<string, Promise<void>>();
    recorder.on('segment', (segment) => recorded.set(segment.streamId, uplink.segmentClosed(segment).catch(() => undefined)));
    recorder.on('encoder-fallback', (fallback) => publishEvent({ type: 'encoder-fallback', ...fallback }));
    recorder.on('pipeline-restart', (cameraId, restart) => publishEvent({ type: 'pipeline-restart', cameraId, ...restart }));
    recorder.on('live', ({ type, ...live }) => publishEvent({ type: `live-${type}`, ...live }));
    recorder.on('source', (cameraId, event) =>
      publishEvent(event.type === 'source-lost' ? { type: 'slate-on', cameraId, reason: event.reason } : { type: 'slate-off', cameraId, lostMs: event.lostMs }),
    );
    recorder.start();
    steps.push({ name: 'recorder', stop: () => recorder.stop() });
    onPhase = (change) => {
      const ended = change.to === 'done' || change.to === 'cancelled' || change.to === 'missed';
      const camera = byEvents && change.cameraId !== null ? recordable.get(change.cameraId) : undefined;
      if (camera && needed(camera.id)) {
        if (recorder.add(forEvent(camera, change.eventId))) log.info({ camera: camera.id, eventId: change.eventId, phase: change.to }, 'recording starts for the event');
      } else if (camera && ended && recorder.supervisor(camera.id)) {
        // Its last segments close now and are the event's (see `closing`); the event's playlist ends after them.
        closing.set(camera.id, change.eventId);
        void recorder
          .remove(camera.id)
          .then((removed) => removed && log.info({ camera: camera.id, eventId: change.eventId }, 'recording stopped: no event needs the camera'))
          .then(() => recorded.get(camera.id))
          .finally(() => {
            if (closing.get(camera.id) === change.eventId) closing.delete(camera.id);
            uplink.uploader?.eventEnded(change.eventId);
          })
          .catch((err: unknown) => log.error({ camera: camera.id, eventId: change.eventId, err: errorMessage(err) }, 'stopping the recording after the event failed; its playlist is finalised anyway'));
        return;
      }
      if (ended) uplink.uploader?.eventEnded(change.eventId);
    };

    // The uplink cannot carry the live streams: transcoded ones are lowered, and raised again later.
    const adaptation = new BitrateAdaptation({
      segmentSeconds: config.recording.segmentSeconds,
      log: logger('uplink'),
      uplink: () => uplink.health().uplink,
      streams: () =>
        recorder.health().map((p) => {
          const configured = config.cameras.find((c) => c.id === p.streamId)?.transcode?.bitrateKbps;
          const supervisor = recorder.supervisor(p.streamId);
          return { streamId: p.streamId, configuredKbps: configured, measuredKbps: p.bitrateKbps, setBitrate: configured !== undefined && supervisor ? (kbps: number) => supervisor.setBitrate(kbps) : undefined };
        }),
    });
    adaptation.on('adapted', (change) => publishEvent({ type: 'bitrate-adapted', ...change }));
    if (config.uplink) adaptation.start();
    steps.push({ name: 'adaptation', stop: () => adaptation.stop() });

    const monitor = new CameraMonitor({
      intervalMs: config.cameraHealth.probeIntervalSeconds * 1000,
      timeoutMs: 3000,
      downMs: config.cameraHealth.downSeconds * 1000,
      upMs: config.cameraHealth.upSeconds * 1000,
    });
    const watchCamera = (camera: RecordedCamera): void => monitor.watch(camera, expectationsOf(camera.id, config, registry));
    for (const camera of toRecord) watchCamera(camera);
    recorder.on('stats', (cameraId, stats) => monitor.streamStats(cameraId, stats));
    // Frames that stop are no proof any more: the camera is asked (DESCRIBE) at the next round, as one without a stream.
    recorder.on('pipeline-state', (cameraId, state) => state !== 'running' && monitor.streamEnded(cameraId));
    recorder.on('source', (cameraId, event) => event.type === 'source-lost' && monitor.streamEnded(cameraId));
    monitor.on('event', (event) => {
      const cameraLog = logger('cameras').child({ camera: event.cameraId });
      if (event.type === 'quality') {
        cameraLog.info({ from: event.from, to: event.to, reasons: event.reasons }, `camera quality ${event.to}`);
        void mqtt.publish('cameras', { cameraId: event.cameraId, quality: event.to, reasons: event.reasons, ts: new Date().toISOString() }, event.cameraId);
      } else {
        if (event.type === 'offline') cameraLog.warn({ reasons: event.reasons }, 'camera offline');
        else cameraLog.info('camera online');
        publishEvent({ type: `camera-${event.type}`, cameraId: event.cameraId, reasons: event.reasons });
      }
    });
    // The camera answers again while its pipeline waits out a backoff: record now, not up to 30 s later.
    monitor.on('describe', (cameraId, result) => {
      if (!result.ok) return;
      // A camera that was down at the start: its sound is learned from its first answer.
      const camera = recordable.get(cameraId);
      const learned = camera ? withAudioFrom(camera, result, log) : undefined;
      if (camera && learned && learned !== camera && learned.source.audio !== undefined) {
        recordable.set(cameraId, learned);
        if (recorder.setAudio(cameraId, learned.source.audio)) log.info({ camera: cameraId, audio: learned.source.audio }, 'camera audio learned from its first answer');
      }
      recorder.supervisor(cameraId)?.retryNow('the camera answers RTSP DESCRIBE again');
    });
    monitor.start();
    steps.push({ name: 'camera monitor', stop: () => monitor.stop() });

    const discovery = new CameraDiscoveryService(config.discovery, registry, logger('discovery'));
    discovery.on('event', (event) => publishEvent(event));
    discovery.on('changed', () => {
      // A configured camera matched by URN/MAC records as soon as discovery finds it.
      if (!config.recording.enabled) return;
      for (const found of recordedCameras(config, registry).cameras) {
        if (recorder.supervisor(found.id) || !needed(found.id)) continue;
        void withAudioTrack(found, log).then((camera) => {
          if (recorder.add(camera)) {
            log.info({ camera: camera.id, audio: camera.source.audio }, 'discovered camera matched; recording starts');
            watchCamera(camera);
          }
        });
      }
    });
    await discovery.start();
    steps.push({ name: 'discovery', stop: () => discovery.stop() });

    router = new CommandRouter(
      createCommandHandlers({
        configFile,
        configuredLogLevel: config.log.level,
        spoolDir: config.paths.spool,
        recorder,
        discovery,
        uploader: () => uplink.uploader,
        liveEvents: () => new Set([...schedule.liveEvents(), ...(fixedEvent === null ? [] : [fixedEvent])]),
        scheduleHandlers: schedule.commandHandlers(),
        requestRestart,
        rebootCommand: config.commands.rebootCommand,
      }),
      logger('commands'),
      publishEvent,
    );

    health = new HealthReporter(
      { boxId: config.boxId, bootId, versions: { agent: VERSION, node: process.versions.node, gstreamer: await gstreamerVersion() }, encoderProfile: () => hardwareProfile, spoolPath: config.paths.spool, pipelines: () => recorder.health(), cameras: () => monitor.health(), spool: () => uplink.health().spool, uplink: () => uplink.health().uplink, outbox: () => outbox.stats(), mqtt: () => mqttCounters(mqtt), schedule: () => scheduleSummary(schedule), publishEvent, diskLowBytes: 2 * config.spool.minFreeMegabytes * 1024 * 1024 },
      config.mqtt.healthIntervalSeconds * 1000,
      (report) => mqtt.publish('health', report),
    );
    await health.start();
    const reporter = health;
    steps.push({ name: 'health', stop: () => reporter.stop() });

    // Before each event: will it go out? Published retained (`readiness`) and as an event.
    const readinessRunner = new ReadinessRunner({
      minutesBefore: config.schedule.readinessMinutes,
      events: () => schedule.health().events,
      run: (event) => readiness(config, eventNeeds(event), uplink.spool.ownedBytes(), registry),
      publish: (verdict, minutesBefore) => {
        void mqtt.publish('readiness', { ...verdict, minutesBefore });
        publishEvent({ type: 'readiness', eventId: verdict.eventId, verdict: verdict.verdict, reasons: verdict.reasons, minutesBefore });
      },
      log: logger('readiness'),
    });
    readinessRunner.start();
    schedule.on('applied', () => readinessRunner.tick());
    steps.push({ name: 'readiness', stop: () => readinessRunner.stop() });

    sd.ready(`recording ${config.cameras.length} camera(s)`);
    const stopWatchdog = sd.startWatchdog(() => store.db.open);
    steps.push({ name: 'watchdog', stop: stopWatchdog });
    log.info({ cameras: config.cameras.length }, 'venuebox agent running');
    if (rolledBack) publishEvent({ type: 'config-rolled-back', reason: rolledBack });
    if (probation.pending) {
      const stopProbation = watchConfigProbation(configFile, probation.pending, () => mqtt.connected && recorder.health().every((p) => p.state === 'running'), publishEvent, requestRestart);
      steps.push({ name: 'config probation', stop: stopProbation });
    }
  } catch (err) {
    const fatal = err instanceof FatalStartError ? err.message : errorMessage(err);
    log.fatal({ err: fatal }, 'the agent cannot start');
    await stopAll(steps);
    sd.close();
    return 1;
  }

  const signal = signalled ?? (await stopRequested);
  const exitCode = signal === 'restart' ? EXIT_RESTART : signal === 'SIGINT' ? 130 : 143;
  log.info({ signal }, 'stopping');
  sd.stopping();
  const deadline = setTimeout(() => {
    log.error({ deadlineMs: STOP_DEADLINE_MS }, 'stop did not finish in time; exiting anyway');
    process.exit(exitCode);
  }, STOP_DEADLINE_MS);
  deadline.unref();
  await stopAll(steps);
  clearTimeout(deadline);
  sd.close();
  log.info('stopped');
  return exitCode;
}

/** Stops the steps in reverse order of their start; a failing step is logged and the others still stop. */
async function stopAll(steps: Step[]): Promise<void> {
  for (const step of [...steps].reverse()) {
    try {
      await step.stop();
    } catch (err) {
      log.error({ step: step.name, err: errorMessage(err) }, 'stop step failed; continuing');
    }
  }
}

/** What a camera promises, from its discovered ONVIF profile (fps, GOP); nothing for a plain RTSP camera. */
function expectationsOf(cameraId: string, config: Config, registry: CameraRegistry): CameraExpectations {
  const match = config.cameras.find((c) => c.id === cameraId)?.match;
  const profile = match ? registry.find(match)?.profiles.find((p) => (match.profile ? p.token === match.profile : p.streamUri)) : undefined;
  return { fps: profile?.fps };
}

async function detectEncoderForAgent(): Promise<EncoderChoice[]> {
  const report = await detectEncoder({ log: logger('encoder') });
  for (const verdict of report.verdicts) {
    logger('encoder').info({ profile: verdict.id, status: verdict.status, reasons: verdict.reasons }, 'encoder profile');
  }
  if (!report.selected) logger('encoder').error('no encoder profile works: transcoded cameras cannot record');
  return report.working;
}

/** `GStreamer 1.22.0` from gst-launch-1.0 --version, for the health report; null when it cannot be run. */
async function gstreamerVersion(): Promise<string | null> {
  try {
    const { stdout } = await promisify(execFile)('gst-launch-1.0', ['--version'], { timeout: 5000 });
    return /GStreamer (\S+)/.exec(stdout)?.[1] ?? null;
  } catch {
    return null;
  }
}

/**
 * A config update on probation: confirmed once the agent is healthy (MQTT connected, every pipeline
 * running), rolled back with a restart when it is not within the update's timeout.
 */
function watchConfigProbation(
  configFile: string,
  pending: PendingUpdate,
  healthy: () => boolean,
  publishEvent: (event: { type: string; [key: string]: unknown }) => void,
  requestRestart: (reason: string) => void,
): () => void {
  const deadline = performance.now() + pending.healthTimeoutSeconds * 1000;
  const timer = setInterval(() => {
    if (healthy()) {
      clearInterval(timer);
      void confirmConfig(configFile).then(() => {
        log.info({ since: pending.since }, 'config update confirmed: the agent is healthy with it');
        publishEvent({ type: 'config-applied', since: pending.since, attempts: pending.attempts });
      });
      return;
    }
    if (performance.now() < deadline) return;
    clearInterval(timer);
    const reason = `the agent was not healthy within ${pending.healthTimeoutSeconds} s of the new config`;
    void rollbackConfig(configFile).then(() => {
      log.error({ reason }, 'config update rolled back to the previous config');
      publishEvent({ type: 'config-rolled-back', reason });
      requestRestart('config rolled back');
    });
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/** The MQTT link's counters for the health report. */
function mqttCounters(link: MqttLink): HealthPayload['mqtt'] {
  const { connects, replayed, refused, dropped } = link.health();
  return { connects, replayed, refused, dropped };
}

/** The schedule in the health report: what runs now and what comes next (compact: the report stays small). */
function scheduleSummary(schedule: ScheduleService): HealthPayload['schedule'] {
  const health = schedule.health();
  const next = health.events.filter((e) => e.phase === 'scheduled').sort((a, b) => a.start.localeCompare(b.start))[0];
  return { timezone: health.timezone, running: health.running, next: next ? { id: next.id, start: next.start } : null };
}

/**
 * The event whose recording window (pre-roll to post-roll; to the stop for a stopped event) holds time `at` on
 * a camera: a live window first, then a post-roll, then a pre-roll (the rule of docs/SCHEDULE.md). Only events
 * that ran: a scheduled or missed one holds no footage.
 */
function eventAt(schedule: ScheduleService, cameraId: string, at: number): string | null {
  if (!Number.isFinite(at)) return null;
  const rank = (e: { start: string; end: string }): number => (at >= Date.parse(e.start) && at < Date.parse(e.end) ? 0 : at >= Date.parse(e.end) ? 1 : 2);
  const holding = schedule
    .statuses()
    .filter((e) => e.cameraId === cameraId && (e.phase === 'warming' || e.phase === 'live' || e.phase === 'post-roll' || e.phase === 'done' || (e.phase === 'cancelled' && e.stoppedAt !== null)))
    .filter((e) => at >= Date.parse(e.warmAt) && at < Date.parse(e.phase === 'cancelled' && e.stoppedAt !== null ? e.stoppedAt : e.doneAt))
    .sort((a, b) => rank(a) - rank(b));
  return holding[0]?.id ?? null;
}
