// The durable MQTT outbox against a real mosquitto: what the box says while the broker is unreachable is kept
// in SQLite and replayed in order, marked historical, after the link returns — also by a restarted agent.
import test from 'ava';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import pino from 'pino';
import { Store } from '../../agent/store/index.ts';
import { Outbox } from '../../agent/uplink/outbox.ts';
import { MqttLink } from '../../agent/uplink/mqtt-link.ts';
import { freePort, makeTempDir, startMosquitto } from '../helpers/index.ts';
import { watchMqtt } from '../helpers/mqtt-watch.ts';
import { startTcpLink } from '../helpers/tcp-link.ts';

const silent = pino({ level: 'silent' });

function link(url: string, store: Store, boxId = 'box-1') {
  return new MqttLink({
    url,
    clientId: `venuebox-${boxId}`,
    keepaliveSeconds: 5,
    connectTimeoutSeconds: 2,
    topicPrefix: 'venuebox/v1',
    boxId,
    birth: () => ({ boxId, bootId: 'b', bootCount: 1, version: 'test' }),
    log: silent,
    outbox: new Outbox(store),
  });
}

const eventsOf = (messages: Array<{ topic: string; json(): unknown }>) =>
  messages.filter((m) => m.topic.endsWith('/events')).map((m) => m.json() as { type: string; n: number; historical?: boolean; ts: string });

test('a cut link: events said meanwhile are replayed in order, once, marked historical, with their own time', async (t) => {
  const dir = await makeTempDir('outbox');
  t.teardown(() => dir.remove());
  const store = Store.open(path.join(dir.path, 'v.db'));
  t.teardown(() => store.close());
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const tcp = await startTcpLink({ host: '127.0.0.1', port: Number(new URL(broker.url).port) });
  t.teardown(() => tcp.stop());
  const watch = await watchMqtt(broker.url, 'venuebox/v1/box-1/#');
  t.teardown(() => watch.stop());
  const box = link(tcp.url('mqtt'), store);
  box.start();
  t.teardown(() => box.stop());
  await watch.waitFor((m) => m.topic.endsWith('/status') && (m.json() as { state: string }).state === 'online', 10_000, 'birth');

  for (let n = 1; n <= 3; n++) await box.publish('events', { type: 'test', n, ts: new Date().toISOString() });
  await watch.waitFor(() => eventsOf(watch.messages).length >= 3, 10_000, 'live events');
  // Their PUBACKs are back (rows deleted) before the cut: otherwise QoS 1 may deliver them twice, correctly.
  while (new Outbox(store).size() > 0) await new Promise((r) => setImmediate(r));

  tcp.cut();
  await watch.waitFor((m) => m.topic.endsWith('/status') && (m.json() as { reason?: string }).reason === 'connection-lost', 15_000, 'the last will');
  const cutAt = new Date().toISOString();
  for (let n = 4; n <= 40; n++) await box.publish('events', { type: 'test', n, ts: new Date().toISOString() });
  t.is(new Outbox(store).size(), 37, 'kept in the outbox while the link is down');

  await tcp.restore();
  await watch.waitFor(() => eventsOf(watch.messages).some((e) => e.n === 40), 20_000, 'the replay');
  const events = eventsOf(watch.messages);
  t.deepEqual(events.map((e) => e.n), Array.from({ length: 40 }, (_, i) => i + 1), 'every event, in order, no duplicate');
  for (const e of events.slice(0, 3)) t.falsy(e.historical, 'live events are not historical');
  for (const e of events.slice(3)) {
    t.true(e.historical, `event ${e.n} replayed as historical`);
    t.true(e.ts >= cutAt, 'its own timestamp, from when it happened');
  }
  while (new Outbox(store).size() > 0) await new Promise((r) => setTimeout(r, 20));
  t.pass('acknowledged rows are deleted');
});

test('an agent restarted while the broker is down still replays what the previous run said', async (t) => {
  const dir = await makeTempDir('outbox-restart');
  t.teardown(() => dir.remove());
  const file = path.join(dir.path, 'v.db');
  const port = await freePort();
  // First run: no broker at all.
  const first = Store.open(file);
  const before = link(`mqtt://127.0.0.1:${port}`, first);
  before.start();
  for (let n = 1; n <= 5; n++) await before.publish('events', { type: 'test', n, ts: new Date().toISOString() });
  await before.publish('health', { n: 0 } as never);
  await before.stop(200);
  first.close();

  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const watch = await watchMqtt(broker.url, 'venuebox/v1/box-1/#');
  t.teardown(() => watch.stop());
  const second = Store.open(file);
  t.teardown(() => second.close());
  const after = link(broker.url, second);
  after.start();
  t.teardown(() => after.stop());
  await watch.waitFor(() => eventsOf(watch.messages).some((e) => e.n === 5), 15_000, 'the replay after the restart');
  t.deepEqual(eventsOf(watch.messages).map((e) => [e.n, e.historical]), [1, 2, 3, 4, 5].map((n) => [n, true]));
  await watch.waitFor((m) => m.topic.endsWith('/health'), 5000, 'the health sample, in order after the events');
});

test('the outbox is bounded: health samples are thinned first, events kept, both counted', async (t) => {
  const dir = await makeTempDir('outbox-bound');
  t.teardown(() => dir.remove());
  const store = Store.open(path.join(dir.path, 'v.db'));
  t.teardown(() => store.close());
  const outbox = new Outbox(store, 100);
  for (let i = 0; i < 150; i++) {
    outbox.add('t/health', JSON.stringify({ i }), 'health');
    if (i % 15 === 0) outbox.add('t/events', JSON.stringify({ i }), 'event');
  }
  t.true(outbox.size() <= 100, `bounded: ${outbox.size()}`);
  const rows = outbox.next(1000);
  t.is(rows.filter((r) => r.kind === 'event').length, 10, 'every event kept');
  const health = rows.filter((r) => r.kind === 'health').map((r) => (JSON.parse(r.payload) as { i: number }).i);
  t.is(health.at(-1), 149, 'the newest health sample is kept');
  t.deepEqual(health, [...health].sort((a, b) => a - b), 'still in order');
  t.true(outbox.stats().thinnedHealth >= 60);
  t.is(outbox.stats().droppedEvents, 0);
  // Only events left and still too many: the oldest events go, counted.
  const tiny = new Outbox(store, 5);
  for (let i = 0; i < 3; i++) tiny.add('t/events', '{}', 'event');
  t.true(tiny.size() <= 5);
  t.true(tiny.stats().droppedEvents > 0);
});

test('a message the broker refuses (PUBACK 0x87 by its ACL) is dropped and counted, not resent forever; the rest flows', async (t) => {
  const dir = await makeTempDir('outbox-refused');
  t.teardown(() => dir.remove());
  const acl = path.join(dir.path, 'acl');
  // Anonymous clients may write this box's status and health, not its events.
  await writeFile(acl, 'topic readwrite venuebox/v1/box-1/status\ntopic readwrite venuebox/v1/box-1/health\ntopic read venuebox/v1/box-1/#\n');
  const broker = await startMosquitto({ aclFile: acl });
  t.teardown(() => broker.stop());
  const store = Store.open(path.join(dir.path, 'v.db'));
  t.teardown(() => store.close());
  const watch = await watchMqtt(broker.url, 'venuebox/v1/box-1/#');
  t.teardown(() => watch.stop());
  const box = link(broker.url, store);
  box.start();
  t.teardown(() => box.stop());
  await watch.waitFor((m) => m.topic.endsWith('/status'), 10_000, 'birth');
  await box.publish('events', { type: 'test', n: 1, ts: new Date().toISOString() });
  await box.publish('health', { n: 2 } as never);
  await watch.waitFor((m) => m.topic.endsWith('/health'), 10_000, 'the allowed health message after the refused event');
  while (new Outbox(store).size() > 0) await new Promise((r) => setTimeout(r, 20));
  t.is(box.health().refused, 1, 'the refused event is counted');
  t.false(watch.messages.some((m) => m.topic.endsWith('/events')), 'the refused event never arrives');
});
