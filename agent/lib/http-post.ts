/**
 * A small HTTP POST over node:http, for talking to cameras. Not `fetch`: the Fetch Standard's "bad ports"
 * list makes Node's fetch refuse ports such as 10080 before a packet leaves ("bad port"), and 10080 is a
 * port real cameras use (measured by bench/discovery: every camera there was missed).
 */
import http from 'node:http';

export interface HttpReply {
  status: number;
  /** Every value of each header (WWW-Authenticate may come several times). */
  headers: Record<string, string[]>;
  body: string;
}

export class HttpPostError extends Error {
  override readonly name = 'HttpPostError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** Bodies above this are cut off (a SOAP reply is a few KB; a 32-profile GetProfiles ~200 KB). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export function httpPost(url: string, options: { headers: Record<string, string>; body: string; timeoutMs: number }): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(options.body, 'utf8');
    const request = http.request(url, { method: 'POST', headers: { ...options.headers, 'content-length': String(body.length) }, timeout: options.timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) request.destroy(new HttpPostError(`reply larger than ${MAX_BODY_BYTES} bytes`, 'ETOOBIG'));
        else chunks.push(chunk);
      });
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: Object.fromEntries(Object.entries(response.headersDistinct).map(([k, v]) => [k, v ?? []])),
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      response.on('error', reject);
    });
    // `timeout` fires on socket inactivity; a hard deadline also covers a camera that trickles bytes.
    const deadline = setTimeout(() => request.destroy(new HttpPostError(`no answer within ${options.timeoutMs} ms`, 'ETIMEDOUT')), options.timeoutMs);
    request.on('timeout', () => request.destroy(new HttpPostError(`no answer within ${options.timeoutMs} ms`, 'ETIMEDOUT')));
    request.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(deadline);
      reject(err instanceof HttpPostError ? err : new HttpPostError(err.code ?? err.message, err.code ?? 'EIO'));
    });
    request.on('close', () => clearTimeout(deadline));
    request.end(body);
  });
}
