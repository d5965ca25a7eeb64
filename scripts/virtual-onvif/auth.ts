// Authentication as cameras do it: WS-Security UsernameToken with PasswordDigest checked against the camera's
// own clock (ONVIF Core §5.12.2), and HTTP Digest (RFC 7616, MD5, qop=auth) for cameras that want it instead.
//
// INVARIANTS
// - A nonce (WS-Security) is accepted at most once while its Created is inside the window: replay
//   protection as Axis documents it. The memory is bounded: entries leave when their window closes, and
//   past MAX_REMEMBERED the oldest go first (a flood cannot grow it).
// - HTTP Digest nonces are stateless (time + HMAC with a per-process key), so a restarted camera refuses
//   old ones with stale=true, as a rebooted camera does. The nc seen per nonce only grows.
// - Passwords never leave this file: failures name the reason, never the secret.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Credentials } from './config.ts';
import { NS, child, type XmlElement } from './xml.ts';

/** ±5 minutes around the camera's clock, the window real cameras use for `Created`. */
export const CREATED_WINDOW_MS = 5 * 60_000;
const DIGEST_NONCE_LIFETIME_MS = 5 * 60_000;
const MAX_REMEMBERED = 10_000;

const PASSWORD_DIGEST = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest';

export type AuthResult = { ok: true } | { ok: false; reason: string };

const sha1b64 = (...parts: Buffer[]): string => createHash('sha1').update(Buffer.concat(parts)).digest('base64');
const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Remembers accepted nonces until their window closes. */
class NonceMemory {
  private readonly seen = new Map<string, number>(); // nonce → expiry (ms, camera clock)

  /** False when the nonce was already used. */
  remember(nonce: string, expiresAt: number, now: number): boolean {
    for (const [key, expiry] of this.seen) {
      if (expiry > now && this.seen.size < MAX_REMEMBERED) break; // Map keeps insertion order: oldest first
      this.seen.delete(key);
    }
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, expiresAt);
    return true;
  }
}

export class WsSecurityVerifier {
  private readonly nonces = new NonceMemory();

  constructor(
    private readonly credentials: Credentials,
    /** The camera's clock (true time + offset). */
    private readonly cameraNow: () => number,
  ) {}

  /** Checks the UsernameToken in a SOAP Header; undefined header or token is a failure too. */
  verify(header: XmlElement | undefined): AuthResult {
    const token = child(child(header, 'Security', NS.wsse), 'UsernameToken', NS.wsse);
    if (!token) return { ok: false, reason: 'no WS-Security UsernameToken' };
    const username = child(token, 'Username', NS.wsse)?.text.trim();
    const password = child(token, 'Password', NS.wsse);
    const nonceText = child(token, 'Nonce', NS.wsse)?.text.trim();
    const created = child(token, 'Created', NS.wsu)?.text.trim();
    if (username === undefined || !password || !nonceText || !created) {
      return { ok: false, reason: 'UsernameToken lacks Username, Password, Nonce or Created' };
    }
    // PasswordText sends the password in clear; the cameras we model only take the digest (ONVIF Core §5.12.2.1).
    const type = password.attrs['Type'];
    if (type !== undefined && type !== PASSWORD_DIGEST) return { ok: false, reason: `password type ${type} not accepted` };
    if (username !== this.credentials.username) return { ok: false, reason: 'unknown user' };
    const createdMs = Date.parse(created);
    if (Number.isNaN(createdMs)) return { ok: false, reason: `Created is not a date: ${created}` };
    const now = this.cameraNow();
    const skew = createdMs - now;
    if (Math.abs(skew) > CREATED_WINDOW_MS) {
      return { ok: false, reason: `Created ${created} is ${Math.round(skew / 1000)} s from the camera clock (window ±${CREATED_WINDOW_MS / 1000} s)` };
    }
    const nonce = Buffer.from(nonceText, 'base64');
    const expected = sha1b64(nonce, Buffer.from(created, 'utf8'), Buffer.from(this.credentials.password, 'utf8'));
    if (!sameText(password.text.trim(), expected)) return { ok: false, reason: 'wrong password digest' };
    if (!this.nonces.remember(nonceText, createdMs + CREATED_WINDOW_MS, now)) return { ok: false, reason: 'nonce replayed' };
    return { ok: true };
  }
}

/** Parses `Digest k=v, k="v"` (RFC 7616 §3.4); lower-cased keys. */
export function parseDigestHeader(header: string): Record<string, string> | undefined {
  const match = /^\s*Digest\s+(.*)$/is.exec(header);
  if (!match?.[1]) return undefined;
  const params: Record<string, string> = {};
  for (const m of match[1].matchAll(/([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    const key = m[1];
    if (key) params[key.toLowerCase()] = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return params;
}

export class HttpDigestVerifier {
  private readonly key = randomBytes(32);
  private readonly opaque = randomBytes(16).toString('hex');
  private readonly lastNc = new Map<string, number>();

  constructor(
    private readonly credentials: Credentials,
    readonly realm: string,
  ) {}

  private sign(issued: string): string {
    return createHmac('sha256', this.key).update(issued).digest('hex').slice(0, 32);
  }

  /** The WWW-Authenticate value of a 401 (RFC 7616 §3.3). */
  challenge(stale = false): string {
    const issued = Date.now().toString(16).padStart(12, '0');
    const nonce = `${issued}${this.sign(issued)}`;
    return `Digest realm="${this.realm}", qop="auth", nonce="${nonce}", opaque="${this.opaque}", algorithm=MD5, stale=${stale ? 'TRUE' : 'FALSE'}`;
  }

  /** Checks an Authorization header for this request; `stale` asks the client to retry with a new nonce. */
  verify(authorization: string | undefined, method: string, requestUri: string): AuthResult & { stale?: boolean } {
    if (!authorization) return { ok: false, reason: 'no Authorization header' };
    const p = parseDigestHeader(authorization);
    if (!p) return { ok: false, reason: 'Authorization is not Digest' };
    const { username, realm, nonce, uri, response, qop, nc, cnonce } = p;
    if (!username || !realm || !nonce || !uri || !response) return { ok: false, reason: 'Digest lacks a field' };
    if ((p['algorithm'] ?? 'MD5').toUpperCase() !== 'MD5') return { ok: false, reason: `algorithm ${p['algorithm']} not offered` };
    if (qop !== 'auth' || !nc || !cnonce) return { ok: false, reason: 'qop=auth with nc and cnonce required' };
    if (realm !== this.realm || username !== this.credentials.username) return { ok: false, reason: 'unknown user or realm' };
    if (uri !== requestUri) return { ok: false, reason: `digest uri ${uri} is not the request ${requestUri}` };
    const issued = nonce.slice(0, 12);
    if (nonce.length !== 44 || !sameText(nonce.slice(12), this.sign(issued))) return { ok: false, reason: 'nonce not issued here', stale: true };
    if (Date.now() - parseInt(issued, 16) > DIGEST_NONCE_LIFETIME_MS) return { ok: false, reason: 'nonce expired', stale: true };
    const ha1 = md5(`${username}:${realm}:${this.credentials.password}`);
    const ha2 = md5(`${method}:${uri}`);
    const expected = md5(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`);
    if (!sameText(response.toLowerCase(), expected)) return { ok: false, reason: 'wrong digest response' };
    const count = parseInt(nc, 16);
    if (!(count > (this.lastNc.get(nonce) ?? 0))) return { ok: false, reason: 'nonce count replayed' };
    if (this.lastNc.size >= MAX_REMEMBERED) this.lastNc.delete(this.lastNc.keys().next().value ?? '');
    this.lastNc.set(nonce, count);
    return { ok: true };
  }
}
