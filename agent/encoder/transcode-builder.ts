/**
 * Pure: a transcode spec → two launch strings that one pipeline host runs side by side.
 *
 *   source: camera → depayload → decode → scale/rate to the output size → intervideosink   (restartable)
 *   output: intervideosrc → slate text → encoder (hardware profile) → tee → segments / live outputs (long-lived)
 *
 * Why two pipelines (DESIGN decision 1 keeps both in one child process): a camera that goes away ends its
 * RTSP source with EOS or an error, and in one pipeline that would end the encoder and every destination
 * with it. Split at intervideosink/intervideosrc, the output keeps running: intervideosrc produces black
 * frames when its source is silent for `timeout`, the host shows the "signal lost" text and silent audio
 * continues, so an SRT/RTMP destination never sees the stream drop; when the camera returns, a new source
 * pipeline feeds the same channel and the picture comes back (issue 4, slate on camera loss).
 */
import { encoderFor, encoderProperties, renderElement, PARSER_TAIL, type EncoderSettings } from './encoder-fragment.ts';
import type { HardwareProfile } from './hardware-profiles.ts';
import { liveTap } from './live-output-tap.ts';
import { VIDEORATE_ELEMENT } from './pipeline-host-protocol.ts';
import { aacEncode, CAMERA_AUDIO, METER_SINK, quoteLaunchValue, type RtspSource, type VideoCodec } from './pipeline-builder.ts';

export type Overlay =
  | { kind: 'text'; text: string; position?: 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right' }
  | { kind: 'clock'; position?: 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right' }
  | { kind: 'image'; path: string; x: number; y: number; alpha?: number };

export interface TranscodeSpec {
  streamId: string;
  source: RtspSource;
  sourceCodec: VideoCodec;
  profile: HardwareProfile;
  /** The profile's encoder element to use (as proven by detection); default its first. */
  encoderElement?: string;
  video: { codec: 'h264' | 'h265'; width: number; height: number; fps: number; bitrateKbps: number; rateControl: 'cbr' | 'vbr'; latency: 'low' | 'normal' };
  overlays: Overlay[];
  /** Segments into the spool; the GOP is aligned to the segment length so every segment starts on a keyframe. */
  segment: { seconds: number; directory: string; startIndex: number };
  /** Loopback UDP ports of the camera's live outputs: the output pipeline gets a live tap (live-output-tap.ts). */
  liveTapPorts?: readonly number[] | undefined;
  /**
   * The output's AAC track. `camera`: the camera's own audio (source.audio, from its SDP), and silence when
   * the camera has none or while it is lost; `silent`: silence always; `none`: no audio track. An audio
   * track is there whenever it can be: ingests that require one (YouTube, most CDNs) refuse a stream without.
   */
  audio: TranscodeAudio;
  slateText?: string;
}

export type TranscodeAudio = 'camera' | 'silent' | 'none';

export interface BuiltTranscode {
  /** Restartable: camera → raw video on the inter channel. */
  source: string;
  sourceProperties: Record<string, Record<string, string | number | boolean>>;
  /** Long-lived: inter channel → slate → encoder → outputs. */
  output: string;
  /** The element and property the host sets to change the bitrate at run time; undefined if the encoder cannot. */
  bitrate: { element: string; property: string; unit: 'kbit/s' | 'bit/s' } | undefined;
  /** The overlay the host un-silences while the camera is lost. */
  slateElement: string;
  /** Where the output's audio comes from (`camera` falls back to `silent` when the camera has no audio). */
  audio: TranscodeAudio;
  channel: string;
}

export const ENCODER_NAME = 'enc';
export const SLATE_NAME = 'slate';

const POSITION: Record<NonNullable<Extract<Overlay, { kind: 'text' }>['position']>, string> = {
  'top-left': 'valignment=top halignment=left',
  'top-right': 'valignment=top halignment=right',
  'bottom-left': 'valignment=bottom halignment=left',
  'bottom-right': 'valignment=bottom halignment=right',
};

function overlayElement(overlay: Overlay, index: number): string {
  switch (overlay.kind) {
    case 'text':
      return `textoverlay name=overlay${index} text=${quoteLaunchValue(overlay.text)} ${POSITION[overlay.position ?? 'top-left']} font-desc="Sans 20" shaded-background=true`;
    case 'clock':
      return `clockoverlay name=overlay${index} time-format="%H:%M:%S" ${POSITION[overlay.position ?? 'top-right']} font-desc="Sans 20" shaded-background=true`;
    case 'image':
      return `gdkpixbufoverlay name=overlay${index} location=${quoteLaunchValue(overlay.path)} offset-x=${Math.round(overlay.x)} offset-y=${Math.round(overlay.y)} alpha=${overlay.alpha ?? 1}`;
  }
}

export function buildTranscode(spec: TranscodeSpec): BuiltTranscode {
  const { video, segment, profile } = spec;
  if (/^[a-z]+:\/\/[^/]*@/i.test(spec.source.uri)) throw new Error('the RTSP URI must not carry credentials; pass username/password separately');
  const decoder = profile.decoders[spec.sourceCodec];
  if (!decoder) throw new Error(`${profile.id} has no ${spec.sourceCodec.toUpperCase()} decoder`);
  const channel = `venuebox-${spec.streamId}`;
  const raw = `video/x-raw,format=I420,width=${video.width},height=${video.height},framerate=${video.fps}/1,pixel-aspect-ratio=1/1`;

  const source = [
    `rtspsrc name=src location=${quoteLaunchValue(spec.source.uri)} protocols=${spec.source.transport} latency=${spec.source.latencyMs}`,
    'application/x-rtp,media=video',
    spec.sourceCodec === 'h264' ? 'rtph264depay ! h264parse' : 'rtph265depay ! h265parse',
    decoder,
    // Named: the host reads its drop/duplicate counters into the stats (StreamStats.dropped).
    `videoconvert ! videoscale ! videorate name=${VIDEORATE_ELEMENT}`,
    raw,
    `intervideosink channel=${quoteLaunchValue(channel)}`,
  ].join(' ! ');
  const sourceProperties: BuiltTranscode['sourceProperties'] = {};
  if (spec.source.username !== undefined || spec.source.password !== undefined) {
    sourceProperties['src'] = { 'user-id': spec.source.username ?? '', 'user-pw': spec.source.password ?? '' };
  }

  // GOP = one segment: every segment starts on a keyframe, and a live viewer joins within a segment.
  const settings: EncoderSettings = { codec: video.codec, bitrateKbps: video.bitrateKbps, keyframeIntervalFrames: Math.round(video.fps * segment.seconds), fps: video.fps, rateControl: video.rateControl, latency: video.latency };
  const encoder = encoderFor(profile, video.codec);
  const element = spec.encoderElement ?? encoder.element;
  const entries = encoderProperties(encoder, settings);
  const encoderLaunch = [encoder.input, renderElement(element, encoder, entries, ENCODER_NAME)];
  if (encoder.outputCaps !== undefined) encoderLaunch.push(encoder.outputCaps);
  encoderLaunch.push(PARSER_TAIL[video.codec]);
  const bitrateEntry = entries[0];
  const bitrate = bitrateEntry && !bitrateEntry[0].includes('.') ? { element: ENCODER_NAME, property: bitrateEntry[0], unit: encoder.bitrate.unit === 'bit/s' ? ('bit/s' as const) : ('kbit/s' as const) } : undefined;

  const slateText = spec.slateText ?? 'signal lost';
  const output = [
    // timeout: after 1 s without a frame from the camera, intervideosrc sends black frames (the slate).
    `intervideosrc channel=${quoteLaunchValue(channel)} timeout=1000000000`,
    raw,
    ...spec.overlays.map(overlayElement),
    `textoverlay name=${SLATE_NAME} text=${quoteLaunchValue(slateText)} silent=true valignment=center halignment=center font-desc="Sans 36"`,
    ...encoderLaunch,
    'tee name=t',
    'queue',
    `splitmuxsink name=mux muxer=mpegtsmux send-keyframe-requests=true max-size-time=${Math.round(segment.seconds * 1e9)} location=${quoteLaunchValue(`${segment.directory.replace(/%/g, '%%')}/%08d.ts`)} start-index=${segment.startIndex}`,
  ].join(' ! ');
  const audio = audioBranches(spec, channel);
  const meter = ` t. ! queue leaky=downstream max-size-buffers=200 max-size-bytes=0 max-size-time=0 ! appsink name=${METER_SINK} sync=false drop=true max-buffers=200 wait-on-eos=false`;
  const tap = liveTap(spec.liveTapPorts, audio.output);
  return { source: source + audio.source, sourceProperties, output: output + tap.audio + meter + tap.branch, bitrate, slateElement: SLATE_NAME, channel, audio: audio.kind };
}

/** Raw audio on the inter channel: fixed caps on both sides, so the output never renegotiates when a source comes and goes. */
const INTER_AUDIO_CAPS = 'audio/x-raw,format=S16LE,layout=interleaved,rate=48000,channels=2';

/**
 * interaudiosrc timing, in ns. The inter channel has no A/V resync: interaudiosink writes each buffer
 * `latency-time` before its time, interaudiosrc takes at most one `period-time` of it per period and pads
 * silence when short, so the audio's offset from the picture is whatever backlog the channel settled on at
 * start, and a hiccup (a late burst) adds to it until `buffer-time`, where the sink throws the excess away.
 * Measured with the virtual camera's `flash` pattern (beep vs picture change, 5 runs each, 2-core box at load
 * 8–10): defaults (100/25 ms, 1 s) audio -23…-99 ms early, up to 1 s late after a hiccup; these values
 * -63…+23 ms, at most 200 ms late. A 400 ms stall of the host process still shifts the offset by a few hundred
 * ms until the camera side is rebuilt (at the next camera loss).
 */
const INTER_AUDIO_TIMING = 'latency-time=40000000 period-time=20000000 buffer-time=200000000';

/**
 * The audio halves of a transcode. Camera audio crosses the inter channel like the video: decoded in the
 * source pipeline into interaudiosink, taken by interaudiosrc in the output. interaudiosrc sends silence
 * whenever nothing feeds it (no source pipeline: the camera is lost and the slate is on air), so the output's
 * audio track never stops. interaudiosink has async=false: the source's async-done (which takes the slate
 * off) waits for the picture only, not for the camera's audio.
 */
function audioBranches(spec: TranscodeSpec, channel: string): { source: string; output: string; kind: TranscodeAudio } {
  const cameraAudio = spec.source.audio !== undefined && spec.source.audio !== 'none' ? spec.source.audio : undefined;
  const kind: TranscodeAudio = spec.audio === 'camera' && !cameraAudio ? 'silent' : spec.audio;
  if (kind === 'none') return { source: '', output: '', kind };
  if (kind === 'silent' || !cameraAudio) {
    return { source: '', output: ` audiotestsrc wave=silence is-live=true ! audio/x-raw,rate=48000,channels=2 ! ${aacEncode(2)} ! queue ! mux.audio_0`, kind };
  }
  const codec = CAMERA_AUDIO[cameraAudio];
  return {
    source: ` src. ! ${codec.caps} ! queue ! ${codec.decode} ! audioconvert ! audioresample ! ${INTER_AUDIO_CAPS} ! interaudiosink channel=${quoteLaunchValue(channel)} async=false`,
    output: ` interaudiosrc channel=${quoteLaunchValue(channel)} ${INTER_AUDIO_TIMING} ! ${INTER_AUDIO_CAPS} ! ${aacEncode(2)} ! queue ! mux.audio_0`,
    kind,
  };
}
