// The durable outbox across a real (namespaced) network, with the real agent: the box namespace (a virtual
// camera on its loopback, the agent recording it) reaches the cloud namespace (mosquitto with TLS, client
// certificates and docs/mosquitto-acl.example) over one veth link. The MQTT flow goes silent with an nft drop
// rule on the box's side; meanwhile the camera dies, the agent is restarted (SIGTERM, same state folder, config
// kept) and the camera returns. What the box said meanwhile is in its SQLite outbox; once the rule goes, the
// controller (a mosquitto_sub in the cloud namespace, test/helpers/netns-controller.ts) must get every row, in
// the order of the table, marked historical, with its own time, once — beyond what QoS 1 allows — and the
// outbox must end empty. test/integration/outbox.test.ts checks the same property without namespaces, on an
// MqttLink in the test process.
import test from 'ava';
import Database from 'better-sqlite3';
import { fileURLToPath } from 'node:url';
import { createBoxAndCloud, isRoot, makeTempDir, silenceFlow, startMosquitto, startVirtualCamera } from '../helpers/index.ts';
import { startAgent, type AgentProcess, type LogLine } from '../helpers/agent.ts';
import { watchController, type ControllerLine, type ControllerWatch } from '../helpers/netns-controller.ts';
import { createPki } from '../helpers/pki.ts';

const ACL = fileURLToPath(new URL('../../docs/mosquitto-acl.example', import.meta.url));
const BOX = 'box-outbox';
const CAMERA = 'cam1';
const CLOUD_ADDRESS = '10.77.47.10';
const KEEPALIVE_SECONDS = 5;
/** The schema's minimum (agent/config/schema.ts): a health row every 5 s while the link is cut. */
const HEALTH_SECONDS = 5;
const TOPIC = `venuebox/v1/${BOX}`;

/** A row of the agent's outbox table (agent/uplink/outbox.ts). */
interface OutboxRow {
  id: number;
  topic: string;
  payload: string;
  kind: 'event' | 'health';
  created_at: string;
}

/** The outbox rows in id order (the replay order), read beside the running agent: read-only, WAL. */
function readOutbox(databaseFile: string): OutboxRow[] {
  const db = new Database(databaseFile, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, topic, payload, kind, created_at FROM outbox ORDER BY id').all() as OutboxRow[];
  } finally {
    db.close();
  }
}

const isOutboxTopic = (topic: string) => topic === `${TOPIC}/events` || topic === `${TOPIC}/health`;

/** What a delivery said, without the replay's mark: the row's payload as stored (the replay appends `historical`). */
function identity(line: ControllerLine): string {
  const { historical: _historical, ...rest } = line.json;
  return JSON.stringify(rest);
}

const summary = (payload: string): string => {
  const json = JSON.parse(payload) as Record<string, unknown>;
  return json['type'] !== undefined ? `${String(json['type'])}@${String(json['ts'])}` : `health(${String(json['bootId']).slice(0, 8)})@${String(json['ts'])}`;
};

/**
 * Re-evaluates `check` whenever something may have changed — a line of the agent (any run) or of the
 * controller — and at the latest every 200 ms (a row can land in SQLite just after its log line); bounded.
 */
function changes(controller: ControllerWatch) {
  const wakers = new Set<() => void>();
  const poke = () => {
    for (const wake of [...wakers]) wake();
  };
  controller.process.child.stdout?.on('data', poke);
  return {
    watchAgent(agent: AgentProcess) {
      agent.child.stdout?.on('data', poke);
      agent.child.stderr?.on('data', poke);
    },
    async until<T>(check: () => T | undefined, timeoutMs: number, what: string, describe: () => string): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = check();
        if (value !== undefined) return value;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${describe()}`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            wakers.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, 200);
          wakers.add(wake);
        });
      }
    },
  };
}

if (!isRoot()) {
  test('mqtt outbox system test skipped: needs root to create network namespaces', (t) => {
    console.log('mqtt outbox system test skipped: creating network namespaces and nft rules needs root (uid 0)');
    t.pass();
  });
} else {
  test.serial('the broker unreachable (namespaces, the link cut by nft): the outbox replays every event and health row in order, historical, once beyond QoS 1; an agent restarted during the outage still replays', async (t) => {
    t.timeout(4 * 60_000);
    // The phases' times, logged at the end and in every timeout's message (where did a slow run spend it).
    const t0 = Date.now();
    const marks: string[] = [];
    const mark = (phase: string) => marks.push(`${phase} +${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // Teardowns run last-registered first: processes stop before their namespaces go (destroy() also kills
    // whatever is still inside, and takes the nft table with the box's namespace).
    const { topo } = await createBoxAndCloud(t, '10.77.47');
    const pki = await createPki();
    t.teardown(() => pki.remove());
    const broker = await startMosquitto({ netns: topo.ns('cloud'), host: CLOUD_ADDRESS, tls: { caFile: pki.caFile, ...(await pki.server([CLOUD_ADDRESS])) }, aclFile: ACL, debugLog: true });
    t.teardown(() => broker.stop());
    const controller = await watchController(t, topo, broker, pki, { host: 'cloud', address: CLOUD_ADDRESS, topics: [`${TOPIC}/#`] });
    const wait = changes(controller);
    const camera = await startVirtualCamera({ netns: topo.ns('box'), bind: '127.0.0.1', width: 320, height: 240, fps: 10, keyint: 10, bitrateKbps: 200 });
    t.teardown(() => camera.stop());
    const state = await makeTempDir('outbox-box');
    t.teardown(() => state.remove());

    const files = await pki.client(BOX);
    const config = {
      boxId: BOX,
      mqtt: { url: broker.url, keepaliveSeconds: KEEPALIVE_SECONDS, healthIntervalSeconds: HEALTH_SECONDS, connectTimeoutSeconds: 5, tls: { caFile: pki.caFile, ...files } },
      cameras: [{ id: CAMERA, rtsp: camera.url }],
      discovery: { enabled: false },
      cameraHealth: { probeIntervalSeconds: 2, downSeconds: 1, upSeconds: 2 },
      recording: { segmentSeconds: 2 },
      spool: { maxMegabytes: 256, minFreeMegabytes: 0 },
    };
    const agents: AgentProcess[] = [];
    const start = async (): Promise<AgentProcess> => {
      // The second start is a restart as systemd does it: same state folder, the config file as it is.
      const agent = await startAgent({ config, dir: state, keepConfig: agents.length > 0, netns: topo.ns('box') });
      agents.push(agent);
      t.teardown(() => agent.cleanup());
      wait.watchAgent(agent);
      return agent;
    };
    const agentTail = () =>
      agents.map((a, i) => `agent run ${i + 1} (exit ${a.child.exitCode ?? a.child.signalCode ?? 'running'}), output tail:\n${a.output().split('\n').slice(-15).join('\n')}`).join('\n');
    const seen = () => `phases: ${marks.join(', ')}\ncontroller lines (last 30):\n${controller.describe()}\n${agentTail()}\nbroker tail:\n${broker.output().split('\n').slice(-15).join('\n')}`;
    const outboxNow = (agent: AgentProcess) => {
      try {
        return readOutbox(agent.databaseFile).map((r) => `${r.id}:${summary(r.payload)}`).join(', ') || 'empty';
      } catch (err) {
        return `unreadable (${String(err)})`;
      }
    };
    const waitLine = (match: (l: ControllerLine) => boolean, timeoutMs: number, what: string) => controller.waitFor(match, timeoutMs, what, seen);
    /** A log line of `agent` not among `before` (a snapshot of its lines, by identity). */
    const newLog = (agent: AgentProcess, before: ReadonlySet<LogLine>, match: (l: LogLine) => boolean, timeoutMs: number, what: string) =>
      agent.waitForLog((l) => !before.has(l) && match(l), timeoutMs, what);

    // ---- Online: the birth, the camera graded good, a health report, all across the link. ----
    const first = await start();
    await waitLine((l) => l.topic === `${TOPIC}/status` && l.json['state'] === 'online', 30_000, 'the birth across the link');
    await waitLine((l) => l.topic === `${TOPIC}/cameras/${CAMERA}` && l.json['quality'] === 'good', 45_000, 'the camera graded good');
    await waitLine((l) => l.topic === `${TOPIC}/health`, 30_000, 'a health report');
    mark('online');

    // ---- Cut: silence on the box's side, both directions, only the broker's flow (nothing closed or refused). ----
    const beforeCut = new Set(first.logs());
    const silent = await silenceFlow(topo, 'box', CLOUD_ADDRESS, broker.port);
    t.teardown(() => silent.lift().catch(() => undefined)); // before the topology's destroy, which would take it anyway
    const cutAt = silent.from;
    mark('cut');
    const will = await waitLine((l) => l.topic === `${TOPIC}/status` && l.json['reason'] === 'connection-lost', 4 * KEEPALIVE_SECONDS * 1000 + 10_000, 'the last will');
    mark('will');
    // The agent's own view: its keepalive found the connection dead (no PINGRESP) and it is retrying.
    await newLog(first, beforeCut, (l) => l.msg === 'MQTT broker unreachable; will retry', 30_000, 'the agent to find the broker unreachable');
    mark('agent offline');
    t.log(`cut: the will ${((will.at - cutAt) / 1000).toFixed(2)} s after the rule`);

    // ---- The outage: the camera dies (first run), the agent restarts, the camera returns (second run). ----
    const events = (agent: AgentProcess, type: string, after = cutAt) =>
      readOutbox(agent.databaseFile).filter((r) => r.kind === 'event' && Date.parse(r.created_at) >= after && (JSON.parse(r.payload) as { type?: string }).type === type);
    const beforeStop = new Set(first.logs());
    await camera.stop();
    mark('camera stopped');
    await newLog(first, beforeStop, (l) => l.msg === 'camera offline', 30_000, 'the first run to see the camera go');
    await wait.until(() => events(first, 'camera-offline')[0], 10_000, 'the camera-offline row (first run)', () => `outbox: ${outboxNow(first)}`);

    mark('camera-offline row');
    const restartAt = Date.now();
    const stopped = await first.stop();
    t.is(stopped.code, 143, `the first run stopped cleanly on SIGTERM (${JSON.stringify(stopped)})`);
    mark('first run stopped');
    const second = await start();
    const starting = await second.waitForLog((l) => l.msg === 'venuebox agent starting', 30_000, 'the second run to start');
    const secondBoot = String(starting['bootId']);
    await second.waitForLog((l) => l.msg === 'camera offline', 30_000, 'the second run to find the camera offline');
    mark('second run: camera offline');
    const beforeReturn = new Set(second.logs());
    await camera.start();
    await newLog(second, beforeReturn, (l) => l.msg === 'camera online', 45_000, 'the second run to see the camera return');
    await wait.until(() => events(second, 'camera-online', restartAt)[0], 10_000, 'the camera-online row (second run)', () => `outbox: ${outboxNow(second)}`);
    mark('camera-online row');
    // The camera's return is a state change: a health report follows within a second (HealthReporter.stateChanged).
    await wait.until(
      () => readOutbox(second.databaseFile).find((r) => r.kind === 'health' && (JSON.parse(r.payload) as { bootId?: string }).bootId === secondBoot),
      20_000,
      'a health row of the second run',
      () => `outbox: ${outboxNow(second)}`,
    );
    mark('health row of the second run');

    // ---- Still cut: what the box said during the outage, as its table holds it. ----
    const snapshot = readOutbox(second.databaseFile);
    const kinds = (rows: OutboxRow[], kind: OutboxRow['kind']) => rows.filter((r) => r.kind === kind);
    const ofFirstRun = snapshot.filter((r) => Date.parse(r.created_at) < restartAt);
    const ofSecondRun = snapshot.filter((r) => Date.parse(r.created_at) >= restartAt);
    t.log(`outbox while cut: ${snapshot.length} rows (${kinds(snapshot, 'event').length} events, ${kinds(snapshot, 'health').length} health), ${ofFirstRun.length} written by the first run: ${snapshot.map((r) => `${r.id}:${summary(r.payload)}`).join(', ')}`);
    t.true(kinds(ofFirstRun, 'event').some((r) => (JSON.parse(r.payload) as { type: string }).type === 'camera-offline'), 'the first run\'s camera-offline waits in the outbox');
    t.true(kinds(ofFirstRun, 'health').length > 0, 'the first run\'s health reports wait in the outbox');
    t.true(kinds(ofSecondRun, 'event').some((r) => (JSON.parse(r.payload) as { type: string }).type === 'camera-online'), 'the second run\'s camera-online waits in the outbox');
    t.true(kinds(ofSecondRun, 'health').length > 0, 'the second run\'s health reports wait in the outbox');
    t.deepEqual(snapshot.map((r) => r.id), [...snapshot.map((r) => r.id)].sort((a, b) => a - b), 'ids ascend');
    const created = snapshot.map((r) => Date.parse(r.created_at));
    t.deepEqual(created, [...created].sort((a, b) => a - b), 'id order is the order the rows were written in');
    const duringCut = controller.items.filter((l) => l.at > will.at && isOutboxTopic(l.topic));
    t.deepEqual(duringCut.map((l) => l.payload), [], 'nothing of the box crossed the cut link');

    // ---- Lift: the agent reconnects and replays. ----
    const liftIndex = controller.items.length;
    const liftAt = Date.now();
    mark('lift');
    await silent.lift();
    const afterLift = () => controller.items.slice(liftIndex).filter((l) => isOutboxTopic(l.topic));
    await controller.waitFor(() => afterLift().length >= snapshot.length, 60_000, `the replay of ${snapshot.length} rows`, () => `${afterLift().length} delivered since the lift; outbox: ${outboxNow(second)}; ${seen()}`);
    mark('replayed');
    const connected = await second.waitForLog((l) => l.msg === 'connected to the MQTT broker', 5000, 'the second run\'s connect');
    const connectedAt = Date.parse(String(connected['time']));
    const replayedAt = afterLift()[snapshot.length - 1]!.at;
    t.log(`replay: ${snapshot.length} rows at the controller ${((replayedAt - liftAt) / 1000).toFixed(2)} s after the lift (connected ${((connectedAt - liftAt) / 1000).toFixed(2)} s after it)`);

    // Every row, in the table's order (events and health interleaved as written), first after the reconnect.
    const replay = afterLift().slice(0, snapshot.length);
    t.deepEqual(replay.map(identity), snapshot.map((r) => r.payload), 'the replay is the outbox, row for row, in id order, payloads as stored');
    t.deepEqual(replay.map((l) => l.topic), snapshot.map((r) => r.topic), 'each on its own topic');
    for (const [i, line] of replay.entries()) {
      const row = snapshot[i]!;
      t.is(line.json['historical'], true, `row ${row.id} (${summary(row.payload)}) is marked historical`);
      const ts = Date.parse(String(line.json['ts']));
      t.true(ts < liftAt && ts <= Date.parse(row.created_at), `row ${row.id} keeps its own time, from before the lift (${String(line.json['ts'])})`);
    }
    t.deepEqual(
      kinds(snapshot, 'health').map((r) => r.payload),
      replay.filter((l) => l.topic.endsWith('/health')).map(identity),
      'health reports replayed in order, those of both runs',
    );

    // ---- After the link returned: new events are live, not historical. ----
    // A command from the controller: its audit event (`command`) is said now, on the live connection. The box
    // subscribes to its commands on every connect; until that SUBACK a command is not delivered (not retained),
    // so it is sent again until its event comes back.
    const liveFrom = Date.now();
    const requestedBy = `mqtt-outbox-test-${process.pid}`;
    const controllerTls = await pki.client('controller');
    const commandEvent = (l: ControllerLine) => l.topic === `${TOPIC}/events` && l.json['type'] === 'command' && l.json['requestedBy'] === requestedBy;
    const liveCommand = waitLine(commandEvent, 30_000, 'the audit event of a command sent after the link returned');
    let answered = false;
    void liveCommand.then(
      () => (answered = true),
      () => undefined,
    );
    for (let i = 0; i < 20 && !answered; i++) {
      const sent = await topo.exec('cloud', 'mosquitto_pub', ['-V', 'mqttv5', '-h', CLOUD_ADDRESS, '-p', String(broker.port), '--cafile', pki.caFile, '--cert', controllerTls.certFile, '--key', controllerTls.keyFile, '-q', '1', '-t', `${TOPIC}/cmd/set-log-level`, '-m', JSON.stringify({ level: 'info', requestedBy })]);
      t.is(sent.code, 0, sent.stderr);
      await Promise.race([liveCommand.catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
    }
    const liveEvent = await liveCommand;
    mark('live event');
    t.is(liveEvent.json['historical'], undefined, 'an event said on a live connection is not historical');
    t.true(Date.parse(String(liveEvent.json['ts'])) >= liveFrom, 'said after the link returned');
    // The next periodic health report is live too.
    const liveHealth = await waitLine((l) => l.topic === `${TOPIC}/health` && Date.parse(String(l.json['ts'])) >= liveFrom, 4 * HEALTH_SECONDS * 1000, 'a health report after the link returned');
    mark('live health');
    t.is(liveHealth.json['historical'], undefined, 'a health report said on a live connection is not historical');
    t.is(liveHealth.json['bootId'], secondBoot);
    // Every delivery since the lift: historical exactly when written before this connection (its `ts` is when
    // it was written; the agent marks rows created before its connect). 50 ms of slack: the log line's time
    // and the link's own connect time are a few milliseconds apart.
    for (const line of afterLift()) {
      const ts = Date.parse(String(line.json['ts']));
      if (Math.abs(ts - connectedAt) < 50) continue;
      t.is(line.json['historical'] === true, ts < connectedAt, `${line.topic.split('/').pop()} ${String(line.json['type'] ?? '')} ts ${String(line.json['ts'])}: historical iff written before the connect`);
    }

    // ---- No loss, and no duplicate beyond QoS 1. ----
    // QoS 1 is at least once: a message the broker took before the cut whose PUBACK the drop rule swallowed
    // stays in the outbox and is sent again after the reconnect. So the one duplicate allowed is a row of the
    // snapshot written before the cut that also reached the controller before the will (live), and again in
    // the replay. Anything else seen twice — a row replayed twice, a row sent after the cut that arrived twice,
    // a copy between the will and the lift — is a duplicate the outbox should not make (one connection, no
    // second reconnect here). Rows written after the snapshot (health reports, the live event) arrive once.
    const connects = second.logs().filter((l) => l.msg === 'connected to the MQTT broker').length;
    t.is(connects, 1, 'one connection after the lift (a second one could legitimately resend unacknowledged rows)');
    const inSnapshot = new Map<string, OutboxRow[]>();
    for (const row of snapshot) inSnapshot.set(row.payload, [...(inSnapshot.get(row.payload) ?? []), row]);
    const deliveries = new Map<string, ControllerLine[]>();
    for (const line of controller.items.filter((l) => isOutboxTopic(l.topic))) deliveries.set(identity(line), [...(deliveries.get(identity(line)) ?? []), line]);
    let allowed = 0;
    for (const [id, lines] of deliveries) {
      const rows = inSnapshot.get(id) ?? [];
      const before = lines.filter((l) => l.at <= will.at);
      const after = lines.filter((l) => l.at > will.at);
      if (rows.length === 0) {
        t.is(lines.length, 1, `${summary(id)} arrived once (not in the outbox during the outage): ${lines.length}`);
        continue;
      }
      t.is(after.length, rows.length, `${summary(id)}: replayed once`);
      if (before.length > 0) {
        allowed += before.length;
        t.true(before.length <= rows.length && rows.every((r) => Date.parse(r.created_at) <= cutAt), `${summary(id)} arrived before the cut and again in the replay: only a row written before the cut whose PUBACK was lost may`);
      }
    }
    t.log(`duplicates allowed by QoS 1 (delivered before the cut, PUBACK lost, replayed): ${allowed}`);

    // ---- The outbox ends empty: every row acknowledged and deleted. ----
    await wait.until(() => (readOutbox(second.databaseFile).length === 0 ? true : undefined), 20_000, 'an empty outbox', () => `outbox: ${outboxNow(second)}`);
    mark('outbox empty');
    t.log(`phases: ${marks.join(', ')}`);
    t.deepEqual(readOutbox(second.databaseFile), [], 'the outbox is empty');
    t.is(second.child.exitCode, null, 'the second run runs on');
  });
}

