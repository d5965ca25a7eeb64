/**
 * ONVIF requests: SOAP 1.2 envelopes with a WS-Security UsernameToken, and the bodies of the operations the
 * box needs. Pure: the nonce and the clock are injectable; the HTTP POST lives in the wiring.
 *
 * Authentication (ONVIF Core "Authentication", WS-Security UsernameToken Profile 1.0 §3.1):
 *   PasswordDigest = Base64( SHA-1( nonceBytes + Created + password ) )
 * with Created in the CAMERA's time. Cameras reject a token whose Created is outside a window of a few
 * seconds to minutes around their clock, and camera clocks are often hours off (STACK-NOTES): the box asks
 * GetSystemDateAndTime first (unauthenticated) and passes the offset here. Created has no fractional
 * seconds: the ONVIF examples use none and some firmwares reject them.
 * Some cameras want HTTP Digest instead (or as well): see http-digest.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { escapeXml } from './xml.ts';

const NS_SOAP = 'http://www.w3.org/2003/05/soap-envelope';
const NS_WSSE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
const NS_WSU = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
const PASSWORD_DIGEST = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';
const BASE64_BINARY = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary';

export const NS = {
  device: 'http://www.onvif.org/ver10/device/wsdl',
  media: 'http://www.onvif.org/ver10/media/wsdl',
  media2: 'http://www.onvif.org/ver20/media/wsdl',
  schema: 'http://www.onvif.org/ver10/schema',
} as const;

export interface UsernameTokenOptions {
  username: string;
  password: string;
  /** Camera clock − box clock, from parseSystemDateAndTime. 0 when unknown. */
  clockOffsetMs: number;
  /** The box's clock now; injectable for tests. */
  now?: Date;
  /** Raw nonce bytes; 16 random bytes when omitted. */
  nonce?: Uint8Array;
}

export interface UsernameToken {
  username: string;
  /** Base64 of the nonce bytes. */
  nonce: string;
  /** ISO 8601, UTC, second precision: 2010-09-16T07:50:45Z. */
  created: string;
  digest: string;
}

/** The UsernameToken values, for the envelope and for tests against published vectors. */
export function usernameToken({ username, password, clockOffsetMs, now = new Date(), nonce = randomBytes(16) }: UsernameTokenOptions): UsernameToken {
  const created = new Date(now.getTime() + clockOffsetMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const digest = createHash('sha1').update(nonce).update(created, 'utf8').update(password, 'utf8').digest('base64');
  return { username, nonce: Buffer.from(nonce).toString('base64'), created, digest };
}

/**
 * A SOAP 1.2 envelope around `body`. With `auth`, a wsse:Security header carries a UsernameToken with a
 * PasswordDigest; without it (GetSystemDateAndTime, or a camera that wants HTTP Digest only), no header.
 */
export function envelope(body: string, auth?: UsernameTokenOptions): string {
  let header = '';
  if (auth !== undefined) {
    const token = usernameToken(auth);
    header =
      `<s:Header><wsse:Security s:mustUnderstand="1" xmlns:wsse="${NS_WSSE}" xmlns:wsu="${NS_WSU}">` +
      `<wsse:UsernameToken>` +
      `<wsse:Username>${escapeXml(token.username)}</wsse:Username>` +
      `<wsse:Password Type="${PASSWORD_DIGEST}">${token.digest}</wsse:Password>` +
      `<wsse:Nonce EncodingType="${BASE64_BINARY}">${token.nonce}</wsse:Nonce>` +
      `<wsu:Created>${token.created}</wsu:Created>` +
      `</wsse:UsernameToken></wsse:Security></s:Header>`;
  }
  return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="${NS_SOAP}">${header}<s:Body>${body}</s:Body></s:Envelope>`;
}

/** One ONVIF call: which service to POST it to, its SOAP action and its body. */
export interface OnvifRequest {
  operation: string;
  service: 'device' | 'media' | 'media2';
  /** For the Content-Type `action` parameter (SOAP 1.2 over HTTP); some firmwares route on it. */
  action: string;
  body: string;
}

function request(service: OnvifRequest['service'], operation: string, inner = ''): OnvifRequest {
  const ns = NS[service];
  // Each body declares its own default namespace, so it does not depend on prefixes of the envelope.
  const body = inner === '' ? `<${operation} xmlns="${ns}"/>` : `<${operation} xmlns="${ns}">${inner}</${operation}>`;
  return { operation, service, action: `${ns}/${operation}`, body };
}

/** `application/soap+xml; charset=utf-8; action="…"` for the HTTP POST. */
export function contentType(req: OnvifRequest): string {
  return `application/soap+xml; charset=utf-8; action="${req.action}"`;
}

const token = (profileToken: string): string => `<ProfileToken>${escapeXml(profileToken)}</ProfileToken>`;

export const getSystemDateAndTime = (): OnvifRequest => request('device', 'GetSystemDateAndTime');
export const getDeviceInformation = (): OnvifRequest => request('device', 'GetDeviceInformation');
export const getCapabilities = (): OnvifRequest => request('device', 'GetCapabilities', '<Category>All</Category>');
export const getServices = (): OnvifRequest =>
  request('device', 'GetServices', '<IncludeCapability>false</IncludeCapability>');
export const getNetworkInterfaces = (): OnvifRequest => request('device', 'GetNetworkInterfaces');

/** Media1 (trt) GetProfiles: every profile with all its configurations. */
export const getProfiles = (): OnvifRequest => request('media', 'GetProfiles');

export type Media2ConfigurationType =
  | 'All' | 'VideoSource' | 'VideoEncoder' | 'AudioSource' | 'AudioEncoder' | 'AudioOutput' | 'AudioDecoder'
  | 'Metadata' | 'Analytics' | 'PTZ' | 'Receiver';

/** Media2 (tr2) GetProfiles. Type lists the configurations to include (tr2:ConfigurationEnumeration);
 * without it cameras may return bare profiles (token and name only), so ask for video source and encoder. */
export const getProfiles2 = (types: readonly Media2ConfigurationType[] = ['VideoSource', 'VideoEncoder']): OnvifRequest =>
  request('media2', 'GetProfiles', types.map((t) => `<Type>${t}</Type>`).join(''));

/** Media1 GetStreamUri: RTP unicast over RTSP (ONVIF Media service; "RTSP" = RTP interleaved in the RTSP TCP
 * connection, the transport the recorder uses anyway: rtspsrc protocols=tcp). */
export const getStreamUri = (profileToken: string): OnvifRequest =>
  request(
    'media',
    'GetStreamUri',
    `<StreamSetup><Stream xmlns="${NS.schema}">RTP-Unicast</Stream>` +
      `<Transport xmlns="${NS.schema}"><Protocol>RTSP</Protocol></Transport></StreamSetup>${token(profileToken)}`,
  );

/** Media2 streaming protocols (ONVIF Media2 service, GetStreamUri): RtspUnicast = RTP/UDP set up by RTSP, RTSP = interleaved
 * in the RTSP connection, RtspOverHttp = tunnelled, RtspsUnicast… The URI is usually the same. */
export type Media2StreamProtocol = 'RtspUnicast' | 'RtspMulticast' | 'RTSP' | 'RtspOverHttp' | 'RtspsUnicast';

export const getStreamUri2 = (profileToken: string, protocol: Media2StreamProtocol = 'RtspUnicast'): OnvifRequest =>
  request('media2', 'GetStreamUri', `<Protocol>${protocol}</Protocol>${token(profileToken)}`);

export const getSnapshotUri = (profileToken: string): OnvifRequest => request('media', 'GetSnapshotUri', token(profileToken));
export const getSnapshotUri2 = (profileToken: string): OnvifRequest => request('media2', 'GetSnapshotUri', token(profileToken));
