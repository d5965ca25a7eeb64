/**
 * Credential redaction, applied to every line the agent writes (logs, child stderr, error messages) and to
 * anything it publishes. Three nets, because any one of them alone leaks:
 *  1. URL userinfo: `rtsp://user:pass@host` → `rtsp://***@host` (also `user@` alone: a user name is half a secret);
 *     an RTMP stream key in a URL path: `rtmp://host/app/KEY` → `rtmp://host/app/[redacted]`.
 *  2. Key/value forms: `password=…`, `"password":"…"`, `passphrase`, `token`, `streamKey`, `authorization: …`.
 *  3. Every secret the agent has loaded (camera passwords, MQTT password, ingest tokens) is registered here and
 *     replaced wherever it appears verbatim — including in a GStreamer warning that echoes a URL we never built.
 */

const REDACTED = '[redacted]';
const registered = new Set<string>();
let literalPattern: RegExp | undefined;

/** Secrets shorter than this are not matched literally (a 2-letter password would shred every log line). */
const MIN_LITERAL_LENGTH = 4;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Registers a secret value so that it is removed from every string passed through `redact`. */
export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < MIN_LITERAL_LENGTH) return;
  const forms = [value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)];
  let changed = false;
  for (const form of forms) {
    if (!registered.has(form)) {
      registered.add(form);
      changed = true;
    }
  }
  if (changed) {
    // Longest first, so that a secret containing another is replaced whole.
    const alternatives = [...registered].sort((a, b) => b.length - a.length).map(escapeRegExp);
    literalPattern = new RegExp(alternatives.join('|'), 'g');
  }
}

// scheme://userinfo@ — userinfo is anything up to the last '@' before the host, without '/', whitespace or quotes.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@"'<>]+@/gi;
// rtmp(s)://host/app/KEY: RTMP ingests take the stream key as the last path level (a URL copied from a CDN's
// page, or what rtmp2sink composes from application + stream). Everything after the application is the key.
const RTMP_STREAM_KEY = /\b(rtmps?:\/\/[^\s/"'<>]+\/[^\s/"'<>?]+\/)(?!\[redacted\])[^\s"'<>]+/gi;
// key=value and key: value in text (query strings, GStreamer property dumps, HTTP headers).
const KEY_VALUE =
  /\b(password|passwd|pwd|passphrase|secret|token|access[_-]?token|stream[_-]?key|user-pw|api[_-]?key|authorization)(\s*[=:]\s*)(?!\[redacted\])(?:"[^"]*"|'[^']*'|(?:Basic|Bearer|Digest)\s+[^\s,;&]+|[^\s,;&"'}]+)/gi;
// "password": "value" in JSON.
const JSON_KEY_VALUE =
  /("(?:password|passwd|passphrase|secret|token|accessToken|streamKey|apiKey|authorization)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;

/** Returns `text` with every credential replaced by `[redacted]` / `***`. Safe to call on any string. */
export function redact(text: string): string {
  let out = text;
  if (literalPattern) out = out.replace(literalPattern, REDACTED);
  out = out.replace(URL_USERINFO, '$1***@');
  out = out.replace(RTMP_STREAM_KEY, `$1${REDACTED}`);
  out = out.replace(JSON_KEY_VALUE, `$1"${REDACTED}"`);
  out = out.replace(KEY_VALUE, `$1$2${REDACTED}`);
  return out;
}
