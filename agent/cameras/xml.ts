/**
 * The one XML reader of the camera protocol layer, and small accessors so that parsers read like the
 * ONVIF spec: `child(child(body, 'GetDeviceInformationResponse'), 'Model')`.
 *
 * Parser choices, each for a reason seen in the field:
 * - Namespace prefixes are removed. Cameras use every prefix imaginable for the same namespace
 *   (`tt:`, `MC2:`, `ns0:`, a default namespace…; go2rtc's pkg/onvif tests carry an `MC1:`/`MC2:` reply),
 *   so matching on local names is the only tolerant way. The price: elements are found by local name only.
 * - EVERY element is an array. The schema allows several XAddrs, Profiles, Scopes, Services,
 *   NetworkInterfaces…, and fast-xml-parser turns a single element into a scalar: a camera with one
 *   profile would otherwise parse differently from one with two. `child()` takes the first, `children()` all.
 * - Values stay strings: a serial number "000123" must not become 123 (agsh/onvif#65 shows a camera
 *   serial turned into a number by an auto-converting parser). Parsers convert numbers explicitly.
 * - Entities are decoded, including numeric references (`&#38;`), which fast-xml-parser decodes only with
 *   `htmlEntities` (deprecated in v5 but the only switch for numeric references; the HTML named entities it
 *   adds are harmless here). `&amp;` in `<tt:Uri>` is the most common case (Dahua, go2rtc tests).
 * - fast-xml-parser is lenient: it returns a partial tree for truncated XML. Every document is validated
 *   first, so a cut-off UDP datagram or HTTP body becomes a typed `malformed` error, never a half-tree.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { CameraProtocolError } from './errors.ts';

/** An element: its text when it has neither attributes nor children, otherwise an object. */
export type XmlElement = string | XmlObject;
/** Children by local name (always arrays), attributes as `@_name` strings, mixed text as `#text`. */
export interface XmlObject {
  [name: string]: XmlElement[] | string | undefined;
}

const ATTR = '@_';
const TEXT = '#text';

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  textNodeName: TEXT,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (_name, _path, _isLeaf, isAttribute) => !isAttribute,
});

/** Parse a whole document; malformed input throws `CameraProtocolError` kind `malformed`. */
export function parseXml(xml: string, operation: string): XmlObject {
  if (typeof xml !== 'string' || xml.trim() === '') {
    throw new CameraProtocolError('malformed', operation, 'empty reply');
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new CameraProtocolError('malformed', operation, `invalid XML (${valid.err.msg} line ${valid.err.line})`);
  }
  try {
    return parser.parse(xml) as XmlObject;
  } catch (err) {
    throw new CameraProtocolError('malformed', operation, 'invalid XML', { cause: err });
  }
}

function isObject(node: XmlElement | undefined): node is XmlObject {
  return typeof node === 'object' && node !== null;
}

/** All children of `node` with this local name (empty when there are none or `node` is missing). */
export function children(node: XmlElement | undefined, name: string): XmlElement[] {
  if (!isObject(node)) return [];
  const value = node[name];
  return Array.isArray(value) ? value : [];
}

/** The first child of `node` with this local name. */
export function child(node: XmlElement | undefined, name: string): XmlElement | undefined {
  return children(node, name)[0];
}

/** Follow a chain of local names, first child at each step: `path(doc, 'Envelope', 'Body')`. */
export function path(node: XmlElement | undefined, ...names: string[]): XmlElement | undefined {
  let current = node;
  for (const name of names) current = child(current, name);
  return current;
}

/** Trimmed text content of an element; '' for a missing or empty element. */
export function text(node: XmlElement | undefined): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.trim();
  const value = node[TEXT];
  return typeof value === 'string' ? value.trim() : '';
}

/** An attribute by local name (`attr(profile, 'token')`), trimmed. */
export function attr(node: XmlElement | undefined, name: string): string | undefined {
  if (!isObject(node)) return undefined;
  const value = node[ATTR + name];
  return typeof value === 'string' ? value.trim() : undefined;
}

/** The names of the child elements of `node`, in document order of first appearance. */
export function childNames(node: XmlElement | undefined): string[] {
  if (!isObject(node)) return [];
  return Object.keys(node).filter((key) => !key.startsWith(ATTR) && key !== TEXT);
}

/** Depth-first search for the first descendant with this local name (tolerance for odd nesting). */
export function find(node: XmlElement | undefined, name: string): XmlElement | undefined {
  if (!isObject(node)) return undefined;
  const direct = child(node, name);
  if (direct !== undefined) return direct;
  for (const key of childNames(node)) {
    for (const item of children(node, key)) {
      const found = find(item, name);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** The SOAP Body of a parsed envelope; a reply without one (an HTML error page…) is `malformed`. */
export function soapBody(doc: XmlObject, operation: string): XmlElement {
  const body = path(doc, 'Envelope', 'Body');
  if (body === undefined) throw new CameraProtocolError('malformed', operation, 'no SOAP Envelope/Body in reply');
  return body;
}

/** `ter:NotAuthorized` → `NotAuthorized` (QName values keep their prefix; only element names lose it). */
export function localName(qname: string): string {
  const colon = qname.lastIndexOf(':');
  return (colon >= 0 ? qname.slice(colon + 1) : qname).trim();
}

/** Escape text for an XML element or a double-quoted attribute. */
export function escapeXml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}
