import test from 'ava';
import { readFileSync } from 'node:fs';
import {
  contentType,
  envelope,
  getCapabilities,
  getDeviceInformation,
  getNetworkInterfaces,
  getProfiles,
  getProfiles2,
  getServices,
  getSnapshotUri,
  getSnapshotUri2,
  getStreamUri,
  getStreamUri2,
  getSystemDateAndTime,
  usernameToken,
  type OnvifRequest,
} from '../../agent/cameras/onvif-soap.ts';
import { parseSystemDateAndTime } from '../../agent/cameras/onvif-parse.ts';
import { child, childNames, parseXml, path, text } from '../../agent/cameras/xml.ts';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/onvif/${name}`, import.meta.url), 'utf8');

// --- PasswordDigest test vectors --------------------------------------------------------------------

/**
 * Vector 1: the ONVIF Application Programmer's Guide (ONVIF_WG-APG-Application_Programmers_Guide-1.pdf), as quoted
 * in the WSUsernameTokenTest of IRIS (Minnesota DOT; package us.mn.state.dot.tms.server.comm.onvif.session):
 * Nonce LKqI6G/AikKCQrN0zqZFlg==, Date 2010-09-16T07:50:45Z, Password userpassword → tuOSpGlFlIXsozq4HFNeeGeFLEI=. Re-computed independently while writing this test:
 *   python3 -c "import hashlib,base64; n=base64.b64decode('LKqI6G/AikKCQrN0zqZFlg==');
 *     print(base64.b64encode(hashlib.sha1(n+b'2010-09-16T07:50:45Z'+b'userpassword').digest()))"
 * Vector 2: our own, computed the same way with Python: nonce bytes 00..0f, Created 2025-03-14T13:23:20Z,
 * password "Pa55:w0rd" → Ify8OWq83Q86qGkAPs7svwda0jM=.
 */
const VECTORS: Array<[string, string, string, string, string]> = [
  ['ONVIF Programmer\'s Guide', 'LKqI6G/AikKCQrN0zqZFlg==', '2010-09-16T07:50:45Z', 'userpassword', 'tuOSpGlFlIXsozq4HFNeeGeFLEI='],
  ['python-computed', 'AAECAwQFBgcICQoLDA0ODw==', '2025-03-14T13:23:20Z', 'Pa55:w0rd', 'Ify8OWq83Q86qGkAPs7svwda0jM='],
];

for (const [name, nonce, created, password, digest] of VECTORS) {
  test(`usernameToken: PasswordDigest matches the ${name} vector`, (t) => {
    const token = usernameToken({
      username: 'admin',
      password,
      clockOffsetMs: 0,
      now: new Date(created),
      nonce: Buffer.from(nonce, 'base64'),
    });
    t.deepEqual(token, { username: 'admin', nonce, created, digest });
  });
}

test('usernameToken: Created is the box clock plus the camera offset, without milliseconds', (t) => {
  // The Hikvision fixture's camera clock reads 13:23:20Z when the box reads 12:00:00Z.
  const receivedAt = new Date('2025-03-14T12:00:00.000Z');
  const { clockOffsetMs } = parseSystemDateAndTime(fixture('hikvision/get-system-date-and-time.xml'), receivedAt);
  t.is(clockOffsetMs, 5_000_000);
  const token = usernameToken({
    username: 'admin',
    password: 'Pa55:w0rd',
    clockOffsetMs,
    now: new Date('2025-03-14T12:00:00.123Z'),
    nonce: Buffer.from('AAECAwQFBgcICQoLDA0ODw==', 'base64'),
  });
  t.is(token.created, '2025-03-14T13:23:20Z');
  t.is(token.digest, 'Ify8OWq83Q86qGkAPs7svwda0jM=');
});

test('usernameToken: a random 16-byte nonce when none is given', (t) => {
  const a = usernameToken({ username: 'u', password: 'p', clockOffsetMs: 0 });
  const b = usernameToken({ username: 'u', password: 'p', clockOffsetMs: 0 });
  t.is(Buffer.from(a.nonce, 'base64').length, 16);
  t.not(a.nonce, b.nonce);
  t.regex(a.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

// --- Envelope --------------------------------------------------------------------------------------

test('envelope: SOAP 1.2 with a wsse:Security UsernameToken, readable back', (t) => {
  const xml = envelope(getDeviceInformation().body, {
    username: 'op<&"\'>',
    password: 'userpassword',
    clockOffsetMs: 0,
    now: new Date('2010-09-16T07:50:45Z'),
    nonce: Buffer.from('LKqI6G/AikKCQrN0zqZFlg==', 'base64'),
  });
  t.true(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'));
  t.true(xml.includes('Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"'));
  t.true(xml.includes('EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"'));
  t.true(xml.includes('<wsse:Security s:mustUnderstand="1"'));
  const doc = parseXml(xml, 'test');
  const token = path(doc, 'Envelope', 'Header', 'Security', 'UsernameToken');
  t.is(text(child(token, 'Username')), 'op<&"\'>');
  t.is(text(child(token, 'Password')), 'tuOSpGlFlIXsozq4HFNeeGeFLEI=');
  t.is(text(child(token, 'Nonce')), 'LKqI6G/AikKCQrN0zqZFlg==');
  t.is(text(child(token, 'Created')), '2010-09-16T07:50:45Z');
  t.deepEqual(childNames(path(doc, 'Envelope', 'Body')), ['GetDeviceInformation']);
});

test('envelope: without credentials there is no Header (GetSystemDateAndTime is unauthenticated)', (t) => {
  const xml = envelope(getSystemDateAndTime().body);
  t.is(
    xml,
    '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>' +
      '<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>',
  );
});

// --- Body builders: a table -----------------------------------------------------------------------

const DEVICE = 'http://www.onvif.org/ver10/device/wsdl';
const MEDIA = 'http://www.onvif.org/ver10/media/wsdl';
const MEDIA2 = 'http://www.onvif.org/ver20/media/wsdl';
const TT = 'http://www.onvif.org/ver10/schema';

const BODIES: Array<[string, OnvifRequest, OnvifRequest['service'], string]> = [
  ['GetSystemDateAndTime', getSystemDateAndTime(), 'device', `<GetSystemDateAndTime xmlns="${DEVICE}"/>`],
  ['GetDeviceInformation', getDeviceInformation(), 'device', `<GetDeviceInformation xmlns="${DEVICE}"/>`],
  ['GetCapabilities', getCapabilities(), 'device', `<GetCapabilities xmlns="${DEVICE}"><Category>All</Category></GetCapabilities>`],
  ['GetServices', getServices(), 'device', `<GetServices xmlns="${DEVICE}"><IncludeCapability>false</IncludeCapability></GetServices>`],
  ['GetNetworkInterfaces', getNetworkInterfaces(), 'device', `<GetNetworkInterfaces xmlns="${DEVICE}"/>`],
  ['GetProfiles', getProfiles(), 'media', `<GetProfiles xmlns="${MEDIA}"/>`],
  ['GetProfiles', getProfiles2(), 'media2', `<GetProfiles xmlns="${MEDIA2}"><Type>VideoSource</Type><Type>VideoEncoder</Type></GetProfiles>`],
  ['GetProfiles', getProfiles2(['All']), 'media2', `<GetProfiles xmlns="${MEDIA2}"><Type>All</Type></GetProfiles>`],
  [
    'GetStreamUri',
    getStreamUri('Profile_1'),
    'media',
    `<GetStreamUri xmlns="${MEDIA}"><StreamSetup><Stream xmlns="${TT}">RTP-Unicast</Stream>` +
      `<Transport xmlns="${TT}"><Protocol>RTSP</Protocol></Transport></StreamSetup><ProfileToken>Profile_1</ProfileToken></GetStreamUri>`,
  ],
  ['GetStreamUri', getStreamUri2('2'), 'media2', `<GetStreamUri xmlns="${MEDIA2}"><Protocol>RtspUnicast</Protocol><ProfileToken>2</ProfileToken></GetStreamUri>`],
  ['GetStreamUri', getStreamUri2('2', 'RTSP'), 'media2', `<GetStreamUri xmlns="${MEDIA2}"><Protocol>RTSP</Protocol><ProfileToken>2</ProfileToken></GetStreamUri>`],
  ['GetSnapshotUri', getSnapshotUri('A&B'), 'media', `<GetSnapshotUri xmlns="${MEDIA}"><ProfileToken>A&amp;B</ProfileToken></GetSnapshotUri>`],
  ['GetSnapshotUri', getSnapshotUri2('MainStream'), 'media2', `<GetSnapshotUri xmlns="${MEDIA2}"><ProfileToken>MainStream</ProfileToken></GetSnapshotUri>`],
];

for (const [i, [operation, req, service, body]] of BODIES.entries()) {
  test(`request ${i} ${service} ${operation}: body, service and SOAP action`, (t) => {
    t.is(req.operation, operation);
    t.is(req.service, service);
    t.is(req.body, body);
    const ns = { device: DEVICE, media: MEDIA, media2: MEDIA2 }[service];
    t.is(req.action, `${ns}/${operation}`);
    t.notThrows(() => parseXml(envelope(req.body), operation));
  });
}

test('contentType: SOAP 1.2 media type with the action parameter', (t) => {
  t.is(contentType(getProfiles()), `application/soap+xml; charset=utf-8; action="${MEDIA}/GetProfiles"`);
});
