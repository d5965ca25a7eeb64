// The options of one virtual ONVIF camera: a strict schema (a misspelled quirk must fail, not be ignored),
// then resolution into everything the servers need (vendor preset applied, profiles laid out, MAC derived).
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { PRESETS, VENDORS, type PrefixSet, type ProfileSlot, type Vendor, type VendorPreset } from './presets.ts';

export const PASSWORD_ENV = 'VIRTUAL_ONVIF_PASSWORD';

const profileSchema = z.strictObject({
  token: z.string().min(1).max(64).optional().describe('ReferenceToken; default from the vendor style.'),
  name: z.string().min(1).max(64).optional(),
  encoding: z.enum(['H264', 'H265']).default('H264'),
  width: z.number().int().min(16).max(8192).optional(),
  height: z.number().int().min(16).max(8192).optional(),
  fps: z.number().int().min(1).max(120).optional(),
  bitrateKbps: z.number().int().min(16).max(100_000).optional(),
});

export const optionsSchema = z.strictObject({
  bind: z.string().default('127.0.0.1').describe('Address of both servers; 0.0.0.0 for all.'),
  httpPort: z.number().int().min(0).max(65535).default(0).describe('Device service port; 0 = any free one.'),
  discoveryPort: z.number().int().min(0).max(65535).default(3702).describe('WS-Discovery port; 0 = any free one (tests).'),
  rtspUrl: z.string().regex(/^rtsp:\/\/[^@/]+\//, 'rtsp://host:port/path without credentials').optional()
    .describe('The paired RTSP stream; default rtsp://<address>:554<vendor path>.'),
  uuid: z.string().uuid().optional().describe('Endpoint UUID (identity across reboots and address changes).'),
  mac: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i).optional(),
  name: z.string().min(1).max(64).default('Virtual Camera'),
  location: z.string().min(1).max(64).default('venue'),
  vendor: z.enum(VENDORS as [Vendor, ...Vendor[]]).default('generic'),
  manufacturer: z.string().optional(),
  model: z.string().optional(),
  firmwareVersion: z.string().optional(),
  serialNumber: z.string().optional(),
  hardwareId: z.string().optional(),
  username: z.string().min(1).optional().describe('With a password in $VIRTUAL_ONVIF_PASSWORD: auth required.'),
  auth: z.enum(['ws-security', 'digest', 'both']).default('ws-security')
    .describe('ws-security: UsernameToken digest; digest: HTTP Digest only (WS-Security ignored); both: either.'),
  authFaultStatus: z.union([z.literal(400), z.literal(401)]).default(400)
    .describe('HTTP status of a ter:NotAuthorized fault (the Core spec says 400; many cameras send 401).'),
  preAuth: z.enum(['time-only', 'spec']).optional()
    .describe('time-only: only GetSystemDateAndTime is anonymous; spec: the Core spec PRE_AUTH set. Default from vendor.'),
  snapshotAuth: z.enum(['none', 'digest']).default('none').describe('HTTP Digest on the snapshot URL.'),
  clockOffsetMs: z.number().int().default(0).describe("The camera's clock minus the true time."),
  media2: z.boolean().default(true).describe('Offer the Media2 (ver20) service in GetServices.'),
  width: z.number().int().min(16).max(8192).default(1280).describe('Main stream size (the paired stream).'),
  height: z.number().int().min(16).max(8192).default(720),
  fps: z.number().int().min(1).max(120).default(25),
  bitrateKbps: z.number().int().min(16).max(100_000).default(2048),
  profiles: z.union([z.number().int().min(1).max(64), z.array(profileSchema).min(1).max(64)]).default(2)
    .describe('A count (main and sub per channel) or the list.'),
  xaddrs: z.enum(['normal', 'several', 'zero', 'nat']).default('normal').describe('Quirk of the discovery XAddrs.'),
  uriWhitespace: z.boolean().default(false).describe('Quirk: whitespace and newlines around <tt:Uri>, and a query string.'),
  prefixStyle: z.enum(['standard', 'odd']).default('standard').describe('odd: SOAP-ENV:/ns1:/ns2: prefixes.'),
  maxReplyDelayMs: z.number().int().min(0).max(5000).default(500).describe('ProbeMatch after a random 0..N ms.'),
});

export type VirtualOnvifOptions = z.input<typeof optionsSchema>;

export interface ResolvedProfile extends ProfileSlot {
  token: string;
  name: string;
  fps: number;
  bitrateKbps: number;
  videoSourceToken: string;
  /** The stream URI as the camera reports it (before any whitespace quirk). */
  streamUri: string;
  /** Path and query of the snapshot on this camera's HTTP server. */
  snapshotPath: string;
}

export interface Credentials {
  username: string;
  password: string;
}

export interface CameraConfig extends Omit<z.output<typeof optionsSchema>, 'profiles' | 'preAuth' | 'uuid' | 'mac'> {
  preset: VendorPreset;
  preAuth: 'time-only' | 'spec';
  prefixes: PrefixSet;
  uuid: string;
  urn: string;
  mac: string;
  manufacturer: string;
  model: string;
  firmwareVersion: string;
  serialNumber: string;
  hardwareId: string;
  credentials: Credentials | undefined;
  profiles: ResolvedProfile[];
  /** Address written into XAddrs and URIs: the bind address, or the first local address for 0.0.0.0. */
  address: string;
  httpPort: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates options; `password` comes from the environment so that it never shows in `ps`. */
export function parseOptions(raw: unknown, password: string | undefined): z.output<typeof optionsSchema> & { password?: string } {
  const parsed = optionsSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`);
    throw new ConfigError(`virtual-onvif options: ${issues.join('; ')}`);
  }
  if ((parsed.data.username === undefined) !== (password === undefined)) {
    throw new ConfigError(`virtual-onvif options: username and $${PASSWORD_ENV} go together`);
  }
  return password === undefined ? parsed.data : { ...parsed.data, password };
}

const hex = (text: string, bytes: number): string => createHash('sha1').update(text).digest('hex').slice(0, bytes * 2);

/** A stable MAC for a UUID: the vendor's OUI when known, else locally administered (02:…). */
function macFor(uuid: string, preset: VendorPreset): string {
  const tail = hex(`mac:${uuid}`, 6);
  const prefix = preset.macPrefix ? preset.macPrefix.replace(/:/g, '') : `02${tail.slice(2, 6)}`;
  return `${prefix}${tail.slice(6)}`.match(/../g)!.join(':');
}

/** Applies the vendor preset and lays out the profiles; `address` and `httpPort` are known once bound. */
export function resolveConfig(options: ReturnType<typeof parseOptions>, address: string, httpPort: number): CameraConfig {
  const preset = PRESETS[options.vendor];
  let uuid = options.uuid ?? randomUUID();
  const mac = (options.mac ?? macFor(uuid, preset)).toLowerCase();
  // Some vendors (Hikvision) end the endpoint UUID in the MAC: a client may read the MAC from it.
  if (preset.uuidEndsInMac && options.uuid === undefined) uuid = `${uuid.slice(0, 24)}${mac.replace(/:/g, '')}`;
  const macHex = mac.replace(/:/g, '');
  const serialNumber = options.serialNumber ?? preset.serialNumber(macHex, uuid);
  const rtspUrl = options.rtspUrl ?? `rtsp://${address}:554${preset.rtspPath}`;

  const specs: Array<z.output<typeof profileSchema>> =
    typeof options.profiles === 'number' ? Array.from({ length: options.profiles }, () => ({ encoding: 'H264' })) : options.profiles;
  const profiles = specs.map((spec, index): ResolvedProfile => {
    const channel = Math.floor(index / 2) + 1;
    const stream = index % 2;
    const main = stream === 0;
    // Sub streams keep the aspect ratio at 640 wide, as cameras ship them by default.
    const width = spec.width ?? (main ? options.width : 640);
    const height = spec.height ?? (main ? options.height : Math.round((640 * options.height) / options.width / 2) * 2);
    const slot: ProfileSlot = { index, channel, stream, encoding: spec.encoding, width, height };
    const token = spec.token ?? preset.profileToken(slot);
    let query = preset.streamQuery(token, slot);
    // The whitespace quirk is about `&amp;` inside a query too: give query-less styles one.
    if (options.uriWhitespace && query === '') query = `profile=${encodeURIComponent(token)}&unicast=true`;
    return {
      ...slot,
      token,
      name: spec.name ?? preset.profileName(slot),
      fps: spec.fps ?? options.fps,
      bitrateKbps: spec.bitrateKbps ?? (main ? options.bitrateKbps : 512),
      videoSourceToken: `VideoSource_${channel}`,
      streamUri: query ? `${rtspUrl}${rtspUrl.includes('?') ? '&' : '?'}${query}` : rtspUrl,
      snapshotPath: preset.snapshotPath(token, slot),
    };
  });
  const tokens = new Set(profiles.map((p) => p.token));
  if (tokens.size !== profiles.length) throw new ConfigError('virtual-onvif options: profile tokens must be unique');

  const { password, ...rest } = options;
  return {
    ...rest,
    preset,
    preAuth: options.preAuth ?? preset.preAuth,
    prefixes: options.prefixStyle === 'odd' ? 'odd' : preset.prefixes,
    uuid,
    urn: `urn:uuid:${uuid}`,
    mac,
    manufacturer: options.manufacturer ?? preset.manufacturer,
    model: options.model ?? preset.model,
    firmwareVersion: options.firmwareVersion ?? preset.firmwareVersion,
    serialNumber,
    hardwareId: options.hardwareId ?? options.model ?? preset.model,
    credentials: options.username !== undefined && password !== undefined ? { username: options.username, password } : undefined,
    profiles,
    rtspUrl,
    address,
    httpPort,
  };
}

/** `host:port` for a URL; port 80 is left out, as cameras write it (`http://192.168.1.123/onvif/device_service`). */
export function hostPort(host: string, port: number): string {
  return port === 80 ? host : `${host}:${port}`;
}

/** `onvif://www.onvif.org/…` scopes; spaces and the like percent-encoded, as cameras write them. */
export function scopesOf(config: CameraConfig): string[] {
  const enc = (value: string) => encodeURIComponent(value);
  const scopes = [
    'onvif://www.onvif.org/type/video_encoder',
    'onvif://www.onvif.org/Profile/Streaming',
    `onvif://www.onvif.org/hardware/${enc(config.model)}`,
    `onvif://www.onvif.org/name/${enc(config.name)}`,
    `onvif://www.onvif.org/location/${enc(config.location)}`,
  ];
  if (config.preset.macScope) scopes.push(`onvif://www.onvif.org/MAC/${config.mac}`);
  return scopes;
}
