// The agent finds a configured ONVIF camera by its identity (whatever its address), records it, watches its
// health, and tells the broker: camera discovered, camera state retained, offline when it dies, online
// when it returns. Discovery here is the unicast sweep on loopback (multicast is the system test's part).
import test from 'ava';
import { startMosquitto, startVirtualCamera } from '../helpers/index.ts';
import { startAgent } from '../helpers/agent.ts';
import { watchMqtt } from '../helpers/mqtt-watch.ts';

const PASSWORD = 'Agent-Cam-Pw-3';

test('a camera matched by MAC (no URN: a swept loopback camera answers no unicast Probe on 3702) is discovered, recorded, graded good, reported offline when it dies and online when it returns', async (t) => {
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const camera = await startVirtualCamera({ width: 320, height: 240, fps: 25, username: 'admin', password: PASSWORD, onvif: { vendor: 'axis' } });
  t.teardown(() => camera.stop());
  const watch = await watchMqtt(broker.url, 'venuebox/v1/box-cams/#');
  t.teardown(() => watch.stop());
  const agent = await startAgent({
    config: {
      boxId: 'box-cams',
      log: { level: 'debug' },
      mqtt: { url: broker.url, healthIntervalSeconds: 5 },
      cameras: [{ id: 'main', role: 'main', match: { mac: camera.onvif!.mac.toUpperCase() } }],
      discovery: { interfaces: ['no-lan-here'], subnets: ['127.0.0.1/32'], ports: [camera.onvif!.httpPort], username: 'admin', password: PASSWORD, connectTimeoutMs: 3000 },
      cameraHealth: { probeIntervalSeconds: 2, downSeconds: 2, upSeconds: 2 },
    },
  });
  t.teardown(() => agent.cleanup());

  // Not known at start: waiting for discovery, then found by the sweep and recorded.
  await agent.waitForLog((l) => l.msg === 'camera not recorded yet' && l['id'] === 'main', 20_000, 'the camera waiting for discovery');
  const discovered = await watch.waitFor((m) => m.topic.endsWith('/events') && (m.json() as { type: string }).type === 'camera-discovered', 30_000, 'camera-discovered');
  t.is((discovered.json() as { address: string }).address, '127.0.0.1');
  await agent.waitForLog((l) => l.msg === 'discovered camera matched; recording starts', 10_000, 'recording to start');
  let segments = 0;
  await agent.waitForLog((l) => l.msg === 'segment closed' && l['stream'] === 'main' && ++segments >= 2, 30_000, 'segments of the matched camera');
  await watch.waitFor((m) => m.topic.endsWith('/cameras/main') && (m.json() as { quality: string }).quality === 'good', 30_000, 'camera state good');
  // Retained: a dashboard that subscribes only now still gets the camera's state.
  const late = await watchMqtt(broker.url, 'venuebox/v1/box-cams/cameras/main');
  t.teardown(() => late.stop());
  const retained = await late.waitFor(() => true, 5_000, 'the retained camera state');
  t.true(retained.retain);
  t.is((retained.json() as { quality: string }).quality, 'good');

  await camera.stop();
  const offline = await watch.waitFor((m) => m.topic.endsWith('/events') && (m.json() as { type: string }).type === 'camera-offline', 30_000, 'camera-offline');
  t.is((offline.json() as { cameraId: string }).cameraId, 'main');
  await camera.start();
  await watch.waitFor((m) => m.topic.endsWith('/events') && (m.json() as { type: string }).type === 'camera-online' && m.at > offline.at, 60_000, 'camera-online after the return');

  const health = await watch.waitFor((m) => m.topic.endsWith('/health') && m.at > offline.at && ((m.json() as { cameras: Record<string, { quality: string }> }).cameras['main']?.quality ?? '') !== '', 20_000, 'health with the camera');
  t.deepEqual(Object.keys((health.json() as { cameras: Record<string, unknown> }).cameras), ['main']);
  await agent.stop();
  t.false(agent.output().includes(PASSWORD));
});
