// The camera's HTTP side: SOAP 1.2 over POST on the service paths, and the snapshot JPEG over GET.
import { execFile } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import { HttpDigestVerifier, WsSecurityVerifier, type AuthResult } from './auth.ts';
import type { CameraConfig } from './config.ts';
import { DEVICE_OPERATIONS, SPEC_PRE_AUTH, type Operation } from './device-ops.ts';
import { MEDIA2_OPERATIONS, MEDIA_OPERATIONS } from './media-ops.ts';
import { SoapFault, envelope, faultEnvelope, prefixesOf, type FaultSpec } from './soap.ts';
import { NS, XmlError, child, parseXml } from './xml.ts';

const run = promisify(execFile);
const SOAP_PATHS = new Set(['/onvif/device_service', '/onvif/media_service', '/onvif/media2_service']);
const MAX_BODY = 1024 * 1024;
const NOT_AUTHORIZED: FaultSpec = {
  code: 'Sender',
  subcodes: ['NotAuthorized'],
  reason: 'Sender not Authorized',
  detail: 'The action requested requires authorization and the sender is not authorized',
};

export class DeviceHttpServer {
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  private config: CameraConfig | undefined;
  private wsse: WsSecurityVerifier | undefined;
  private digest: HttpDigestVerifier | undefined;
  private snapshot: Promise<Buffer> | undefined;

  constructor(private readonly log: (line: string) => void) {}

  /** Listens; resolves with the port. Requests are answered once configure() ran (right after). */
  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('http server has no port');
    return address.port;
  }

  configure(config: CameraConfig): void {
    this.config = config;
    const cameraNow = () => Date.now() + config.clockOffsetMs;
    if (config.credentials) {
      this.wsse = new WsSecurityVerifier(config.credentials, cameraNow);
      this.digest = new HttpDigestVerifier(config.credentials, config.preset.digestRealm(config.serialNumber));
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const config = this.config;
    if (!config) {
      res.writeHead(503).end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    try {
      if (req.method === 'POST' && SOAP_PATHS.has(path)) await this.soap(config, req, res);
      else if (req.method === 'GET' && config.profiles.some((p) => p.snapshotPath.split('?')[0] === path)) await this.serveSnapshot(config, req, res);
      else res.writeHead(req.method === 'POST' || req.method === 'GET' ? 404 : 405).end();
    } catch (err) {
      this.log(`http: ${req.method} ${path} failed: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    }
  }

  private async soap(config: CameraConfig, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (status: number, xml: string, headers: http.OutgoingHttpHeaders = {}) =>
      res.writeHead(status, { 'Content-Type': 'application/soap+xml; charset=utf-8', ...headers }).end(xml);
    const sendFault = (fault: SoapFault, headers: http.OutgoingHttpHeaders = {}) => send(fault.status, faultEnvelope(config.prefixes, fault.spec), headers);

    const text = await readBody(req);
    if (text === undefined) {
      res.writeHead(413).end();
      return;
    }
    let root;
    try {
      root = parseXml(text);
    } catch (err) {
      if (!(err instanceof XmlError)) throw err;
      // An HTTP Digest camera challenges before it reads: curl --digest sends its first POST without a body.
      const challenge = config.credentials && config.auth !== 'ws-security' ? this.authorize(config, req, undefined) : undefined;
      if (challenge && !challenge.ok && challenge.challenge) {
        send(401, faultEnvelope(config.prefixes, NOT_AUTHORIZED), { 'WWW-Authenticate': challenge.challenge });
        return;
      }
      sendFault(new SoapFault({ code: 'Sender', subcodes: ['WellFormed'], reason: `not well-formed: ${err.message}` }));
      return;
    }
    if (root.local !== 'Envelope' || root.ns !== NS.soap12) {
      // SOAP 1.2 Part 1 §5.4.7: another envelope namespace is a VersionMismatch.
      sendFault(new SoapFault({ code: 'VersionMismatch', reason: `expected a SOAP 1.2 Envelope, got {${root.ns}}${root.local}` }));
      return;
    }
    const header = child(root, 'Header', NS.soap12);
    const request = child(root, 'Body', NS.soap12)?.children[0];
    if (!request) {
      sendFault(new SoapFault({ code: 'Sender', subcodes: ['InvalidArgVal'], reason: 'empty Body' }));
      return;
    }
    const op = request.local;

    const preAuth = (request.ns === NS.device && op === 'GetSystemDateAndTime') || (config.preAuth === 'spec' && SPEC_PRE_AUTH.has(op));
    if (config.credentials && !preAuth) {
      const verdict = this.authorize(config, req, header);
      if (!verdict.ok) {
        this.log(`auth: ${op} refused: ${verdict.reason}`);
        if (verdict.challenge) send(401, faultEnvelope(config.prefixes, NOT_AUTHORIZED), { 'WWW-Authenticate': verdict.challenge });
        else sendFault(new SoapFault(NOT_AUTHORIZED, config.authFaultStatus));
        return;
      }
    }

    const table: Record<string, Operation> | undefined =
      request.ns === NS.device ? DEVICE_OPERATIONS : request.ns === NS.media ? MEDIA_OPERATIONS : request.ns === NS.media2 && config.media2 ? MEDIA2_OPERATIONS : undefined;
    const operation = table && Object.hasOwn(table, op) ? table[op] : undefined;
    if (!operation) {
      sendFault(new SoapFault({ code: 'Receiver', subcodes: ['ActionNotSupported'], reason: `{${request.ns}}${op} is not supported` }));
      return;
    }
    try {
      const body = operation(request, { config, p: prefixesOf(config.prefixes), cameraNow: () => Date.now() + config.clockOffsetMs });
      send(200, envelope(config.prefixes, body));
    } catch (err) {
      if (!(err instanceof SoapFault)) throw err;
      sendFault(err);
    }
  }

  /** WS-Security, HTTP Digest or either, by the camera's auth mode. */
  private authorize(config: CameraConfig, req: http.IncomingMessage, header: ReturnType<typeof child>): AuthResult & { challenge?: string } {
    const viaDigest = () => this.digest?.verify(req.headers.authorization, req.method ?? 'POST', req.url ?? '/') ?? { ok: false as const, reason: 'no credentials' };
    if (config.auth === 'ws-security') return this.wsse?.verify(header) ?? { ok: false, reason: 'no credentials' };
    const wsse = config.auth === 'both' ? this.wsse?.verify(header) : undefined;
    if (wsse?.ok) return wsse;
    const digest = viaDigest();
    if (digest.ok) return digest;
    // A camera that takes HTTP Digest answers 401 with a challenge (RFC 7235 §3.1), whatever was wrong.
    const reason = wsse ? `${wsse.reason}; ${digest.reason}` : digest.reason;
    return { ok: false, reason, challenge: this.digest?.challenge(digest.stale ?? false) ?? '' };
  }

  private async serveSnapshot(config: CameraConfig, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (config.credentials && config.snapshotAuth === 'digest' && this.digest) {
      const verdict = this.digest.verify(req.headers.authorization, req.method ?? 'GET', req.url ?? '/');
      if (!verdict.ok) {
        this.log(`auth: snapshot refused: ${verdict.reason}`);
        res.writeHead(401, { 'WWW-Authenticate': this.digest.challenge(verdict.stale ?? false) }).end();
        return;
      }
    }
    this.snapshot ??= renderSnapshot(config);
    const jpeg = await this.snapshot.catch((err: Error) => {
      this.snapshot = undefined; // try again on the next request
      throw err;
    });
    res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': jpeg.length, 'Cache-Control': 'no-store' }).end(jpeg);
  }
}

async function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** One JPEG of a test pattern at the main stream's size (capped at 1280 wide), rendered once. */
async function renderSnapshot(config: CameraConfig): Promise<Buffer> {
  const main = config.profiles[0];
  const scale = main && main.width > 1280 ? 1280 / main.width : 1;
  const width = Math.round(((main?.width ?? 640) * scale) / 2) * 2;
  const height = Math.round(((main?.height ?? 360) * scale) / 2) * 2;
  const { stdout } = await run(
    'gst-launch-1.0',
    ['-q', 'videotestsrc', 'num-buffers=1', 'pattern=smpte', '!', `video/x-raw,format=I420,width=${width},height=${height}`, '!', 'jpegenc', '!', 'fdsink', 'fd=1'],
    { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024, timeout: 15_000 },
  );
  if (stdout.length < 4 || stdout[0] !== 0xff || stdout[1] !== 0xd8) throw new Error('gst-launch-1.0 produced no JPEG');
  return stdout;
}
