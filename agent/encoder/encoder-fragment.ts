/**
 * Pure: hardware profile + encoder settings → the GStreamer launch-string fragment from raw video to an
 * encoded byte-stream: `<input: upload/convert + caps> ! <encoder with mapped properties> [! <output caps>]
 * ! <parser> ! <byte-stream caps>`.
 *
 * Every property goes into the launch string, enums and flags by nick: gstreamer-superficial cannot set
 * enum properties from JS (STACK-NOTES), and one string that says everything is what a test, a log line and
 * a health report can show. The fragment ends in `parse config-interval=-1` + byte-stream/au caps, as the
 * passthrough path does (pipeline-builder.ts): SPS/PPS before every IDR, so a segment or a late-joining live
 * viewer can start decoding at any keyframe, and an encoder that emits avc (x264enc does unless told) still
 * reaches mpegtsmux and SRT as Annex B.
 */
import { quoteLaunchValue } from './pipeline-builder.ts';
import {
  PARSER_ELEMENT,
  resolveProperty,
  valueProblem,
  type Codec,
  type EncoderDefinition,
  type HardwareProfile,
  type PropertyValue,
} from './hardware-profiles.ts';

export interface EncoderSettings {
  codec: Codec;
  bitrateKbps: number;
  /** GOP length in frames; align it with the segment length (e.g. 2 s × 30 fps = 60). */
  keyframeIntervalFrames: number;
  /**
   * Frame rate of the raw video. Encoders read it from the caps, so it maps to no property; it bounds the GOP
   * (at most MAX_GOP_SECONDS: a longer GOP makes segments and live joins wait for a keyframe).
   */
  fps: number;
  rateControl: 'cbr' | 'vbr';
  latency: 'low' | 'normal';
}

export const MAX_GOP_SECONDS = 10;
export const MAX_BITRATE_KBPS = 200_000;

export class EncoderSettingsError extends Error {
  override readonly name = 'EncoderSettingsError';
}

/** The byte-stream tail of every fragment, per codec (see the module comment). */
export const PARSER_TAIL: Record<Codec, string> = {
  h264: `${PARSER_ELEMENT.h264} config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au`,
  h265: `${PARSER_ELEMENT.h265} config-interval=-1 ! video/x-h265,stream-format=byte-stream,alignment=au`,
};

/** The encoder definition of a codec, or an error naming what the profile lacks. */
export function encoderFor(profile: HardwareProfile, codec: Codec): EncoderDefinition {
  const encoder = profile.encoders[codec];
  if (encoder === undefined) throw new EncoderSettingsError(`${profile.id} has no ${codec.toUpperCase()} encoder`);
  return encoder;
}

function checkSettings(settings: EncoderSettings): void {
  const { bitrateKbps, keyframeIntervalFrames, fps } = settings;
  if (!Number.isInteger(bitrateKbps) || bitrateKbps < 1 || bitrateKbps > MAX_BITRATE_KBPS) {
    throw new EncoderSettingsError(`bitrateKbps must be an integer from 1 to ${MAX_BITRATE_KBPS}`);
  }
  if (!Number.isFinite(fps) || fps <= 0 || fps > 240) throw new EncoderSettingsError('fps must be above 0 and at most 240');
  if (!Number.isInteger(keyframeIntervalFrames) || keyframeIntervalFrames < 1) {
    throw new EncoderSettingsError('keyframeIntervalFrames must be a positive integer');
  }
  if (keyframeIntervalFrames > Math.ceil(fps * MAX_GOP_SECONDS)) {
    throw new EncoderSettingsError(`keyframeIntervalFrames ${keyframeIntervalFrames} is more than ${MAX_GOP_SECONDS} s at ${fps} fps`);
  }
}

/**
 * The encoder's properties for these settings, in launch order: bitrate, keyframe interval, rate control,
 * latency, fixed. `name.field` entries are fields of a structure property (v4l2 `extra-controls`).
 */
export function encoderProperties(encoder: EncoderDefinition, settings: EncoderSettings): [string, PropertyValue][] {
  checkSettings(settings);
  const { bitrate } = encoder;
  let bitrateValue = bitrate.unit === 'bit/s' ? settings.bitrateKbps * 1000 : settings.bitrateKbps;
  if (bitrate.step !== undefined) bitrateValue = Math.max(bitrate.step, Math.round(bitrateValue / bitrate.step) * bitrate.step);
  const entries: [string, PropertyValue][] = [
    [bitrate.property, bitrateValue],
    ...encoder.keyframeInterval.properties.map((ref): [string, PropertyValue] => [ref, settings.keyframeIntervalFrames]),
    ...Object.entries(encoder.rateControl[settings.rateControl]),
    ...Object.entries(encoder.latency[settings.latency]),
    ...Object.entries(encoder.fixed),
  ];
  for (const [ref, value] of entries) {
    const type = resolveProperty(encoder, ref);
    // The loader already proved the maps; what can still fail here is a setting outside the element's range.
    if (typeof type === 'string') throw new EncoderSettingsError(type);
    const problem = valueProblem(type, value);
    if (problem !== undefined) throw new EncoderSettingsError(`${encoder.element} ${ref}: ${problem}`);
  }
  return entries;
}

/** A value as gst_parse_launch reads it: bare when it is a plain word, quoted otherwise. */
function launchValue(value: PropertyValue): string {
  const text = String(value);
  return /^[A-Za-z0-9_.:+-]+$/.test(text) ? text : quoteLaunchValue(text);
}

/**
 * `element [name=N] a=1 b=x s="name,f1=1,f2=2"`: structure fields are gathered into one quoted structure value.
 * `name` names the element so a pipeline host can find it (run-time bitrate changes).
 */
export function renderElement(
  element: string,
  encoder: EncoderDefinition,
  entries: readonly [string, PropertyValue][],
  name?: string,
): string {
  // In order of first appearance; a structure takes the place of its first field.
  const order: { property: string; value?: PropertyValue }[] = [];
  const structures = new Map<string, string[]>();
  for (const [ref, value] of entries) {
    const [property = '', field] = ref.split('.');
    if (field === undefined) {
      order.push({ property, value });
      continue;
    }
    let fields = structures.get(property);
    if (fields === undefined) {
      fields = [];
      structures.set(property, fields);
      order.push({ property });
    }
    fields.push(`${field}=${typeof value === 'boolean' ? (value ? 1 : 0) : String(value)}`);
  }
  const parts = order.map(({ property, value }) => {
    if (value !== undefined) return `${property}=${launchValue(value)}`;
    const declared = encoder.elementProperties[property];
    const structureName = declared?.type === 'structure' ? declared.name : property;
    return `${property}=${quoteLaunchValue([structureName, ...(structures.get(property) ?? [])].join(','))}`;
  });
  return [element, ...(name === undefined ? [] : [`name=${launchValue(name)}`]), ...parts].join(' ');
}

export interface FragmentOptions {
  /** The encoder element to use: `element` (default) or one of its `alternatives`, as proven by detection. */
  element?: string;
  /** A name for the encoder element (`name=…`), for finding it in the running pipeline. */
  name?: string;
}

/** The launch fragment from raw video to an encoded byte-stream for this profile and these settings. */
export function buildEncoderFragment(profile: HardwareProfile, settings: EncoderSettings, options: FragmentOptions = {}): string {
  const encoder = encoderFor(profile, settings.codec);
  const element = options.element ?? encoder.element;
  if (element !== encoder.element && !encoder.alternatives.includes(element)) {
    throw new EncoderSettingsError(`${element} is not a ${settings.codec.toUpperCase()} encoder of ${profile.id}`);
  }
  const segments = [encoder.input, renderElement(element, encoder, encoderProperties(encoder, settings), options.name)];
  if (encoder.outputCaps !== undefined) segments.push(encoder.outputCaps);
  segments.push(PARSER_TAIL[settings.codec]);
  return segments.join(' ! ');
}

export type LaunchSegment =
  | { kind: 'caps'; text: string }
  | { kind: 'element'; name: string; properties: [string, string][] };

/**
 * Splits launch syntax into argv tokens as a shell would: on whitespace outside double quotes, quotes kept.
 * gst-launch-1.0 escapes the spaces inside each argv entry (gst_parse_launchv), so a whole pipeline passed
 * as one argument is a syntax error; one token per argument is what it expects.
 */
export function launchTokens(launch: string): string[] {
  return launch.match(/(?:[^\s"]+|"(?:[^"\\]|\\.)*")+/g) ?? [];
}

/** Parses a linear fragment into elements (with their properties) and caps, for checks and tests. */
export function parseLaunchFragment(fragment: string): LaunchSegment[] {
  const segments: LaunchSegment[] = [];
  let current: string[] = [];
  const flush = () => {
    const [first, ...rest] = current;
    current = [];
    if (first === undefined) return;
    if (first.includes('/')) {
      segments.push({ kind: 'caps', text: [first, ...rest].join(' ') });
      return;
    }
    const properties = rest.map((token): [string, string] => {
      const eq = token.indexOf('=');
      if (eq < 1) throw new Error(`not a property: ${token}`);
      return [token.slice(0, eq), token.slice(eq + 1)];
    });
    segments.push({ kind: 'element', name: first, properties });
  };
  for (const token of launchTokens(fragment)) {
    if (token === '!') flush();
    else current.push(token);
  }
  flush();
  return segments;
}
