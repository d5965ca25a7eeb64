/**
 * ONVIF over HTTP: one session per camera, and the interrogation an installer's scan runs.
 *
 * Why our own client and not the `onvif` package's Cam (which the customer named and which does serve as
 * the independent client in the virtual camera's conformance test): a scan must report each operation's
 * failure separately and keep going (Cam.connect runs a fixed sequence and fails as a whole); it must stop
 * authenticated calls after the first refusal (cameras lock the account after a few failures); and every
 * reply must go through parsers tested with tables of real vendor replies (onvif-parse.ts). The protocol
 * work itself — envelopes, UsernameToken, Digest, parsing — lives in the pure modules next to this one.
 *
 * Authentication, in the order cameras want it: WS-Security UsernameToken dated in the CAMERA's clock (the
 * offset learnt from the unauthenticated GetSystemDateAndTime: a camera hours off refuses a token dated in
 * ours); on HTTP 401 with a Digest challenge, HTTP Digest (RFC 7616) from then on.
 */
import { CameraProtocolError } from './errors.ts';
import { buildDigestAuthorization, parseDigestChallenge, type DigestChallenge } from './http-digest.ts';
import { contentType, envelope, type OnvifRequest } from './onvif-soap.ts';
import { errorMessage } from '../lib/errors.ts';
import { httpPost, type HttpReply } from '../lib/http-post.ts';

export type OnvifAuthMode = 'ws-security' | 'digest' | 'none';

export interface OnvifSessionOptions {
  deviceServiceUrl: string;
  username?: string | undefined;
  password?: string | undefined;
  timeoutMs: number;
}

export class OnvifSession {
  /** Camera clock − box clock, from GetSystemDateAndTime; dates the UsernameToken. */
  clockOffsetMs = 0;
  private mode: OnvifAuthMode;
  private challenge: DigestChallenge | undefined;
  private nonceCount = 0;
  /** Set after a refusal: no further authenticated request is sent (account lockout). */
  private refused: CameraProtocolError | undefined;

  constructor(private readonly options: OnvifSessionOptions) {
    this.mode = options.username !== undefined ? 'ws-security' : 'none';
  }

  get authMode(): OnvifAuthMode {
    return this.mode;
  }

  get authRefused(): boolean {
    return this.refused !== undefined;
  }

  /**
   * POSTs one request to `url` (default: the device service) and returns the reply body. Requests of one
   * session go one at a time: Digest nonce counts must arrive in order (a camera rejects nc=5 after nc=6 as
   * a replay — seen with concurrent GetStreamUri calls), and embedded web servers serve one at a time anyway.
   */
  call(request: OnvifRequest, url = this.options.deviceServiceUrl, authenticate = true): Promise<string> {
    const next = this.queue.then(() => this.callNow(request, url, authenticate));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private queue: Promise<unknown> = Promise.resolve();

  private async callNow(request: OnvifRequest, url: string, authenticate: boolean): Promise<string> {
    const useAuth = authenticate && this.options.username !== undefined;
    if (useAuth && this.refused) throw this.refused;
    let response = await this.post(request, url, useAuth);
    if (response.status === 401 && useAuth) {
      // Several WWW-Authenticate headers: the parser picks the strongest Digest one.
      const challenge = parseDigestChallenge(response.headers['www-authenticate']);
      if (challenge && (this.mode !== 'digest' || challenge.stale || challenge.nonce !== this.challenge?.nonce)) {
        // The camera wants HTTP Digest, or a fresh nonce (stale, or it simply rotated it): retry once.
        this.mode = 'digest';
        this.challenge = challenge;
        this.nonceCount = 0;
        response = await this.post(request, url, useAuth);
      }
    }
    const body = response.body;
    if (response.status === 401 && useAuth) {
      this.refused = new CameraProtocolError('auth', request.operation, `HTTP 401: the camera refused the credentials (${this.mode})`);
      throw this.refused;
    }
    if (response.status === 401) throw new CameraProtocolError('auth', request.operation, 'HTTP 401: the camera requires credentials');
    // Faults come with 400 or 500; the parsers turn them into typed errors. Other statuses without SOAP: say so.
    if (response.status >= 300 && !/Envelope/.test(body)) {
      throw new CameraProtocolError('malformed', request.operation, `HTTP ${response.status} without a SOAP reply`);
    }
    return body;
  }

  /** Marks the credentials as refused after a SOAP auth fault, so no further attempt is made. */
  noteRefusal(error: CameraProtocolError): void {
    if (error.kind === 'auth' && this.options.username !== undefined) this.refused = error;
  }

  private async post(request: OnvifRequest, url: string, useAuth: boolean): Promise<HttpReply> {
    const headers: Record<string, string> = { 'content-type': contentType(request) };
    const { username, password } = this.options;
    let xml: string;
    if (useAuth && this.mode === 'digest' && this.challenge) {
      this.nonceCount += 1;
      const target = new URL(url);
      headers['authorization'] = buildDigestAuthorization({
        challenge: this.challenge,
        username: username!,
        password: password ?? '',
        method: 'POST',
        uri: target.pathname + target.search,
        nc: this.nonceCount,
      });
      xml = envelope(request.body);
    } else if (useAuth) {
      xml = envelope(request.body, { username: username!, password: password ?? '', clockOffsetMs: this.clockOffsetMs });
    } else {
      xml = envelope(request.body);
    }
    try {
      return await httpPost(url, { headers, body: xml, timeoutMs: this.options.timeoutMs });
    } catch (err) {
      throw new CameraProtocolError('malformed', request.operation, `cannot reach ${new URL(url).host}: ${errorMessage(err)}`, { cause: err });
    }
  }
}
