// A namespace-aware view of XML for the simulator: SOAP dispatch and WS-Discovery type matching go by
// namespace URI, never by prefix, because real clients and cameras use every prefix imaginable.
// fast-xml-parser does the tokenising; this file only resolves `xmlns` declarations on the way down.
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export const NS = {
  soap12: 'http://www.w3.org/2003/05/soap-envelope',
  soap11: 'http://schemas.xmlsoap.org/soap/envelope/',
  soapEnc: 'http://www.w3.org/2003/05/soap-encoding',
  device: 'http://www.onvif.org/ver10/device/wsdl',
  media: 'http://www.onvif.org/ver10/media/wsdl',
  media2: 'http://www.onvif.org/ver20/media/wsdl',
  schema: 'http://www.onvif.org/ver10/schema',
  error: 'http://www.onvif.org/ver10/error',
  network: 'http://www.onvif.org/ver10/network/wsdl',
  discovery: 'http://schemas.xmlsoap.org/ws/2005/04/discovery',
  addressing: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wsu: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
} as const;

export interface XmlElement {
  /** Namespace URI of the element ('' when unqualified). */
  ns: string;
  local: string;
  /** Attributes by their name as written (`s:mustUnderstand`), xmlns declarations included. */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated text of this element's own text nodes, entities decoded, untrimmed. */
  text: string;
  /** In-scope prefix → namespace URI ('' is the default namespace), for QNames inside text (WS-Discovery Types). */
  scope: ReadonlyMap<string, string>;
}

export class XmlError extends Error {
  override name = 'XmlError';
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  processEntities: true,
});

type RawNode = Record<string, unknown>;

/** Parses a whole document; throws XmlError when it is not well-formed or carries a DTD. */
export function parseXml(text: string): XmlElement {
  // SOAP 1.2 Part 1 §5: a SOAP message MUST NOT contain a Document Type Declaration. Refusing it here
  // also keeps entity-expansion tricks out of the simulator.
  if (/<!DOCTYPE/i.test(text)) throw new XmlError('document type declarations are not allowed');
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new XmlError(`${valid.err.msg} (line ${valid.err.line})`);
  const nodes = parser.parse(text) as RawNode[];
  const roots = nodes.map((n) => toElement(n, new Map())).filter((e): e is XmlElement => e !== undefined);
  const [root] = roots;
  if (!root || roots.length !== 1) throw new XmlError('expected exactly one root element');
  return root;
}

function toElement(node: RawNode, parentScope: ReadonlyMap<string, string>): XmlElement | undefined {
  const tag = Object.keys(node).find((k) => k !== ':@' && k !== '#text' && k !== '#comment');
  if (tag === undefined) return undefined;
  const attrs = { ...((node[':@'] as Record<string, string> | undefined) ?? {}) };
  let scope = parentScope;
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'xmlns' || name.startsWith('xmlns:')) {
      if (scope === parentScope) scope = new Map(parentScope);
      (scope as Map<string, string>).set(name === 'xmlns' ? '' : name.slice(6), value);
    }
  }
  const colon = tag.indexOf(':');
  const prefix = colon < 0 ? '' : tag.slice(0, colon);
  const element: XmlElement = {
    ns: scope.get(prefix) ?? '',
    local: colon < 0 ? tag : tag.slice(colon + 1),
    attrs,
    children: [],
    text: '',
    scope,
  };
  for (const child of (node[tag] as RawNode[] | undefined) ?? []) {
    if ('#text' in child) element.text += String(child['#text']);
    else {
      const sub = toElement(child, scope);
      if (sub) element.children.push(sub);
    }
  }
  return element;
}

/** The first child with this local name (and namespace, when given). */
export function child(element: XmlElement | undefined, local: string, ns?: string): XmlElement | undefined {
  return element?.children.find((c) => c.local === local && (ns === undefined || c.ns === ns));
}

/** Follows a path of local names: childText(body, 'StreamSetup', 'Stream'). */
export function childText(element: XmlElement | undefined, ...path: string[]): string | undefined {
  let current = element;
  for (const local of path) current = child(current, local);
  return current?.text.trim();
}

/** Resolves a QName written in text content (`dn:NetworkVideoTransmitter`) against the element's scope. */
export function resolveQName(qname: string, scope: ReadonlyMap<string, string>): { ns: string | undefined; local: string } {
  const colon = qname.indexOf(':');
  if (colon < 0) return { ns: scope.get(''), local: qname };
  return { ns: scope.get(qname.slice(0, colon)), local: qname.slice(colon + 1) };
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Escapes text for element content and attribute values. */
export function esc(value: string | number | boolean): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}
