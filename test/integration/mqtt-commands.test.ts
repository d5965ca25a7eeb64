// The box's MQTT contract in the real agent against a real mosquitto: every command answers through the MQTT 5
// response topic with its correlation data, bad commands get clear errors, and every payload the agent
// published during the run validates against its schema in agent/uplink/topics.ts.
import test from 'ava';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { PUBLISHED_SCHEMAS, type TopicName } from '../../agent/uplink/topics.ts';
import { COMMAND_NAMES } from '../../agent/uplink/command-schemas.ts';
import { makeTempDir, startIngest, startMosquitto, startVirtualCamera } from '../helpers/index.ts';
import { startAgent, type AgentProcess } from '../helpers/agent.ts';
import { watchMqtt, type MqttWatch } from '../helpers/mqtt-watch.ts';
import { probeMedia } from '../helpers/media.ts';
import { startController } from '../helpers/controller.ts';

/** Every message the agent published validates against its topic's schema. */
function assertContract(t: import('ava').ExecutionContext, watch: MqttWatch, boxId: string): void {
  const base = `venuebox/v1/${boxId}/`;
  let checked = 0;
  for (const message of watch.messages) {
    const rest = message.topic.slice(base.length);
    if (rest.startsWith('cmd/') || rest.startsWith('responses/') || rest === 'schedule') continue;
    const name = rest.split('/')[0] as TopicName;
    const schema = PUBLISHED_SCHEMAS[name];
    if (!schema) {
      t.fail(`a topic outside the contract: ${message.topic}`);
      continue;
    }
    const result = schema.safeParse(message.json());
    if (!result.success) t.fail(`${message.topic} does not fit its schema: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n${message.payload.slice(0, 400)}`);
    checked += 1;
  }
  t.true(checked >= 5, `payloads checked against the contract: ${checked}`);
}

test('every command answers on the MQTT 5 response topic; bad commands get clear errors; every payload fits the contract', async (t) => {
  const boxId = 'cmd-box';
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const ingest = await startIngest();
  t.teardown(() => ingest.stop());
  const camera = await startVirtualCamera({ width: 640, height: 360, fps: 25, keyint: 25, username: 'viewer', password: 'cam-Secret-42' });
  t.teardown(() => camera.stop());
  const watch = await watchMqtt(broker.url, `venuebox/v1/${boxId}/#`);
  t.teardown(() => watch.stop());
  const scratch = await makeTempDir('cmd-marker');
  t.teardown(() => scratch.remove());
  const marker = path.join(scratch.path, 'rebooted');
  const agent: AgentProcess = await startAgent({
    config: {
      boxId,
      log: { level: 'info' },
      mqtt: { url: broker.url, keepaliveSeconds: 5, healthIntervalSeconds: 5 },
      cameras: [{ id: 'cam1', rtsp: camera.url, username: 'viewer', password: 'cam-Secret-42' }],
      recording: { segmentSeconds: 2, eventId: 'match-1' },
      uplink: { url: ingest.baseUrl },
      commands: { rebootCommand: ['touch', marker] },
    },
  });
  t.teardown(() => agent.cleanup());
  await watch.waitFor((m) => m.topic.endsWith('/status') && (m.json() as { state: string }).state === 'online', 30_000, 'birth');
  await agent.waitForLog((l) => l.msg === 'venuebox agent running', 30_000, 'the agent running');
  await watch.waitFor((m) => m.topic.endsWith('/health') && ((m.json() as { uplink: { uploaded: number } | null }).uplink?.uploaded ?? 0) > 0, 30_000, 'a health report with a segment uploaded');
  const ctl = await startController(broker.url, boxId);
  t.teardown(() => ctl.stop());

  // Clear errors, never a crash.
  t.regex((await ctl.send('self-destruct', {})).error ?? '', /unknown command "self-destruct"; known: .*restart-pipeline/);
  t.regex((await ctl.send('restart-pipeline', '{not json')).error ?? '', /not JSON/);
  t.regex((await ctl.send('restart-pipeline', { stream: 'cam1' })).error ?? '', /streamId: .*; \(payload\): Unrecognized key: "stream"|streamId/);
  t.regex((await ctl.send('restart-pipeline', { streamId: 'nope' })).error ?? '', /no pipeline for stream "nope" \(known: cam1\)/);
  t.regex((await ctl.send('set-log-level', { level: 'loud' })).error ?? '', /level: /);

  // Each command works.
  const restart = await ctl.send('restart-pipeline', { streamId: 'cam1', requestedBy: 'test' });
  t.true(restart.ok, restart.error);
  await watch.waitFor(
    (m) => m.topic.endsWith('/health') && Object.values((m.json() as { cameras: Record<string, { restarts?: number; pipeline?: string }> }).cameras).some((c) => (c.restarts ?? 0) >= 1 && c.pipeline === 'running'),
    30_000,
    'a health report with the pipeline restarted and running',
  );
  // On the timeline: the agent's start (its first: no previous exit to speak of) and the recording run that ended.
  const timeline = () => watch.messages.filter((m) => m.topic.endsWith('/events')).map((m) => m.json() as Record<string, unknown>);
  t.like(timeline().find((e) => e['type'] === 'agent-started'), { bootCount: 1, previousExit: 'first-start' });
  t.like(timeline().find((e) => e['type'] === 'pipeline-restart'), { cameraId: 'cam1', gaveUp: false, restarts: 1 });
  t.regex(String(timeline().find((e) => e['type'] === 'pipeline-restart')?.['reason']), /restart-pipeline command/, 'the reason says why');

  const level = await ctl.send('set-log-level', { level: 'debug', durationSeconds: 3 });
  t.true(level.ok, level.error);
  await agent.waitForLog((l) => l.level === 'debug', 10_000, 'a debug line after set-log-level');

  const logs = await ctl.send('get-logs', { lines: 50 });
  t.true(logs.ok);
  const lines = logs.result?.['lines'] as string[];
  t.true(lines.length > 0 && lines.length <= 50);
  t.false(lines.join('\n').includes('cam-Secret-42'), 'the camera password never appears in get-logs');

  const snapshot = await ctl.send('snapshot', { cameraId: 'cam1' });
  t.true(snapshot.ok, snapshot.error);
  const url = new URL(String(snapshot.result?.['url']));
  const jpeg = path.join(ingest.root, decodeURIComponent(url.pathname));
  t.true((await stat(jpeg)).size > 1000);
  const picture = await probeMedia(jpeg);
  t.deepEqual([picture.codec, picture.width, picture.height], ['mjpeg', 640, 360]);

  const rescan = await ctl.send('rescan-cameras', {});
  t.true(rescan.ok, rescan.error);
  t.is(typeof rescan.result?.['found'], 'number');

  const refused = await ctl.send('reboot', {});
  t.false(refused.ok);
  t.regex(refused.error ?? '', /refused: event match-1 is live; send "force": true/);
  const forced = await ctl.send('reboot', { force: true });
  t.true(forced.ok, forced.error);
  await watch.waitFor(() => false, 1500).catch(() => undefined);
  t.truthy(await stat(marker).catch(() => undefined), 'the reboot command ran');

  // The schedule's commands answer too (no such event here: refused, with the reason).
  for (const [name, payload] of [['extend', { eventId: 'final', minutes: 15 }], ['start-now', { eventId: 'final' }], ['stop', { eventId: 'final' }]] as const) {
    const answer = await ctl.send(name, payload);
    t.false(answer.ok);
    t.regex(answer.error ?? '', /no event "final" in the schedule/, `${name}: ${answer.error}`);
  }

  // Every command was audited as an event, refused ones included.
  const audits = watch.messages.filter((m) => m.topic.endsWith('/events')).map((m) => m.json() as { type: string; command?: string; ok?: boolean });
  for (const name of COMMAND_NAMES.filter((n) => !['update-config', 'restart-agent'].includes(n))) {
    t.true(audits.some((a) => a.type === 'command' && a.command === name), `audit event for ${name}`);
  }
  t.true(audits.some((a) => a.type === 'command' && a.command === 'self-destruct' && a.ok === false));

  // A health report stays small (issue 6: typically ≤ 2 KB) — one camera here; bench/telemetry measures 8.
  const healthSizes = watch.messages.filter((m) => m.topic.endsWith('/health')).map((m) => Buffer.byteLength(m.payload));
  t.log(`health payload: ${Math.max(...healthSizes)} bytes`);
  t.true(healthSizes.length > 0 && Math.max(...healthSizes) <= 2048);

  const bye = await ctl.send('restart-agent', {});
  t.true(bye.ok);
  t.is((await agent.exited).code, 75, 'exits 75 so systemd starts it again');
  assertContract(t, watch, boxId);
});

test('update-config: an invalid config is refused naming the key; a valid one applies after a restart; one that leaves the box unreachable rolls back by itself', async (t) => {
  const boxId = 'cfg-box';
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 25, keyint: 25 });
  t.teardown(() => camera.stop());
  const watch = await watchMqtt(broker.url, `venuebox/v1/${boxId}/#`);
  t.teardown(() => watch.stop());
  const dir = await makeTempDir('cfg-agent');
  t.teardown(() => dir.remove());
  // The whole config, paths included: an update replaces the config, and one without paths would move the box's
  // state to the default /var/lib/venuebox (seen: a second run with boot count 57, from earlier runs there).
  const base = {
    boxId,
    paths: { state: path.join(dir.path, 'state'), logs: path.join(dir.path, 'logs') },
    log: { level: 'info' },
    mqtt: { url: broker.url, keepaliveSeconds: 5, healthIntervalSeconds: 5 },
    cameras: [{ id: 'cam1', rtsp: camera.url }],
    recording: { segmentSeconds: 2 },
  };
  let agent = await startAgent({ config: base, dir });
  t.teardown(() => agent.cleanup());
  await agent.waitForLog((l) => l.msg === 'venuebox agent running', 30_000, 'the agent running');
  const ctl = await startController(broker.url, boxId);
  t.teardown(() => ctl.stop());

  const invalid = await ctl.send('update-config', { config: { ...base, mqtt: { ...base.mqtt, keepaliveSeconds: 1 } } });
  t.false(invalid.ok);
  t.regex(invalid.error ?? '', /the new config is invalid: mqtt\.keepaliveSeconds: /);

  // A valid change: applied, the agent restarts (exit 75; the test plays systemd) and confirms it.
  const valid = await ctl.send('update-config', { config: { ...base, mqtt: { ...base.mqtt, healthIntervalSeconds: 7 } }, healthTimeoutSeconds: 30 });
  t.true(valid.ok, valid.error);
  t.is((await agent.exited).code, 75);
  agent = await startAgent({ config: base, dir, keepConfig: true });
  await watch.waitFor((m) => m.topic.endsWith('/events') && (m.json() as { type: string }).type === 'config-applied', 40_000, 'config-applied');
  t.is((JSON.parse(await readFile(agent.configFile, 'utf8')) as typeof base).mqtt.healthIntervalSeconds, 7);
  // The restart is on the timeline: the second start, after a clean exit.
  await watch.waitFor((m) => m.topic.endsWith('/events') && (m.json() as { type: string; bootCount?: number }).type === 'agent-started' && (m.json() as { bootCount: number }).bootCount === 2, 10_000, 'agent-started of the second run');
  t.like(watch.messages.map((m) => m.json() as Record<string, unknown>).find((e) => e['type'] === 'agent-started' && e['bootCount'] === 2), { previousExit: 'clean' });

  // A change that cuts the box off its broker: it cannot be confirmed, so it is rolled back.
  const unreachable = await ctl.send('update-config', { config: { ...base, mqtt: { ...base.mqtt, url: 'mqtt://127.0.0.1:9' } }, healthTimeoutSeconds: 10 });
  t.true(unreachable.ok, unreachable.error);
  t.is((await agent.exited).code, 75);
  agent = await startAgent({ config: base, dir, keepConfig: true });
  t.is((await agent.exited).code, 75, 'not healthy within 10 s: rolled back and restarted');
  agent = await startAgent({ config: base, dir, keepConfig: true });
  const rolledBack = await watch.waitFor((m) => m.topic.endsWith('/events') && (m.json() as { type: string }).type === 'config-rolled-back', 40_000, 'config-rolled-back (replayed from the outbox)');
  t.regex((rolledBack.json() as { reason: string }).reason, /not healthy within 10 s/);
  t.is((JSON.parse(await readFile(agent.configFile, 'utf8')) as typeof base).mqtt.url, broker.url, 'the previous config is back');
  await agent.stop();
  assertContract(t, watch, boxId);
});
