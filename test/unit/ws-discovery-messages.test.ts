import test from 'ava';
import { readFileSync } from 'node:fs';
import { CameraProtocolError } from '../../agent/cameras/errors.ts';
import {
  buildProbe,
  normalizeUrn,
  parseDiscoveryMessage,
  type DiscoveryMatch,
  type ReplySource,
} from '../../agent/cameras/ws-discovery-messages.ts';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/onvif/${name}`, import.meta.url), 'utf8');
const from = (address: string): ReplySource => ({ address, port: 3702 });

// --- Probe ------------------------------------------------------------------------------------------

test('buildProbe: a WS-Discovery 2005/04 Probe for NetworkVideoTransmitter, parseable by our own reader', (t) => {
  const xml = buildProbe({ messageId: 'urn:uuid:0A6DC791-2E26-4B9A-8C6F-3E6B2B1C1D01' });
  t.true(xml.includes('<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>'));
  t.true(xml.includes('<a:MessageID>urn:uuid:0a6dc791-2e26-4b9a-8c6f-3e6b2b1c1d01</a:MessageID>'));
  t.true(xml.includes('<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'));
  t.true(xml.includes('xmlns:dn="http://www.onvif.org/ver10/network/wsdl"'));
  t.true(xml.includes('<d:Types>dn:NetworkVideoTransmitter</d:Types>'));
  // Multicast loops our own probe back to us: it must classify as `other`, not crash or match.
  t.deepEqual(parseDiscoveryMessage(xml, from('192.168.1.10')), {
    kind: 'other',
    action: 'http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe',
  });
});

const PROBE_TYPES: Array<[string, string[], string, string]> = [
  ['tds:Device', ['tds:Device'], '<d:Types>tds:Device</d:Types>', 'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"'],
  ['two types (ANDed)', ['dn:NetworkVideoTransmitter', 'tds:Device'], '<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>', 'xmlns:tds='],
  ['no type: every device', [], '<d:Probe></d:Probe>', 'xmlns:d='],
];
for (const [name, types, expected, xmlns] of PROBE_TYPES) {
  test(`buildProbe: ${name}`, (t) => {
    const xml = buildProbe({ messageId: '11111111-2222-3333-4444-555555555555', types });
    t.true(xml.includes(expected), xml);
    t.true(xml.includes(xmlns));
    t.true(xml.includes('<a:MessageID>urn:uuid:11111111-2222-3333-4444-555555555555</a:MessageID>'));
  });
}

test('buildProbe: an unknown type prefix is refused instead of sending an unresolvable QName', (t) => {
  const err = t.throws(() => buildProbe({ messageId: 'urn:uuid:1', types: ['foo:Bar'] }), { instanceOf: CameraProtocolError });
  t.is(err?.kind, 'unsupported');
});

test('buildProbe: scopes are escaped', (t) => {
  const xml = buildProbe({ messageId: 'urn:uuid:1', scopes: ['onvif://www.onvif.org/name/A&B'] });
  t.true(xml.includes('<d:Scopes>onvif://www.onvif.org/name/A&amp;B</d:Scopes>'));
});

// --- ProbeMatches, Hello, Bye: a table of camera replies ------------------------------------------

interface ProbeCase {
  name: string;
  file: string;
  from: string;
  relatesTo: string;
  skipped: number;
  matches: DiscoveryMatch[];
}

const HIKVISION: Omit<DiscoveryMatch, 'xaddrsRewritten'> = {
  urn: 'urn:uuid:cea94000-fb96-11b3-8260-4cf5dc9ec86b',
  types: ['dn:NetworkVideoTransmitter', 'tds:Device'],
  scopes: [
    'onvif://www.onvif.org/type/video_encoder',
    'onvif://www.onvif.org/Profile/Streaming',
    'onvif://www.onvif.org/Profile/G',
    'onvif://www.onvif.org/Profile/T',
    'onvif://www.onvif.org/MAC/4c:f5:dc:9e:c8:6b',
    'onvif://www.onvif.org/hardware/DS-2CD2143G0-I',
    'onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G0-I',
    'onvif://www.onvif.org/location/city/hangzhou',
  ],
  xaddrs: ['http://192.168.1.64/onvif/device_service', 'http://[fe80::4ef5:dcff:fe9e:c86b]/onvif/device_service'],
  metadataVersion: 10,
  name: 'HIKVISION DS-2CD2143G0-I',
  hardware: 'DS-2CD2143G0-I',
  location: 'city/hangzhou',
  mac: '4c:f5:dc:9e:c8:6b',
  xaddrsGuessed: false,
};

const PROBE_CASES: ProbeCase[] = [
  {
    name: 'Hikvision: IPv4 + IPv6 link-local XAddrs, percent-encoded name, MAC scope, upper-case uuid',
    file: 'hikvision/probe-match.xml',
    from: '192.168.1.64',
    relatesTo: 'urn:uuid:0a6dc791-2e26-4b9a-8c6f-3e6b2b1c1d01',
    skipped: 0,
    matches: [{ ...HIKVISION, xaddrsRewritten: HIKVISION.xaddrs }],
  },
  {
    name: 'Hikvision behind NAT: the IPv4 XAddr is rewritten to the sender, the original kept',
    file: 'hikvision/probe-match.xml',
    from: '203.0.113.10',
    relatesTo: 'urn:uuid:0a6dc791-2e26-4b9a-8c6f-3e6b2b1c1d01',
    skipped: 0,
    matches: [
      {
        ...HIKVISION,
        xaddrsRewritten: ['http://203.0.113.10/onvif/device_service', 'http://[fe80::4ef5:dcff:fe9e:c86b]/onvif/device_service'],
      },
    ],
  },
  {
    name: 'generic OEM: 0.0.0.0:8080, uuid: without urn:, tdn: prefix, no Action header, encoded scopes',
    file: 'generic-oem/probe-match.xml',
    from: '::ffff:192.168.1.88', // as a dual-stack socket reports it
    relatesTo: 'urn:uuid:0a6dc791-2e26-4b9a-8c6f-3e6b2b1c1d01',
    skipped: 0,
    matches: [
      {
        urn: 'urn:uuid:3fa1fe68-b915-4053-a3e1-c006c3afec0e',
        types: ['tdn:NetworkVideoTransmitter'],
        scopes: [
          'onvif://www.onvif.org/name/IPC%20Camera%20%231',
          'onvif://www.onvif.org/hardware/HI3518E',
          'onvif://www.onvif.org/Profile/Streaming',
          'onvif://www.onvif.org/location/country/China',
          'onvif://www.onvif.org/location/city/Shen%20Zhen',
          'onvif://www.onvif.org/type/NetworkVideoTransmitter',
        ],
        xaddrs: ['http://0.0.0.0:8080/onvif/device_service'],
        metadataVersion: 1,
        name: 'IPC Camera #1',
        hardware: 'HI3518E',
        location: 'country/China, city/Shen Zhen',
        xaddrsRewritten: ['http://192.168.1.88:8080/onvif/device_service'],
        xaddrsGuessed: false,
      },
    ],
  },
  {
    name: 'broken: no XAddrs (entry point guessed per ONVIF Core) and a match without an address (skipped)',
    file: 'broken/probe-match-no-xaddrs.xml',
    from: '192.168.1.77',
    relatesTo: 'urn:uuid:0a6dc791-2e26-4b9a-8c6f-3e6b2b1c1d01',
    skipped: 1,
    matches: [
      {
        urn: 'urn:uuid:c9790c3a-701b-464d-a189-0060351c8ada',
        types: ['dn:NetworkVideoTransmitter'],
        scopes: ['onvif://www.onvif.org/Profile/Streaming', 'onvif://www.onvif.org/name/PREDATOR'],
        xaddrs: [],
        metadataVersion: 1,
        name: 'PREDATOR',
        xaddrsRewritten: ['http://192.168.1.77/onvif/device_service'],
        xaddrsGuessed: true,
      },
    ],
  },
];

for (const c of PROBE_CASES) {
  test(`parseDiscoveryMessage ProbeMatches: ${c.name}`, (t) => {
    const message = parseDiscoveryMessage(fixture(c.file), from(c.from));
    t.deepEqual(message, { kind: 'probe-match', relatesTo: c.relatesTo, matches: c.matches, skipped: c.skipped });
  });
}

test('parseDiscoveryMessage Hello: a stale static address is rewritten to the sender; mac normalised', (t) => {
  const message = parseDiscoveryMessage(fixture('generic-oem/hello.xml'), from('10.20.0.57'));
  t.is(message.kind, 'hello');
  if (message.kind !== 'hello') return;
  t.is(message.matches.length, 1);
  t.like(message.matches[0], {
    urn: 'urn:uuid:5f559fa4-062c-40d7-9b34-8fe0cda068b7',
    xaddrs: ['http://192.168.0.120:8899/onvif/device_service'],
    xaddrsRewritten: ['http://10.20.0.57:8899/onvif/device_service'],
    mac: '00:12:41:a3:5c:07',
    metadataVersion: 3,
  });
});

test('parseDiscoveryMessage Bye: the URN matches the Hello of the same camera despite "uuid:" and case', (t) => {
  t.deepEqual(parseDiscoveryMessage(fixture('generic-oem/bye.xml'), from('10.20.0.57')), {
    kind: 'bye',
    urn: 'urn:uuid:5f559fa4-062c-40d7-9b34-8fe0cda068b7',
  });
});

// --- XAddrs ordering and host fixes ---------------------------------------------------------------

function probeMatch(xaddrs: string): string {
  return (
    '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">' +
    '<e:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:1</a:Address></a:EndpointReference>' +
    `<d:Types>dn:NetworkVideoTransmitter</d:Types><d:XAddrs>${xaddrs}</d:XAddrs></d:ProbeMatch></d:ProbeMatches></e:Body></e:Envelope>`
  );
}

const XADDR_CASES: Array<[string, string, string, string[]]> = [
  [
    'sender first, then rewritten, other family, link-local last',
    'http://[fe80::1]/onvif/device_service http://[2001:db8::5]/onvif/device_service http://10.0.0.9:80/onvif/device_service http://192.168.1.50/onvif/device_service',
    '192.168.1.50',
    [
      'http://192.168.1.50/onvif/device_service',
      'http://192.168.1.50:80/onvif/device_service',
      'http://[2001:db8::5]/onvif/device_service',
      'http://[fe80::1]/onvif/device_service',
    ],
  ],
  ['localhost and 127.0.0.1 (Dafang hacks firmware)', 'http://127.0.0.1:8080/onvif/device_service', '192.168.1.51', ['http://192.168.1.51:8080/onvif/device_service']],
  ['a hostname the box cannot resolve', 'http://ipcam.local/onvif/device_service', '192.168.1.52', ['http://192.168.1.52/onvif/device_service']],
  ['two NICs collapse into one entry', 'http://192.168.1.53/onvif/device_service http://172.16.0.53/onvif/device_service', '192.168.1.53', ['http://192.168.1.53/onvif/device_service']],
  ['https and query kept', 'https://0.0.0.0:443/onvif/device_service?x=1&amp;y=2', '192.168.1.54', ['https://192.168.1.54:443/onvif/device_service?x=1&y=2']],
  ['garbage entries are dropped from the rewritten list', 'not-a-url http://192.168.1.55/onvif/device_service', '192.168.1.55', ['http://192.168.1.55/onvif/device_service']],
  ['reply over IPv6 link-local: IPv6 rewritten, IPv4 kept after', 'http://192.168.1.56/onvif/device_service http://[fe80::9]/onvif/device_service', 'fe80::56', ['http://[fe80::56]/onvif/device_service', 'http://192.168.1.56/onvif/device_service']],
];

for (const [name, xaddrs, sender, expected] of XADDR_CASES) {
  test(`XAddrs: ${name}`, (t) => {
    const message = parseDiscoveryMessage(probeMatch(xaddrs), from(sender));
    if (message.kind !== 'probe-match') return t.fail(message.kind);
    t.deepEqual(message.matches[0]?.xaddrsRewritten, expected);
    t.deepEqual(message.matches[0]?.xaddrs, xaddrs.replaceAll('&amp;', '&').split(' '));
  });
}

// --- Malformed datagrams --------------------------------------------------------------------------

const MALFORMED: Array<[string, string]> = [
  ['truncated datagram', fixture('hikvision/probe-match.xml').slice(0, 900)],
  ['not SOAP (HTML)', fixture('broken/html-error-page.xml')],
  ['empty datagram', ''],
  ['binary noise', '\u0000\u0001\u00ff<'],
];
for (const [name, xml] of MALFORMED) {
  test(`parseDiscoveryMessage: ${name} → malformed, never a crash`, (t) => {
    const err = t.throws(() => parseDiscoveryMessage(xml, from('192.168.1.9')), { instanceOf: CameraProtocolError });
    t.is(err?.kind, 'malformed');
  });
}

test('normalizeUrn: uuid forms agree, other URNs untouched', (t) => {
  t.is(normalizeUrn(' uuid:ABC-def '), 'urn:uuid:abc-def');
  t.is(normalizeUrn('URN:UUID:ABC'), 'urn:uuid:abc');
  t.is(normalizeUrn('5F559FA4-062C-40D7-9B34-8FE0CDA068B7'), 'urn:uuid:5f559fa4-062c-40d7-9b34-8fe0cda068b7');
  t.is(normalizeUrn('urn:dev:mac:0012'), 'urn:dev:mac:0012');
  t.is(normalizeUrn(''), '');
});
