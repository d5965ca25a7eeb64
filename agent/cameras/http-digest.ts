/**
 * HTTP Digest access authentication, client side: RFC 7616 (SHA-256, userhash) with RFC 2617 compatibility
 * (MD5, MD5-sess, no qop = RFC 2069). Many IP cameras want Digest for ONVIF (ONVIF Core allows it
 * next to WS-UsernameToken) and camera RTSP servers commonly want it for DESCRIBE: the same code
 * serves both (method `DESCRIBE`, uri = the rtsp:// URL). Pure: nc and cnonce are injectable.
 *
 * Field quirks handled when parsing the challenge:
 * - unquoted values and booleans in any case: `stale=FALSE` (Dahua HTTP API), `qop=auth`;
 * - quoted values where the RFC wants tokens: `algorithm="MD5"`;
 * - empty `opaque=""` (echoed back as sent), qop lists with spaces: `qop="auth, auth-int"` (RFC 7616 §3.9.1);
 * - several challenges in one header or in several headers (`Digest …, Basic realm=…`; SHA-256 and MD5
 *   offered side by side, RFC 7616 §3.7): the strongest supported Digest challenge wins.
 */
import { createHash, randomBytes } from 'node:crypto';
import { CameraProtocolError } from './errors.ts';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  /** Lowercased qop options; empty for an RFC 2069 challenge. */
  qop: string[];
  /** As sent (`MD5`, `MD5-sess`, `SHA-256`…); undefined when absent, which means MD5. */
  algorithm?: string;
  opaque?: string;
  /** The previous nonce expired: retry with this one without asking for new credentials. */
  stale: boolean;
  userhash: boolean;
}

const HASHES: Readonly<Record<string, string>> = { 'MD5': 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512-256' };
const PREFERENCE = ['SHA-512-256', 'SHA-256', 'MD5'];

function baseAlgorithm(algorithm: string | undefined): string {
  return (algorithm ?? 'MD5').toUpperCase().replace(/-SESS$/, '');
}

interface RawChallenge {
  scheme: string;
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const QUOTED = /"((?:[^"\\]|\\.)*)"/y;
/** Unquoted values run to the next comma or blank: lenient for unquoted base64 nonces ("ab/c=="). */
const BARE = /[^\s,]*/y;

/** Split `WWW-Authenticate` values into challenges: `scheme param=value, param="value", scheme2 …`. */
function splitChallenges(header: string): RawChallenge[] {
  const challenges: RawChallenge[] = [];
  let i = 0;
  const skip = (chars: RegExp): void => {
    while (i < header.length && chars.test(header[i] ?? '')) i++;
  };
  const read = (re: RegExp): RegExpExecArray | null => {
    re.lastIndex = i;
    const m = re.exec(header);
    if (m !== null) i = re.lastIndex;
    return m;
  };
  while (i < header.length) {
    skip(/[\s,]/);
    const name = read(TOKEN);
    if (name === null) {
      i++; // not a token: skip one character and resynchronise
      continue;
    }
    skip(/\s/);
    if (header[i] === '=' && challenges.length > 0) {
      i++;
      skip(/\s/);
      const quoted = read(QUOTED);
      const value = quoted !== null ? (quoted[1] ?? '').replace(/\\(.)/g, '$1') : (read(BARE)?.[0] ?? '');
      const current = challenges.at(-1);
      if (current !== undefined) current.params[name[0].toLowerCase()] = value;
    } else {
      challenges.push({ scheme: name[0].toLowerCase(), params: {} });
    }
  }
  return challenges;
}

/**
 * The Digest challenge to answer, from one or several `WWW-Authenticate` header values. Undefined when
 * there is no Digest challenge (Basic only, or no header); `unsupported` when every Digest challenge
 * uses an algorithm this client does not implement.
 */
export function parseDigestChallenge(header: string | readonly string[] | undefined): DigestChallenge | undefined {
  const values = header === undefined ? [] : typeof header === 'string' ? [header] : header;
  const digests = values.flatMap(splitChallenges).filter((c) => c.scheme === 'digest' && c.params.nonce !== undefined);
  if (digests.length === 0) return undefined;
  const supported = digests.filter((c) => HASHES[baseAlgorithm(c.params.algorithm)] !== undefined);
  if (supported.length === 0) {
    const algorithms = digests.map((c) => c.params.algorithm).join(', ');
    throw new CameraProtocolError('unsupported', 'DigestChallenge', `no supported Digest algorithm (${algorithms})`);
  }
  const rank = (c: RawChallenge): number => PREFERENCE.indexOf(baseAlgorithm(c.params.algorithm));
  const best = supported.reduce((a, b) => (rank(b) < rank(a) ? b : a));
  const p = best.params;
  const challenge: DigestChallenge = {
    realm: p.realm ?? '',
    nonce: p.nonce ?? '',
    qop: (p.qop ?? '').split(',').map((q) => q.trim().toLowerCase()).filter((q) => q !== ''),
    stale: (p.stale ?? '').toLowerCase() === 'true',
    userhash: (p.userhash ?? '').toLowerCase() === 'true',
  };
  if (p.algorithm !== undefined) challenge.algorithm = p.algorithm;
  if (p.opaque !== undefined) challenge.opaque = p.opaque;
  return challenge;
}

export interface DigestRequest {
  challenge: DigestChallenge;
  username: string;
  password: string;
  /** `GET`, `POST`, `DESCRIBE`… */
  method: string;
  /** The request-target as sent: `/onvif/device_service`, or the full rtsp:// URL for RTSP. */
  uri: string;
  /** Nonce count: 1 for the first request with this nonce, then 2, 3… */
  nc?: number;
  /** Client nonce; random when omitted. */
  cnonce?: string;
  /** Entity body, only used for qop=auth-int. */
  body?: string | Uint8Array;
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** The `Authorization` header value answering `challenge`. */
export function buildDigestAuthorization(req: DigestRequest): string {
  const { challenge, username, password, method, uri } = req;
  const algorithm = challenge.algorithm ?? 'MD5';
  const hashName = HASHES[baseAlgorithm(algorithm)];
  if (hashName === undefined) {
    throw new CameraProtocolError('unsupported', 'DigestAuthorization', `Digest algorithm ${algorithm} not supported`);
  }
  const H = (data: string | Uint8Array): string => createHash(hashName).update(data).digest('hex');
  const qop = challenge.qop.includes('auth') ? 'auth' : challenge.qop.includes('auth-int') ? 'auth-int' : undefined;
  if (challenge.qop.length > 0 && qop === undefined) {
    throw new CameraProtocolError('unsupported', 'DigestAuthorization', `qop ${challenge.qop.join(',')} not supported`);
  }
  const cnonce = req.cnonce ?? randomBytes(16).toString('hex');
  const nc = (req.nc ?? 1).toString(16).padStart(8, '0');
  const sess = /-sess$/i.test(algorithm);

  let ha1 = H(`${username}:${challenge.realm}:${password}`);
  if (sess) ha1 = H(`${ha1}:${challenge.nonce}:${cnonce}`); // RFC 7616 §3.4.2
  const ha2 = qop === 'auth-int' ? H(`${method}:${uri}:${H(req.body ?? '')}`) : H(`${method}:${uri}`);
  const response = qop === undefined
    ? H(`${ha1}:${challenge.nonce}:${ha2}`) // RFC 2069 compatibility (RFC 2617 §3.2.2.1)
    : H(`${ha1}:${challenge.nonce}:${nc}:${cnonce}:${qop}:${ha2}`);

  const fields = [
    `username=${quote(challenge.userhash ? H(`${username}:${challenge.realm}`) : username)}`,
    `realm=${quote(challenge.realm)}`,
    `uri=${quote(uri)}`,
    // Echo algorithm only when the server named it: a few old RTSP servers choke on an unexpected one.
    ...(challenge.algorithm === undefined ? [] : [`algorithm=${challenge.algorithm}`]),
    `nonce=${quote(challenge.nonce)}`,
    ...(qop === undefined ? (sess ? [`cnonce=${quote(cnonce)}`] : []) : [`nc=${nc}`, `cnonce=${quote(cnonce)}`, `qop=${qop}`]),
    `response=${quote(response)}`,
    ...(challenge.opaque === undefined ? [] : [`opaque=${quote(challenge.opaque)}`]),
    ...(challenge.userhash ? ['userhash=true'] : []),
  ];
  return `Digest ${fields.join(', ')}`;
}
