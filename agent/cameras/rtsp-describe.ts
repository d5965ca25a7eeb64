/**
 * RTSP DESCRIBE (RFC 2326 §10.2), the cheapest proof that a camera's stream is alive: the camera must
 * answer 200 with an SDP that has a video track. Basic and Digest authentication (most cameras want
 * Digest; the same client code as ONVIF's, http-digest.ts). Over a plain TCP socket: one request, one
 * response, then the connection is closed — no session is set up, so nothing is streamed.
 */
import net from 'node:net';
import { buildDigestAuthorization, parseDigestChallenge } from './http-digest.ts';

export interface DescribeResult {
  ok: boolean;
  status: number | undefined;
  /** Video codecs named in the SDP (`H264`, `H265`…). */
  video: string[];
  /** Audio codecs named in the SDP (`MPEG4-GENERIC` = AAC, `PCMA`, `PCMU`…). */
  audio: string[];
  /** A short reason when not ok (no credentials in it). */
  reason?: string | undefined;
  latencyMs: number;
}

interface RtspResponse {
  status: number;
  headers: Map<string, string[]>;
  body: string;
}

/** Sends one request on a fresh connection and reads one response (headers, then Content-Length bytes). */
function exchange(url: URL, request: string, timeoutMs: number): Promise<RtspResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 554) });
    let buffer = Buffer.alloc(0);
    const done = (err: Error | undefined, response?: RtspResponse): void => {
      socket.destroy();
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(response!);
    };
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (err: NodeJS.ErrnoException) => done(new Error(err.code ?? err.message)));
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine = '', ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
      const match = /^RTSP\/1\.\d (\d{3})/.exec(statusLine);
      if (!match) return done(new Error(`not an RTSP reply: ${statusLine.slice(0, 40)}`));
      const headers = new Map<string, string[]>();
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
      }
      const length = Number(headers.get('content-length')?.[0] ?? 0);
      if (buffer.length < end + 4 + length) return;
      done(undefined, { status: Number(match[1]), headers, body: buffer.subarray(end + 4, end + 4 + length).toString('utf8') });
    });
  });
}

/**
 * Static RTP payload types (RFC 3551 tables 4 and 5): an SDP may leave out their rtpmap (RFC 4566 §6), as
 * some cameras do for G.711 (`m=audio 0 RTP/AVP 0` alone).
 */
const STATIC_PAYLOAD_TYPES: Record<string, string> = {
  '0': 'PCMU', '3': 'GSM', '4': 'G723', '5': 'DVI4', '6': 'DVI4', '7': 'LPC', '8': 'PCMA', '9': 'G722', '10': 'L16', '11': 'L16',
  '12': 'QCELP', '13': 'CN', '14': 'MPA', '15': 'G728', '16': 'DVI4', '17': 'DVI4', '18': 'G729',
  '25': 'CELB', '26': 'JPEG', '28': 'NV', '31': 'H261', '32': 'MPV', '33': 'MP2T', '34': 'H263',
};

/**
 * Pure: the encoding names (upper case) of an SDP's `media` tracks, in the order of their m= lines' formats:
 * the rtpmap's name, else the static payload type's. A dynamic format without an rtpmap is skipped.
 */
export function sdpEncodings(sdp: string, media: 'video' | 'audio'): string[] {
  return sdp
    .split(/^(?=m=)/m)
    .filter((section) => section.startsWith(`m=${media} `))
    .flatMap((section) => {
      const formats = (/^m=\S+ \S+ \S+ ([^\r\n]*)/.exec(section)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
      const rtpmap = new Map([...section.matchAll(/^a=rtpmap:(\d+) ([A-Za-z0-9_.-]+)\//gm)].map((m) => [m[1]!, m[2]!.toUpperCase()]));
      return formats.flatMap((format) => {
        const name = rtpmap.get(format) ?? STATIC_PAYLOAD_TYPES[format];
        return name ? [name] : [];
      });
    });
}

export async function describeStream(uri: string, credentials: { username?: string | undefined; password?: string | undefined }, timeoutMs = 3000): Promise<DescribeResult> {
  const started = performance.now();
  const url = new URL(uri);
  const target = `${url.protocol}//${url.host}${url.pathname}${url.search}`;
  const request = (cseq: number, authorization?: string): string =>
    `DESCRIBE ${target} RTSP/1.0\r\nCSeq: ${cseq}\r\nAccept: application/sdp\r\nUser-Agent: venuebox\r\n${authorization ? `Authorization: ${authorization}\r\n` : ''}\r\n`;
  const result = (ok: boolean, status: number | undefined, video: string[], reason?: string, audio: string[] = []): DescribeResult => ({ ok, status, video, audio, reason, latencyMs: Math.round(performance.now() - started) });
  try {
    let response = await exchange(url, request(1), timeoutMs);
    if (response.status === 401 && credentials.username !== undefined) {
      const challenges = response.headers.get('www-authenticate') ?? [];
      const digest = parseDigestChallenge(challenges);
      const authorization = digest
        ? buildDigestAuthorization({ challenge: digest, username: credentials.username, password: credentials.password ?? '', method: 'DESCRIBE', uri: target, nc: 1 })
        : challenges.some((c) => /^basic/i.test(c))
          ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password ?? ''}`).toString('base64')}`
          : undefined;
      if (authorization) response = await exchange(url, request(2, authorization), timeoutMs);
    }
    if (response.status === 401) return result(false, 401, [], credentials.username ? 'the camera refused the credentials' : 'the camera requires credentials');
    if (response.status !== 200) return result(false, response.status, [], `DESCRIBE answered ${response.status}`);
    const video = sdpEncodings(response.body, 'video');
    return video.length > 0 ? result(true, 200, video, undefined, sdpEncodings(response.body, 'audio')) : result(false, 200, [], 'the SDP has no video track');
  } catch (err) {
    return result(false, undefined, [], (err as Error).message);
  }
}
