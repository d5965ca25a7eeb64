/**
 * Pure: a live destination (SRT caller, RTMP/RTMPS) → the launch string of its live output pipeline, which
 * reads the camera's live tap (live-output-tap.ts) from loopback UDP and sends it on:
 *
 *   SRT:  udpsrc → tsparse → srtsink (caller)
 *   RTMP: udpsrc → tsdemux → h264parse + aacparse (or silent AAC) → flvmux → rtmp2sink
 *
 * Secrets (SRT passphrase, RTMP stream key) are never in the launch string: they go to `properties`, set by
 * the host on the element after parsing, so a launch string can be logged and compared in tests. Enums cannot
 * be set from JavaScript (STACK-NOTES), so `pbkeylen` (not a secret) is in the launch string.
 */
import { quoteLaunchValue, type VideoCodec } from './pipeline-builder.ts';

export type SrtKeyLength = 16 | 24 | 32;

export type LiveDestination =
  | {
      kind: 'srt';
      /** srt://host:port, without parameters. */
      url: string;
      latencyMs: number;
      /** 10–79 characters (SRT's rule); none: unencrypted. */
      passphrase?: string | undefined;
      /** AES key length in bytes when a passphrase is given. */
      keyLength?: SrtKeyLength | undefined;
    }
  | {
      kind: 'rtmp';
      /** rtmp(s)://host[:port]/application, without the stream key. */
      url: string;
      /** Required: optional in the type only because the config's secret resolution types it so. */
      streamKey?: string | undefined;
    };

/** What the tap sends: where, and what is in it. */
export interface LiveInput {
  port: number;
  codec: VideoCodec;
  /** The tap carries AAC audio. */
  audio: boolean;
}

export interface BuiltLiveOutput {
  launch: string;
  /** Properties set on named elements after parsing (the secrets travel only here). */
  properties: Record<string, Record<string, string | number | boolean>>;
  /** The sink whose `stats` structure counts the bytes sent, and the field that does. */
  sink: { element: string; bytesField: string };
  /** The udpsrc whose timeout messages say that the recording sends nothing. */
  input: string;
}

export const LIVE_SINK = 'dest';
export const LIVE_INPUT = 'input';
/** The udpsrc posts GstUDPSrcTimeout after this long without a datagram. */
export const INPUT_TIMEOUT_MS = 1000;

/**
 * The loopback reader. buffer-size: 4 MiB is seconds of stream at stadium bitrates, so a live output that is
 * briefly descheduled loses nothing; the kernel caps it at net.core.rmem_max (udpsrc then warns, harmlessly).
 */
function input(port: number): string {
  return `udpsrc name=${LIVE_INPUT} address=127.0.0.1 port=${port} buffer-size=4194304 timeout=${INPUT_TIMEOUT_MS * 1_000_000} caps="video/mpegts,systemstream=true,packetsize=188"`;
}

/** Silent AAC for a stream without audio: YouTube and most CDNs refuse an RTMP stream without an audio track. */
const SILENT_AAC = 'audiotestsrc wave=silence is-live=true ! audio/x-raw,rate=48000,channels=2 ! audioconvert ! avenc_aac bitrate=64000 ! aacparse ! queue';

export function buildLiveOutput(destination: LiveDestination, tap: LiveInput): BuiltLiveOutput {
  if (destination.kind === 'srt') return buildSrt(destination, tap);
  return buildRtmp(destination, tap);
}

function buildSrt(destination: Extract<LiveDestination, { kind: 'srt' }>, tap: LiveInput): BuiltLiveOutput {
  const { host, port } = srtAddress(destination.url);
  const encrypted = destination.passphrase !== undefined && destination.passphrase !== '';
  if (encrypted && (destination.passphrase!.length < 10 || destination.passphrase!.length > 79)) {
    throw new Error('the SRT passphrase must be 10–79 characters');
  }
  // uri first: srtsink reads parameters from it, and later properties must win over its defaults.
  // tsparse alignment=7: whole 1316-byte payloads per SRT packet, as receivers expect (srt-live-transmit's default).
  // sync=false: the tap is already real time. wait-for-connection=false: data is dropped, not queued, while
  // the caller (re)connects — latency stays bounded, and srtsink reconnects by itself after a cut.
  const sink = [
    `srtsink name=${LIVE_SINK} uri=${quoteLaunchValue(`srt://${host}:${port}`)} mode=caller latency=${destination.latencyMs} wait-for-connection=false sync=false`,
    encrypted ? ` pbkeylen=${destination.keyLength ?? 16}` : '',
  ].join('');
  return {
    launch: `${input(tap.port)} ! tsparse alignment=7 ! ${sink}`,
    properties: encrypted ? { [LIVE_SINK]: { passphrase: destination.passphrase! } } : {},
    sink: { element: LIVE_SINK, bytesField: 'bytes-sent-total' },
    input: LIVE_INPUT,
  };
}

function buildRtmp(destination: Extract<LiveDestination, { kind: 'rtmp' }>, tap: LiveInput): BuiltLiveOutput {
  // FLV (as flvmux 1.22 writes it) has no H.265: refuse plainly instead of failing to negotiate at run time.
  if (tap.codec !== 'h264') throw new Error(`RTMP carries H.264 only; this camera is recorded as ${tap.codec.toUpperCase()}`);
  if (!destination.streamKey) throw new Error('the RTMP stream key is missing');
  const { scheme, host, port, application } = rtmpAddress(destination.url);
  const audio = tap.audio ? 'demux. ! audio/mpeg ! queue ! aacparse ! flv.' : `${SILENT_AAC} ! flv.`;
  const launch = [
    `${input(tap.port)} ! tsdemux name=demux`,
    // The caps pick tsdemux's video pad among its dynamic pads.
    ' demux. ! video/x-h264 ! queue ! h264parse ! video/x-h264,stream-format=avc,alignment=au',
    ` ! flvmux name=flv streamable=true`,
    // The stream key is `stream`, set as a property: location would carry it (rtmp://host/app/KEY).
    ` ! rtmp2sink name=${LIVE_SINK} scheme=${scheme} host=${quoteLaunchValue(host)} port=${port} application=${quoteLaunchValue(application)} sync=false`,
    ` ${audio}`,
  ].join('');
  return {
    launch,
    properties: { [LIVE_SINK]: { stream: destination.streamKey } },
    sink: { element: LIVE_SINK, bytesField: 'out-bytes-total' },
    input: LIVE_INPUT,
  };
}

/**
 * The bytes counter in a sink's `stats`, which gstreamer-superficial returns as the structure's string form:
 * `application/x-srt-statistics, …, bytes-sent-total=(guint64)968952;`. Undefined when the field is missing.
 */
export function bytesFromStats(stats: unknown, field: string): number | undefined {
  const match = new RegExp(`(?:^|[ ,])${field.replace(/-/g, '\\-')}=\\(g?u?int64\\)(\\d+)`).exec(String(stats ?? ''));
  return match ? Number(match[1]) : undefined;
}

/** srt://host:port → its parts; anything else (parameters, credentials, no port) is refused. */
export function srtAddress(url: string): { host: string; port: number } {
  const parsed = parseUrl(url, 'srt:');
  if (parsed.search !== '' || parsed.username !== '' || parsed.password !== '' || (parsed.pathname !== '' && parsed.pathname !== '/')) {
    throw new Error('an SRT URL is srt://host:port, without parameters or credentials');
  }
  if (parsed.port === '') throw new Error('an SRT URL needs a port: srt://host:port');
  return { host: parsed.hostname, port: Number(parsed.port) };
}

/** rtmp(s)://host[:port]/application → its parts (default ports 1935 / 443). */
export function rtmpAddress(url: string): { scheme: 'rtmp' | 'rtmps'; host: string; port: number; application: string } {
  const parsed = parseUrl(url, 'rtmp:', 'rtmps:');
  const scheme = parsed.protocol === 'rtmps:' ? 'rtmps' : 'rtmp';
  if (parsed.search !== '' || parsed.username !== '' || parsed.password !== '') {
    throw new Error('an RTMP URL is rtmp(s)://host[:port]/application, without parameters or credentials (the key is separate)');
  }
  const application = decodeURIComponent(parsed.pathname.replace(/^\/+|\/+$/g, ''));
  if (application === '') throw new Error('an RTMP URL needs an application: rtmp(s)://host[:port]/application');
  return { scheme, host: parsed.hostname, port: parsed.port === '' ? (scheme === 'rtmps' ? 443 : 1935) : Number(parsed.port), application };
}

function parseUrl(url: string, ...protocols: string[]): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not a valid ${protocols.join(' or ').replace(/:/g, '')} URL`);
  }
  if (!protocols.includes(parsed.protocol) || parsed.hostname === '') throw new Error(`not a valid ${protocols.join(' or ').replace(/:/g, '')} URL`);
  return parsed;
}
