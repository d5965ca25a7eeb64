/**
 * WS-Discovery messages as ONVIF cameras speak them: WS-Discovery 1.0 (2005/04) over SOAP 1.2 with
 * WS-Addressing 2004/08 (ONVIF Core, "Device discovery"). Pure: XML strings in and out; the socket lives elsewhere.
 *
 * Also the host fixes shared by XAddrs and stream URIs (`rewriteHost`, `stripCredentials`), because both
 * suffer the same camera bugs:
 * - several XAddrs in one ProbeMatch, e.g. an IPv4 and an IPv6 link-local one (bing-dong/onvif-interface README,
 *   a Hikvision judging by its default address and MAC prefix: "http://192.168.1.64/onvif/device_service
 *   http://[fe80::4ef5:dcff:fe9e:c86b]/onvif/device_service") — IPv4 on the sender's address first, link-local last;
 * - `http://0.0.0.0:8080/onvif/device_service` (cheap OEM firmwares; go2rtc pkg/onvif/helpers.go rewrites it)
 *   and 127.0.0.1 (Dafang/Wyze hacks firmware, EliasKotlyar/Xiaomi-Dafang-Hacks#1752);
 * - an address other than the one the reply came from: a camera behind NAT or with a stale static config
 *   (agsh/onvif#41, python-onvif-zeep#75, frigate#18352). Rewritten to the sender's address, keeping
 *   scheme, port, path and query; the original XAddrs are kept next to the rewritten ones.
 * STACK-NOTES "ONVIF discovery" lists the same quirks among the real-world ones to survive.
 */
import { isIP } from 'node:net';
import { CameraProtocolError } from './errors.ts';
import { child, childNames, children, escapeXml, parseXml, path, text, type XmlElement } from './xml.ts';

const NS_SOAP = 'http://www.w3.org/2003/05/soap-envelope';
const NS_WSA = 'http://schemas.xmlsoap.org/ws/2004/08/addressing';
const NS_WSD = 'http://schemas.xmlsoap.org/ws/2005/04/discovery';
const TYPE_NAMESPACES: Readonly<Record<string, string>> = {
  dn: 'http://www.onvif.org/ver10/network/wsdl',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
};

export interface ProbeOptions {
  /** `urn:uuid:…` (a bare uuid is accepted). Matches RelatesTo in the ProbeMatches. */
  messageId: string;
  /** QNames with prefix dn: or tds:. Several types in ONE probe are ANDed (WS-Discovery Probe matching) and some
   * cameras answer only one of them: send one probe per type. Empty: every device answers. */
  types?: readonly string[];
  scopes?: readonly string[];
}

/** A Probe for the multicast group (or a unicast Probe to one host, for the sweep across VLANs). */
export function buildProbe({ messageId, types = ['dn:NetworkVideoTransmitter'], scopes = [] }: ProbeOptions): string {
  const prefixes = new Set<string>();
  for (const type of types) {
    const prefix = type.split(':')[0] ?? '';
    if (!/^[A-Za-z_][\w.-]*:[A-Za-z_][\w.-]*$/.test(type) || TYPE_NAMESPACES[prefix] === undefined) {
      throw new CameraProtocolError('unsupported', 'Probe', `unknown probe type ${type} (use dn: or tds:)`);
    }
    prefixes.add(prefix);
  }
  const xmlns = [...prefixes].map((p) => ` xmlns:${p}="${TYPE_NAMESPACES[p]}"`).join('');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="${NS_SOAP}" xmlns:a="${NS_WSA}" xmlns:d="${NS_WSD}"${xmlns}>` +
    `<s:Header>` +
    `<a:Action s:mustUnderstand="1">${NS_WSD}/Probe</a:Action>` +
    `<a:MessageID>${escapeXml(normalizeUrn(messageId))}</a:MessageID>` +
    `<a:ReplyTo><a:Address>${NS_WSA}/role/anonymous</a:Address></a:ReplyTo>` +
    `<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>` +
    `</s:Header>` +
    `<s:Body><d:Probe>` +
    (types.length > 0 ? `<d:Types>${types.join(' ')}</d:Types>` : '') +
    (scopes.length > 0 ? `<d:Scopes>${scopes.map(escapeXml).join(' ')}</d:Scopes>` : '') +
    `</d:Probe></s:Body></s:Envelope>`
  );
}

export interface ReplySource {
  /** The address the UDP datagram came from. */
  address: string;
  /** Its UDP source port; informative only: XAddrs keep their own (HTTP) port when rewritten. */
  port: number;
}

export interface DiscoveryMatch {
  /** EndpointReference/Address, normalized to `urn:uuid:<lowercase>`: the camera's identity, not its IP. */
  urn: string;
  types: string[];
  /** As sent (percent-encoded). */
  scopes: string[];
  /** As sent, split on whitespace. */
  xaddrs: string[];
  metadataVersion?: number;
  /** From onvif://www.onvif.org/name|hardware|location|MAC scopes, percent-decoded. */
  name?: string;
  hardware?: string;
  location?: string;
  mac?: string;
  /** The device service URLs to try, best first, with the host fixes applied (see the header comment). */
  xaddrsRewritten: string[];
  /** True when the camera sent no XAddrs and `xaddrsRewritten` holds the fixed ONVIF entry point
   * http://<sender>/onvif/device_service (the entry point ONVIF Core fixes for the device service)
   * instead of a Resolve round trip. */
  xaddrsGuessed: boolean;
}

export type DiscoveryMessage =
  | { kind: 'probe-match'; relatesTo: string; matches: DiscoveryMatch[]; /** matches without an endpoint address */ skipped: number }
  /** A Hello announces exactly one endpoint; `matches` keeps the handling uniform with ProbeMatches. */
  | { kind: 'hello'; matches: DiscoveryMatch[] }
  | { kind: 'bye'; urn: string }
  | { kind: 'other'; action: string };

/** Classify and parse one datagram. Our own Probe looped back, printers' ProbeMatches without ONVIF
 * types, Resolve… come back as `other` or as matches the caller filters by `types`. */
export function parseDiscoveryMessage(xml: string, from: ReplySource): DiscoveryMessage {
  const envelope = child(parseXml(xml, 'WS-Discovery'), 'Envelope');
  const body = child(envelope, 'Body');
  if (body === undefined) throw new CameraProtocolError('malformed', 'WS-Discovery', 'no SOAP Envelope/Body');
  const action = text(path(envelope, 'Header', 'Action'));
  // The Body decides, not the Action: some firmwares omit or misspell the Action header.
  const probeMatches = child(body, 'ProbeMatches');
  if (probeMatches !== undefined) {
    const all = children(probeMatches, 'ProbeMatch').map((m) => endpointOf(m, from));
    const matches = all.filter((m): m is DiscoveryMatch => m !== undefined);
    const relatesTo = normalizeUrn(text(path(envelope, 'Header', 'RelatesTo')));
    return { kind: 'probe-match', relatesTo, matches, skipped: all.length - matches.length };
  }
  const hello = child(body, 'Hello');
  const helloEndpoint = hello === undefined ? undefined : endpointOf(hello, from);
  if (helloEndpoint !== undefined) return { kind: 'hello', matches: [helloEndpoint] };
  const byeUrn = normalizeUrn(text(path(body, 'Bye', 'EndpointReference', 'Address')));
  if (byeUrn !== '') return { kind: 'bye', urn: byeUrn };
  return { kind: 'other', action: action || (childNames(body)[0] ?? '') };
}

function endpointOf(node: XmlElement, from: ReplySource): DiscoveryMatch | undefined {
  const urn = normalizeUrn(text(path(node, 'EndpointReference', 'Address')));
  if (urn === '') return undefined;
  const words = (name: string): string[] => text(child(node, name)).split(/\s+/).filter((w) => w !== '');
  const scopes = words('Scopes');
  const xaddrs = words('XAddrs');
  const version = text(child(node, 'MetadataVersion'));
  const sender = normalizeAddress(from.address);
  const guessed = xaddrs.length === 0;
  const endpoint: DiscoveryMatch = {
    urn,
    types: words('Types'),
    scopes,
    xaddrs,
    xaddrsRewritten: guessed ? [`http://${hostForUri(sender)}/onvif/device_service`] : rewriteXAddrs(xaddrs, sender),
    xaddrsGuessed: guessed,
  };
  if (/^\d+$/.test(version)) endpoint.metadataVersion = Number(version);
  const [name] = scopeValues(scopes, 'name');
  const [hardware] = scopeValues(scopes, 'hardware');
  const locations = scopeValues(scopes, 'location');
  const mac = scopeValues(scopes, 'mac').map(normalizeMac).find((m) => m !== undefined);
  if (name !== undefined) endpoint.name = name;
  if (hardware !== undefined) endpoint.hardware = hardware;
  if (locations.length > 0) endpoint.location = locations.join(', ');
  if (mac !== undefined) endpoint.mac = mac;
  return endpoint;
}

/** Values of onvif://www.onvif.org/<key>/… scopes, percent-decoded ("HIKVISION%20DS-2CD2143G0-I"). The key
 * is matched case-insensitively: both /MAC/ and /mac/ are in the field. */
function scopeValues(scopes: string[], key: string): string[] {
  const prefix = `onvif://www.onvif.org/${key}/`.toLowerCase();
  return scopes
    .filter((s) => s.toLowerCase().startsWith(prefix))
    .map((s) => decodePercent(s.slice(prefix.length)))
    .filter((v) => v !== '');
}

function decodePercent(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // a stray "%" is not worth losing the scope for
  }
}

/** `uuid:X`, `urn:uuid:X` (any case) and a bare RFC 4122 uuid → `urn:uuid:x`, so Hello, ProbeMatch and Bye
 * of one camera agree (the generic OEM firmwares send `uuid:` without `urn:`). Other URNs and URLs are kept. */
export function normalizeUrn(raw: string): string {
  const value = raw.trim();
  const m = /^(?:urn:)?uuid:(.+)$/i.exec(value) ?? /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i.exec(value);
  return m?.[1] === undefined ? value : `urn:uuid:${m[1].toLowerCase()}`;
}

/** `68-6D-BC-5C-B1-5D`, `686dbc5cb15d`, `68:6d:bc:5c:b1:5d` → `68:6d:bc:5c:b1:5d`; undefined if not a MAC. */
export function normalizeMac(raw: string): string | undefined {
  const hex = raw.trim().replace(/[-:.\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]{12}$/.test(hex) || hex === '000000000000') return undefined;
  return hex.match(/../g)?.join(':');
}

// ---------------------------------------------------------------------------------------------------
// Host fixes for XAddrs and stream/snapshot URIs

interface UriParts {
  scheme: string; // "rtsp://"
  userinfo: string | undefined;
  host: string; // without brackets
  port: string | undefined;
  rest: string; // path, query, fragment, as sent
}

function splitUri(uri: string): UriParts | undefined {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(uri.trim());
  if (m === null) return undefined;
  const [, scheme = '', authority = '', rest = ''] = m;
  // The LAST "@": passwords with a raw "@" are common ("admin:LV@0000@lv@10.10.10.134").
  const at = authority.lastIndexOf('@');
  const hostPort = authority.slice(at + 1);
  const userinfo = at >= 0 ? authority.slice(0, at) : undefined;
  const v6 = /^\[([^\]]+)\](?::(\d*))?$/.exec(hostPort);
  if (v6 !== null) return { scheme, userinfo, host: v6[1] ?? '', port: v6[2] || undefined, rest };
  const hp = /^([^:]*)(?::(\d*))?$/.exec(hostPort);
  if (hp === null) return undefined;
  return { scheme, userinfo, host: hp[1] ?? '', port: hp[2] || undefined, rest };
}

function joinUri(parts: UriParts): string {
  const userinfo = parts.userinfo === undefined ? '' : `${parts.userinfo}@`;
  const port = parts.port === undefined ? '' : `:${parts.port}`;
  return `${parts.scheme}${userinfo}${hostForUri(parts.host)}${port}${parts.rest}`;
}

/** Lowercase, without brackets, IPv4-mapped IPv6 (`::ffff:10.0.0.5` from a dual-stack socket) as IPv4. */
function normalizeAddress(address: string): string {
  const a = address.trim().replace(/^\[|\]$/g, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return mapped?.[1] ?? a;
}

function hostForUri(host: string): string {
  // A zone id ("fe80::1%eth0") must be written "%25eth0" inside a URI (RFC 6874).
  return isIP(host.split('%')[0] ?? '') === 6 ? `[${host.replace(/%(?!25)/, '%25')}]` : host;
}

function isUnusableHost(host: string): boolean {
  return ['', '0.0.0.0', '::', '::1', 'localhost', 'localhost.localdomain'].includes(host) || /^127\./.test(host);
}

function isLinkLocalV6(host: string): boolean {
  return isIP(host.split('%')[0] ?? '') === 6 && /^fe[89ab]/.test(host);
}

/** The rule: never 0.0.0.0/loopback; a hostname or an address of the sender's family that differs from the
 * sender is replaced by the sender (NAT, stale config). Another family is left alone (IPv6 next to IPv4). */
function shouldRewriteHost(host: string, sender: string): boolean {
  if (host === sender) return false;
  if (isUnusableHost(host)) return true;
  const family = isIP(host.split('%')[0] ?? '');
  return family === 0 || family === isIP(sender.split('%')[0] ?? '');
}

/** Replace the host of `uri` by `replyAddress` (the address the camera answered from) when the host is
 * 0.0.0.0, loopback, a hostname or another address of the same family. Scheme, credentials, port,
 * path and query are kept byte for byte. Unparseable URIs are returned unchanged. */
export function rewriteHost(uri: string, replyAddress: string): string {
  const parts = splitUri(uri);
  if (parts === undefined) return uri;
  const sender = normalizeAddress(replyAddress);
  if (!shouldRewriteHost(normalizeAddress(parts.host), sender)) return uri;
  return joinUri({ ...parts, host: sender });
}

/** XAddrs with hosts fixed, deduplicated, ordered: the sender's own address, rewritten ones, other
 * families, IPv6 link-local last (unusable without a zone id). */
function rewriteXAddrs(xaddrs: string[], sender: string): string[] {
  const ranked = xaddrs.flatMap((xaddr, index) => {
    const parts = splitUri(xaddr);
    if (parts === undefined) return [];
    const host = normalizeAddress(parts.host);
    const rewrite = shouldRewriteHost(host, sender);
    const rank = host === sender ? 0 : rewrite ? 1 : isLinkLocalV6(host) ? 3 : 2;
    return [{ uri: rewrite ? joinUri({ ...parts, host: sender }) : xaddr, rank, index }];
  });
  ranked.sort((a, b) => a.rank - b.rank || a.index - b.index);
  return [...new Set(ranked.map((r) => r.uri))];
}

/** Remove `user:pass@` from a URI (Axis and others return `rtsp://onvif:secret@host/…`): the box adds its
 * own credentials, and a URI must never carry them into logs or the registry. */
export function stripCredentials(uri: string): string {
  const parts = splitUri(uri);
  if (parts?.userinfo === undefined) return uri;
  return joinUri({ ...parts, userinfo: undefined });
}
