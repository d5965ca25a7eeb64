// A venue in network namespaces: a camera on the LAN, the box on LAN and WAN, the broker in the cloud.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  createTopology,
  isRoot,
  startMosquitto,
  startProcess,
  startVirtualCamera,
  sweepStaleNamespaces,
  type Topology,
} from '../helpers/index.ts';

const run = promisify(execFile);

const probeArgs = (url: string) => ['-v', 'error', '-rtsp_transport', 'tcp', '-timeout', '3000000', '-show_streams', '-of', 'json', url];

async function probeFrom(topo: Topology, host: string, url: string) {
  const result = await topo.exec(host, 'ffprobe', probeArgs(url), { timeoutMs: 15_000 });
  const streams = result.code === 0 ? (JSON.parse(result.stdout) as { streams: Array<Record<string, unknown>> }).streams : [];
  return { ...result, streams };
}

if (!isRoot()) {
  test('netns system test skipped: needs root to create network namespaces', (t) => {
    console.log('netns system test skipped: creating network namespaces needs root (uid 0)');
    t.pass();
  });
} else {
  test.serial('venue LAN in namespaces: the box reaches camera and broker; a pulled cable cuts the camera off', async (t) => {
    await sweepStaleNamespaces();
    const topo = await createTopology({
      bridges: [
        { name: 'lan', subnet: '10.77.1.0/24' },
        { name: 'wan', subnet: '10.77.2.0/24' },
      ],
      hosts: [
        { name: 'cam1', links: [{ bridge: 'lan', address: '10.77.1.10/24' }] },
        { name: 'box', links: [{ bridge: 'lan', address: '10.77.1.2/24' }, { bridge: 'wan', address: '10.77.2.2/24' }] },
        { name: 'cloud', links: [{ bridge: 'wan', address: '10.77.2.10/24' }] },
      ],
    });
    const namespaces = ['cam1', 'box', 'cloud'].map((h) => topo.ns(h));
    // Teardowns run last-registered first: services stop before their namespaces go.
    t.teardown(() => topo.destroy());

    const camera = await startVirtualCamera({ netns: topo.ns('cam1'), bind: '10.77.1.10', width: 320, height: 180 });
    t.teardown(() => camera.stop());
    const broker = await startMosquitto({ netns: topo.ns('cloud'), host: '10.77.2.10' });
    t.teardown(() => broker.stop());
    t.is(camera.url, `rtsp://10.77.1.10:${camera.port}/stream`);

    // The camera is on the LAN only: reachable from the box, not from the test process itself.
    const probe = await probeFrom(topo, 'box', camera.url);
    t.is(probe.code, 0, probe.stderr);
    t.like(probe.streams[0], { codec_name: 'h264', width: 320, height: 180 });

    // MQTT across the WAN bridge, from the box's namespace.
    const mqttArgs = ['-h', broker.host, '-p', String(broker.port), '-t', 'venuebox/box/status'];
    const pub = await topo.exec('box', 'mosquitto_pub', [...mqttArgs, '-m', 'online', '-r', '-q', '1']);
    t.is(pub.code, 0, pub.stderr);
    const sub = await topo.exec('box', 'mosquitto_sub', [...mqttArgs, '-C', '1', '-W', '5']);
    t.is(sub.stdout.trim(), 'online', sub.stderr);

    // Multicast on the LAN (WS-Discovery's group and port): a receiver on cam1 hears the box.
    const receiver = await startProcess(
      'ip',
      ['netns', 'exec', topo.ns('cam1'), process.execPath, '-e', MULTICAST_RECEIVER, '10.77.1.10'],
      { readyLine: /^LISTENING/, timeoutMs: 10_000 },
    );
    t.teardown(() => receiver.stop());
    const send = await topo.exec('box', process.execPath, ['-e', MULTICAST_SENDER, '10.77.1.2']);
    t.is(send.code, 0, send.stderr);
    t.like(await receiver.exited, { code: 0 });
    t.regex(receiver.output(), /GOT Probe from 10\.77\.1\.2/);

    // Pull the box's LAN cable: the camera is gone, the broker is still there.
    await topo.linkDown('box', 'lan');
    const cut = await probeFrom(topo, 'box', camera.url);
    t.not(cut.code, 0);
    const stillUp = await topo.exec('box', 'mosquitto_sub', [...mqttArgs, '-C', '1', '-W', '5']);
    t.is(stillUp.stdout.trim(), 'online');

    await topo.linkUp('box', 'lan');
    const back = await probeFrom(topo, 'box', camera.url);
    t.is(back.code, 0, back.stderr);

    // destroy() leaves no namespace and no link behind.
    await camera.stop();
    await broker.stop();
    await topo.destroy();
    const { stdout: netnsList } = await run('ip', ['netns', 'list']);
    for (const ns of namespaces) t.false(netnsList.includes(ns), `${ns} still exists`);
    const prefix = topo.ns('box').replace(/-box$/, '');
    t.false(netnsList.includes(prefix), 'the switch namespace still exists');
    const { stdout: links } = await run('ip', ['-o', 'link']);
    t.false(/\bvbx/.test(links), 'a vbx link exists in the root namespace');
  });

  // Serial: the other test's namespaces, made by this same process, must not appear in the diff.
  test.serial('createTopology cleans up what it made when creation fails half-way', async (t) => {
    const before = (await run('ip', ['netns', 'list'])).stdout;
    await t.throwsAsync(
      createTopology({
        bridges: [{ name: 'lan' }],
        hosts: [
          { name: 'cam1', links: [{ bridge: 'lan', address: '10.77.1.10/24' }] },
          { name: 'box', links: [{ bridge: 'lan', address: 'not-an-address' }] },
        ],
      }),
      { message: /not-an-address/ },
    );
    const after = (await run('ip', ['netns', 'list'])).stdout;
    const ours = (list: string) => list.split('\n').filter((l) => l.startsWith(`vbx-${process.pid}-`));
    t.deepEqual(ours(after), ours(before));
  });
}

// Receives one datagram on 239.255.255.250:3702, joined on the given interface address.
const MULTICAST_RECEIVER = `
const dgram = require('node:dgram');
const [address] = process.argv.slice(1);
const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
socket.on('message', (msg, rinfo) => { console.log('GOT ' + msg + ' from ' + rinfo.address); process.exit(0); });
socket.bind(3702, () => { socket.addMembership('239.255.255.250', address); console.log('LISTENING'); });
setTimeout(() => { console.log('TIMEOUT'); process.exit(2); }, 8000);
`;

// Sends a few datagrams (UDP may lose one) out of the given interface address.
const MULTICAST_SENDER = `
const dgram = require('node:dgram');
const [address] = process.argv.slice(1);
const socket = dgram.createSocket('udp4');
socket.bind(0, address, async () => {
  socket.setMulticastInterface(address);
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => socket.send('Probe', 3702, '239.255.255.250', r));
    await new Promise((r) => setTimeout(r, 100));
  }
  socket.close();
});
`;
