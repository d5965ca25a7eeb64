import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { CameraProtocolError, type CameraProtocolErrorKind } from '../../agent/cameras/errors.ts';
import {
  normalizeEncoding,
  normalizeMac,
  parseCapabilities,
  parseDeviceInformation,
  parseFault,
  parseNetworkInterfaces,
  parseProfiles,
  parseServices,
  parseSystemDateAndTime,
  parseUri,
  posixUtcOffsetMinutes,
  rewriteHost,
  stripCredentials,
  type CameraClock,
  type DeviceInformation,
  type MediaProfile,
} from '../../agent/cameras/onvif-parse.ts';

const FIXTURES = new URL('../fixtures/onvif/', import.meta.url);
const fixture = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');

function throwsKind(t: import('ava').ExecutionContext, fn: () => unknown, kind: CameraProtocolErrorKind, operation?: string): CameraProtocolError | undefined {
  const err = t.throws(fn, { instanceOf: CameraProtocolError });
  t.is(err?.kind, kind, err?.message);
  if (operation !== undefined) t.is(err?.operation, operation);
  return err;
}

// --- GetDeviceInformation ---------------------------------------------------------------------------

const DEVICE_INFO: Array<[string, DeviceInformation]> = [
  ['hikvision/get-device-information.xml', { manufacturer: 'HIKVISION', model: 'DS-2CD2143G0-I', firmware: 'V5.5.82 build 190220', serial: 'DS-2CD2143G0-I20190305AAWRD01234567', hardwareId: '88' }],
  ['axis/get-device-information.xml', { manufacturer: 'AXIS', model: 'M5525-E', firmware: '8.40.1.1', serial: 'ACCC8EBECCEA', hardwareId: '757' }],
  // "0003529616" stays text; FirmwareVersion's trailing blank and newline are trimmed; HardwareId absent → ''.
  ['generic-oem/get-device-information.xml', { manufacturer: 'Technology', model: 'IPC', firmware: '14.00.00.57', serial: '0003529616', hardwareId: '' }],
];
for (const [file, expected] of DEVICE_INFO) {
  test(`parseDeviceInformation: ${file}`, (t) => {
    t.deepEqual(parseDeviceInformation(fixture(file)), expected);
  });
}

test('parseNetworkInterfaces: Axis — the MAC, which is also the serial number', (t) => {
  const macs = parseNetworkInterfaces(fixture('axis/get-network-interfaces.xml'));
  t.deepEqual(macs, ['ac:cc:8e:be:cc:ea']);
  t.is(normalizeMac(parseDeviceInformation(fixture('axis/get-device-information.xml')).serial), macs[0]);
});

// --- GetCapabilities / GetServices ------------------------------------------------------------------

test('parseCapabilities: Dahua — service XAddrs, no Media2 (GetCapabilities predates it)', (t) => {
  t.deepEqual(parseCapabilities(fixture('dahua/get-capabilities.xml')), {
    deviceXAddr: 'http://192.168.1.108/onvif/device_service',
    mediaXAddr: 'http://192.168.1.108/onvif/media_service',
    eventsXAddr: 'http://192.168.1.108/onvif/event_service',
    imagingXAddr: 'http://192.168.1.108/onvif/imaging_service',
  });
});

test('parseServices: Media2-only Profile T camera — media2XAddr, no mediaXAddr, namespace slash normalised', (t) => {
  const services = parseServices(fixture('hanwha/get-services.xml'));
  t.like(services, {
    deviceXAddr: 'http://192.168.1.100/onvif/device_service',
    media2XAddr: 'http://192.168.1.100/onvif/media2_service',
    eventsXAddr: 'http://192.168.1.100/onvif/event_service',
    imagingXAddr: 'http://192.168.1.100/onvif/imaging_service',
  });
  t.is(services.mediaXAddr, undefined);
  t.is(services.all?.length, 4);
  t.deepEqual(services.all?.[1], { namespace: 'http://www.onvif.org/ver20/media/wsdl', xaddr: 'http://192.168.1.100/onvif/media2_service', version: '21.12' });
});

// --- GetProfiles (Media1 and Media2) ----------------------------------------------------------------

const PROFILES: Array<[string, MediaProfile[]]> = [
  [
    'hikvision/get-profiles.xml',
    [
      { token: 'Profile_1', name: 'mainStream', media: 1, videoSourceToken: 'VideoSource_1', encoding: 'H264', width: 2560, height: 1440, fps: 25, bitrateKbps: 6144, govLength: 50, encoderProfile: 'Main' },
      { token: 'Profile_2', name: 'subStream', media: 1, videoSourceToken: 'VideoSource_1', encoding: 'H264', width: 640, height: 360, fps: 25, bitrateKbps: 512, govLength: 50, encoderProfile: 'Baseline' },
    ],
  ],
  [
    'hanwha/get-profiles.xml',
    [
      { token: '2', name: 'H.265', media: 2, videoSourceToken: 'VideoSource-0', encoding: 'H265', width: 3840, height: 2160, fps: 30, bitrateKbps: 8192, govLength: 30, encoderProfile: 'Main' },
      { token: '3', name: 'H.264', media: 2, videoSourceToken: 'VideoSource-0', encoding: 'H264', width: 1920, height: 1080, fps: 12.5, bitrateKbps: 4096, govLength: 15, encoderProfile: 'High' },
    ],
  ],
  [
    'generic-oem/get-profiles-media2.xml',
    [
      { token: 'MainStream', name: 'MainStream', media: 2, videoSourceToken: 'VideoSourceMain', encoding: 'H264', width: 2560, height: 1440, fps: 15, bitrateKbps: 3000, govLength: 45, encoderProfile: 'High' },
      { token: 'SubStream', name: 'SubStream', media: 2, videoSourceToken: 'VideoSourceMain', encoding: 'H265', width: 640, height: 360, fps: 15, bitrateKbps: 500, govLength: 45, encoderProfile: 'High' },
    ],
  ],
];
for (const [file, expected] of PROFILES) {
  test(`parseProfiles: ${file}`, (t) => {
    t.deepEqual(parseProfiles(fixture(file)), expected);
  });
}

test('parseProfiles: 16-channel encoder, 32 profiles, one source per channel, an empty channel without encoder', (t) => {
  const profiles = parseProfiles(fixture('generic-oem/get-profiles-16-channel.xml'));
  t.is(profiles.length, 32);
  const sources = new Set(profiles.map((p) => p.videoSourceToken));
  t.is(sources.size, 16);
  // The recorder picks the best profile per source: group by source, take the widest with an encoder.
  const best = new Map<string, MediaProfile>();
  for (const p of profiles) {
    if (p.encoding === undefined) continue;
    const current = best.get(p.videoSourceToken ?? '');
    if (current === undefined || (p.width ?? 0) > (current.width ?? 0)) best.set(p.videoSourceToken ?? '', p);
  }
  t.is(best.size, 15);
  t.like(best.get('VideoSource_3'), { token: 'MediaProfile002_0', width: 1920, height: 1080, fps: 25, bitrateKbps: 4096, govLength: 50 });
  t.deepEqual(
    profiles.filter((p) => p.encoding === undefined).map((p) => p.token),
    ['MediaProfile015_0', 'MediaProfile015_1'],
  );
  t.deepEqual(profiles[31], { token: 'MediaProfile015_1', name: 'CH16 Sub', media: 1, videoSourceToken: 'VideoSource_16' });
});

const ENCODINGS: Array<[string, string | undefined]> = [
  ['H264', 'H264'], ['h.264', 'H264'], ['video/H265', 'H265'], ['HEVC', 'H265'], ['JPEG', 'JPEG'],
  ['MJPEG', 'JPEG'], ['MPEG4', 'MPEG4'], ['MP4V-ES', 'MPEG4'], ['SVAC', 'SVAC'], ['  ', undefined],
];
test('normalizeEncoding: Media1 enum, Media2 IANA names and vendor spellings', (t) => {
  for (const [raw, expected] of ENCODINGS) t.is(normalizeEncoding(raw), expected, raw);
});

// --- GetStreamUri / GetSnapshotUri --------------------------------------------------------------------

const URIS: Array<[string, string, 'GetStreamUri' | 'GetSnapshotUri']> = [
  ['dahua/get-stream-uri.xml', 'rtsp://192.168.1.108:554/cam/realmonitor?channel=1&subtype=0&unicast=true&proto=Onvif', 'GetStreamUri'],
  ['dahua/get-snapshot-uri.xml', 'http://192.168.1.108/onvifsnapshot/media_service/snapshot?channel=1&subtype=0', 'GetSnapshotUri'],
  ['generic-oem/get-stream-uri.xml', 'rtsp://192.168.5.53:8090/profile1=r', 'GetStreamUri'],
  ['hikvision/get-stream-uri.xml', 'rtsp://192.168.1.64:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1', 'GetStreamUri'],
  ['hanwha/get-stream-uri.xml', 'rtsp://192.168.1.100:554/profile2/media.smp', 'GetStreamUri'],
  // Credentials in the userinfo are returned as sent: stripping them is the caller's step (below).
  ['axis/get-stream-uri.xml', 'rtsp://onvif:Sierra-99@192.168.0.90/onvif-media/media.amp?profile=profile_1_h264&sessiontimeout=60&streamtype=unicast', 'GetStreamUri'],
  // Credentials in the query are part of the camera's URI contract and are kept (redact() hides them in logs).
  ['generic-oem/get-stream-uri-media2.xml', 'rtsp://192.168.178.67:554/stream0?username=admin&password=0123456789abcdef0123456789abcdef', 'GetStreamUri'],
];
for (const [file, expected, operation] of URIS) {
  test(`parseUri: ${file}`, (t) => {
    t.is(parseUri(fixture(file), operation), expected);
  });
}

test('parseUri: a MediaUri without Uri is malformed', (t) => {
  throwsKind(t, () => parseUri(fixture('broken/get-stream-uri-missing-uri.xml')), 'malformed', 'GetStreamUri');
});

// --- Faults and broken replies ----------------------------------------------------------------------

test('parseFault: Hikvision NotAuthorized', (t) => {
  t.deepEqual(parseFault(fixture('hikvision/fault-not-authorized.xml')), {
    code: 'Sender',
    subcode: 'NotAuthorized',
    subcodes: ['NotAuthorized'],
    reason: 'Sender not Authorized',
  });
});

test('parseFault: nested subcodes keep their order, innermost is the subcode', (t) => {
  t.like(parseFault(fixture('generic-oem/fault-no-profile.xml')), {
    code: 'Sender',
    subcode: 'NoProfile',
    subcodes: ['InvalidArgVal', 'NoProfile'],
    reason: 'Argument Value Invalid',
  });
});

test('parseFault: a normal reply or a non-SOAP page has no fault; broken XML is malformed', (t) => {
  t.is(parseFault(fixture('hikvision/get-stream-uri.xml')), undefined);
  t.is(parseFault(fixture('broken/html-error-page.xml')), undefined);
  throwsKind(t, () => parseFault(fixture('broken/truncated-get-profiles.xml')), 'malformed');
});

const FAULTS: Array<[string, string, () => unknown, CameraProtocolErrorKind, string]> = [
  ['NotAuthorized → auth', 'hikvision/fault-not-authorized.xml', () => parseDeviceInformation(fixture('hikvision/fault-not-authorized.xml')), 'auth', 'GetDeviceInformation'],
  ['SOAP 1.1 wsse:FailedAuthentication → auth', 'generic-oem/fault-soap11-failed-authentication.xml', () => parseProfiles(fixture('generic-oem/fault-soap11-failed-authentication.xml')), 'auth', 'GetProfiles'],
  ['NoProfile → fault', 'generic-oem/fault-no-profile.xml', () => parseUri(fixture('generic-oem/fault-no-profile.xml')), 'fault', 'GetStreamUri'],
  ['truncated XML → malformed', 'broken/truncated-get-profiles.xml', () => parseProfiles(fixture('broken/truncated-get-profiles.xml')), 'malformed', 'GetProfiles'],
  ['HTML page → malformed', 'broken/html-error-page.xml', () => parseServices(fixture('broken/html-error-page.xml')), 'malformed', 'GetServices'],
  ['the reply of another operation → malformed', 'axis/get-device-information.xml', () => parseProfiles(fixture('axis/get-device-information.xml')), 'malformed', 'GetProfiles'],
];
for (const [name, , fn, kind, operation] of FAULTS) {
  test(`parser errors: ${name}`, (t) => {
    const err = throwsKind(t, fn, kind, operation);
    if (kind !== 'malformed') t.truthy(err?.fault);
  });
}

// --- GetSystemDateAndTime ---------------------------------------------------------------------------

const dropUtc = (xml: string): string => xml.replace(/<tt:UTCDateTime>[\s\S]*?<\/tt:UTCDateTime>/, '');
const RECEIVED = new Date('2025-03-14T12:00:00.000Z');

const CLOCKS: Array<[string, string, string, CameraClock['source']]> = [
  ['Hikvision, UTC present (camera 1 h 23 min ahead)', fixture('hikvision/get-system-date-and-time.xml'), '2025-03-14T13:23:20.000Z', 'utc'],
  ['Hikvision without UTC: local 21:23:20 in CST-8:00:00', dropUtc(fixture('hikvision/get-system-date-and-time.xml')), '2025-03-14T13:23:20.000Z', 'local+tz'],
  ['OEM, UTC present', fixture('generic-oem/get-system-date-and-time.xml'), '2026-09-26T20:09:12.000Z', 'utc'],
  ['OEM without UTC: local 21:09:12 in CET-1CEST-2, DST off → the same instant', dropUtc(fixture('generic-oem/get-system-date-and-time.xml')), '2026-09-26T20:09:12.000Z', 'local+tz'],
  [
    'OEM without UTC, DaylightSavings true → CEST (UTC+2)',
    dropUtc(fixture('generic-oem/get-system-date-and-time.xml')).replace('<tt:DaylightSavings>false', '<tt:DaylightSavings>true'),
    '2026-09-26T19:09:12.000Z',
    'local+tz',
  ],
  ['no-name camera: LocalDateTime only, no TZ, clock never set', fixture('generic-oem/get-system-date-and-time-local-only.xml'), '1979-11-30T00:00:50.000Z', 'local-assumed-utc'],
];
for (const [name, xml, cameraTime, source] of CLOCKS) {
  test(`parseSystemDateAndTime: ${name}`, (t) => {
    const clock = parseSystemDateAndTime(xml, RECEIVED);
    t.is(clock.cameraTime.toISOString(), cameraTime);
    t.is(clock.source, source);
    t.is(clock.clockOffsetMs, Date.parse(cameraTime) - RECEIVED.getTime());
  });
}

test('parseSystemDateAndTime: neither UTC nor local time, or an impossible date → malformed', (t) => {
  const hik = fixture('hikvision/get-system-date-and-time.xml');
  throwsKind(t, () => parseSystemDateAndTime(dropUtc(hik).replace(/<tt:LocalDateTime>[\s\S]*?<\/tt:LocalDateTime>/, ''), RECEIVED), 'malformed', 'GetSystemDateAndTime');
  throwsKind(t, () => parseSystemDateAndTime(hik.replace('<tt:Month>3</tt:Month>', '<tt:Month>13</tt:Month>'), RECEIVED), 'malformed');
  throwsKind(t, () => parseSystemDateAndTime(hik.replace('<tt:Day>14</tt:Day>', '<tt:Day>x</tt:Day>'), RECEIVED), 'malformed');
});

const TZ: Array<[string, boolean, number | undefined]> = [
  ['CST-8:00:00', false, -480], ['CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00', true, -120], ['CET-1CEST,M3.5.0,M10.5.0/3', true, -120],
  ['EST5EDT', false, 300], ['EST5EDT', true, 240], ['<+0530>-5:30', false, -330], ['GMT0', false, 0], ['UTC', false, 0],
  ['GMT+08:00', false, 480], ['Europe/Berlin', false, undefined], ['', false, undefined],
];
test('posixUtcOffsetMinutes: POSIX TZ strings as cameras write them', (t) => {
  for (const [tz, dst, expected] of TZ) t.is(posixUtcOffsetMinutes(tz, dst), expected, `${tz} dst=${dst}`);
});

// --- Host and credential fixes for URIs -------------------------------------------------------------

const REWRITES: Array<[string, string, string, string]> = [
  ['0.0.0.0 with port and query', 'rtsp://0.0.0.0:554/live?a=1&b=2', '192.168.1.20', 'rtsp://192.168.1.20:554/live?a=1&b=2'],
  ['NAT: a private address the box cannot reach', 'rtsp://192.168.0.90/onvif-media/media.amp', '10.8.0.4', 'rtsp://10.8.0.4/onvif-media/media.amp'],
  ['already right: unchanged', 'rtsp://192.168.1.64:554/Streaming/Channels/101', '192.168.1.64', 'rtsp://192.168.1.64:554/Streaming/Channels/101'],
  ['credentials kept while the host changes', 'rtsp://u:p@127.0.0.1/s', '192.168.1.21', 'rtsp://u:p@192.168.1.21/s'],
  ['IPv6 stream URI and an IPv4 camera address: other family, unchanged', 'rtsp://[2001:db8::1]/s', '192.168.1.22', 'rtsp://[2001:db8::1]/s'],
  ['IPv6 reply address gets brackets', 'http://0.0.0.0/onvif/device_service', 'fe80::1%eth0', 'http://[fe80::1%25eth0]/onvif/device_service'],
  ['not a URI: unchanged', 'profile1', '192.168.1.23', 'profile1'],
];
for (const [name, uri, address, expected] of REWRITES) {
  test(`rewriteHost: ${name}`, (t) => {
    t.is(rewriteHost(uri, address), expected);
  });
}

const STRIPS: Array<[string, string, string]> = [
  ['Axis stream URI', 'rtsp://onvif:Sierra-99@192.168.0.90/onvif-media/media.amp?profile=profile_1_h264', 'rtsp://192.168.0.90/onvif-media/media.amp?profile=profile_1_h264'],
  ['a raw @ in the password', 'rtsp://admin:LV@0000@lv@10.10.10.134/onvif/profile2/media.smp', 'rtsp://10.10.10.134/onvif/profile2/media.smp'],
  ['user only, IPv6 host, port', 'rtsp://admin@[fe80::2]:8554/s', 'rtsp://[fe80::2]:8554/s'],
  ['no credentials: unchanged', 'http://192.168.1.108/onvifsnapshot/media_service/snapshot?channel=1&subtype=0', 'http://192.168.1.108/onvifsnapshot/media_service/snapshot?channel=1&subtype=0'],
];
for (const [name, uri, expected] of STRIPS) {
  test(`stripCredentials: ${name}`, (t) => {
    t.is(stripCredentials(uri), expected);
  });
}

test('Axis end to end: parse, strip credentials, keep the host', (t) => {
  const uri = stripCredentials(rewriteHost(parseUri(fixture('axis/get-stream-uri.xml')), '192.168.0.90'));
  t.is(uri, 'rtsp://192.168.0.90/onvif-media/media.amp?profile=profile_1_h264&sessiontimeout=60&streamtype=unicast');
});

// --- Every fixture is used by a test ------------------------------------------------------------------

test('fixtures: every file under test/fixtures/onvif is used by a unit test', (t) => {
  const tests = ['ws-discovery-messages', 'onvif-soap', 'onvif-parse', 'http-digest']
    .map((name) => readFileSync(new URL(`${name}.test.ts`, import.meta.url), 'utf8'))
    .join('\n');
  const files = readdirSync(FIXTURES, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.xml'));
  t.true(files.length >= 30);
  const unused = files.filter((f) => !tests.includes(`'${f}'`));
  t.deepEqual(unused, []);
});
