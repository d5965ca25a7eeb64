// The test world's helpers start real services that behave like the real thing.
import test from 'ava';
import { probeStreams, withCredentials } from '../helpers/media.ts';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import {
  ProcessStartError,
  startIngest,
  startMosquitto,
  startProcess,
  startVirtualCamera,
} from '../helpers/index.ts';

const run = promisify(execFile);

const ffprobe = probeStreams;

test('mosquitto (anonymous): a retained message published is received by a new subscriber', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  t.regex(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);

  const publisher = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  await publisher.publishAsync('venuebox/test/status', 'online', { retain: true, qos: 1 });
  await publisher.endAsync();

  const subscriber = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0, protocolVersion: 5 });
  t.teardown(() => subscriber.endAsync());
  const received = new Promise<{ topic: string; payload: string; retain: boolean }>((resolve) =>
    subscriber.once('message', (topic, payload, packet) => resolve({ topic, payload: payload.toString(), retain: packet.retain })),
  );
  await subscriber.subscribeAsync('venuebox/test/#', { qos: 1 });
  t.deepEqual(await received, { topic: 'venuebox/test/status', payload: 'online', retain: true });
});

test('mosquitto (auth): a wrong password is refused, the right one works', async (t) => {
  const broker = await startMosquitto({ auth: { username: 'box-1', password: 's3cret pass' } });
  t.teardown(() => broker.stop());
  t.is(broker.username, 'box-1');

  await t.throwsAsync(
    mqtt.connectAsync(broker.url, { username: 'box-1', password: 'wrong', reconnectPeriod: 0 }),
    { message: /not authorized|bad user name or password/i },
  );
  await t.throwsAsync(mqtt.connectAsync(broker.url, { reconnectPeriod: 0 }), { message: /not authorized/i });

  const client = await mqtt.connectAsync(broker.url, { username: broker.username, password: broker.password, reconnectPeriod: 0 });
  t.teardown(() => client.endAsync());
  t.true(client.connected);
});

test('mosquitto restart(): clients are cut off, the broker comes back on the same port', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  await broker.restart();
  await closed; // the outage reached the client
  const again = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  t.teardown(() => again.endAsync());
  t.true(again.connected);
});

test('ingest: PUT creates (201), GET returns the same bytes, PUT again overwrites (204)', async (t) => {
  const ingest = await startIngest();
  t.teardown(() => ingest.stop());
  const body = randomBytes(256 * 1024);
  const url = `${ingest.baseUrl}/box-1/cam-1/2024-06-01/segment-000001.ts`;

  const created = await fetch(url, { method: 'PUT', body });
  t.is(created.status, 201);
  const got = await fetch(url);
  t.is(got.status, 200);
  t.true(Buffer.from(await got.arrayBuffer()).equals(body));

  const body2 = randomBytes(1000);
  const overwritten = await fetch(url, { method: 'PUT', body: body2 });
  t.is(overwritten.status, 204);
  const onDisk = await readFile(path.join(ingest.root, 'box-1/cam-1/2024-06-01/segment-000001.ts'));
  t.true(onDisk.equals(body2));
});

test('virtual camera: serves H.264 at the configured size', async (t) => {
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 15 });
  t.teardown(() => camera.stop());
  t.regex(camera.url, /^rtsp:\/\/127\.0\.0\.1:\d+\/stream$/);
  const probe = await ffprobe(camera.url);
  t.true(probe.ok, probe.stderr);
  t.like(probe.streams[0], { codec_name: 'h264', width: 320, height: 240 });
});

for (const auth of ['digest', 'basic'] as const) {
  test(`virtual camera with ${auth} auth: refused without credentials (401), served with them`, async (t) => {
    const camera = await startVirtualCamera({ username: 'admin', password: 'p@ss:word', auth });
    t.teardown(() => camera.stop());
    t.false(camera.url.includes('admin'), 'the url carries no credentials');

    const anonymous = await ffprobe(camera.url);
    t.false(anonymous.ok);
    t.regex(anonymous.stderr, /401/);
    const wrong = await ffprobe(withCredentials(camera.url, 'admin', 'nope'));
    t.false(wrong.ok);

    const probe = await ffprobe(withCredentials(camera.url, 'admin', 'p@ss:word'));
    t.true(probe.ok, probe.stderr);
    t.like(probe.streams[0], { codec_name: 'h264', width: 640, height: 360 });
  });
}

test('virtual camera outage: after stop() it is unreachable, start() brings it back on the same port', async (t) => {
  const camera = await startVirtualCamera();
  t.teardown(() => camera.stop());
  const { url, port } = camera;
  t.true((await ffprobe(url)).ok);

  await camera.stop();
  await camera.stop(); // idempotent
  const down = await ffprobe(url);
  t.false(down.ok);
  t.regex(down.stderr, /refused/i);

  await camera.start();
  t.is(camera.port, port);
  t.is(camera.url, url);
  const back = await ffprobe(url);
  t.true(back.ok, back.stderr);
});

test('two virtual cameras at once, on different ports', async (t) => {
  const [a, b] = await Promise.all([
    startVirtualCamera({ width: 320, height: 180 }),
    startVirtualCamera({ width: 480, height: 270, path: '/live/main' }),
  ]);
  t.teardown(() => a.stop());
  t.teardown(() => b.stop());
  t.not(a.port, b.port);
  const [pa, pb] = await Promise.all([ffprobe(a.url), ffprobe(b.url)]);
  t.like(pa.streams[0], { codec_name: 'h264', width: 320, height: 180 });
  t.like(pb.streams[0], { codec_name: 'h264', width: 480, height: 270 });
});

test('a camera on a port already in use fails with the reason from its output', async (t) => {
  const first = await startVirtualCamera();
  t.teardown(() => first.stop());
  const error = await t.throwsAsync(startVirtualCamera({ port: first.port }), { instanceOf: ProcessStartError });
  t.regex(error?.message ?? '', /Address already in use/);
});

test('startProcess: a process that dies before it is ready fails with its last lines', async (t) => {
  const script = 'for i in range(50): print("line", i)\nraise SystemExit(3)';
  const error = await t.throwsAsync(
    startProcess('/usr/bin/python3', ['-c', script], { readyLine: /^READY/, timeoutMs: 10_000 }),
    { instanceOf: ProcessStartError },
  );
  t.regex(error?.message ?? '', /code 3/);
  t.regex(error?.message ?? '', /line 49$/);
  t.notRegex(error?.message ?? '', /line 29\n/, 'only the last ~20 lines');
});
