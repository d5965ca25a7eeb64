// SOAP 1.2 envelopes and faults in the prefix style of a camera. Clients must go by namespace URI; a
// camera that writes `SOAP-ENV:`/`ns1:` (gSOAP-based OEM firmware) or `env:` (Hikvision) proves they do.
import type { PrefixSet } from './presets.ts';
import { NS, esc } from './xml.ts';

/** Each value ends in ':' so that bodies read `<${p.tds}GetScopesResponse>`. */
export interface Prefixes {
  env: string;
  tds: string;
  trt: string;
  tr2: string;
  tt: string;
  ter: string;
  wsa: string;
  d: string;
  dn: string;
}

type Bare = { [K in keyof Prefixes]: string };

const STANDARD: Bare = { env: 's', tds: 'tds', trt: 'trt', tr2: 'tr2', tt: 'tt', ter: 'ter', wsa: 'wsa', d: 'd', dn: 'dn' };
const SETS: Record<PrefixSet, Bare> = {
  standard: STANDARD,
  // env: for the envelope and wsadis: for WS-Addressing, as in public Hikvision replies.
  hikvision: { ...STANDARD, env: 'env', wsa: 'wsadis' },
  dahua: STANDARD,
  // Numbered prefixes as gSOAP generates them when the WSDL gave none.
  odd: { env: 'SOAP-ENV', tds: 'ns1', tt: 'ns2', trt: 'ns3', tr2: 'ns4', ter: 'ns5', wsa: 'ns6', d: 'ns7', dn: 'ns8' },
};

const URIS: Bare = {
  env: NS.soap12,
  tds: NS.device,
  trt: NS.media,
  tr2: NS.media2,
  tt: NS.schema,
  ter: NS.error,
  wsa: NS.addressing,
  d: NS.discovery,
  dn: NS.network,
};

export function prefixesOf(set: PrefixSet): Prefixes {
  const bare = SETS[set];
  return Object.fromEntries(Object.entries(bare).map(([k, v]) => [k, `${v}:`])) as unknown as Prefixes;
}

/** The QName of a discovery type in this style, e.g. `dn:NetworkVideoTransmitter`. */
export function qname(set: PrefixSet, key: keyof Prefixes, local: string): string {
  return `${SETS[set][key]}:${local}`;
}

/** A whole SOAP 1.2 message; every namespace of the style is declared on the Envelope, as cameras do. */
export function envelope(set: PrefixSet, body: string, header?: string): string {
  const bare = SETS[set];
  const decls = (Object.keys(bare) as Array<keyof Bare>).map((k) => ` xmlns:${bare[k]}="${URIS[k]}"`).join('');
  const env = bare.env;
  if (set === 'dahua') {
    // Dahua: standalone="yes", a soap-encoding declaration and an empty <s:Header/> on every reply.
    return (
      `<?xml version="1.0" encoding="utf-8" standalone="yes" ?><${env}:Envelope xmlns:sc="${NS.soapEnc}"${decls}>` +
      `<${env}:Header${header ? `>${header}</${env}:Header>` : '/>'}<${env}:Body>${body}</${env}:Body></${env}:Envelope>`
    );
  }
  const head = header ? `<${env}:Header>${header}</${env}:Header>` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${env}:Envelope${decls}>${head}<${env}:Body>${body}</${env}:Body></${env}:Envelope>`;
}

export interface FaultSpec {
  /** SOAP 1.2 fault code (Part 1 §5.4.6). */
  code: 'Sender' | 'Receiver' | 'VersionMismatch' | 'MustUnderstand';
  /** ONVIF subcodes (ter: local names), outermost first, e.g. ['InvalidArgVal', 'NoProfile']. */
  subcodes?: string[];
  reason: string;
  detail?: string;
}

/**
 * A SOAP 1.2 Fault as the ONVIF Core spec (§5.11.2) lays it out. The Reason text carries xml:lang (required);
 * the Detail is a bare text element, which is what clients such as the onvif package print.
 */
export function faultEnvelope(set: PrefixSet, spec: FaultSpec): string {
  const p = prefixesOf(set);
  let sub = '';
  for (const code of [...(spec.subcodes ?? [])].reverse()) {
    sub = `<${p.env}Subcode><${p.env}Value>${p.ter}${code}</${p.env}Value>${sub}</${p.env}Subcode>`;
  }
  const detail = spec.detail ? `<${p.env}Detail><${p.env}Text>${esc(spec.detail)}</${p.env}Text></${p.env}Detail>` : '';
  return envelope(
    set,
    `<${p.env}Fault><${p.env}Code><${p.env}Value>${p.env}${spec.code}</${p.env}Value>${sub}</${p.env}Code>` +
      `<${p.env}Reason><${p.env}Text xml:lang="en">${esc(spec.reason)}</${p.env}Text></${p.env}Reason>${detail}</${p.env}Fault>`,
  );
}

/** HTTP status of a fault by the SOAP 1.2 HTTP binding (Part 2 §7.5.2): Sender → 400, others → 500. */
export function faultStatus(spec: FaultSpec): number {
  return spec.code === 'Sender' ? 400 : 500;
}

export class SoapFault extends Error {
  override name = 'SoapFault';
  constructor(
    readonly spec: FaultSpec,
    /** Overrides the binding's status (a NotAuthorized fault as 401 for some vendors). */
    readonly status = faultStatus(spec),
  ) {
    super(spec.reason);
  }
}
