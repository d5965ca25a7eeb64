/**
 * ONVIF reply parsers: reply XML → typed results, tolerant of vendor variations, strict about faults.
 *
 * Every parser first looks for a SOAP Fault and throws `CameraProtocolError` (kind `auth` or `fault`),
 * then looks for `<Operation>Response` in the Body and throws kind `malformed` when it is missing.
 * Specs: ONVIF Core (device service), ONVIF Media (ver10, "Media1") and Media2 (ver20) WSDLs, SOAP 1.2 §5.4.
 * The URI helpers (`rewriteHost`, `stripCredentials`, `normalizeMac`) share their host rules with the
 * XAddrs fixes and live in ws-discovery-messages.ts; they are re-exported here.
 */
import { CameraProtocolError, type SoapFault } from './errors.ts';
import { normalizeMac } from './ws-discovery-messages.ts';
import { attr, child, children, find, localName, parseXml, path, soapBody, text, type XmlElement } from './xml.ts';

export { normalizeMac, rewriteHost, stripCredentials } from './ws-discovery-messages.ts';

// ---------------------------------------------------------------------------------------------------
// Faults

/** Subcodes that mean "your credentials (or your clock) were refused": ter:NotAuthorized is the ONVIF Core
 * generic fault for it; wsse:FailedAuthentication, InvalidSecurity and InvalidSecurityToken are the WS-Security
 * 1.0 §12 error codes a token refusal may come back as (a token dated outside the camera's window included). */
const AUTH_SUBCODES = new Set(['NotAuthorized', 'FailedAuthentication', 'InvalidSecurity', 'InvalidSecurityToken']);
/** "Sender not Authorized" is the reason text of ONVIF's generic NotAuthorized fault; matching it as well
 * catches firmwares that pair the standard text with a non-standard subcode. */
const AUTH_REASON = /not\s+authori[sz]ed|unauthori[sz]ed|authentication\s+fail|failed\s+authentication/i;

function faultOf(body: XmlElement): SoapFault | undefined {
  const fault = child(body, 'Fault');
  if (fault === undefined) return undefined;
  const code = child(fault, 'Code');
  if (code === undefined) {
    // SOAP 1.1 shape (no Code element): <faultcode>wsse:FailedAuthentication</faultcode><faultstring>…
    const faultcode = localName(text(child(fault, 'faultcode')));
    return { code: faultcode, subcode: '', subcodes: [], reason: text(child(fault, 'faultstring')) };
  }
  const subcodes: string[] = [];
  for (let sub = child(code, 'Subcode'); sub !== undefined; sub = child(sub, 'Subcode')) {
    const value = localName(text(child(sub, 'Value')));
    if (value !== '') subcodes.push(value);
  }
  const reasons = children(child(fault, 'Reason'), 'Text');
  const english = reasons.find((r) => (attr(r, 'lang') ?? '').toLowerCase().startsWith('en')) ?? reasons[0];
  return {
    code: localName(text(child(code, 'Value'))),
    subcode: subcodes.at(-1) ?? '',
    subcodes,
    reason: text(english),
  };
}

export function isAuthFault(fault: SoapFault): boolean {
  return [fault.code, ...fault.subcodes].some((c) => AUTH_SUBCODES.has(c)) || AUTH_REASON.test(fault.reason);
}

function throwIfFault(body: XmlElement, operation: string): void {
  const fault = faultOf(body);
  if (fault === undefined) return;
  const what = [fault.code, ...fault.subcodes].filter((c) => c !== '').join('/');
  const reason = `SOAP fault ${what}${fault.reason === '' ? '' : `: ${fault.reason}`}`;
  throw new CameraProtocolError(isAuthFault(fault) ? 'auth' : 'fault', operation, reason, { fault });
}

/** The fault in a reply, or undefined when the reply is a SOAP message without one (or not SOAP at all). */
export function parseFault(xml: string): SoapFault | undefined {
  const body = path(parseXml(xml, 'Fault'), 'Envelope', 'Body');
  return body === undefined ? undefined : faultOf(body);
}

/** Parse, check for a fault, return `<operation>Response`. Exported for the other parsers of this folder. */
export function responseOf(xml: string, operation: string): XmlElement {
  const body = soapBody(parseXml(xml, operation), operation);
  throwIfFault(body, operation);
  const response = child(body, `${operation}Response`);
  if (response === undefined) throw new CameraProtocolError('malformed', operation, `no ${operation}Response in reply`);
  return response;
}

/** A decimal number, or undefined ("", "abc", missing). Never a silent NaN. */
export function num(value: string | undefined): number | undefined {
  if (value === undefined || !/^[+-]?(\d+\.?\d*|\.\d+)$/.test(value.trim())) return undefined;
  return Number(value);
}

// ---------------------------------------------------------------------------------------------------
// Device service

export interface DeviceInformation {
  manufacturer: string;
  model: string;
  firmware: string;
  /** Kept as text: "000123" stays "000123". Axis puts the MAC here (e.g. ACCC8EBECCEA). */
  serial: string;
  hardwareId: string;
}

/** tds:GetDeviceInformationResponse. Missing fields are '' (several OEMs omit HardwareId). */
export function parseDeviceInformation(xml: string): DeviceInformation {
  const r = responseOf(xml, 'GetDeviceInformation');
  return {
    manufacturer: text(child(r, 'Manufacturer')),
    model: text(child(r, 'Model')),
    firmware: text(child(r, 'FirmwareVersion')),
    serial: text(child(r, 'SerialNumber')),
    hardwareId: text(child(r, 'HardwareId')),
  };
}

export const ONVIF_NAMESPACES = {
  device: 'http://www.onvif.org/ver10/device/wsdl',
  media: 'http://www.onvif.org/ver10/media/wsdl',
  media2: 'http://www.onvif.org/ver20/media/wsdl',
  events: 'http://www.onvif.org/ver10/events/wsdl',
  imaging: 'http://www.onvif.org/ver20/imaging/wsdl',
  ptz: 'http://www.onvif.org/ver20/ptz/wsdl',
} as const;

export interface OnvifServices {
  /** Optional: a camera may omit it; the wiring then keeps the device XAddr it just called. */
  deviceXAddr?: string;
  mediaXAddr?: string;
  /** Media2 (Profile T). Only GetServices reports it: GetCapabilities predates Media2. */
  media2XAddr?: string;
  eventsXAddr?: string;
  imagingXAddr?: string;
  ptzXAddr?: string;
  /** GetServices only: every service as listed, for logs and later features. */
  all?: Array<{ namespace: string; xaddr: string; version?: string }>;
}

/** tds:GetCapabilitiesResponse (Category All). XAddrs are returned as the camera wrote them: the wiring
 * applies `rewriteHost` with the address it reached the camera at (0.0.0.0 and NAT quirks). */
export function parseCapabilities(xml: string): OnvifServices {
  const caps = child(responseOf(xml, 'GetCapabilities'), 'Capabilities');
  if (caps === undefined) throw new CameraProtocolError('malformed', 'GetCapabilities', 'no Capabilities in reply');
  const xaddr = (name: string): string | undefined => text(child(child(caps, name), 'XAddr')) || undefined;
  return pruned({
    deviceXAddr: xaddr('Device'),
    mediaXAddr: xaddr('Media'),
    eventsXAddr: xaddr('Events'),
    imagingXAddr: xaddr('Imaging'),
    ptzXAddr: xaddr('PTZ'),
  });
}

/** tds:GetServicesResponse (IncludeCapability false). Media2 is detected by its namespace. */
export function parseServices(xml: string): OnvifServices {
  const all = children(responseOf(xml, 'GetServices'), 'Service').map((service) => {
    const major = text(path(service, 'Version', 'Major'));
    const minor = text(path(service, 'Version', 'Minor'));
    return {
      // Trailing slashes and whitespace seen in the wild; namespaces compare exactly otherwise.
      namespace: text(child(service, 'Namespace')).replace(/\/+$/, ''),
      xaddr: text(child(service, 'XAddr')),
      ...(major === '' ? {} : { version: `${major}.${minor || '0'}` }),
    };
  });
  const xaddr = (ns: string): string | undefined => all.find((s) => s.namespace === ns && s.xaddr !== '')?.xaddr;
  return pruned({
    deviceXAddr: xaddr(ONVIF_NAMESPACES.device),
    mediaXAddr: xaddr(ONVIF_NAMESPACES.media),
    media2XAddr: xaddr(ONVIF_NAMESPACES.media2),
    eventsXAddr: xaddr(ONVIF_NAMESPACES.events),
    imagingXAddr: xaddr(ONVIF_NAMESPACES.imaging),
    ptzXAddr: xaddr(ONVIF_NAMESPACES.ptz),
    all,
  });
}

function pruned<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** tds:GetNetworkInterfacesResponse → the MAC addresses (lowercase, colon-separated, deduplicated). */
export function parseNetworkInterfaces(xml: string): string[] {
  const macs = children(responseOf(xml, 'GetNetworkInterfaces'), 'NetworkInterfaces')
    .map((nic) => normalizeMac(text(path(nic, 'Info', 'HwAddress'))))
    .filter((mac): mac is string => mac !== undefined);
  return [...new Set(macs)];
}

// ---------------------------------------------------------------------------------------------------
// Media and Media2

export type VideoEncoding = 'H264' | 'H265' | 'JPEG' | 'MPEG4' | (string & {});

export interface MediaProfile {
  token: string;
  name: string;
  /** Which service described it: 1 = trt (ver10), 2 = tr2 (ver20). Use the same service for GetStreamUri. */
  media: 1 | 2;
  /** The physical input: several profiles share one source; a 16-channel encoder has 16 sources. */
  videoSourceToken?: string;
  /** Undefined for a profile without a video encoder (audio-only, metadata-only, or Media2 without Type). */
  encoding?: VideoEncoding;
  width?: number;
  height?: number;
  fps?: number;
  bitrateKbps?: number;
  govLength?: number;
  /** H.264/H.265 profile (Main, High, Baseline…). */
  encoderProfile?: string;
}

/** Media1 enum values are H264|JPEG|MPEG4; Media2 uses IANA media subtype names (H264, H265, JPEG,
 * MP4V-ES), some firmwares with a `video/` prefix or dotted spellings. */
export function normalizeEncoding(raw: string): VideoEncoding | undefined {
  const value = raw.trim().toUpperCase().replace(/^VIDEO\//, '');
  if (value === '') return undefined;
  if (['H264', 'H.264', 'AVC'].includes(value)) return 'H264';
  if (['H265', 'H.265', 'HEVC'].includes(value)) return 'H265';
  if (['JPEG', 'MJPEG', 'MJPG'].includes(value)) return 'JPEG';
  if (['MPEG4', 'MP4V-ES', 'MPV4-ES', 'MPEG-4'].includes(value)) return 'MPEG4';
  return raw.trim();
}

/** An integer-valued field that may be an attribute (Media2: GovLength="50") or an element (Media1). */
function attrOrChild(node: XmlElement | undefined, name: string): string | undefined {
  return attr(node, name) ?? (text(child(node, name)) || undefined);
}

function videoOf(encoder: XmlElement | undefined): Omit<MediaProfile, 'token' | 'name' | 'media' | 'videoSourceToken'> {
  if (encoder === undefined) return {};
  const rate = child(encoder, 'RateControl');
  // Media1 keeps GovLength and the codec profile under <H264>/<MPEG4> (H265 under <H265> on some firmwares);
  // Media2 makes them attributes of the VideoEncoder element.
  const codec = child(encoder, 'H264') ?? child(encoder, 'H265') ?? child(encoder, 'MPEG4');
  return pruned({
    encoding: normalizeEncoding(text(child(encoder, 'Encoding'))),
    width: num(text(path(encoder, 'Resolution', 'Width'))),
    height: num(text(path(encoder, 'Resolution', 'Height'))),
    fps: num(text(child(rate, 'FrameRateLimit'))),
    bitrateKbps: num(text(child(rate, 'BitrateLimit'))),
    govLength: num(attrOrChild(encoder, 'GovLength') ?? attrOrChild(codec, 'GovLength')),
    encoderProfile:
      attrOrChild(encoder, 'Profile') ??
      (text(child(codec, 'H264Profile')) || text(child(codec, 'H265Profile')) || text(child(codec, 'Mpeg4Profile')) || undefined),
  });
}

/** trt:GetProfilesResponse or tr2:GetProfilesResponse (told apart per profile by its shape).
 * A profile without a token cannot be streamed and is left out. */
export function parseProfiles(xml: string): MediaProfile[] {
  const profiles: MediaProfile[] = [];
  for (const profile of children(responseOf(xml, 'GetProfiles'), 'Profiles')) {
    const token = attr(profile, 'token') ?? '';
    if (token === '') continue;
    const name = text(child(profile, 'Name'));
    const configurations = child(profile, 'Configurations');
    if (configurations !== undefined) {
      const sourceToken = text(path(configurations, 'VideoSource', 'SourceToken'));
      profiles.push({
        token,
        name,
        media: 2,
        ...(sourceToken === '' ? {} : { videoSourceToken: sourceToken }),
        ...videoOf(child(configurations, 'VideoEncoder')),
      });
    } else {
      const sourceToken = text(path(profile, 'VideoSourceConfiguration', 'SourceToken'));
      profiles.push({
        token,
        name,
        media: 1,
        ...(sourceToken === '' ? {} : { videoSourceToken: sourceToken }),
        ...videoOf(child(profile, 'VideoEncoderConfiguration')),
      });
    }
  }
  return profiles;
}

/** The `<Uri>` of GetStreamUri / GetSnapshotUri (Media1: MediaUri/Uri, Media2: Uri), entities decoded,
 * surrounding and internal whitespace removed: Dahua pretty-prints the URI over two lines, another OEM
 * pads it with tabs (both in go2rtc pkg/onvif/onvif_test.go). */
export function parseUri(xml: string, operation: 'GetStreamUri' | 'GetSnapshotUri' = 'GetStreamUri'): string {
  const body = soapBody(parseXml(xml, operation), operation);
  throwIfFault(body, operation);
  const uri = text(find(body, 'Uri')).replace(/\s+/g, '');
  if (uri === '') throw new CameraProtocolError('malformed', operation, 'no Uri in reply');
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#]/i.test(uri)) {
    throw new CameraProtocolError('malformed', operation, 'Uri is not an absolute URI');
  }
  return uri;
}

// ---------------------------------------------------------------------------------------------------
// Clock. GetSystemDateAndTime answers without authentication (ONVIF Core access class PRE_AUTH) so that a
// client can learn the camera's clock and date its WS-Security UsernameToken in the camera's time.

export interface CameraClock {
  cameraTime: Date;
  /** cameraTime − receivedAt. Add it to the box's clock to get the camera's (onvif-soap `clockOffsetMs`). */
  clockOffsetMs: number;
  /** `utc`: UTCDateTime (preferred). `local+tz`: LocalDateTime converted with the POSIX TZ.
   * `local-assumed-utc`: LocalDateTime without a usable TZ, taken as UTC (best effort, agsh/onvif#165). */
  source: 'utc' | 'local+tz' | 'local-assumed-utc';
}

/** A tt:DateTime (Date/Year,Month,Day + Time/Hour,Minute,Second) as epoch ms; undefined when absent or
 * empty (Home Assistant core#26656: "UTCDateTime not available/empty"); malformed when present but wrong. */
function dateTimeMs(node: XmlElement | undefined, what: string): number | undefined {
  const date = child(node, 'Date');
  const time = child(node, 'Time');
  if (date === undefined && time === undefined) return undefined;
  const fields = [
    text(child(date, 'Year')), text(child(date, 'Month')), text(child(date, 'Day')),
    text(child(time, 'Hour')), text(child(time, 'Minute')), text(child(time, 'Second')),
  ];
  const [year, month, day, hour, minute, second] = fields.map((f) => (/^\d{1,4}$/.test(f) ? Number(f) : NaN)) as
    [number, number, number, number, number, number];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(ms);
  if (Number.isNaN(ms) || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw new CameraProtocolError('malformed', 'GetSystemDateAndTime', `invalid ${what} ${fields.join(',')}`);
  }
  return ms;
}

const POSIX_TZ = /^(<[^>]+>|[A-Za-z]{3,})([+-]?\d{1,2}(?::\d{1,2}){0,2})?(?:(<[^>]+>|[A-Za-z]{3,})([+-]?\d{1,2}(?::\d{1,2}){0,2})?)?(?:,.*)?$/;

function hmsMinutes(value: string): number {
  const sign = value.startsWith('-') ? -1 : 1;
  const [h = 0, m = 0, s = 0] = value.replace(/^[+-]/, '').split(':').map(Number);
  return sign * (h * 60 + m + s / 60);
}

/**
 * Minutes to ADD to a local time to get UTC, from a POSIX 1003.1 TZ string (tt:TZ is defined as one):
 * `CST-8:00:00` (Hikvision, China) → −480; `CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00` → −60, or −120
 * when DaylightSavings is true; `EST5EDT` → 300/240. POSIX offsets count hours WEST of Greenwich, so
 * "GMT+08:00" means UTC−8 — some firmwares write it meaning UTC+8; nothing in the reply tells them apart.
 * Undefined when the string is not POSIX (the caller then assumes UTC).
 */
export function posixUtcOffsetMinutes(tz: string, daylightSavings: boolean): number | undefined {
  const m = POSIX_TZ.exec(tz.trim());
  if (m === null) return undefined;
  const [, std = '', stdOffset, dstName, dstOffset] = m;
  if (stdOffset === undefined) return dstName === undefined && /^(UTC|GMT|UCT|Zulu)$/i.test(std) ? 0 : undefined;
  const standard = hmsMinutes(stdOffset);
  if (!daylightSavings || dstName === undefined) return standard;
  return dstOffset === undefined ? standard - 60 : hmsMinutes(dstOffset);
}

/** tds:GetSystemDateAndTimeResponse → the camera's clock and its offset from ours.
 * `receivedAt`: when the reply arrived (or the midpoint of request and reply). */
export function parseSystemDateAndTime(xml: string, receivedAt: Date): CameraClock {
  const sdt = child(responseOf(xml, 'GetSystemDateAndTime'), 'SystemDateAndTime');
  if (sdt === undefined) throw new CameraProtocolError('malformed', 'GetSystemDateAndTime', 'no SystemDateAndTime in reply');
  let cameraMs = dateTimeMs(child(sdt, 'UTCDateTime'), 'UTCDateTime');
  let source: CameraClock['source'] = 'utc';
  if (cameraMs === undefined) {
    const local = dateTimeMs(child(sdt, 'LocalDateTime'), 'LocalDateTime');
    if (local === undefined) {
      throw new CameraProtocolError('malformed', 'GetSystemDateAndTime', 'neither UTCDateTime nor LocalDateTime in reply');
    }
    const dst = text(child(sdt, 'DaylightSavings')).toLowerCase() === 'true';
    const offset = posixUtcOffsetMinutes(text(path(sdt, 'TimeZone', 'TZ')), dst);
    cameraMs = local + (offset ?? 0) * 60_000;
    source = offset === undefined ? 'local-assumed-utc' : 'local+tz';
  }
  return { cameraTime: new Date(cameraMs), clockOffsetMs: cameraMs - receivedAt.getTime(), source };
}
