/**
 * Pure: a recording spec → a GStreamer launch string. No I/O, no credentials: the RTSP user and password
 * are set on the `src` element as properties by the pipeline host after parsing, so a launch string can be
 * logged, shown in `health()` and compared in tests without ever carrying a secret.
 *
 * Passthrough (DESIGN decision 2): depayload and parse, never decode. Measured at 1080p30: ~3–4 % of a core
 * vs ~30 % for decode + x264 (STACK-NOTES). The transcode paths arrive with the encoder issue.
 */

import { liveTap } from './live-output-tap.ts';

export type VideoCodec = 'h264' | 'h265';

export interface RtspSource {
  /** rtsp:// URL without userinfo (the config refuses credentials in URLs). */
  uri: string;
  transport: 'tcp' | 'udp';
  latencyMs: number;
  username?: string | undefined;
  password?: string | undefined;
  /** The camera's audio track, from its SDP (see CameraAudio); undefined or 'none': recorded without audio. */
  audio?: CameraAudio | undefined;
}

/**
 * The camera audio codecs venuebox records: AAC (RFC 3640 `mpeg4-generic`) and G.711 A-law / u-law (RFC 3551
 * PCMA / PCMU, 8 kHz mono: what most IP cameras with a microphone send). Other codecs (G.726, Opus, LATM…)
 * are recorded without audio.
 */
export type CameraAudio = 'aac' | 'pcma' | 'pcmu' | 'none';

/**
 * Per codec: the caps that pick rtspsrc's audio pad, and the elements from RTP to the codec's elementary
 * stream (`depay`) or to raw audio (`decode`). The caps name the codec, so a camera with two audio tracks gives
 * the one its SDP was read for (rtspsrc upper-cases SDP encoding names). G.711 also matches by its static
 * payload type: an SDP may leave out the rtpmap of a static type (RFC 4566 §6, RFC 3551 table 4), and then
 * rtspsrc's caps carry no encoding-name at all (gstrtspsrc.c, media_to_caps).
 */
export const CAMERA_AUDIO: Record<Exclude<CameraAudio, 'none'>, { caps: string; depay: string; decode: string }> = {
  aac: { caps: 'application/x-rtp,media=audio,encoding-name=MPEG4-GENERIC', depay: 'rtpmp4gdepay ! aacparse', decode: 'rtpmp4gdepay ! aacparse ! avdec_aac' },
  pcma: { caps: 'capsfilter caps="application/x-rtp,media=audio,encoding-name=PCMA;application/x-rtp,media=audio,payload=8"', depay: 'rtppcmadepay', decode: 'rtppcmadepay ! alawdec' },
  pcmu: { caps: 'capsfilter caps="application/x-rtp,media=audio,encoding-name=PCMU;application/x-rtp,media=audio,payload=0"', depay: 'rtppcmudepay', decode: 'rtppcmudepay ! mulawdec' },
};

/**
 * Raw audio → AAC-LC at 48 kHz, `channels` as given. 48 kHz is what live ingests ask for (YouTube's encoder
 * settings: 44.1 or 48 kHz) and what the silent track of a transcode uses; AAC at G.711's own 8 kHz is legal
 * but unusual, for about half the CPU (measured here: avenc_aac of 8 kHz mono ~0.9 % of a core, 48 kHz mono
 * ~1.6 %).
 */
export function aacEncode(channels: 1 | 2): string {
  return `audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=${channels} ! avenc_aac bitrate=64000 ! aacparse`;
}

/**
 * The passthrough branch of the camera's audio into the segments' muxer. AAC as it comes (no decoding);
 * mpegtsmux cannot carry G.711 (ISO/IEC 13818-1 has no stream type for it), so G.711 is decoded and
 * encoded to AAC — the video stays passthrough. Only for a track the SDP announced: a branch waiting for a
 * pad that never comes would hold splitmuxsink back forever.
 */
function audioBranch(audio: CameraAudio | undefined): string {
  if (audio === undefined || audio === 'none') return '';
  const codec = CAMERA_AUDIO[audio];
  const toAac = audio === 'aac' ? codec.depay : `${codec.decode} ! ${aacEncode(1)}`;
  return ` src. ! ${codec.caps} ! queue ! ${toAac} ! queue ! mux.audio_0`;
}

export interface RecordingSpec {
  streamId: string;
  source: RtspSource;
  codec: VideoCodec;
  segment: {
    seconds: number;
    /** Folder of this stream's segment files. */
    directory: string;
    /** Sequence number of the first segment this pipeline writes (segments are never overwritten across restarts). */
    startIndex: number;
  };
  /** Loopback UDP ports of the camera's live outputs: the pipeline gets a live tap (live-output-tap.ts). */
  liveTapPorts?: readonly number[] | undefined;
}

export interface BuiltPipeline {
  launch: string;
  /** Properties to set on named elements after the launch string is parsed (secrets travel only here). */
  properties: Record<string, Record<string, string | number | boolean>>;
  /** printf pattern of segment files, as splitmuxsink expands it. */
  segmentPattern: string;
  /** Codec of the metered stream. */
  codec: VideoCodec;
}

/** Segment file names: zero-padded sequence, so a directory listing sorts in recording order. */
export const SEGMENT_DIGITS = 8;

/** Quotes a value for gst_parse_launch: double quotes, with `"` and `\` escaped. */
export function quoteLaunchValue(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

const DEPAY: Record<VideoCodec, string> = {
  h264: 'rtph264depay ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au',
  h265: 'rtph265depay ! h265parse config-interval=-1 ! video/x-h265,stream-format=byte-stream,alignment=au',
};

/** Name of the appsink that feeds the stream meter (fps, bitrate, keyframe interval) in the host. */
export const METER_SINK = 'meter';

export function buildRecordingPipeline(spec: RecordingSpec): BuiltPipeline {
  const { source, segment } = spec;
  if (/^[a-z]+:\/\/[^/]*@/i.test(source.uri)) {
    // Defence in depth: the config already refuses this, but a discovered URI may carry userinfo.
    throw new Error('the RTSP URI must not carry credentials; pass username/password separately');
  }
  if (!Number.isInteger(segment.startIndex) || segment.startIndex < 0) throw new Error(`startIndex must be a non-negative integer`);
  const pattern = `${segment.directory.replace(/%/g, '%%')}/%0${SEGMENT_DIGITS}d.ts`;
  const launch = [
    // protocols is a flags property: it must be in the launch string (STACK-NOTES: enums cannot be set from JS).
    `rtspsrc name=src location=${quoteLaunchValue(source.uri)} protocols=${source.transport} latency=${source.latencyMs} drop-on-latency=false`,
    // The caps pick rtspsrc's video pad: with an audio track there are two, and delayed linking takes any.
    'application/x-rtp,media=video',
    // Byte-stream access units: what mpegtsmux wants, and one appsink buffer per frame for the meter.
    DEPAY[spec.codec],
    'tee name=t',
    'queue',
    // splitmuxsink starts a new file at a keyframe when adding the next GOP would exceed max-size-time. GOP
    // durations jitter over RTSP (timestamps follow packet arrival): two 1 s GOPs measure 2.000001 s at rest,
    // and a bare 2 s limit cut every second or third segment at 1 s (measured: 1.00/2.00 s alternating). A 10 %
    // margin keeps segments at the GOP multiple nearest the target at rest; under CPU starvation single GOPs
    // measured 1.2–1.4 s (bench/passthrough-recording), so segment lengths still wander there.
    `splitmuxsink name=mux muxer=mpegtsmux max-size-time=${Math.round(segment.seconds * 1.1 * 1e9)} location=${quoteLaunchValue(pattern)} start-index=${segment.startIndex}`,
  ].join(' ! ');
  // The meter branch is leaky and drops when the host falls behind: measuring must never stall recording.
  // wait-on-eos=false: an appsink nobody pulls at the end would otherwise hold up the EOS that closes the last
  // segment (gst-launch -e hung on it in bench/passthrough-recording).
  const meter = ` t. ! queue leaky=downstream max-size-buffers=200 max-size-bytes=0 max-size-time=0 ! appsink name=${METER_SINK} sync=false drop=true max-buffers=200 wait-on-eos=false`;
  const properties: BuiltPipeline['properties'] = {};
  if (source.username !== undefined || source.password !== undefined) {
    properties['src'] = { 'user-id': source.username ?? '', 'user-pw': source.password ?? '' };
  }
  const audio = audioBranch(source.audio);
  const tap = liveTap(spec.liveTapPorts, audio);
  return { launch: launch + tap.audio + meter + tap.branch, properties, segmentPattern: pattern, codec: spec.codec };
}

/** The segment file path of sequence number `seq`. */
export function segmentPath(directory: string, seq: number): string {
  return `${directory}/${String(seq).padStart(SEGMENT_DIGITS, '0')}.ts`;
}

/** The sequence number in a segment file name, or undefined if the name is not one of ours. */
export function segmentSeq(fileName: string): number | undefined {
  const match = /^(\d{8,})\.ts$/.exec(fileName);
  return match ? Number(match[1]) : undefined;
}
