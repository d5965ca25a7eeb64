// Per-box MQTT security and liveness (issue 6, item 5) against a real mosquitto 2.0 with TLS, client certificates
// made by openssl in the test (test/helpers/pki.ts) and the ACL of docs/mosquitto-acl.example as it is:
//  - the real agent connects with its own certificate (encrypted key, passphrase from a file) and the controller
//    sees its retained `online`; a certificate from another CA is refused and the agent keeps running;
//  - a TLS file that cannot be read, or a wrong passphrase, stops the start with a line naming the key;
//  - the ACL confines a box to venuebox/v1/<its CN>/: a publish elsewhere gets PUBACK 0x87 (mosquitto 2.0.11
//    answers MQTT 5 QoS 1 publishes that way; it drops QoS 0 ones silently) and is never delivered;
//  - client ids: on a listener without use_username_as_clientid a box with a valid certificate closes another
//    box's connection by taking its client id; with it (docs/OPERATIONS.md's broker) it cannot, and the agent and
//    the controllers (on their own listener) work as before;
//  - the last will: `offline / connection-lost` within 1.5 × keepalive of the last byte the broker heard when
//    the link goes silent (TcpLink blackhole: no root needed; the nft variant is in test/system/mqtt-liveness),
//    and within a second of a SIGKILL.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { ConfigError } from '../../agent/config/errors.ts';
import { validateConfig } from '../../agent/config/load.ts';
import { startMosquitto, type Mosquitto } from '../helpers/index.ts';
import { startAgent, type AgentProcess } from '../helpers/agent.ts';
import { watchMqtt, type MqttWatch, type SeenMessage } from '../helpers/mqtt-watch.ts';
import { createPki, type CertFiles, type Pki } from '../helpers/pki.ts';
import { startTcpLink } from '../helpers/tcp-link.ts';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/venuebox.js', import.meta.url));
const ACL = fileURLToPath(new URL('../../docs/mosquitto-acl.example', import.meta.url));
/** The client key's passphrase: a canary looked for in everything the agent writes. */
const PASSPHRASE = 'Tls-Canary-Pass-5521';
const NOT_AUTHORIZED = 0x87;
/**
 * mosquitto 2.0.11 checks keepalives in whole seconds on a sweep of about 5 s (measured: with keepalive 5 the will
 * came 8.1–12.1 s after the last byte the broker heard), so a silent link is noticed within 1.5 × keepalive plus
 * up to ~6 s — not within 1.5 × keepalive exactly. The tests hold it to that and log the figure.
 */
const MOSQUITTO_SWEEP_SECONDS = 6;

interface World {
  pki: Pki;
  broker: Mosquitto;
  /** The controller (CN controller): subscribed to the whole fleet from the start. */
  controller: MqttWatch;
}

/** A CA, a TLS broker with the example ACL, and the controller watching `venuebox/v1/#`; all torn down by `t`. */
async function tlsWorld(t: ExecutionContext): Promise<World> {
  const pki = await createPki();
  t.teardown(() => pki.remove());
  const broker = await startMosquitto({ tls: { caFile: pki.caFile, ...(await pki.server()) }, aclFile: ACL, debugLog: true });
  t.teardown(() => broker.stop());
  const controller = await watchMqtt(broker.url, 'venuebox/v1/#', await clientTls(pki, 'controller'));
  t.teardown(() => controller.stop());
  return { pki, broker, controller };
}

/** mqtt.js options for a client with its own certificate (CN = `name`). */
async function clientTls(pki: Pki, name: string, files?: CertFiles): Promise<IClientOptions> {
  const cert = files ?? (await pki.client(name));
  return { ca: readFileSync(pki.caFile), cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile), reconnectPeriod: 0 };
}

async function connectBox(t: ExecutionContext, world: World, boxId: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = await mqtt.connectAsync(world.broker.url, { protocolVersion: 5, clientId: `venuebox-${boxId}`, ...(await clientTls(world.pki, boxId)), ...options });
  t.teardown(() => client.endAsync(true));
  return client;
}

/** QoS 1 publish → the PUBACK reason code (0 = accepted); mqtt.js turns a code ≥ 0x80 into an error carrying it. */
function publishReason(client: MqttClient, topic: string, payload: string, retain = false): Promise<number> {
  return new Promise((resolve) => {
    client.publish(topic, payload, { qos: 1, retain }, (err, packet) => {
      if (err) resolve(Number((err as { code?: unknown }).code ?? -1));
      else resolve((packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0);
    });
  });
}

const statusOf = (boxId: string, match: (s: { state: string; reason?: string }) => boolean) => (m: SeenMessage) =>
  m.topic === `venuebox/v1/${boxId}/status` && match(m.json() as { state: string; reason?: string });

/** The agent's config for a box that reports to `url` over TLS. */
function agentConfig(boxId: string, url: string, tls: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { boxId, discovery: { enabled: false }, mqtt: { url, keepaliveSeconds: 5, healthIntervalSeconds: 5, tls, ...extra } };
}

/** Things that must never leave the box: the passphrase, and any line of a private key's PEM body. */
function secretsIn(text: string, keyFiles: string[]): string[] {
  const found = text.includes(PASSPHRASE) ? ['the passphrase'] : [];
  for (const file of keyFiles) {
    const body = readFileSync(file, 'utf8').split('\n').filter((line) => line.length >= 16 && !line.startsWith('-----'));
    if (body.some((line) => text.includes(line))) found.push(`a line of ${path.basename(file)}`);
  }
  return found;
}

async function startBox(t: ExecutionContext, config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<AgentProcess> {
  const agent = await startAgent({ config, env });
  t.teardown(() => agent.cleanup());
  return agent;
}

test('TLS: the agent connects with its own certificate (encrypted key, passphrase from a file); the controller sees its retained status online', async (t) => {
  const world = await tlsWorld(t);
  const box = 'box-tls-1';
  const files = await world.pki.client(box, { passphrase: PASSPHRASE });
  const passFile = path.join(world.pki.dir, 'box-tls-1.pass');
  await writeFile(passFile, `${PASSPHRASE}\n`, { mode: 0o600 });
  const agent = await startBox(t, agentConfig(box, world.broker.url, { caFile: world.pki.caFile, ...files, keyPassphraseFile: passFile }));

  await world.controller.waitFor(statusOf(box, (s) => s.state === 'online'), 30_000, 'the birth over TLS');
  // A controller that subscribes later gets it as the retained state of the box.
  const late = await watchMqtt(world.broker.url, `venuebox/v1/${box}/status`, await clientTls(world.pki, 'controller'));
  t.teardown(() => late.stop());
  const retained = await late.waitFor((m) => m.retain, 5000, 'the retained status');
  t.is((retained.json() as { state: string }).state, 'online');
  // Health passes the ACL too (everything the box says is under its own CN).
  await world.controller.waitFor((m) => m.topic === `venuebox/v1/${box}/health`, 20_000, 'a health report over TLS');
  t.false(world.broker.output().includes(`Denied PUBLISH from venuebox-${box}`), 'the broker denied nothing of the box');

  const exit = await agent.stop();
  t.is(exit.code, 143);
  await world.controller.waitFor(statusOf(box, (s) => s.state === 'offline' && s.reason === 'shutdown'), 5000, 'the clean offline');
  t.deepEqual(secretsIn(agent.output(), [files.keyFile]), [], 'no key material or passphrase in the agent output');
  for (const m of world.controller.messages) t.deepEqual(secretsIn(m.payload, [files.keyFile]), [], m.topic);
});

test('TLS: a box whose certificate another CA signed is refused; the agent keeps running and logs why, without secrets', async (t) => {
  const world = await tlsWorld(t);
  const other = await createPki('other');
  t.teardown(() => other.remove());
  const box = 'box-rogue';
  const files = await other.client(box, { passphrase: PASSPHRASE });
  const agent = await startBox(t, agentConfig(box, world.broker.url, { caFile: world.pki.caFile, ...files, keyPassphraseEnv: 'BOX_KEY_PASS' }), { BOX_KEY_PASS: PASSPHRASE });

  const refusal = await agent.waitForLog((l) => l.msg === 'MQTT error; reconnecting', 30_000, 'the refusal logged');
  t.log(`logged: ${String(refusal['err'])}`);
  t.regex(String(refusal['err']), /unknown ca/i, 'the broker rejected the certificate (TLS alert 48, unknown CA)');
  await agent.waitForLog((l) => l.msg === 'venuebox agent running', 30_000, 'the rest of the box running');
  // It keeps trying (every 2 s): the broker sees a second attempt, and the agent is still alive after it.
  const attempts = () => world.broker.output().split('\n').filter((l) => l.includes('certificate verify failed')).length;
  const deadline = Date.now() + 15_000;
  while (attempts() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  t.true(attempts() >= 2, `the broker refused ${attempts()} handshakes`);
  t.is(agent.child.exitCode, null, 'the agent is still running');
  t.false(world.controller.messages.some((m) => m.topic.startsWith(`venuebox/v1/${box}/`)), 'nothing of the rogue box reached the fleet');
  await agent.stop();
  t.deepEqual(secretsIn(agent.output(), [files.keyFile]), []);
});

test('config: the TLS files are read at start; an unreadable one or a wrong passphrase is named by its key, the passphrase never echoed', async (t) => {
  const pki = await createPki();
  t.teardown(() => pki.remove());
  const files = await pki.client('box-cfg', { passphrase: PASSPHRASE });
  // Relative paths are relative to the config file (here: the PKI folder).
  await writeFile(path.join(pki.dir, 'right.pass'), `${PASSPHRASE}\n`);
  await writeFile(path.join(pki.dir, 'wrong.pass'), 'Wrong-Pass-Canary-88\n');
  const check = async (tls: Record<string, unknown>) => {
    const file = path.join(pki.dir, 'config.json');
    await writeFile(file, JSON.stringify({ boxId: 'box-cfg', mqtt: { url: 'mqtts://127.0.0.1:8883', tls } }));
    return run(process.execPath, [BIN, 'config', 'check', file]).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, out: err.stdout + err.stderr }),
    );
  };
  const base = { caFile: 'ca.crt', certFile: path.basename(files.certFile), keyFile: path.basename(files.keyFile) };

  const good = await check({ ...base, keyPassphraseFile: 'right.pass' });
  t.is(good.code, 0, good.out);
  const missing = await check({ ...base, certFile: 'gone.crt', keyPassphraseFile: 'right.pass' });
  t.is(missing.code, 2);
  t.regex(missing.out, /mqtt\.tls\.certFile: cannot read \S*gone\.crt: ENOENT/);
  const wrong = await check({ ...base, keyPassphraseFile: 'wrong.pass' });
  t.is(wrong.code, 2);
  t.regex(wrong.out, /mqtt\.tls\.keyPassphraseFile: does not decrypt \S*client-box-cfg\.enc\.key/);
  const none = await check(base);
  t.regex(none.out, /mqtt\.tls\.keyFile: .* if it is encrypted, give keyPassphraseFile/);
  const plain = await check({ ...base, keyPassphraseFile: 'right.pass', rejectUnauthorized: false });
  t.is(plain.code, 0, 'rejectUnauthorized false is allowed (documented as dangerous)');
  for (const r of [good, missing, wrong, none]) {
    t.false(r.out.includes(PASSPHRASE) || r.out.includes('Wrong-Pass-Canary-88'), r.out);
    t.deepEqual(secretsIn(r.out, [files.keyFile]), []);
  }

  // The schema's own rules (no files read): every issue named, all at once.
  const issues = (mqtt: Record<string, unknown>) => {
    try {
      validateConfig({ boxId: 'box-cfg', mqtt }, {});
      return [];
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return err.issues.map((i) => `${i.path}: ${i.message}`);
    }
  };
  t.deepEqual(issues({ url: 'mqtt://broker:1883', tls: { caFile: 'ca.crt' } }), ['mqtt.tls: needs an mqtts:// or wss:// url (with mqtt:// or ws:// the box would talk in the clear)']);
  t.deepEqual(issues({ url: 'mqtts://broker:8883', tls: { certFile: 'box.crt', keyPassphrase: 'x', keyPassphraseEnv: 'K' } }), [
    'mqtt.tls.keyFile: required with certFile',
    'mqtt.tls.keyPassphraseEnv: conflicts with keyPassphrase: give only one of keyPassphrase, keyPassphraseFile, keyPassphraseEnv',
    'mqtt.tls.keyPassphrase: needs keyFile: a passphrase decrypts the client key',
  ]);
  t.deepEqual(issues({ url: 'wss://broker/mqtt', tls: { caFile: 'ca.crt', rejectUnauthorized: false } }), []);

  // The agent itself: a key file that cannot be read stops the start (exit 2) with the same line.
  const agent = await startAgent({ config: agentConfig('box-cfg', 'mqtts://127.0.0.1:8883', { caFile: pki.caFile, certFile: files.certFile, keyFile: path.join(pki.dir, 'missing.key') }) });
  t.teardown(() => agent.cleanup());
  const exit = await agent.exited;
  t.is(exit.code, 2);
  t.regex(agent.output(), /mqtt\.tls\.keyFile: cannot read \S*missing\.key: ENOENT/);
});

test('ACL (docs/mosquitto-acl.example as it is): a box publishing under another box\'s id gets PUBACK 0x87 and nothing is delivered', async (t) => {
  const world = await tlsWorld(t);
  const b = await connectBox(t, world, 'box-b');
  t.is(await publishReason(b, 'venuebox/v1/box-b/status', JSON.stringify({ state: 'online' }), true), 0, 'box B writes its own status');
  // Box A claims to be the controller: with use_identity_as_username the certificate's CN wins over the user name it sends.
  const a = await connectBox(t, world, 'box-a', { username: 'controller' });

  const refused: Array<[string, string, boolean]> = [
    ['venuebox/v1/box-b/events', '{"type":"forged"}', false],
    ['venuebox/v1/box-b/status', '{"state":"offline","reason":"forged"}', true],
    ['venuebox/v1/box-b/health', '{"forged":true}', false],
    ['venuebox/v1/box-a/schedule', '{"forged":true}', true], // its own schedule is the controller's to write
    ['venuebox/v1/box-a/cmd/reboot', '{"forged":true}', false], // nor may it command itself
    ['venuebox/v1/other', '{"forged":true}', false],
  ];
  for (const [topic, payload, retain] of refused) {
    t.is(await publishReason(a, topic, payload, retain), NOT_AUTHORIZED, `${topic}: PUBACK 0x87 (not authorized)`);
  }
  // An allowed message published right after arrives; none of the refused ones did before it (one connection, in order).
  t.is(await publishReason(a, 'venuebox/v1/box-a/events', '{"type":"allowed"}'), 0);
  await world.controller.waitFor((m) => m.topic === 'venuebox/v1/box-a/events', 5000, 'the allowed event');
  const forged = world.controller.messages.filter((m) => m.payload.includes('forged'));
  t.deepEqual(forged.map((m) => m.topic), [], 'no refused message reached the controller');
  // Box B's retained status is untouched.
  const late = await watchMqtt(world.broker.url, 'venuebox/v1/box-b/status', await clientTls(world.pki, 'controller'));
  t.teardown(() => late.stop());
  t.is((((await late.waitFor((m) => m.retain, 5000, 'box B status')).json()) as { state: string }).state, 'online');
  t.regex(world.broker.output(), /Denied PUBLISH from venuebox-box-a .*'venuebox\/v1\/box-b\/events'/, 'the broker logged the denial');
});

test('ACL: a box hears only its own commands and schedule, even subscribed to the whole tree', async (t) => {
  const world = await tlsWorld(t);
  const b = await connectBox(t, world, 'box-b');
  t.is(await publishReason(b, 'venuebox/v1/box-b/status', '{"state":"online"}', true), 0);
  const a = await connectBox(t, world, 'box-a');
  const heard: string[] = [];
  a.on('message', (topic) => heard.push(topic));
  // mosquitto 2.0.11 grants the SUBACK and filters each message on delivery (measured): the proof is what arrives.
  await a.subscribeAsync(['venuebox/v1/#', 'venuebox/v1/box-b/cmd/+'], { qos: 1 });
  const ctl = await mqtt.connectAsync(world.broker.url, { protocolVersion: 5, ...(await clientTls(world.pki, 'controller')) });
  t.teardown(() => ctl.endAsync(true));
  await ctl.publishAsync('venuebox/v1/box-b/cmd/reboot', '{}', { qos: 1 });
  await ctl.publishAsync('venuebox/v1/box-b/schedule', '{"events":[]}', { qos: 1, retain: true });
  await ctl.publishAsync('venuebox/v1/box-a/schedule', '{"events":[]}', { qos: 1, retain: true });
  await ctl.publishAsync('venuebox/v1/box-a/cmd/snapshot', '{}', { qos: 1 });
  const deadline = Date.now() + 5000;
  while (!heard.includes('venuebox/v1/box-a/cmd/snapshot') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.deepEqual([...new Set(heard)].sort(), ['venuebox/v1/box-a/cmd/snapshot', 'venuebox/v1/box-a/schedule']);
  // A new subscription gets no retained message of another box either.
  const retained: string[] = [];
  const a2 = await connectBox(t, world, 'box-a', { clientId: 'venuebox-box-a-2' });
  a2.on('message', (topic) => retained.push(topic));
  await a2.subscribeAsync('venuebox/v1/+/+', { qos: 1 });
  await new Promise((r) => setTimeout(r, 500));
  t.deepEqual(retained, ['venuebox/v1/box-a/schedule'], 'only its own retained schedule');
});

/** Whether `client` is closed by the broker within the time it takes `probe` to make a round trip after `intruder` connects. */
async function takenOver(world: { url: string }, victim: MqttClient, intruderTls: IClientOptions, clientId: string): Promise<boolean> {
  const closed = new Promise<boolean>((resolve) => victim.once('close', () => resolve(true)));
  const intruder = await mqtt.connectAsync(world.url, { protocolVersion: 5, clientId, ...intruderTls });
  // The takeover happens while the broker handles the intruder's CONNECT, before its CONNACK: the victim is either
  // closed by now (its socket's close follows) or still there, which a round trip of its own shows.
  const stillThere = victim.connected ? publishReason(victim, 'venuebox/v1/box-a/events', '{"type":"probe"}').then((code) => code !== 0) : Promise.resolve(true);
  const result = await Promise.race([closed, stillThere]);
  await intruder.endAsync(true);
  return result;
}

test('client ids: with use_username_as_clientid on the boxes\' listener a box cannot take another box\'s session (without it, it can); the agent and controllers work as before', async (t) => {
  // The default broker of the other tests (one listener, the client id as the client sends it): the takeover works.
  const plain = await tlsWorld(t);
  const a1 = await connectBox(t, plain, 'box-a');
  t.true(await takenOver(plain.broker, a1, await clientTls(plain.pki, 'box-b'), 'venuebox-box-a'), 'a box with a valid certificate kicks box-a off by its client id');
  t.true(plain.broker.output().includes('already connected, closing old connection'));

  // docs/OPERATIONS.md's broker: the boxes' client id is the certificate's CN; controllers on a listener of their own.
  const pki = await createPki();
  t.teardown(() => pki.remove());
  const broker = await startMosquitto({ tls: { caFile: pki.caFile, ...(await pki.server()), clientIdFromIdentity: true }, aclFile: ACL, debugLog: true });
  t.teardown(() => broker.stop());
  const controller = await watchMqtt(broker.controllerUrl!, 'venuebox/v1/#', await clientTls(pki, 'controller'));
  t.teardown(() => controller.stop());
  const a2 = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'venuebox-box-a', ...(await clientTls(pki, 'box-a')) });
  t.teardown(() => a2.endAsync(true));
  t.false(await takenOver(broker, a2, await clientTls(pki, 'box-b'), 'venuebox-box-a'), 'box-b connects as itself; box-a stays');
  t.false(broker.output().includes('already connected, closing old connection'), broker.output());
  t.regex(broker.output(), /New client connected from .* as box-b \(/, 'the intruder got its own CN as client id');
  // The ACL still holds on that listener: box-a may not speak for box-b.
  t.is(await publishReason(a2, 'venuebox/v1/box-b/events', '{}'), NOT_AUTHORIZED);
  await a2.endAsync(true);

  // The real agent on that listener: its birth reaches the controller, and it answers a command.
  const box = 'box-id-1';
  const files = await pki.client(box);
  await startBox(t, agentConfig(box, broker.url, { caFile: pki.caFile, ...files }));
  await controller.waitFor(statusOf(box, (s) => s.state === 'online'), 30_000, 'the birth on the boxes\' listener');
  const ctl = await mqtt.connectAsync(broker.controllerUrl!, { protocolVersion: 5, clientId: 'controller-cmd', ...(await clientTls(pki, 'controller')) });
  t.teardown(() => ctl.endAsync(true));
  const responseTopic = `venuebox/v1/${box}/responses/controller-cmd`;
  await ctl.subscribeAsync(responseTopic, { qos: 1 });
  const answered = new Promise<{ ok: boolean }>((resolve) => ctl.on('message', (_topic, payload) => resolve(JSON.parse(payload.toString('utf8')) as { ok: boolean })));
  await ctl.publishAsync(`venuebox/v1/${box}/cmd/set-log-level`, JSON.stringify({ level: 'info' }), { qos: 1, properties: { responseTopic, correlationData: Buffer.from('1') } });
  t.true((await answered).ok, 'the box answers the controller');
});

test('last will: a link gone silent (blackhole, nothing closed) gives offline/connection-lost within 1.5 × keepalive + the broker\'s keepalive sweep', async (t) => {
  const world = await tlsWorld(t);
  const box = 'box-will-1';
  const keepaliveSeconds = 5;
  const tcp = await startTcpLink({ host: world.broker.host, port: world.broker.port });
  t.teardown(() => tcp.stop());
  const files = await world.pki.client(box);
  // Through the forwarder on 127.0.0.1: the broker's certificate names 127.0.0.1, so TLS verifies end to end.
  await startBox(t, agentConfig(box, tcp.url('mqtts'), { caFile: world.pki.caFile, ...files }, { keepaliveSeconds }));
  await world.controller.waitFor(statusOf(box, (s) => s.state === 'online'), 30_000, 'the birth');
  // Somewhere between two keepalive pings, not right after the birth's burst of packets.
  await new Promise((r) => setTimeout(r, 2000));

  tcp.blackhole(true);
  const silentAt = Date.now();
  const lastHeard = tcp.lastUpstreamAt;
  const will = await world.controller.waitFor(statusOf(box, (s) => s.reason === 'connection-lost'), 4 * keepaliveSeconds * 1000, 'the last will');
  const sinceHeard = (will.at - lastHeard) / 1000;
  const sinceSilent = (will.at - silentAt) / 1000;
  t.log(`keepalive ${keepaliveSeconds} s: will ${sinceHeard.toFixed(2)} s after the broker last heard the box, ${sinceSilent.toFixed(2)} s after the link went silent (1.5 × keepalive = ${1.5 * keepaliveSeconds} s)`);
  // Not before 1.5 × keepalive (whole seconds): it was the broker's keepalive, not a close that slipped through.
  t.true(sinceHeard >= 1.5 * keepaliveSeconds - 1, `${sinceHeard} s since the broker last heard the box: too early for a keepalive`);
  t.true(sinceHeard <= 1.5 * keepaliveSeconds + MOSQUITTO_SWEEP_SECONDS, `${sinceHeard} s since the broker last heard the box`);
  t.true(world.broker.output().includes(`Client venuebox-${box} has exceeded timeout`), 'the broker says it was the keepalive');

  // The link comes back: the agent notices its own dead connection (no PINGRESP), reconnects, and is online again.
  tcp.blackhole(false);
  await world.controller.waitFor((m) => m.at > will.at && statusOf(box, (s) => s.state === 'online')(m), 6 * keepaliveSeconds * 1000, 'online again');
});

test('last will: after a SIGKILL of the agent, offline/connection-lost within a second', async (t) => {
  const world = await tlsWorld(t);
  const box = 'box-will-2';
  const files = await world.pki.client(box);
  const agent = await startBox(t, agentConfig(box, world.broker.url, { caFile: world.pki.caFile, ...files }));
  await world.controller.waitFor(statusOf(box, (s) => s.state === 'online'), 30_000, 'the birth');
  const killedAt = Date.now();
  agent.child.kill('SIGKILL');
  const will = await world.controller.waitFor(statusOf(box, (s) => s.reason === 'connection-lost'), 5000, 'the last will');
  const ms = will.at - killedAt;
  t.log(`will ${ms} ms after the SIGKILL`);
  t.true(ms <= 1000, `${ms} ms`);
});
