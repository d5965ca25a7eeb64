/**
 * The config schema: the single source of truth for every key, default, bound and description.
 * The TypeScript types below, docs/config.schema.json and docs/CONFIG.md are all derived from it
 * (scripts/generate-docs.ts); nothing about a key is written anywhere else.
 *
 * Every object is strict (an unknown key is an error, not silently ignored: a misspelled `passwrod`
 * must not leave a camera without its password). Human messages for zod's generic issues live in
 * errors.ts; messages given here (`error:`) are specific to one key and take precedence.
 */
import { posix } from 'node:path';
import { z } from 'zod';

/** Where the agent looks for its config unless `VENUEBOX_CONFIG` names another file. */
export const DEFAULT_CONFIG_FILE = '/etc/venuebox/config.json';
export const CONFIG_FILE_ENV = 'VENUEBOX_CONFIG';

/** Environment variables that override `paths.*` (DESIGN: every host path overridable, so tests run in temp dirs). */
export const PATH_ENV_OVERRIDES = [
  { env: 'VENUEBOX_STATE_DIR', key: 'state' },
  { env: 'VENUEBOX_SPOOL_DIR', key: 'spool' },
  { env: 'VENUEBOX_LOG_DIR', key: 'logs' },
  { env: 'VENUEBOX_DB', key: 'database' },
] as const;

/** The three mutually exclusive forms of a secret; resolved by load.ts into one `password`. */
export const SECRET_KEYS = ['password', 'passwordFile', 'passwordEnv'] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

const absolutePath = (description: string) =>
  z
    .string()
    .regex(/^\//, { error: 'must be an absolute path' })
    .meta({ description });

/**
 * An integer in [min, max]. Deliberately not `z.int()`: zod 4 reports a non-integer as an explicit abort
 * (`continue: false`), and an explicit abort anywhere below also skips every `when` check above it — one
 * `latencyMs: 12.5` would hide a duplicate camera id. The JSON Schema still says "integer" (configJsonSchema).
 */
const integerSchemas = new WeakSet<object>();
function integer(min: number, max: number) {
  const schema = z.number().refine(Number.isInteger, 'must be an integer').min(min).max(max);
  integerSchemas.add(schema);
  return schema;
}

/**
 * A URL with one of `schemes`. Credentials inside it are rejected rather than accepted: a URL is logged,
 * shown in health reports and echoed by GStreamer, so a password in it leaks sooner or later.
 */
function urlWithScheme(schemes: readonly string[], schemeMessage: string, credentialsHint: string, more?: (url: URL, ctx: z.RefinementCtx) => void) {
  const scheme = new RegExp(`^(${schemes.join('|')})://`);
  return z
    .string()
    .regex(scheme, { error: schemeMessage })
    .superRefine((value, ctx) => {
      // Not `abort: true` on the regex (that would silence cross-key checks, see `integer`): skip here instead.
      if (!scheme.test(value)) return;
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: schemeMessage });
        return;
      }
      if (url.hostname === '') ctx.addIssue({ code: 'custom', message: schemeMessage });
      // Never echo the value: it is the very thing that may carry a password.
      if (url.username !== '' || url.password !== '') {
        ctx.addIssue({ code: 'custom', message: `must not contain credentials: ${credentialsHint}` });
      }
      more?.(url, ctx);
    });
}

/** The secret fields shared by every object that authenticates somewhere (MQTT, cameras, later ingest). */
function secretFields(what: string) {
  return {
    password: z.string().min(1).max(1024).optional().meta({
      description: `Password for ${what}, inline. Prefer passwordFile or passwordEnv so the file can be shared.`,
    }),
    passwordFile: z.string().min(1).optional().meta({
      description: `File holding the password for ${what}; read at start, trailing newline removed. Relative paths are relative to the config file.`,
    }),
    passwordEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be an environment variable name' })
      .optional()
      .meta({ description: `Name of the environment variable holding the password for ${what}.` }),
  };
}

/**
 * At most one secret form per object. Runs even when sibling keys are invalid (`when`), so that a config
 * with several mistakes reports all of them in one go. The issue sits on the second form given.
 */
function oneSecretForm(value: unknown, ctx: z.RefinementCtx): void {
  if (typeof value !== 'object' || value === null) return;
  const given = SECRET_KEYS.filter((key) => (value as Record<string, unknown>)[key] !== undefined);
  for (const key of given.slice(1)) {
    ctx.addIssue({
      code: 'custom',
      path: [key],
      message: `conflicts with ${given[0]}: give only one of ${SECRET_KEYS.join(', ')}`,
    });
  }
}
const evenWithSiblingIssues = { when: (payload: z.core.ParsePayload) => typeof payload.value === 'object' };

const pathsSchema = z
  .strictObject({
    state: absolutePath('Folder for the agent state (database, registry).').default(
      '/var/lib/venuebox',
    ),
    spool: absolutePath('Folder for buffered media segments.')
      .optional()
      .meta({ 'x-default': '<state>/spool' }),
    logs: absolutePath('Folder for log files.').default('/var/log/venuebox'),
    database: absolutePath('The SQLite database file.')
      .optional()
      .meta({ 'x-default': '<state>/venuebox.db' }),
  })
  .prefault({})
  .meta({ description: 'Host paths. Every one can be overridden by an environment variable, which wins over the file.' });

const logSchema = z
  .strictObject({
    level: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
      .default('info')
      .meta({ description: 'Lowest level written to the log.' }),
  })
  .prefault({})
  .meta({ description: 'Logging.' });

/**
 * The secret of an encrypted TLS client key, in the same three forms as a password; load.ts resolves it into
 * `keyPassphrase` and registers it with the redactor.
 */
export const TLS_SECRET_NAMES = ['keyPassphrase'] as const;
export type TlsSecretName = (typeof TLS_SECRET_NAMES)[number];
/** The TLS files of `mqtt.tls`, read (and checked together) by load.ts at start, then by the MQTT link. */
export const TLS_FILE_KEYS = ['caFile', 'certFile', 'keyFile'] as const;

const pemFile = (description: string) =>
  z.string().min(1).optional().meta({ description: `${description} Read at start; relative paths are relative to the config file.` });

/** certFile and keyFile together; a passphrase only for a key, in one form. Issues on the key that is wrong. */
function tlsPairs(value: unknown, ctx: z.RefinementCtx): void {
  if (typeof value !== 'object' || value === null) return;
  const v = value as Record<string, unknown>;
  if (v.certFile !== undefined && v.keyFile === undefined) ctx.addIssue({ code: 'custom', path: ['keyFile'], message: 'required with certFile' });
  if (v.keyFile !== undefined && v.certFile === undefined) ctx.addIssue({ code: 'custom', path: ['certFile'], message: 'required with keyFile' });
  const forms = ['keyPassphrase', 'keyPassphraseFile', 'keyPassphraseEnv'];
  const given = forms.filter((key) => v[key] !== undefined);
  for (const key of given.slice(1)) ctx.addIssue({ code: 'custom', path: [key], message: `conflicts with ${given[0]}: give only one of ${forms.join(', ')}` });
  if (given.length > 0 && v.keyFile === undefined) ctx.addIssue({ code: 'custom', path: [given[0]!], message: 'needs keyFile: a passphrase decrypts the client key' });
}

const mqttTlsSchema = z
  .strictObject({
    caFile: pemFile("PEM file of the CA that signed the broker's certificate (the fleet's own CA). Without it, Node's bundled public CAs."),
    certFile: pemFile("PEM file of this box's client certificate (chain after it, if any). Its CN is the box's identity on the broker: with `use_identity_as_username` the ACL confines the box to `venuebox/v1/<CN>/…`, so the CN must be the boxId."),
    keyFile: pemFile('PEM file of the private key of certFile (mode 0600). Never logged.'),
    keyPassphrase: z.string().min(1).max(1024).optional().meta({
      description: 'Passphrase of an encrypted keyFile, inline. Prefer keyPassphraseFile or keyPassphraseEnv so the file can be shared.',
    }),
    keyPassphraseFile: z.string().min(1).optional().meta({
      description: 'File holding the passphrase of keyFile; read at start, trailing newline removed. Relative paths are relative to the config file.',
    }),
    keyPassphraseEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be an environment variable name' })
      .optional()
      .meta({ description: 'Name of the environment variable holding the passphrase of keyFile.' }),
    servername: z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,253}$/, { error: 'must be a host name' })
      .optional()
      .meta({ description: "The name the broker's certificate must carry (also sent as SNI) when it differs from the URL's host, e.g. a URL with an IP address. mqtts:// only: mqtt.js does not pass it on for wss://." }),
    rejectUnauthorized: z.boolean().default(true).meta({
      description:
        "Verify the broker's certificate (caFile) and its name. false is dangerous: anyone on the path (the venue LAN, a borrowed uplink) can pose as the broker, read every report and send the box commands (restart, reboot, update-config); the client certificate does not help, because the box no longer checks whom it talks to. For a lab only.",
    }),
  })
  .superRefine(tlsPairs, evenWithSiblingIssues)
  .meta({ description: 'TLS to the broker: a CA and a client certificate per box (username/password is the alternative). Needs an mqtts:// or wss:// url.' });

/** `tls` with a plain mqtt:// or ws:// URL would be ignored by the client: the box would talk in the clear. */
function tlsNeedsSecureUrl(value: unknown, ctx: z.RefinementCtx): void {
  if (typeof value !== 'object' || value === null) return;
  const { tls, url } = value as Record<string, unknown>;
  if (tls !== undefined && typeof url === 'string' && /^(mqtt|ws):\/\//.test(url)) {
    ctx.addIssue({ code: 'custom', path: ['tls'], message: 'needs an mqtts:// or wss:// url (with mqtt:// or ws:// the box would talk in the clear)' });
  }
}

const mqttSchema = z
  .strictObject({
    url: urlWithScheme(
      ['mqtt', 'mqtts', 'ws', 'wss'],
      'must be an mqtt://, mqtts://, ws:// or wss:// URL',
      'use mqtt.username and mqtt.passwordFile (or password, passwordEnv)',
    ).meta({ description: 'Broker URL, e.g. mqtts://broker.example.net:8883. No credentials in it.' }),
    clientId: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .meta({ description: 'MQTT client id; must be unique per broker.', 'x-default': 'venuebox-<boxId>' }),
    username: z.string().min(1).max(256).optional().meta({ description: 'User name for the broker.' }),
    ...secretFields('the broker'),
    keepaliveSeconds: integer(5, 600).default(30).meta({ description: 'MQTT keepalive interval.' }),
    healthIntervalSeconds: integer(5, 3600)
      .default(30)
      .meta({ description: 'How often the health report is published.' }),
    topicPrefix: z
      .string()
      // Levels without wildcards and without empty levels: the prefix is used in publishes, where + and # are illegal.
      .regex(/^[^/+#]+(\/[^/+#]+)*$/, {
        error: 'must be topic levels separated by "/", without + or #, without leading or trailing "/"',
      })
      .default('venuebox/v1')
      .meta({ description: 'Topic prefix; the box publishes under `<topicPrefix>/<boxId>/…`.' }),
    connectTimeoutSeconds: integer(1, 120)
      .default(10)
      .meta({ description: 'How long one connection attempt may take.' }),
    tls: mqttTlsSchema.optional(),
  })
  .superRefine(oneSecretForm, evenWithSiblingIssues)
  .superRefine(tlsNeedsSecureUrl, evenWithSiblingIssues)
  .meta({ description: 'The MQTT broker the box reports to.' });

/**
 * The secret of a live destination (SRT passphrase, RTMP stream key) in the same three forms as a password:
 * inline, a file, an environment variable. load.ts resolves them into `<name>` and registers the value with
 * the redactor. Keys listed here are walked by load.ts (LIVE_SECRET_NAMES).
 */
export const LIVE_SECRET_NAMES = ['passphrase', 'streamKey'] as const;
export type LiveSecretName = (typeof LIVE_SECRET_NAMES)[number];

function liveSecretFields<N extends LiveSecretName>(name: N, what: string, inline: z.ZodString) {
  return {
    [name]: inline.optional().meta({ description: `${what}, inline. Prefer ${name}File or ${name}Env.` }),
    [`${name}File`]: z.string().min(1).optional().meta({ description: `File holding the ${what.toLowerCase()}; read at start, trailing newline removed. Relative paths are relative to the config file.` }),
    [`${name}Env`]: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be an environment variable name' })
      .optional()
      .meta({ description: `Name of the environment variable holding the ${what.toLowerCase()}.` }),
  } as { [K in N]: z.ZodOptional<z.ZodString> } & { [K in `${N}File` | `${N}Env`]: z.ZodOptional<z.ZodString> };
}

/** At most one form of `name` (exactly one when `required`); issues on the second form given, or on `name`. */
function oneFormOf(name: LiveSecretName, required: boolean) {
  const keys = [name, `${name}File`, `${name}Env`];
  return (value: unknown, ctx: z.RefinementCtx): void => {
    if (typeof value !== 'object' || value === null) return;
    const given = keys.filter((key) => (value as Record<string, unknown>)[key] !== undefined);
    if (required && given.length === 0) ctx.addIssue({ code: 'custom', path: [name], message: `required: give one of ${keys.join(', ')}` });
    for (const key of given.slice(1)) {
      ctx.addIssue({ code: 'custom', path: [key], message: `conflicts with ${given[0]}: give only one of ${keys.join(', ')}` });
    }
  };
}

/** srt://host:port or rtmp(s)://host[:port]/app: the secret never in the URL (it is logged and shown in health). */
function liveUrl(kind: 'srt' | 'rtmp', description: string) {
  const hint = kind === 'srt' ? 'use passphrase (or passphraseFile, passphraseEnv)' : 'the stream key goes in streamKey (or streamKeyFile, streamKeyEnv)';
  return urlWithScheme(kind === 'srt' ? ['srt'] : ['rtmp', 'rtmps'], kind === 'srt' ? 'must be an srt:// URL' : 'must be an rtmp:// or rtmps:// URL', hint, (url, ctx) => {
    // Messages never echo the value: a stream key pasted into it would land in the log.
    if (url.search !== '') ctx.addIssue({ code: 'custom', message: kind === 'srt' ? 'must not have parameters: use latencyMs and passphrase (or passphraseFile, passphraseEnv)' : `must not have parameters: ${hint}` });
    if (kind === 'srt' && url.port === '') ctx.addIssue({ code: 'custom', message: 'must name a port: srt://host:port' });
    if (kind === 'srt' && url.pathname !== '' && url.pathname !== '/') ctx.addIssue({ code: 'custom', message: 'must be srt://host:port, without a path' });
    if (kind === 'rtmp' && url.pathname.replace(/\//g, '') === '') ctx.addIssue({ code: 'custom', message: 'must name the application: rtmp://host/app (the stream key goes in streamKey)' });
  }).meta({ description });
}

const srtOutputSchema = z
  .strictObject({
    kind: z.literal('srt').meta({ description: 'SRT in caller mode: the box connects to the ingest\'s listener.' }),
    url: liveUrl('srt', 'The SRT listener, srt://host:port, without parameters.'),
    latencyMs: integer(20, 8000).default(500).meta({ description: 'SRT latency (the time allowed for retransmission): at least 4 × the round-trip time to the ingest.' }),
    ...liveSecretFields('passphrase', 'Encryption passphrase (10–79 characters, SRT\'s rule); none: unencrypted', z.string().min(10, { error: 'must be 10–79 characters (SRT)' }).max(79, { error: 'must be 10–79 characters (SRT)' })),
    keyLength: z.literal([16, 24, 32]).default(16).meta({ description: 'AES key length in bytes (pbkeylen) when a passphrase is set.' }),
  })
  .superRefine(oneFormOf('passphrase', false), evenWithSiblingIssues);

const rtmpOutputSchema = z
  .strictObject({
    kind: z.literal('rtmp').meta({ description: 'RTMP or RTMPS push (YouTube, Twitch, most CDNs). H.264 only; silent AAC is added when the camera has no audio.' }),
    url: liveUrl('rtmp', 'The ingest, rtmp(s)://host[:port]/application, without the stream key.'),
    ...liveSecretFields('streamKey', 'Stream key', z.string().min(1).max(1024)),
  })
  .superRefine(oneFormOf('streamKey', true), evenWithSiblingIssues);

const liveOutputsSchema = z
  .array(z.discriminatedUnion('kind', [srtOutputSchema, rtmpOutputSchema], { error: 'must be srt or rtmp' }))
  .max(4)
  .default([])
  .meta({ description: 'Live outputs of this camera: real time, best effort, each reconnecting by itself; a destination that is down never affects the recording. Each is `{kind: "srt", url: "srt://host:port", latencyMs: 500, passphraseFile | passphraseEnv | passphrase (10–79 characters, optional), keyLength: 16 | 24 | 32}` or `{kind: "rtmp", url: "rtmp(s)://host[:port]/app", streamKeyFile | streamKeyEnv | streamKey (required)}` (every key is described in config.schema.json). Secrets never go into the URL.' });

const cameraSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, {
        error: 'must be 1–32 lowercase letters, digits, "_" or "-", starting with a letter or digit',
      })
      .meta({ description: 'Stable camera id, unique on this box; used in topics and file names.' }),
    name: z.string().min(1).max(64).optional().meta({ description: 'Human name shown in dashboards.' }),
    role: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,31}$/, { error: 'must be 1–32 lowercase letters, digits or "-", starting with a letter' })
      .optional()
      .meta({ description: 'What this camera shows (`main`, `wide`, `goal-left`, …); schedules pick cameras by role.' }),
    rtsp: urlWithScheme(
      ['rtsp', 'rtsps'],
      'must be an rtsp:// URL',
      'use the camera username and passwordFile (or password, passwordEnv)',
    )
      .optional()
      .meta({ description: 'RTSP stream URL, without credentials. Optional when `match` names an ONVIF camera (its stream URI is discovered).' }),
    match: z
      .strictObject({
        urn: z.string().regex(/^urn:[a-z0-9][a-z0-9-]{0,31}:\S+$/i, { error: 'must be an endpoint URN such as urn:uuid:…' }).optional().meta({ description: 'WS-Discovery endpoint reference of the camera (from `venuebox cameras scan`).' }),
        mac: z.string().regex(/^[0-9a-fA-F]{2}([-:.]?[0-9a-fA-F]{2}){5}$/, { error: 'must be a MAC address' }).optional().meta({ description: 'MAC address of the camera, for cameras without a stable URN.' }),
        profile: z.string().min(1).max(64).optional().meta({ description: 'ONVIF profile token to record; default: the first (usually the main stream).' }),
      })
      .optional()
      .meta({ description: 'Binds this entry to a discovered ONVIF camera by identity, whatever its IP address.' }),
    username: z.string().min(1).max(256).optional().meta({ description: 'User name for the camera.' }),
    ...secretFields('the camera'),
    transport: z
      .enum(['tcp', 'udp'])
      .default('tcp')
      .meta({ description: 'RTSP transport; tcp survives lossy venue LANs and NAT.' }),
    latencyMs: integer(0, 5000).default(200).meta({ description: 'Jitter buffer of the RTSP source.' }),
    transcode: z
      .strictObject({
        width: integer(160, 3840).default(1280).meta({ description: 'Output width.' }),
        height: integer(90, 2160).default(720).meta({ description: 'Output height.' }),
        fps: integer(1, 60).default(30).meta({ description: 'Output frame rate; the GOP is one segment long.' }),
        bitrateKbps: integer(100, 50_000).default(3000).meta({ description: 'Output bitrate (the uplink may lower it at run time).' }),
        codec: z.enum(['h264', 'h265']).default('h264').meta({ description: 'Output codec (H.265 only where the hardware profile has an encoder).' }),
        overlays: z
          .array(
            z.discriminatedUnion('kind', [
              z.strictObject({ kind: z.literal('text'), text: z.string().min(1).max(200), position: z.enum(['top-left', 'top-right', 'bottom-left', 'bottom-right']).default('top-left') }),
              z.strictObject({ kind: z.literal('clock'), position: z.enum(['top-left', 'top-right', 'bottom-left', 'bottom-right']).default('top-right') }),
              z.strictObject({ kind: z.literal('image'), path: z.string().regex(/^\//, { error: 'must be an absolute path' }), x: integer(0, 3840), y: integer(0, 2160), alpha: z.number().min(0).max(1).default(1) }),
            ]),
          )
          .max(8)
          .default([])
          .meta({ description: 'Burnt-in overlays: text, the clock, an image (a scorebug).' }),
        slateText: z.string().min(1).max(100).default('signal lost').meta({ description: 'Shown on a black slate while the camera is lost.' }),
      })
      .optional()
      .meta({ description: 'Decode and re-encode (overlays, scaling, a fixed bitrate) with the detected hardware encoder, and keep the output alive with a slate when the camera is lost. Without it the camera is recorded passthrough.' }),
    live: liveOutputsSchema,
  })
  .superRefine(oneSecretForm, evenWithSiblingIssues)
  .superRefine((camera, ctx) => {
    if (typeof camera !== 'object' || camera === null) return;
    const c = camera as { rtsp?: unknown; match?: { urn?: unknown; mac?: unknown } };
    if (c.rtsp === undefined && c.match === undefined) ctx.addIssue({ code: 'custom', path: ['rtsp'], message: 'required unless match names a discovered camera' });
    if (c.match !== undefined && c.match.urn === undefined && c.match.mac === undefined) ctx.addIssue({ code: 'custom', path: ['match'], message: 'needs urn or mac' });
  }, evenWithSiblingIssues);

const camerasSchema = z
  .array(cameraSchema)
  .max(64)
  .default([])
  .superRefine(
    (cameras, ctx) => {
      // Ids name topics and files, so a duplicate would silently merge two cameras. Reported on the later one.
      const seen = new Map<string, number>();
      cameras.forEach((camera: unknown, index) => {
        const id = (camera as { id?: unknown } | null)?.id;
        if (typeof id !== 'string') return;
        const first = seen.get(id);
        if (first === undefined) seen.set(id, index);
        else ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `duplicate id "${id}" (also cameras[${first}])` });
      });
    },
    { when: (payload) => Array.isArray(payload.value) },
  )
  .meta({ description: 'The IP cameras this box records.' });

const discoverySchema = z
  .strictObject({
    enabled: z.boolean().default(true).meta({ description: 'Look for ONVIF cameras on the LAN (WS-Discovery; Hello/Bye while running).' }),
    interfaces: z
      .array(z.string().min(1).max(15))
      .max(16)
      .default([])
      .meta({ description: 'LAN interfaces to probe on; empty = every IPv4 interface except loopback.' }),
    probeWindowSeconds: integer(1, 30).default(3).meta({ description: 'How long a scan collects ProbeMatches (cameras answer within 0.5 s, lossy links later).' }),
    probeRepeats: integer(1, 5).default(3).meta({ description: 'How often each multicast Probe is sent (UDP loses datagrams).' }),
    subnets: z
      .array(z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/(1[6-9]|2\d|3[0-2])$/, { error: 'must be an IPv4 CIDR from /16 to /32' }))
      .max(64)
      .default([])
      .meta({ description: 'Subnets swept by unicast, for cameras that multicast does not reach (other VLANs).' }),
    ports: z
      .array(integer(1, 65535))
      .min(1)
      .max(32)
      .default([80, 8080, 8000, 8899, 2020, 8081, 10080, 888, 5000])
      .meta({ description: 'HTTP ports where the sweep looks for an ONVIF device service.' }),
    rescanMinutes: integer(0, 1440).default(15).meta({ description: 'How often the agent scans again (0 = only at start); Hello announcements are heard in between.' }),
    sweepConcurrency: integer(1, 1024).default(128).meta({ description: 'Connection attempts in flight during a sweep.' }),
    connectTimeoutMs: integer(100, 10_000).default(800).meta({ description: 'Time allowed for one connection during a sweep or an ONVIF request.' }),
    username: z.string().min(1).max(256).optional().meta({ description: 'Venue default camera user, for cameras without their own credentials.' }),
    ...secretFields('the venue default camera user'),
  })
  .superRefine(oneSecretForm, evenWithSiblingIssues)
  .prefault({})
  .meta({ description: 'Finding the venue\'s ONVIF cameras.' });

const cameraHealthSchema = z
  .strictObject({
    probeIntervalSeconds: integer(2, 300).default(10).meta({ description: 'How often each recorded camera gets an RTSP DESCRIBE (once a minute while its recording delivers frames).' }),
    downSeconds: integer(1, 600).default(5).meta({ description: 'How long a worse grade must hold before it is reported (offline, degraded).' }),
    upSeconds: integer(1, 600).default(15).meta({ description: 'How long a better grade must hold before it is reported: a camera that comes back must prove it stays.' }),
  })
  .prefault({})
  .meta({ description: 'Camera health: grading with hysteresis, debounced online/offline events.' });

const recordingSchema = z
  .strictObject({
    enabled: z.boolean().default(true).meta({ description: 'Record the cameras into the spool.' }),
    segmentSeconds: integer(1, 60).default(2).meta({ description: 'Length of one media segment.' }),
    mode: z
      .enum(['continuous', 'events'])
      .default('continuous')
      .meta({ description: 'continuous: every camera is recorded all the time (footage outside events is tagged as such). events: a camera is recorded only while an event of the schedule needs it, from its pre-roll to the end of its post-roll.' }),
    eventId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, { error: 'must be 1–128 letters, digits, ".", "_" or "-", starting with a letter or digit' })
      .optional()
      .meta({ description: 'Event id given to all footage when no schedule is in use (a fixed installation streaming one programme); the uplink puts it in object names and writes its event playlist.' }),
  })
  .prefault({})
  .meta({ description: 'Recording.' });

const spoolSchema = z
  .strictObject({
    maxMegabytes: integer(64, 16 * 1024 * 1024).default(20 * 1024).meta({ description: 'The most the spool\'s segment files may take, in MiB. Above it files are released in the documented eviction order (docs/SPOOL.md).' }),
    minFreeMegabytes: integer(0, 1024 * 1024).default(1024).meta({ description: 'Free disk the spool always leaves on its file system, in MiB; below it files are released even under maxMegabytes.' }),
    keepUploadedMinutes: integer(0, 7 * 24 * 60).default(0).meta({ description: 'How long a segment stays on disk after the ingest acknowledged it, for local replays (0: deleted at once). Kept files are the first the quota releases.' }),
  })
  .prefault({})
  .meta({ description: 'The spool: segment files waiting for the uplink, with a disk quota.' });

const uplinkAuthSchema = z
  .strictObject({
    header: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, { error: 'must be an HTTP header name' })
      .default('Authorization')
      .meta({ description: 'Header that carries the credential on every PUT.' }),
    ...secretFields('the ingest (the whole header value, e.g. "Bearer …"; or the {token} of urlTemplate)'),
  })
  .superRefine(oneSecretForm, evenWithSiblingIssues)
  .meta({ description: 'Authentication to the ingest: a header, or the {token} of a URL template.' });

const uplinkSchema = z
  .strictObject({
    url: urlWithScheme(['http', 'https'], 'must be an http:// or https:// URL', 'use uplink.auth').optional().meta({
      description: 'Base URL of the HTTP ingest; segments go to {url}/{boxId}/{eventId}/{streamId}/{seq}.ts with PUT.',
    }),
    urlTemplate: z
      .string()
      .regex(/^https?:\/\/.*\{name\}/, { error: 'must be an http(s):// URL containing {name}' })
      .optional()
      .meta({ description: 'Instead of url: an object URL with {boxId}, {eventId}, {streamId}, {name} and optionally {token} (replaced by the auth secret), for presigned-style ingests.' }),
    auth: uplinkAuthSchema.optional(),
    caFile: z.string().min(1).optional().meta({ description: 'PEM file of the CA that signs an https ingest (a private CA); the system CAs otherwise.' }),
    concurrency: integer(1, 8).default(2).meta({ description: 'Uploads in flight at once (one while the link is offline).' }),
    backfillShare: z.number().gt(0).max(1).default(0.9).meta({ description: 'Share of the measured link the backfill of missed segments may use; the rest is headroom for the live edge.' }),
    requestTimeoutSeconds: integer(2, 300).default(20).meta({ description: 'An upload with no byte moving for this long fails (a slow link is not a dead one).' }),
    livePlaylistSegments: integer(3, 60).default(6).meta({ description: 'Segments listed in the live HLS playlist.' }),
    uploadOutsideEvents: z.boolean().default(true).meta({ description: 'Upload footage recorded outside any scheduled event (under the event id "unscheduled").' }),
  })
  .superRefine((value, ctx) => {
    if ((value.url === undefined) === (value.urlTemplate === undefined)) ctx.addIssue({ code: 'custom', path: ['url'], message: 'give exactly one of url and urlTemplate' });
  })
  .optional()
  .meta({ description: 'Store-and-forward upload of the spool to an HTTP(S) ingest. Without it the box records into the spool only.' });

const commandsSchema = z
  .strictObject({
    rebootCommand: z
      .array(z.string().min(1))
      .min(1)
      .default(['systemctl', 'reboot'])
      .meta({ description: 'What the `reboot` command runs (argv, no shell).' }),
  })
  .prefault({})
  .meta({ description: 'Remote commands over MQTT (cmd/{name}; docs/mqtt-asyncapi.yaml).' });

const scheduleConfigSchema = z
  .strictObject({
    file: z.string().min(1).optional().meta({ description: 'A schedule file (the same JSON as the retained MQTT schedule topic), read at start: for boxes without a controller, or as a fallback. Relative to the config file\'s folder when relative.' }),
    readinessMinutes: z.array(integer(1, 24 * 60)).max(5).default([30, 5]).meta({ description: 'Minutes before an event\'s start at which the readiness checks run and the verdict is published.' }),
  })
  .prefault({})
  .meta({ description: 'Scheduled events (docs/SCHEDULE.md): from the controller (retained MQTT topic schedule) and/or a file.' });

/** The shape of the file, before derived defaults. Exported for the JSON Schema (input side). */
export const configObjectSchema = z.strictObject({
  $schema: z.string().optional().meta({ description: 'JSON Schema reference for editors; ignored by the agent.' }),
  boxId: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{2,62}$/, {
      error: 'must be 3–63 lowercase letters, digits or "-", starting with a letter or digit',
    })
    .meta({ description: 'Id of this box; an MQTT topic level and a file name.' }),
  paths: pathsSchema,
  log: logSchema,
  mqtt: mqttSchema,
  cameras: camerasSchema,
  discovery: discoverySchema,
  cameraHealth: cameraHealthSchema,
  recording: recordingSchema,
  spool: spoolSchema,
  uplink: uplinkSchema,
  commands: commandsSchema,
  schedule: scheduleConfigSchema,
});

/** The full schema: the file's shape plus the defaults that depend on other keys. */
export const configSchema = configObjectSchema.transform((config) => {
  const { state } = config.paths;
  return {
    ...config,
    paths: {
      ...config.paths,
      spool: config.paths.spool ?? posix.join(state, 'spool'),
      database: config.paths.database ?? posix.join(state, 'venuebox.db'),
    },
    mqtt: { ...config.mqtt, clientId: config.mqtt.clientId ?? `venuebox-${config.boxId}` },
  };
});

/** What a user writes (every default optional). */
export type ConfigInput = z.input<typeof configSchema>;
/** After validation and defaults, before secrets are resolved. */
export type ValidatedConfig = z.output<typeof configSchema>;

/** The secret names an object has (`password`, `passphrase`, `streamKey`), found by their `…File` form. */
type SecretNamesOf<T> = { [N in 'password' | LiveSecretName | TlsSecretName]: `${N}File` extends keyof T ? N : never }['password' | LiveSecretName | TlsSecretName];

/** Replaces the three forms of every secret (`x`, `xFile`, `xEnv`) of every object that has them by one resolved `x`. */
export type ResolveSecrets<T> = T extends readonly (infer U)[]
  ? ResolveSecrets<U>[]
  : T extends object
    ? [SecretNamesOf<T>] extends [never]
      ? { [K in keyof T]: ResolveSecrets<T[K]> }
      : { [K in keyof T as K extends SecretNamesOf<T> | `${SecretNamesOf<T>}${'File' | 'Env'}` ? never : K]: ResolveSecrets<T[K]> } & {
          [N in SecretNamesOf<T>]?: string;
        }
    : T;

/** The config the agent runs with: validated, defaults applied, secrets resolved and registered for redaction. */
export type Config = ResolveSecrets<ValidatedConfig>;
export type MqttConfig = Config['mqtt'];
export type MqttTlsConfig = NonNullable<MqttConfig['tls']>;
export type CameraConfig = Config['cameras'][number];
export type LiveOutputConfig = CameraConfig['live'][number];

export const SCHEMA_ID = 'urn:venuebox:schema:config:v1';

/** The JSON Schema of what a user writes (input side: defaults shown, not required). Deterministic. */
export function configJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(configObjectSchema, {
    io: 'input',
    target: 'draft-2020-12',
    override: ({ zodSchema, jsonSchema }) => {
      if (integerSchemas.has(zodSchema)) jsonSchema.type = 'integer';
    },
  }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: SCHEMA_ID,
    title: 'venuebox config',
    description: 'The config file of a venuebox agent. Reference: docs/CONFIG.md.',
    ...rest,
  };
}
