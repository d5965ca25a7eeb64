// WS-Discovery (2005/04, as ONVIF Core §7 uses it) messages of one camera: Probe parsing and matching,
// ProbeMatches, Hello and Bye. Pure: the socket side is discovery-responder.ts.
import { createHash, randomUUID } from 'node:crypto';
import { hostPort, scopesOf, type CameraConfig } from './config.ts';
import { envelope, prefixesOf, qname } from './soap.ts';
import { NS, XmlError, child, esc, parseXml, resolveQName } from './xml.ts';

const ACTION = {
  hello: `${NS.discovery}/Hello`,
  bye: `${NS.discovery}/Bye`,
  probeMatches: `${NS.discovery}/ProbeMatches`,
};
const DISCOVERY_URN = 'urn:schemas-xmlsoap-org:ws:2005:04:discovery';
const ANONYMOUS = `${NS.addressing}/role/anonymous`;
const MATCH_RFC3986 = `${NS.discovery}/rfc3986`;
const MATCH_STRCMP0 = `${NS.discovery}/strcmp0`;

export interface Probe {
  messageId: string;
  /** QNames of <Types>, resolved where the prefix is bound. */
  types: Array<{ ns: string | undefined; local: string; prefixed: boolean }>;
  scopes: string[];
  matchBy: string;
}

/** A Probe, or undefined for any other datagram (Hello, ProbeMatches, garbage): those are not answered. */
export function parseProbe(datagram: string): Probe | undefined {
  let root;
  try {
    root = parseXml(datagram);
  } catch (err) {
    if (err instanceof XmlError) return undefined;
    throw err;
  }
  if (root.local !== 'Envelope' || root.ns !== NS.soap12) return undefined;
  const probe = child(child(root, 'Body', NS.soap12), 'Probe', NS.discovery);
  if (!probe) return undefined;
  // Clients disagree on the WS-Addressing version of the header; the MessageID is all we need from it.
  const messageId = child(root, 'Header', NS.soap12)?.children.find((c) => c.local === 'MessageID')?.text.trim();
  if (!messageId) return undefined;
  const typesEl = child(probe, 'Types', NS.discovery);
  const scopesEl = child(probe, 'Scopes', NS.discovery);
  const words = (text: string | undefined) => (text ?? '').split(/\s+/).filter(Boolean);
  return {
    messageId,
    types: words(typesEl?.text).map((q) => ({ ...resolveQName(q, typesEl?.scope ?? new Map()), prefixed: q.includes(':') })),
    scopes: words(scopesEl?.text),
    matchBy: scopesEl?.attrs['MatchBy'] ?? MATCH_RFC3986,
  };
}

const OUR_TYPES = [
  { ns: NS.network, local: 'NetworkVideoTransmitter' },
  { ns: NS.device, local: 'Device' },
];

/**
 * WS-Discovery §5.1: a Target matches when it has every Type and every Scope of the Probe. A prefix bound
 * to another namespace (a printer's `wsdp:Device`) does not match; an unbound or missing prefix is matched
 * by local name, leniently, as camera firmware does.
 */
export function probeMatches(probe: Probe, scopes: readonly string[]): boolean {
  const typesOk = probe.types.every((t) =>
    OUR_TYPES.some((ours) => ours.local === t.local && (ours.ns === t.ns || t.ns === undefined || !t.prefixed)),
  );
  return typesOk && probe.scopes.every((wanted) => scopes.some((have) => scopeMatches(wanted, have, probe.matchBy)));
}

/** RFC 3986 matching (WS-Discovery §5.1): same scheme and authority, the probe's path segments a prefix of ours. */
export function scopeMatches(wanted: string, have: string, matchBy: string): boolean {
  if (matchBy === MATCH_STRCMP0) return wanted === have;
  if (matchBy !== MATCH_RFC3986) return false;
  const split = (uri: string) => /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/i.exec(uri);
  const w = split(wanted);
  const h = split(have);
  if (!w || !h || w[1]?.toLowerCase() !== h[1]?.toLowerCase() || w[2]?.toLowerCase() !== h[2]?.toLowerCase()) return false;
  const segments = (path: string | undefined) => (path ?? '').split('/').filter(Boolean);
  const ws = segments(w[3]);
  const hs = segments(h[3]);
  return ws.length <= hs.length && ws.every((s, i) => s === hs[i]);
}

/** IPv6 link-local address from a MAC (modified EUI-64, RFC 4291 App. A). */
export function linkLocalOf(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const [b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0] = b;
  const groups = [((b0 ^ 0x02) << 8) | b1, (b2 << 8) | 0xff, (0xfe << 8) | b3, (b4 << 8) | b5];
  return `fe80::${groups.map((g) => g.toString(16)).join(':')}`;
}

/** The XAddrs of this camera, with the configured quirk. */
export function xaddrsOf(config: CameraConfig): string {
  const url = (host: string) => `http://${hostPort(host, config.httpPort)}/onvif/device_service`;
  switch (config.xaddrs) {
    case 'normal':
      return url(config.address);
    case 'several':
      // Link-local IPv6 first, then the real one: a client that takes the first XAddr fails.
      return `${url(`[${linkLocalOf(config.mac)}]`)} ${url(config.address)}`;
    case 'zero':
      // Firmware that reports the address it bound to (go2rtc fixes such XAddrs up).
      return url('0.0.0.0');
    case 'nat': {
      // An address of another network, unreachable from the LAN.
      const h = createHash('sha1').update(config.uuid).digest();
      return url(`10.255.${h[0] ?? 0}.${((h[1] ?? 0) % 254) + 1}`);
    }
  }
}

export interface AppSequence {
  instanceId: number;
  next(): number;
}

function message(config: CameraConfig, seq: AppSequence, action: string, to: string, body: string, relatesTo?: string): string {
  const set = config.prefixes;
  const p = prefixesOf(set);
  const header =
    `<${p.wsa}MessageID>urn:uuid:${randomUUID()}</${p.wsa}MessageID>` +
    (relatesTo ? `<${p.wsa}RelatesTo>${esc(relatesTo)}</${p.wsa}RelatesTo>` : '') +
    `<${p.wsa}To>${to}</${p.wsa}To><${p.wsa}Action>${action}</${p.wsa}Action>` +
    `<${p.d}AppSequence InstanceId="${seq.instanceId}" MessageNumber="${seq.next()}"/>`;
  return envelope(set, body, header);
}

function endpoint(config: CameraConfig, full: boolean): string {
  const p = prefixesOf(config.prefixes);
  const ref = `<${p.wsa}EndpointReference><${p.wsa}Address>${config.urn}</${p.wsa}Address></${p.wsa}EndpointReference>`;
  if (!full) return ref;
  const types = `${qname(config.prefixes, 'dn', 'NetworkVideoTransmitter')} ${qname(config.prefixes, 'tds', 'Device')}`;
  return (
    `${ref}<${p.d}Types>${types}</${p.d}Types><${p.d}Scopes>${esc(scopesOf(config).join(' '))}</${p.d}Scopes>` +
    `<${p.d}XAddrs>${esc(xaddrsOf(config))}</${p.d}XAddrs><${p.d}MetadataVersion>${config.preset.metadataVersion}</${p.d}MetadataVersion>`
  );
}

export function probeMatchesMessage(config: CameraConfig, seq: AppSequence, relatesTo: string): string {
  const p = prefixesOf(config.prefixes);
  const body = `<${p.d}ProbeMatches><${p.d}ProbeMatch>${endpoint(config, true)}</${p.d}ProbeMatch></${p.d}ProbeMatches>`;
  return message(config, seq, ACTION.probeMatches, ANONYMOUS, body, relatesTo);
}

export function helloMessage(config: CameraConfig, seq: AppSequence): string {
  const p = prefixesOf(config.prefixes);
  return message(config, seq, ACTION.hello, DISCOVERY_URN, `<${p.d}Hello>${endpoint(config, true)}</${p.d}Hello>`);
}

export function byeMessage(config: CameraConfig, seq: AppSequence): string {
  const p = prefixesOf(config.prefixes);
  return message(config, seq, ACTION.bye, DISCOVERY_URN, `<${p.d}Bye>${endpoint(config, false)}</${p.d}Bye>`);
}
