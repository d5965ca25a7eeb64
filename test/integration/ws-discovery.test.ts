// WS-Discovery wiring on loopback: nothing is silent. A malformed reply, an unknown interface and a send
// that the kernel refuses are reported as problems; none of them throws.
import test from 'ava';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { probeCameras } from '../../agent/cameras/ws-discovery.ts';
import { startVirtualCamera } from '../helpers/index.ts';

test('a unicast Probe finds a camera; a garbage reply from another host is reported, not thrown', async (t) => {
  const camera = await startVirtualCamera({ width: 320, height: 240, onvif: { maxReplyDelayMs: 100 } });
  t.teardown(() => camera.stop());
  // A "device" that answers every datagram with garbage, like a printer firmware with a broken stack.
  const liar = dgram.createSocket('udp4');
  t.teardown(() => liar.close());
  liar.on('message', (_msg, rinfo) => liar.send('<not-xml', rinfo.port, rinfo.address));
  liar.bind(0, '127.0.0.1');
  await once(liar, 'listening');
  const result = await probeCameras({
    multicast: false,
    unicastTargets: [`127.0.0.1:${camera.onvif!.discoveryPort}`, `127.0.0.1:${liar.address().port}`],
    windowMs: 1500,
    repeats: 2,
  });
  t.deepEqual(result.devices.map((d) => d.urn), [camera.onvif!.urn]);
  t.is(result.devices[0]?.xaddrsRewritten[0], camera.onvif!.deviceServiceUrl);
  t.true(result.problems.some((p) => /malformed reply/.test(p.message)), JSON.stringify(result.problems));
});

test('an unknown interface and a refused send are problems with their cause', async (t) => {
  const none = await probeCameras({ interfaces: ['nosuchif0'], windowMs: 200 });
  t.deepEqual(none.devices, []);
  t.regex(none.problems[0]?.message ?? '', /no IPv4 LAN interface named nosuchif0/);
  // Sending to the broadcast address without SO_BROADCAST is refused by the kernel (EACCES).
  const refused = await probeCameras({ multicast: false, unicastTargets: ['255.255.255.255'], windowMs: 200, repeats: 1 });
  t.true(refused.problems.some((p) => /probe to 255\.255\.255\.255:3702 failed: .*EACCES/.test(p.message)), JSON.stringify(refused.problems));
});
