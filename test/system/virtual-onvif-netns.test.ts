// Virtual ONVIF cameras on a venue LAN in network namespaces: a multicast WS-Discovery Probe from a third
// host (the box) reaches both cameras, which answer with unicast ProbeMatches naming their own XAddrs.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { createTopology, isRoot, startVirtualCamera, sweepStaleNamespaces } from '../helpers/index.ts';

if (!isRoot()) {
  test('virtual ONVIF netns test skipped: needs root to create network namespaces', (t) => {
    console.log('virtual ONVIF netns test skipped: creating network namespaces needs root (uid 0)');
    t.pass();
  });
} else {
  test.serial('a multicast Probe from the box gets ProbeMatches from two cameras in their own namespaces', async (t) => {
    await sweepStaleNamespaces();
    const topo = await createTopology({
      bridges: [{ name: 'lan', subnet: '10.78.1.0/24' }],
      hosts: [
        { name: 'cam1', links: [{ bridge: 'lan', address: '10.78.1.11/24' }] },
        { name: 'cam2', links: [{ bridge: 'lan', address: '10.78.1.12/24' }] },
        { name: 'box', links: [{ bridge: 'lan', address: '10.78.1.2/24' }] },
      ],
    });
    // Teardowns run last-registered first: cameras stop before their namespaces go.
    t.teardown(() => topo.destroy());
    const [cam1, cam2] = await Promise.all([
      startVirtualCamera({ netns: topo.ns('cam1'), bind: '10.78.1.11', width: 320, height: 180, onvif: { vendor: 'hikvision' } }),
      startVirtualCamera({ netns: topo.ns('cam2'), bind: '10.78.1.12', width: 320, height: 180, onvif: { vendor: 'axis', xaddrs: 'several' } }),
    ]);
    t.teardown(() => cam1.stop());
    t.teardown(() => cam2.stop());
    t.is(cam1.onvif?.discoveryPort, 3702, 'in a namespace the camera listens on the standard ports');

    const messageId = `urn:uuid:${randomUUID()}`;
    const probe = await topo.exec('box', process.execPath, ['-e', MULTICAST_PROBE, '10.78.1.2', messageId], { timeoutMs: 15_000 });
    t.is(probe.code, 0, probe.stderr);
    const replies = probe.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { from: string; xml: string });
    const byUrn = new Map(replies.map((r) => [/<[\w-]+:Address>([^<]+)</.exec(r.xml)?.[1], r]));

    const one = byUrn.get(cam1.onvif?.urn);
    t.is(one?.from, '10.78.1.11');
    t.regex(one?.xml ?? '', new RegExp(`<[\\w-]+:RelatesTo>${messageId}</`));
    t.is(cam1.onvif?.httpPort, 80);
    t.regex(one?.xml ?? '', /<d:XAddrs>http:\/\/10\.78\.1\.11\/onvif\/device_service<\/d:XAddrs>/);
    const two = byUrn.get(cam2.onvif?.urn);
    t.is(two?.from, '10.78.1.12');
    t.regex(two?.xml ?? '', /<d:XAddrs>http:\/\/\[fe80::[0-9a-f:]+\]\/onvif\/device_service http:\/\/10\.78\.1\.12\/onvif\/device_service<\/d:XAddrs>/);
    t.is(byUrn.size, 2);
    t.is(replies.length, 2, 'the Probe went out three times with one MessageID: a retransmission is answered once');

    // The device service is reachable from the box at the advertised address.
    const info = await topo.exec('box', 'curl', ['-s', '-m', '5', '-H', 'Content-Type: application/soap+xml', '--data-binary', DATE_TIME_REQUEST, cam1.onvif?.deviceServiceUrl ?? '']);
    t.regex(info.stdout, /GetSystemDateAndTimeResponse/);
  });
}

const DATE_TIME_REQUEST =
  '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>' +
  '<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>';

// Sends a WS-Discovery Probe to 239.255.255.250:3702 out of the given address three times with one MessageID
// (SOAP-over-UDP retransmission: UDP may lose one), and prints every reply for 1.5 s as a JSON line.
const MULTICAST_PROBE = `
const dgram = require('node:dgram');
const [address, messageId] = process.argv.slice(1);
const probe = '<?xml version="1.0" encoding="UTF-8"?>' +
  '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ' +
  'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">' +
  '<s:Header><a:MessageID>' + messageId + '</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>' +
  '<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header>' +
  '<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>';
const socket = dgram.createSocket('udp4');
socket.on('message', (msg, rinfo) => console.log(JSON.stringify({ from: rinfo.address, xml: msg.toString('utf8') })));
socket.bind(0, address, async () => {
  socket.setMulticastInterface(address);
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => socket.send(probe, 3702, '239.255.255.250', r));
    await new Promise((r) => setTimeout(r, 100));
  }
  setTimeout(() => { socket.close(); process.exit(0); }, 1500);
});
`;
