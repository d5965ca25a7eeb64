/**
 * HTTP(S) PUT of a file or a small body, over keep-alive connections. node:http rather than fetch: fetch
 * refuses some ports outright (agent/lib/http-post.ts), cannot stream a file body with a known length
 * without `duplex` gymnastics, and gives no per-socket inactivity timeout — which is what tells a link
 * that went dark (no bytes move) from a slow one (bytes move slowly). A deadline would kill a slow link's
 * uploads that would have succeeded.
 */
import http from 'node:http';
import https from 'node:https';
import { createReadStream } from 'node:fs';

export interface PutTarget {
  /** Extra headers on every request (authentication). */
  headers: Record<string, string>;
  /** PEM CA bundle for https ingests with a private CA. */
  ca?: string | undefined;
  /** No byte moving in either direction for this long fails the request. */
  inactivityTimeoutMs: number;
}

export interface PutResult {
  status: number;
  bytes: number;
  elapsedMs: number;
}

export class HttpPutError extends Error {
  override readonly name = 'HttpPutError';
  constructor(
    message: string,
    /** A socket error code (ECONNREFUSED, ETIMEDOUT …) or `HTTP 503`. */
    readonly code: string,
    /** The HTTP status when the ingest answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export class HttpPutClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private readonly httpsAgent: https.Agent;

  constructor(private readonly target: PutTarget) {
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8, ...(target.ca !== undefined ? { ca: target.ca } : {}) });
  }

  /** PUTs `body` (a file path with its size, or bytes) to `url`; resolves on any HTTP answer, rejects on none. */
  put(url: string, body: { file: string; bytes: number } | { data: Buffer }, headers: Record<string, string> = {}): Promise<PutResult> {
    const started = performance.now();
    const parsed = new URL(url);
    const secure = parsed.protocol === 'https:';
    const length = 'data' in body ? body.data.length : body.bytes;
    return new Promise((resolve, reject) => {
      const request = (secure ? https : http).request(
        parsed,
        {
          method: 'PUT',
          agent: secure ? this.httpsAgent : this.httpAgent,
          headers: { ...this.target.headers, ...headers, 'content-length': String(length) },
          timeout: this.target.inactivityTimeoutMs,
        },
        (response) => {
          // The answer's body is not needed; drain it so the connection can be reused.
          response.resume();
          response.on('end', () => resolve({ status: response.statusCode ?? 0, bytes: length, elapsedMs: performance.now() - started }));
          response.on('error', (err) => reject(asPutError(err)));
        },
      );
      request.on('timeout', () => request.destroy(new HttpPutError(`no progress for ${this.target.inactivityTimeoutMs} ms`, 'ETIMEDOUT')));
      request.on('error', (err) => reject(asPutError(err)));
      if ('data' in body) {
        request.end(body.data);
        return;
      }
      const file = createReadStream(body.file);
      file.on('error', (err) => request.destroy(err));
      file.pipe(request);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

function asPutError(err: unknown): HttpPutError {
  if (err instanceof HttpPutError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  return new HttpPutError((err as Error).message, code);
}
