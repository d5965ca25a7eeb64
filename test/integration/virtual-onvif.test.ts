// The virtual camera's ONVIF face against independent clients: the customer's `onvif` package, raw SOAP built
// here by hand, ffprobe, curl, and WS-Discovery datagrams from a dgram socket. Nothing here comes from
// agent/cameras or from the simulator's own modules (a shared bug would cancel out).
import test from 'ava';
import { probeStreams, withCredentials } from '../helpers/media.ts';
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import onvif from 'onvif/promises/index.js';
import { makeTempDir, startVirtualCamera, type VirtualCamera, type VirtualCameraOptions } from '../helpers/index.ts';

const run = promisify(execFile);
const GROUP = '239.255.255.250';
const HOURS_3 = 3 * 3600_000;
const USER = 'admin';
const PASS = 'Cam-Pass-7!';

const SOAP_ENV = 'http://www.w3.org/2003/05/soap-envelope';
const WSSE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
const WSU = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
const DIGEST_TYPE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';

// ---------- clients written here, from the standards ----------

/** A WS-Security UsernameToken (OASIS UsernameToken Profile 1.0 §3.1): Base64(SHA1(nonce + created + password)). */
function usernameToken(user: string, password: string, created: Date, nonce = randomBytes(16)): string {
  const createdText = created.toISOString();
  const digest = createHash('sha1').update(Buffer.concat([nonce, Buffer.from(createdText), Buffer.from(password)])).digest('base64');
  return (
    `<wsse:Security xmlns:wsse="${WSSE}" xmlns:wsu="${WSU}"><wsse:UsernameToken><wsse:Username>${user}</wsse:Username>` +
    `<wsse:Password Type="${DIGEST_TYPE}">${digest}</wsse:Password><wsse:Nonce>${nonce.toString('base64')}</wsse:Nonce>` +
    `<wsu:Created>${createdText}</wsu:Created></wsse:UsernameToken></wsse:Security>`
  );
}

interface RawReply {
  status: number;
  text: string;
  headers: Headers;
}

async function soap(url: string, body: string, opts: { header?: string; envelopeNs?: string } = {}): Promise<RawReply> {
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="${opts.envelopeNs ?? SOAP_ENV}">` +
    `${opts.header ? `<e:Header>${opts.header}</e:Header>` : ''}<e:Body>${body}</e:Body></e:Envelope>`;
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/soap+xml; charset=utf-8' }, body: xml });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

const DEVICE_INFO = '<GetDeviceInformation xmlns="http://www.onvif.org/ver10/device/wsdl"/>';
const streamUriRequest = (token: string) =>
  `<GetStreamUri xmlns="http://www.onvif.org/ver10/media/wsdl"><StreamSetup><Stream xmlns="http://www.onvif.org/ver10/schema">RTP-Unicast</Stream>` +
  `<Transport xmlns="http://www.onvif.org/ver10/schema"><Protocol>RTSP</Protocol></Transport></StreamSetup><ProfileToken>${token}</ProfileToken></GetStreamUri>`;

/** The text of the first element with this local name, whatever its prefix. */
function tagText(xml: string, local: string): string | undefined {
  return new RegExp(`<(?:[\\w.-]+:)?${local}\\b[^>]*>([^<]*)</`).exec(xml)?.[1];
}

function probeXml(messageId: string, body: { types?: string; scopes?: string; extraNs?: string } = {}): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="${SOAP_ENV}" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ` +
    `xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"${body.extraNs ?? ''}>` +
    `<s:Header><a:MessageID>${messageId}</a:MessageID><a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>` +
    `<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header>` +
    `<s:Body><d:Probe>${body.types === undefined ? '' : `<d:Types>${body.types}</d:Types>`}` +
    `${body.scopes === undefined ? '' : `<d:Scopes>${body.scopes}</d:Scopes>`}</d:Probe></s:Body></s:Envelope>`
  );
}

/** Sends one unicast Probe and collects what comes back within waitMs. */
async function unicastProbe(port: number, xml: string, waitMs = 1200): Promise<Array<{ text: string; elapsedMs: number }>> {
  const socket = dgram.createSocket('udp4');
  const replies: Array<{ text: string; elapsedMs: number }> = [];
  const sentAt = Date.now();
  socket.on('message', (msg) => replies.push({ text: msg.toString('utf8'), elapsedMs: Date.now() - sentAt }));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve, reject) => socket.send(xml, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  await new Promise((r) => setTimeout(r, waitMs));
  socket.close();
  return replies;
}

async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  socket.close();
  return port;
}

const ffprobe = probeStreams;

/**
 * The onvif package's promise API. Its typings drop the options of overloaded methods (getStreamUri(options)
 * types as taking nothing), so the methods are typed loosely here and each result is cast where it is read.
 */
type Call = (options?: Record<string, unknown>) => Promise<unknown>;
interface PromiseCam {
  connect: Call;
  getSystemDateAndTime: Call;
  getDeviceInformation: Call;
  getProfiles: Call;
  getVideoSources: Call;
  getStreamUri: Call;
  getSnapshotUri: Call;
  getScopes: Call;
  getNetworkInterfaces: Call;
}

function camOf(camera: VirtualCamera, password = PASS): PromiseCam {
  const url = new URL(camera.onvif?.deviceServiceUrl ?? '');
  const cam = new onvif.Cam({ hostname: url.hostname, port: Number(url.port), username: USER, password, path: url.pathname, autoconnect: false });
  return cam as unknown as PromiseCam;
}

// ava runs this file's tests at once; on a loaded 2-core machine two dozen cameras starting together
// (node + tsx, python + GStreamer each) starve one another past any deadline. A few start at a time.
const START_SLOTS = 4;
let starting = 0;
const waitingToStart: Array<() => void> = [];

async function startCamera(t: { teardown(fn: () => unknown): void }, opts: VirtualCameraOptions): Promise<VirtualCamera> {
  if (starting >= START_SLOTS) await new Promise<void>((resolve) => waitingToStart.push(resolve));
  starting++;
  try {
    const camera = await startVirtualCamera({ width: 320, height: 180, timeoutMs: 30_000, ...opts });
    t.teardown(() => camera.stop());
    return camera;
  } finally {
    starting--;
    waitingToStart.shift()?.();
  }
}

/** The child's log reaches us through a pipe, a moment after its HTTP reply: poll for the line. */
async function logged(camera: VirtualCamera, line: RegExp, ms = 3000): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 25))) {
    if (line.test(camera.onvif?.output() ?? '')) return true;
  }
  return false;
}

// ---------- the onvif package ----------

test('onvif package: clock +3 h, device information, profiles, a playable stream URI and a JPEG snapshot', async (t) => {
  const camera = await startCamera(t, { username: USER, password: PASS, onvif: { clockOffsetMs: HOURS_3, name: 'North Stand' } });
  const face = camera.onvif!;
  t.regex(face.deviceServiceUrl, /^http:\/\/127\.0\.0\.1:\d+\/onvif\/device_service$/);
  t.regex(face.urn, /^urn:uuid:[0-9a-f-]{36}$/);
  t.regex(face.mac, /^02(:[0-9a-f]{2}){5}$/);
  const cam = camOf(camera);

  const cameraTime = (await cam.getSystemDateAndTime()) as Date;
  t.true(Math.abs(cameraTime.getTime() - (Date.now() + HOURS_3)) < 5000, `camera says ${cameraTime.toISOString()}`);

  // connect(): GetServices, Media2 GetProfiles, GetProfiles and GetVideoSources, all signed with the camera's clock.
  await cam.connect();
  const info = (await cam.getDeviceInformation()) as Record<string, unknown>;
  t.like(info, { manufacturer: 'Venuebox', model: 'VirtualCam-1', firmwareVersion: '1.0.0' });
  t.truthy(info['serialNumber']);
  t.truthy(info['hardwareId']);

  const profiles = (await cam.getProfiles()) as Array<{ $: { token: string }; name: string; videoEncoderConfiguration: Record<string, unknown> }>;
  t.deepEqual(profiles.map((p) => [p.$.token, p.name]), [['profile_main', 'MainStream'], ['profile_sub', 'SubStream']]);
  t.like(profiles[0]?.videoEncoderConfiguration, { encoding: 'H264', resolution: { width: 320, height: 180 } });

  const stream = (await cam.getStreamUri({ protocol: 'RTSP', profileToken: 'profile_main' })) as { uri: string };
  t.is(stream.uri, camera.url);
  const played = await ffprobe(withCredentials(stream.uri, USER, PASS));
  t.true(played.ok, played.stderr);
  t.like(played.streams[0], { codec_name: 'h264', width: 320, height: 180 });

  const snapshot = (await cam.getSnapshotUri({ profileToken: 'profile_main' })) as { uri: string };
  const res = await fetch(snapshot.uri);
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'image/jpeg');
  const dir = await makeTempDir('virtual-onvif');
  t.teardown(() => dir.remove());
  const file = path.join(dir.path, 'snapshot.jpg');
  await writeFile(file, Buffer.from(await res.arrayBuffer()));
  const decoded = await ffprobe(file);
  t.true(decoded.ok, decoded.stderr);
  t.like(decoded.streams[0], { codec_name: 'mjpeg', width: 320, height: 180 });

  const scopes = (await cam.getScopes()) as Array<{ scopeItem: string }>;
  t.true(scopes.some((s) => s.scopeItem === 'onvif://www.onvif.org/name/North%20Stand'));
  t.true(scopes.some((s) => s.scopeItem === `onvif://www.onvif.org/MAC/${face.mac}`));
  const interfaces = (await cam.getNetworkInterfaces()) as Array<{ info: { hwAddress: string } }>;
  t.is(interfaces[0]?.info.hwAddress, face.mac);
});

test('onvif package: a wrong password is refused with ter:NotAuthorized (HTTP 400 by default, 401 when configured)', async (t) => {
  for (const authFaultStatus of [400, 401] as const) {
    const camera = await startCamera(t, { username: USER, password: PASS, onvif: { authFaultStatus } });
    const cam = camOf(camera, 'not-the-password');
    await cam.getSystemDateAndTime(); // anonymous, as the standard requires
    const error = await t.throwsAsync(cam.getDeviceInformation());
    t.regex(error?.message ?? '', /Sender not Authorized/);

    const raw = await soap(camera.onvif!.deviceServiceUrl, DEVICE_INFO, { header: usernameToken(USER, 'not-the-password', new Date()) });
    t.is(raw.status, authFaultStatus);
    t.is(raw.headers.get('www-authenticate'), null, 'WS-Security mode sends no HTTP challenge');
    t.regex(raw.text, /<s:Value>s:Sender<\/s:Value><s:Subcode><s:Value>ter:NotAuthorized<\/s:Value>/);
    t.true(await logged(camera, /auth: GetDeviceInformation refused: wrong password digest/));
    t.false(camera.onvif!.output().includes(PASS), 'the password is never logged');
  }
});

test('WS-Security: Created must be on the camera clock (±5 min); a replayed nonce is refused', async (t) => {
  const camera = await startCamera(t, { username: USER, password: PASS, onvif: { clockOffsetMs: HOURS_3 } });
  const url = camera.onvif!.deviceServiceUrl;

  const trueClock = await soap(url, DEVICE_INFO, { header: usernameToken(USER, PASS, new Date()) });
  t.is(trueClock.status, 400, 'a client that ignores the camera clock fails');
  t.true(await logged(camera, /Created .* from the camera clock/), camera.onvif!.output());

  const nonce = randomBytes(16);
  const created = new Date(Date.now() + HOURS_3 + 60_000); // inside the window
  const ok = await soap(url, DEVICE_INFO, { header: usernameToken(USER, PASS, created, nonce) });
  t.is(ok.status, 200, ok.text);
  t.is(tagText(ok.text, 'Manufacturer'), 'Venuebox');
  const replay = await soap(url, DEVICE_INFO, { header: usernameToken(USER, PASS, created, nonce) });
  t.is(replay.status, 400);
  t.true(await logged(camera, /nonce replayed/), camera.onvif!.output());

  const anonymous = await soap(url, '<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/>');
  t.is(anonymous.status, 200);
  t.is(tagText(anonymous.text, 'DateTimeType'), 'Manual');
  const noToken = await soap(url, '<GetCapabilities xmlns="http://www.onvif.org/ver10/device/wsdl"><Category>All</Category></GetCapabilities>');
  t.is(noToken.status, 400, 'only GetSystemDateAndTime is anonymous by default');
});

test('HTTP Digest mode: the onvif package gets in after a 401 challenge; a wrong password fails', async (t) => {
  const camera = await startCamera(t, { username: USER, password: PASS, onvif: { auth: 'digest', clockOffsetMs: -HOURS_3 } });
  const raw = await soap(camera.onvif!.deviceServiceUrl, DEVICE_INFO, { header: usernameToken(USER, PASS, new Date(Date.now() - HOURS_3)) });
  t.is(raw.status, 401, 'WS-Security is ignored in digest mode');
  t.regex(raw.headers.get('www-authenticate') ?? '', /^Digest realm="VirtualCam", qop="auth", nonce="[0-9a-f]+", opaque="[0-9a-f]+", algorithm=MD5/);

  const cam = camOf(camera);
  await cam.connect();
  t.like(await cam.getDeviceInformation(), { manufacturer: 'Venuebox' });
  const stream = (await cam.getStreamUri({ protocol: 'RTSP' })) as { uri: string };
  t.is(stream.uri, camera.url);

  const wrong = camOf(camera, 'nope');
  const error = await t.throwsAsync(wrong.getDeviceInformation());
  t.regex(error?.message ?? '', /Digest authentication failed 401/);
});

test("'both' auth accepts WS-Security or HTTP Digest", async (t) => {
  const camera = await startCamera(t, { username: USER, password: PASS, onvif: { auth: 'both' } });
  const url = camera.onvif!.deviceServiceUrl;
  const viaWsse = await soap(url, DEVICE_INFO, { header: usernameToken(USER, PASS, new Date()) });
  t.is(viaWsse.status, 200);
  const anonymous = await soap(url, DEVICE_INFO);
  t.is(anonymous.status, 401);
  t.regex(anonymous.headers.get('www-authenticate') ?? '', /^Digest /);
  // curl answers the challenge on its own: HTTP Digest without WS-Security.
  const envelope = `<s:Envelope xmlns:s="${SOAP_ENV}"><s:Body>${DEVICE_INFO}</s:Body></s:Envelope>`;
  const { stdout } = await run('curl', ['-s', '--digest', '-u', `${USER}:${PASS}`, '-H', 'Content-Type: application/soap+xml', '--data-binary', envelope, url]);
  t.is(tagText(stdout, 'Manufacturer'), 'Venuebox');
});

test('snapshotAuth digest: the snapshot needs HTTP Digest (curl --digest gets the JPEG)', async (t) => {
  const camera = await startCamera(t, { username: USER, password: PASS, onvif: { snapshotAuth: 'digest', vendor: 'axis' } });
  const cam = camOf(camera);
  await cam.connect();
  const { uri } = (await cam.getSnapshotUri()) as { uri: string };
  t.regex(uri, /\/onvif-cgi\/jpg\/image\.cgi\?resolution=320x180&compression=30$/);
  const anonymous = await fetch(uri);
  t.is(anonymous.status, 401);
  t.regex(anonymous.headers.get('www-authenticate') ?? '', /realm="AXIS_ACCC8E[0-9A-F]{6}"/);
  const { stdout } = await run('curl', ['-s', '--digest', '-u', `${USER}:${PASS}`, '-o', '-', '-w', '%{content_type}', uri], { encoding: 'buffer' });
  t.true(stdout.subarray(0, 2).equals(Buffer.from([0xff, 0xd8])), 'a JPEG');
  t.true(stdout.subarray(-10).toString().endsWith('image/jpeg'));
});

test('faults: unknown profile, unsupported action, malformed XML, SOAP 1.1, and Media2 switched off', async (t) => {
  const camera = await startCamera(t, { onvif: { media2: false } });
  const url = camera.onvif!.deviceServiceUrl;
  const media = url.replace('device_service', 'media_service');

  const noProfile = await soap(media, streamUriRequest('nope'));
  t.is(noProfile.status, 400);
  t.regex(noProfile.text, /ter:InvalidArgVal<\/s:Value><s:Subcode><s:Value>ter:NoProfile/);
  const unsupported = await soap(url, '<SystemReboot xmlns="http://www.onvif.org/ver10/device/wsdl"/>');
  t.is(unsupported.status, 500);
  t.regex(unsupported.text, /s:Receiver.*ter:ActionNotSupported/);
  const media2 = await soap(url, '<GetProfiles xmlns="http://www.onvif.org/ver20/media/wsdl"><Type>All</Type></GetProfiles>');
  t.regex(media2.text, /ter:ActionNotSupported/);
  const broken = await fetch(url, { method: 'POST', body: '<s:Envelope xmlns:s="x"><s:Body>' });
  t.is(broken.status, 400);
  t.regex(await broken.text(), /ter:WellFormed/);
  const soap11 = await soap(url, DEVICE_INFO, { envelopeNs: 'http://schemas.xmlsoap.org/soap/envelope/' });
  t.regex(soap11.text, /s:VersionMismatch/);

  const services = await soap(url, '<GetServices xmlns="http://www.onvif.org/ver10/device/wsdl"><IncludeCapability>false</IncludeCapability></GetServices>');
  t.regex(services.text, /<tds:Namespace>http:\/\/www\.onvif\.org\/ver10\/media\/wsdl<\/tds:Namespace>/);
  t.false(services.text.includes('<tds:Namespace>http://www.onvif.org/ver20/media/wsdl</tds:Namespace>'));
  const cam = camOf(camera);
  await cam.connect();
  const stream = (await cam.getStreamUri({ protocol: 'RTSP' })) as { uri: string };
  t.is(stream.uri, camera.url, 'Media1 only: the package falls back to ver10 media');
});

test('a 16-channel encoder: 32 profiles, 16 video sources, each channel with a main and a sub stream', async (t) => {
  const camera = await startCamera(t, { onvif: { profiles: 32, vendor: 'dahua' } });
  const cam = camOf(camera);
  await cam.connect();
  const profiles = (await cam.getProfiles()) as Array<{ $: { token: string }; name: string }>;
  t.is(profiles.length, 32);
  t.like(profiles[0], { $: { token: 'MediaProfile00000' }, name: 'MediaProfile_Channel1_MainStream' });
  t.like(profiles[31], { $: { token: 'MediaProfile00031' }, name: 'MediaProfile_Channel16_SubStream1' });
  const sources = (await cam.getVideoSources()) as unknown[];
  t.is(sources.length, 16);
  const stream = (await cam.getStreamUri({ protocol: 'RTSP', profileToken: 'MediaProfile00031' })) as { uri: string };
  t.is(stream.uri, `${camera.url}?channel=16&subtype=1&unicast=true&proto=Onvif`);
  const played = await ffprobe(stream.uri);
  t.true(played.ok, played.stderr);
});

// ---------- vendor styles ----------

const VENDOR_CASES = [
  { vendor: 'hikvision', manufacturer: 'HIKVISION', envelope: /<env:Envelope /, uri: /\/Streaming\/Channels\/101\?transportmode=unicast&amp;profile=Profile_1</ },
  { vendor: 'dahua', manufacturer: 'Dahua', envelope: /standalone="yes" \?><s:Envelope xmlns:sc=/, uri: /\/cam\/realmonitor\?channel=1&amp;subtype=0&amp;unicast=true&amp;proto=Onvif</ },
  { vendor: 'axis', manufacturer: 'AXIS', envelope: /<s:Envelope /, uri: /\/onvif-media\/media\.amp\?profile=profile_1_h264&amp;sessiontimeout=60&amp;streamtype=unicast</ },
  { vendor: 'hanwha', manufacturer: 'Hanwha Vision', envelope: /<s:Envelope /, uri: /\/onvif\/profile2\/media\.smp</ },
] as const;

for (const c of VENDOR_CASES) {
  test(`vendor style ${c.vendor}: device information, envelope, stream URI, and the URI plays`, async (t) => {
    const camera = await startCamera(t, { onvif: { vendor: c.vendor } });
    const face = camera.onvif!;
    const info = await soap(face.deviceServiceUrl, DEVICE_INFO);
    t.is(tagText(info.text, 'Manufacturer'), c.manufacturer);
    t.regex(info.text, c.envelope);
    const token = face.profiles[0]?.token ?? '';
    const uri = await soap(face.deviceServiceUrl.replace('device_service', 'media_service'), streamUriRequest(token));
    t.regex(uri.text, c.uri);
    const cam = camOf(camera);
    await cam.connect();
    const stream = (await cam.getStreamUri({ protocol: 'RTSP', profileToken: token })) as { uri: string };
    t.true(stream.uri.startsWith(camera.url));
    const played = await ffprobe(stream.uri);
    t.true(played.ok, played.stderr);
  });
}

test('hikvision style: the endpoint UUID ends in the MAC, which has a Hikvision OUI and a MAC scope', async (t) => {
  const camera = await startCamera(t, { onvif: { vendor: 'hikvision', maxReplyDelayMs: 0 } });
  const face = camera.onvif!;
  t.regex(face.mac, /^68:6d:bc/);
  t.true(face.urn.endsWith(face.mac.replace(/:/g, '')));
  const [reply] = await unicastProbe(face.discoveryPort, probeXml(`urn:uuid:${randomUUID()}`, { types: 'dn:NetworkVideoTransmitter' }), 400);
  t.regex(reply?.text ?? '', new RegExp(`onvif://www\\.onvif\\.org/MAC/${face.mac}`));
  t.regex(reply?.text ?? '', /<d:MetadataVersion>10<\/d:MetadataVersion>/);
  t.regex(reply?.text ?? '', /<wsadis:Address>/);
});

test('H.265: Media2 says H265; Media1 (no H265 in its schema) omits the encoder, or lies like Hikvision', async (t) => {
  const profiles = [{ encoding: 'H265' as const }, { encoding: 'H264' as const }];
  const [generic, hikvision] = await Promise.all([
    startCamera(t, { onvif: { profiles } }),
    startCamera(t, { onvif: { profiles, vendor: 'hikvision' } }),
  ]);
  const media1 = (c: VirtualCamera) => soap(c.onvif!.deviceServiceUrl.replace('device_service', 'media_service'), '<GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/>');
  const media2 = (c: VirtualCamera) =>
    soap(c.onvif!.deviceServiceUrl.replace('device_service', 'media2_service'), '<GetProfiles xmlns="http://www.onvif.org/ver20/media/wsdl"><Type>All</Type></GetProfiles>');
  const genericMedia1 = (await media1(generic)).text;
  const firstProfile = /<trt:Profiles token="profile_main"[\s\S]*?<\/trt:Profiles>/.exec(genericMedia1)?.[0] ?? '';
  t.false(firstProfile.includes('VideoEncoderConfiguration'));
  t.regex((await media2(generic)).text, /<tr2:Profiles token="profile_main"[\s\S]*?<tt:Encoding>H265<\/tt:Encoding>/);
  t.regex((await media1(hikvision)).text, /<tt:VideoEncoderConfiguration token="VideoEncoder_1" encoding="H265"><tt:Name>VideoEncoder_1<\/tt:Name><tt:UseCount>1<\/tt:UseCount><tt:Encoding>H264</);
});

test('dahua style answers the Core PRE_AUTH operations without credentials, and nothing else', async (t) => {
  const camera = await startCamera(t, { username: USER, password: PASS, onvif: { vendor: 'dahua' } });
  const url = camera.onvif!.deviceServiceUrl;
  const caps = await soap(url, '<GetCapabilities xmlns="http://www.onvif.org/ver10/device/wsdl"><Category>All</Category></GetCapabilities>');
  t.is(caps.status, 200);
  t.regex(caps.text, /<tt:Media><tt:XAddr>http:\/\/127\.0\.0\.1:\d+\/onvif\/media_service<\/tt:XAddr>/);
  t.is((await soap(url, '<GetServices xmlns="http://www.onvif.org/ver10/device/wsdl"><IncludeCapability>true</IncludeCapability></GetServices>')).status, 200);
  t.is((await soap(url, DEVICE_INFO)).status, 400);
  t.is((await soap(url.replace('device_service', 'media_service'), '<GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/>')).status, 400);
});

// ---------- quirks, on the raw XML ----------

test('quirk uriWhitespace: <tt:Uri> has newlines and indentation around it and &amp; in its query; trimmed and decoded it plays', async (t) => {
  const camera = await startCamera(t, { onvif: { uriWhitespace: true } });
  const media = camera.onvif!.deviceServiceUrl.replace('device_service', 'media_service');
  const reply = await soap(media, streamUriRequest('profile_main'));
  const raw = /<tt:Uri>([\s\S]*?)<\/tt:Uri>/.exec(reply.text)?.[1] ?? '';
  t.regex(raw, /^\n\s+rtsp:\/\/\S+\?profile=profile_main&amp;unicast=true\n\s+$/);
  const url = raw.trim().replace(/&amp;/g, '&');
  t.is(url, `${camera.url}?profile=profile_main&unicast=true`);
  t.true((await ffprobe(url)).ok);
  const snapshot = await soap(media, '<GetSnapshotUri xmlns="http://www.onvif.org/ver10/media/wsdl"><ProfileToken>profile_main</ProfileToken></GetSnapshotUri>');
  t.regex(snapshot.text, /<tt:Uri>\n\s+http:\/\//);
});

test('quirk prefixStyle odd: SOAP-ENV: and numbered prefixes, in SOAP and in discovery; the onvif package copes', async (t) => {
  const camera = await startCamera(t, { onvif: { prefixStyle: 'odd', maxReplyDelayMs: 0 } });
  const face = camera.onvif!;
  const info = await soap(face.deviceServiceUrl, DEVICE_INFO);
  t.regex(info.text, /^<\?xml[^>]*>\n<SOAP-ENV:Envelope /);
  t.regex(info.text, /xmlns:ns1="http:\/\/www\.onvif\.org\/ver10\/device\/wsdl"/);
  t.regex(info.text, /<SOAP-ENV:Body><ns1:GetDeviceInformationResponse><ns1:Manufacturer>Venuebox<\/ns1:Manufacturer>/);
  t.false(/<(s|tds|tt):/.test(info.text));
  const [reply] = await unicastProbe(face.discoveryPort, probeXml(`urn:uuid:${randomUUID()}`), 400);
  t.regex(reply?.text ?? '', /<ns7:Types>ns8:NetworkVideoTransmitter ns1:Device<\/ns7:Types>/);
  t.regex(reply?.text ?? '', /xmlns:ns8="http:\/\/www\.onvif\.org\/ver10\/network\/wsdl"/);
  const cam = camOf(camera);
  await cam.connect();
  t.like(await cam.getDeviceInformation(), { manufacturer: 'Venuebox' });
});

for (const [xaddrs, expected] of [
  ['normal', (port: number, _mac: string) => new RegExp(`<d:XAddrs>http://127\\.0\\.0\\.1:${port}/onvif/device_service</d:XAddrs>`)],
  ['several', (port: number) => new RegExp(`<d:XAddrs>http://\\[fe80::[0-9a-f:]+\\]:${port}/onvif/device_service http://127\\.0\\.0\\.1:${port}/onvif/device_service</d:XAddrs>`)],
  ['zero', (port: number) => new RegExp(`<d:XAddrs>http://0\\.0\\.0\\.0:${port}/onvif/device_service</d:XAddrs>`)],
  ['nat', (port: number) => new RegExp(`<d:XAddrs>http://10\\.255\\.\\d+\\.\\d+:${port}/onvif/device_service</d:XAddrs>`)],
] as const) {
  test(`quirk xaddrs ${xaddrs}: the ProbeMatch XAddrs`, async (t) => {
    const camera = await startCamera(t, { onvif: { xaddrs, maxReplyDelayMs: 0 } });
    const face = camera.onvif!;
    const [reply] = await unicastProbe(face.discoveryPort, probeXml(`urn:uuid:${randomUUID()}`, { types: 'dn:NetworkVideoTransmitter' }), 400);
    t.regex(reply?.text ?? '', expected(face.httpPort, face.mac));
  });
}

// ---------- WS-Discovery ----------

test('WS-Discovery: a unicast Probe gets a ProbeMatch (RelatesTo, URN, types, scopes, XAddrs) after a random 0–500 ms', async (t) => {
  const camera = await startCamera(t, { onvif: { vendor: 'generic', name: 'Goal Cam', location: 'hall/east' } });
  const face = camera.onvif!;
  const messageId = `urn:uuid:${randomUUID()}`;
  const replies = await unicastProbe(face.discoveryPort, probeXml(messageId, { types: 'dn:NetworkVideoTransmitter' }), 3000);
  t.is(replies.length, 1);
  const reply = replies[0]!;
  // 500 ms at most by design; the slack is for a loaded test machine.
  t.true(reply.elapsedMs < 2500, `answered after ${reply.elapsedMs} ms`);
  t.regex(reply.text, /<s:Envelope [^>]*xmlns:s="http:\/\/www\.w3\.org\/2003\/05\/soap-envelope"/);
  t.regex(reply.text, /xmlns:d="http:\/\/schemas\.xmlsoap\.org\/ws\/2005\/04\/discovery"/);
  t.regex(reply.text, /xmlns:wsa="http:\/\/schemas\.xmlsoap\.org\/ws\/2004\/08\/addressing"/);
  t.is(tagText(reply.text, 'Action'), 'http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches');
  t.is(tagText(reply.text, 'RelatesTo'), messageId);
  t.is(tagText(reply.text, 'Address'), face.urn);
  t.is(tagText(reply.text, 'Types'), 'dn:NetworkVideoTransmitter tds:Device');
  t.is(tagText(reply.text, 'XAddrs'), face.deviceServiceUrl);
  const scopes = tagText(reply.text, 'Scopes')?.split(' ') ?? [];
  for (const scope of [
    'onvif://www.onvif.org/type/video_encoder',
    'onvif://www.onvif.org/hardware/VirtualCam-1',
    'onvif://www.onvif.org/name/Goal%20Cam',
    'onvif://www.onvif.org/location/hall%2Feast',
    `onvif://www.onvif.org/MAC/${face.mac}`,
  ]) {
    t.true(scopes.includes(scope), scope);
  }
  t.regex(reply.text, /<d:MetadataVersion>1<\/d:MetadataVersion>/);

  const retransmission = await unicastProbe(face.discoveryPort, probeXml(messageId, { types: 'dn:NetworkVideoTransmitter' }), 700);
  t.is(retransmission.length, 0, 'a Probe with a MessageID already answered is a retransmission (SOAP-over-UDP)');

  // The delay is random: eight Probes sent together come back spread out (the range of eight uniform
  // 0–500 ms draws is under 50 ms with a probability of about 1e-6).
  const spread = await Promise.all(Array.from({ length: 8 }, () => unicastProbe(face.discoveryPort, probeXml(`urn:uuid:${randomUUID()}`), 3000)));
  const times = spread.map((r) => r[0]?.elapsedMs ?? NaN);
  t.true(Math.max(...times) - Math.min(...times) > 50, `reply times ${times.join(', ')} ms`);
});

test('WS-Discovery matching: no Types and tds:Device match; a printer type, an unknown scope and a Hello do not', async (t) => {
  const camera = await startCamera(t, { onvif: { maxReplyDelayMs: 0 } });
  const port = camera.onvif!.discoveryPort;
  const id = () => `urn:uuid:${randomUUID()}`;
  const tds = ' xmlns:tds="http://www.onvif.org/ver10/device/wsdl"';
  const printer = ' xmlns:wsdp="http://schemas.xmlsoap.org/ws/2006/02/devprof"';
  const cases: Array<[string, string, number]> = [
    ['no Types', probeXml(id()), 1],
    ['tds:Device', probeXml(id(), { types: 'tds:Device', extraNs: tds }), 1],
    ['both types', probeXml(id(), { types: 'dn:NetworkVideoTransmitter tds:Device', extraNs: tds }), 1],
    ['a scope prefix', probeXml(id(), { scopes: 'onvif://www.onvif.org/type' }), 1],
    ['a printer', probeXml(id(), { types: 'wsdp:Device', extraNs: printer }), 0],
    ['another scope', probeXml(id(), { scopes: 'onvif://www.onvif.org/location/elsewhere' }), 0],
    ['a Hello', probeXml(id()).replace(/d:Probe/g, 'd:Hello'), 0],
  ];
  const results = await Promise.all(cases.map(([, xml]) => unicastProbe(port, xml, 500)));
  cases.forEach(([name, , count], i) => t.is(results[i]?.length, count, name));
});

test('WS-Discovery: Hello on start, Bye on stop, Hello again after a reboot on a new address with the same URN and MAC', async (t) => {
  // Multicast works on loopback here: a socket joined to the group on 127.0.0.1 hears the camera.
  const port = await freeUdpPort();
  const listener = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const heard: string[] = [];
  listener.on('message', (msg) => heard.push(msg.toString('utf8')));
  await new Promise<void>((resolve) => listener.bind({ address: GROUP, port }, resolve));
  listener.addMembership(GROUP, '127.0.0.1');
  t.teardown(() => listener.close());
  const waitFor = async (what: RegExp, ms = 5000) => {
    for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 25))) {
      const found = heard.filter((m) => what.test(m));
      if (found.length) return found;
    }
    return [];
  };
  const action = (name: string) => new RegExp(`<wsa:Action>http://schemas\\.xmlsoap\\.org/ws/2005/04/discovery/${name}</wsa:Action>`);

  const camera = await startCamera(t, { onvif: { discoveryPort: port } });
  const face = camera.onvif!;
  const { urn, mac } = face;
  const hello = (await waitFor(action('Hello')))[0] ?? '';
  t.is(tagText(hello, 'Address'), urn);
  t.is(tagText(hello, 'XAddrs'), face.deviceServiceUrl);
  t.regex(hello, /<d:Hello>/);
  const firstInstance = Number(/InstanceId="(\d+)"/.exec(hello)?.[1]);

  await camera.stop();
  const bye = (await waitFor(action('Bye')))[0] ?? '';
  t.is(tagText(bye, 'Address'), urn);
  t.regex(bye, /<d:Bye><wsa:EndpointReference>/);
  const repeats = heard.filter((m) => action('Bye').test(m)).map((m) => tagText(m, 'MessageID'));
  t.is(new Set(repeats).size, 1, 'the repeated Bye carries the same MessageID');

  heard.length = 0;
  await new Promise((r) => setTimeout(r, 1100)); // InstanceId counts seconds
  await camera.start({ bind: '127.0.0.2' });
  t.is(camera.bind, '127.0.0.2');
  t.is(face.urn, urn);
  t.is(face.mac, mac);
  t.regex(face.deviceServiceUrl, /^http:\/\/127\.0\.0\.2:/);
  t.regex(camera.url, /^rtsp:\/\/127\.0\.0\.2:/);
  const again = (await waitFor(action('Hello')))[0] ?? '';
  t.is(tagText(again, 'Address'), urn);
  t.is(tagText(again, 'XAddrs'), face.deviceServiceUrl);
  t.true(Number(/InstanceId="(\d+)"/.exec(again)?.[1]) > firstInstance, 'InstanceId grows across reboots');
  const cam = camOf(camera);
  await cam.connect();
  const stream = (await cam.getStreamUri({ protocol: 'RTSP' })) as { uri: string };
  t.is(stream.uri, camera.url);
  t.true((await ffprobe(stream.uri)).ok);
});
