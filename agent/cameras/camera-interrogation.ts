/**
 * Asks one ONVIF camera everything a scan reports: clock, identity, services, MAC, profiles with their
 * stream and snapshot URIs. Each operation's failure is recorded in `errors` and the scan goes on with
 * what it has; after the credentials are refused, no further authenticated request is sent (lockout).
 * URIs come back with 0.0.0.0 / NAT hosts rewritten to the address the camera was reached at, and
 * without any `user:pass@` the camera put in them.
 */
import { CameraProtocolError } from './errors.ts';
import { OnvifSession, type OnvifAuthMode } from './onvif-client.ts';
import * as soap from './onvif-soap.ts';
import {
  parseCapabilities,
  parseDeviceInformation,
  parseNetworkInterfaces,
  parseProfiles,
  parseServices,
  parseSystemDateAndTime,
  parseUri,
  rewriteHost,
  stripCredentials,
  type MediaProfile,
  type OnvifServices,
} from './onvif-parse.ts';
import { mapLimit } from '../lib/concurrency.ts';
import { errorMessage } from '../lib/errors.ts';
import type { CameraProfile } from './registry.ts';

export interface ScanError {
  operation: string;
  kind: string;
  message: string;
}

export interface InterrogationResult {
  deviceServiceUrl: string;
  address: string;
  manufacturer?: string | undefined;
  model?: string | undefined;
  firmware?: string | undefined;
  serial?: string | undefined;
  mac?: string | undefined;
  clockOffsetMs?: number | undefined;
  auth: OnvifAuthMode | 'refused' | 'unknown';
  profiles: CameraProfile[];
  errors: ScanError[];
}

export interface InterrogationOptions {
  deviceServiceUrl: string;
  username?: string | undefined;
  password?: string | undefined;
  timeoutMs: number;
}

export async function interrogateCamera(options: InterrogationOptions): Promise<InterrogationResult> {
  const address = new URL(options.deviceServiceUrl).hostname.replace(/^\[|\]$/g, '');
  const session = new OnvifSession(options);
  const result: InterrogationResult = { deviceServiceUrl: options.deviceServiceUrl, address, auth: 'unknown', profiles: [], errors: [] };
  const attempt = async <T>(operation: string, run: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await run();
    } catch (err) {
      if (err instanceof CameraProtocolError) session.noteRefusal(err);
      const kind = err instanceof CameraProtocolError ? err.kind : 'error';
      // Do not repeat the same refusal for every later operation: one line says it.
      if (!(session.authRefused && result.errors.some((e) => e.kind === 'auth') && kind === 'auth')) {
        result.errors.push({ operation, kind, message: errorMessage(err) });
      }
      return undefined;
    }
  };
  const fix = (uri: string): string => stripCredentials(rewriteHost(uri.trim(), address));

  // 1. The camera's clock, unauthenticated (ONVIF Core §5.9.1), before any dated token is sent.
  const clock = await attempt('GetSystemDateAndTime', async () => {
    const xml = await session.call(soap.getSystemDateAndTime(), undefined, false);
    return parseSystemDateAndTime(xml, new Date());
  });
  if (clock) {
    session.clockOffsetMs = clock.clockOffsetMs;
    result.clockOffsetMs = clock.clockOffsetMs;
  }

  // 2. Identity: the first authenticated call, which also settles the auth mode.
  const info = await attempt('GetDeviceInformation', async () => parseDeviceInformation(await session.call(soap.getDeviceInformation())));
  Object.assign(result, info ? { manufacturer: info.manufacturer, model: info.model, firmware: info.firmware, serial: info.serial } : {});
  if (session.authRefused) {
    result.auth = 'refused';
    return result;
  }

  // 3. Where the media services are: GetServices (knows Media2), else GetCapabilities (Profile S cameras).
  let services: OnvifServices | undefined = await attempt('GetServices', async () => parseServices(await session.call(soap.getServices())));
  if (!services?.mediaXAddr && !services?.media2XAddr) {
    services = (await attempt('GetCapabilities', async () => parseCapabilities(await session.call(soap.getCapabilities())))) ?? services;
  }
  const mediaUrl = services?.mediaXAddr ? fix(services.mediaXAddr) : undefined;
  const media2Url = services?.media2XAddr ? fix(services.media2XAddr) : undefined;

  const macs = await attempt('GetNetworkInterfaces', async () => parseNetworkInterfaces(await session.call(soap.getNetworkInterfaces())));
  result.mac = macs?.[0];

  // 4. Profiles: Media2 when offered (H.265 cameras describe themselves fully only there), else Media1;
  //    a Media2 that fails falls back to Media1 (some firmwares advertise a broken Media2).
  let profiles: MediaProfile[] | undefined;
  if (media2Url) profiles = await attempt('GetProfiles (Media2)', async () => parseProfiles(await session.call(soap.getProfiles2(), media2Url)));
  if (!profiles && mediaUrl) profiles = await attempt('GetProfiles', async () => parseProfiles(await session.call(soap.getProfiles(), mediaUrl)));
  if (!mediaUrl && !media2Url) result.errors.push({ operation: 'GetServices', kind: 'unsupported', message: 'the camera reports no media service' });

  // 5. URIs per video profile, a few requests at a time (a 16-channel encoder has dozens of profiles).
  const video = (profiles ?? []).filter((p) => p.encoding !== undefined);
  result.profiles = await mapLimit(video, 4, async (profile) => {
    const url = profile.media === 2 ? media2Url! : mediaUrl!;
    const stream = await attempt(`GetStreamUri ${profile.token}`, async () =>
      parseUri(await session.call(profile.media === 2 ? soap.getStreamUri2(profile.token) : soap.getStreamUri(profile.token), url), 'GetStreamUri'),
    );
    const snapshot = await attempt(`GetSnapshotUri ${profile.token}`, async () =>
      parseUri(await session.call(profile.media === 2 ? soap.getSnapshotUri2(profile.token) : soap.getSnapshotUri(profile.token), url), 'GetSnapshotUri'),
    );
    return {
      token: profile.token,
      name: profile.name,
      encoding: profile.encoding ?? 'unknown',
      width: profile.width,
      height: profile.height,
      fps: profile.fps,
      bitrateKbps: profile.bitrateKbps,
      streamUri: stream ? fix(stream) : undefined,
      snapshotUri: snapshot ? fix(snapshot) : undefined,
    };
  });
  result.auth = session.authRefused ? 'refused' : session.authMode;
  return result;
}
