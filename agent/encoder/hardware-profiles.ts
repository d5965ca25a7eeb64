/**
 * Hardware profiles: one JSON file per encoder platform in `hardware-profiles/` (Frigate's ffmpeg presets,
 * as data). A profile says how to recognise the platform (GPU vendor, board, device nodes, GStreamer
 * elements), which elements encode and decode, how the common settings map onto element properties, and a
 * rough capacity. Nothing here is trusted: profile-detect.ts proves a profile with a real test encode.
 *
 * The zod schema below is the single source of truth: the TypeScript types, the JSON Schema
 * (hardware-profiles/profile.schema.json, written by scripts/generate-docs.ts) and the loader's checks all
 * derive from it. On top of the shape, `profileIssues` checks what a JSON Schema cannot: every property a
 * map sets is declared in `elementProperties` (name, type, range, unit, enum nicks — transcribed from the
 * element's GStreamer 1.22 documentation or source), so a typo such as `keyframe-period` on an element whose
 * property is `key-int-max`, a kbit/s vs bit/s mix-up, or an enum nick the element does not have is an error
 * at load time, with the file and path, instead of a failed pipeline at run time.
 *
 * Ladder: profiles are tried in ascending `priority`; the first that works is selected.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { formatPath } from '../config/index.ts';

export const HARDWARE_PROFILES_DIR_ENV = 'VENUEBOX_HARDWARE_PROFILES_DIR';
export const DEFAULT_HARDWARE_PROFILES_DIR = fileURLToPath(new URL('../../hardware-profiles/', import.meta.url));
export const PROFILE_SCHEMA_FILE = 'profile.schema.json';
export const PROFILE_SCHEMA_ID = 'urn:venuebox:schema:hardware-profile:v1';

export const CODECS = ['h264', 'h265'] as const;
export type Codec = (typeof CODECS)[number];

/** The parser that ends every encoder fragment; it is per codec, not per platform. */
export const PARSER_ELEMENT: Record<Codec, string> = { h264: 'h264parse', h265: 'h265parse' };

const ELEMENT_NAME = /^[a-z][a-z0-9_-]*$/;
/** `key-int-max`, `num-B-Frames` (nvv4l2), or `extra-controls.video_bitrate` (a field of a GstStructure property). */
const PROPERTY_REF = /^[A-Za-z][A-Za-z0-9-]*(\.[a-z0-9_]+)?$/;

const elementName = z.string().regex(ELEMENT_NAME, { error: 'must be a GStreamer element name (lowercase, digits, "_" or "-")' });
const propertyRef = z
  .string()
  .regex(PROPERTY_REF, { error: 'must be a property name, or PROPERTY.FIELD for a field of a structure property' });
const propertyValue = z.union([z.string(), z.number(), z.boolean()]);
const propertySet = z
  .record(propertyRef, propertyValue)
  .meta({ description: 'Element properties to set: name → value (enum and flags properties take their nick).' });

const integerType = z.strictObject({
  type: z.enum(['uint', 'int']),
  min: z.number().optional().meta({ description: 'Smallest value the element accepts.' }),
  max: z.number().optional().meta({ description: 'Largest value the element accepts.' }),
  unit: z.enum(['kbit/s', 'bit/s', 'frames']).optional().meta({ description: 'Unit of the value, as documented by the element.' }),
});
const fieldType = z.union([integerType, z.strictObject({ type: z.literal('boolean') })]);

const elementPropertyType = z
  .union([
    integerType,
    z.strictObject({ type: z.literal('boolean') }),
    z.strictObject({ type: z.literal('string') }),
    z.strictObject({
      type: z.literal('enum'),
      nicks: z.array(z.string().min(1)).min(1).meta({ description: 'The enum nicks GStreamer accepts in a launch string.' }),
    }),
    z.strictObject({
      type: z.literal('flags'),
      nicks: z.array(z.string().min(1)).min(1).meta({ description: 'The flag nicks; a value combines them with "+".' }),
    }),
    z.strictObject({
      type: z.literal('structure'),
      name: z.string().min(1).meta({ description: 'Name of the GstStructure (e.g. `controls` for v4l2 extra-controls).' }),
      fields: z.record(z.string().regex(/^[a-z0-9_]+$/), fieldType).meta({ description: 'Fields the maps may set.' }),
    }),
  ])
  .meta({ description: 'Type of one element property (GStreamer 1.22), as the maps may use it.' });

const encoderSchema = z
  .strictObject({
    element: elementName.meta({ description: 'The encoder element.' }),
    alternatives: z
      .array(elementName)
      .default([])
      .meta({ description: 'Elements with the same properties tried when `element` is missing or fails its test encode (e.g. vah264lpenc, the low-power entry point that is the only one on some Intel GPUs).' }),
    input: z
      .string()
      .min(1)
      .meta({ description: 'Elements and caps from raw video to the encoder input (upload, conversion, format), in launch syntax.' }),
    outputCaps: z
      .string()
      .min(1)
      .optional()
      .meta({ description: 'Caps right after the encoder (profile, level), in launch syntax.' }),
    bitrate: z
      .strictObject({
        property: propertyRef,
        unit: z.enum(['kbit/s', 'bit/s']).meta({ description: 'Unit of the property; settings are in kbit/s and converted.' }),
        step: z.number().int().positive().optional().meta({ description: 'The property only takes multiples of this value (rounded, at least one step).' }),
      })
      .meta({ description: 'Where the target bitrate goes.' }),
    keyframeInterval: z
      .strictObject({
        properties: z.array(propertyRef).min(1).meta({ description: 'Properties that take the keyframe interval in frames (all of them are set).' }),
      })
      .meta({ description: 'Where the keyframe interval (GOP length, frames) goes.' }),
    rateControl: z
      .strictObject({ cbr: propertySet, vbr: propertySet })
      .meta({ description: 'Properties that select constant or variable bitrate.' }),
    latency: z
      .strictObject({ low: propertySet, normal: propertySet })
      .meta({ description: 'Properties for low-latency (live) or normal encoding; empty when the element has no such knob.' }),
    fixed: propertySet.default({}).meta({ description: 'Properties always set.' }),
    elementProperties: z
      .record(z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/), elementPropertyType)
      .meta({ description: 'Every property the maps above set, with its type, range, unit or nicks as the element documents them.' }),
    source: z.string().min(1).meta({ description: 'Where the property names, units and nicks were taken from.' }),
  })
  .meta({ description: 'How to encode one codec on this platform.' });

export const hardwareProfileSchema = z
  .strictObject({
    $schema: z.string().optional().meta({ description: 'Path or URL of profile.schema.json, for editors.' }),
    id: z
      .string()
      .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, { error: 'must be lowercase words joined by "-"' })
      .meta({ description: 'Stable id; the file is named `<id>.json`.' }),
    name: z.string().min(1).max(80).meta({ description: 'Human name.' }),
    vendor: z.enum(['intel', 'nvidia', 'amd', 'broadcom', 'software']).meta({ description: 'Who makes the encoder.' }),
    priority: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .meta({ description: 'Place on the ladder: lower is tried first. Unique across profiles.' }),
    detect: z
      .strictObject({
        gpuVendor: z
          .string()
          .min(1)
          .optional()
          .meta({ description: 'Regular expression (case-insensitive) one GPU vendor of the box must match (systeminformation graphics().controllers[].vendor, or the PCI vendor of a DRM render node).' }),
        boardModel: z
          .string()
          .min(1)
          .optional()
          .meta({ description: 'Regular expression (case-insensitive) the device-tree board model must match (/sys/firmware/devicetree/base/model).' }),
        deviceNodes: z
          .array(z.string().regex(/^\/dev\/[^\s]+$/, { error: 'must be a path under /dev' }))
          .default([])
          .meta({ description: 'Device node globs (`*`, `?`, `{a,b}`) that must each match at least one node; /dev is overridable by VENUEBOX_DEV_DIR.' }),
        elements: z
          .array(elementName)
          .default([])
          .meta({ description: 'GStreamer elements that must exist besides the encoder (upload/convert, parser).' }),
      })
      .meta({ description: 'Rules checked before the test encode; every rule must hold.' }),
    decoders: z
      .strictObject({ h264: elementName, h265: elementName.optional() })
      .meta({ description: 'Decoder elements for transcoding, per camera codec.' }),
    encoders: z
      .strictObject({ h264: encoderSchema, h265: encoderSchema.optional() })
      .meta({ description: 'Encoders per output codec; H.265 only where the platform has one.' }),
    capacity: z
      .strictObject({
        concurrent1080p30: z.number().int().min(0).max(64).meta({ description: 'Rough number of concurrent 1080p30 encodes.' }),
        source: z.string().min(1).meta({ description: 'Where that figure comes from (and whether it was measured here).' }),
      })
      .meta({ description: 'Rough capacity, for planning how many transcoded outputs a box can carry.' }),
    notes: z.string().optional().meta({ description: 'Quirks worth knowing on this platform.' }),
  })
  .meta({ description: 'One encoder platform of a venuebox.' });

export type HardwareProfile = z.output<typeof hardwareProfileSchema>;
export type EncoderDefinition = HardwareProfile['encoders']['h264'];
export type ElementPropertyType = z.output<typeof elementPropertyType>;
export type PropertyValue = z.output<typeof propertyValue>;

/** The JSON Schema of a profile file (input side), for editors and validators. */
export function profileJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(hardwareProfileSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: PROFILE_SCHEMA_ID,
    title: 'venuebox hardware profile',
    description: 'One encoder platform: detection rules, elements, property mapping, capacity. Reference: hardware-profiles/README.md.',
    ...rest,
  };
}

export interface ProfileIssue {
  /** `hardware-profiles/intel-va.json`, or the folder for problems across files. */
  file: string;
  /** `encoders.h264.rateControl.cbr["rate-control"]`, `(root)`. */
  path: string;
  message: string;
}

export class HardwareProfileError extends Error {
  override readonly name = 'HardwareProfileError';
  constructor(readonly issues: ProfileIssue[]) {
    const count = issues.length === 1 ? '1 issue' : `${issues.length} issues`;
    super(`invalid hardware profiles: ${count}\n${issues.map((i) => `  ${i.file}: ${i.path}: ${i.message}`).join('\n')}`);
  }
}

/** Element names in a launch fragment (`vapostproc ! video/x-raw(memory:VAMemory),format=NV12` → vapostproc). */
export function launchElements(fragment: string): string[] {
  return fragment
    .split(/\s+!\s+/)
    .map((segment) => segment.trim().split(/\s+/)[0] ?? '')
    .filter((first) => ELEMENT_NAME.test(first) && !first.includes('/'));
}

/** The declared type of `ref` (`bitrate` or `extra-controls.video_bitrate`), or a reason it has none. */
export function resolveProperty(encoder: EncoderDefinition, ref: string): z.output<typeof fieldType> | ElementPropertyType | string {
  const [name = '', field] = ref.split('.');
  const declared = encoder.elementProperties[name];
  if (declared === undefined) return `${encoder.element} has no declared property "${name}" (add it to elementProperties with its documented type)`;
  if (field === undefined) {
    return declared.type === 'structure' ? `"${name}" is a structure: set one of its fields as ${name}.FIELD` : declared;
  }
  if (declared.type !== 'structure') return `"${name}" is not a structure property`;
  return declared.fields[field] ?? `structure "${name}" has no declared field "${field}"`;
}

/** Why `value` does not fit `type`, or undefined if it does. Never echoes more than the value itself. */
export function valueProblem(type: z.output<typeof fieldType> | ElementPropertyType, value: PropertyValue): string | undefined {
  switch (type.type) {
    case 'uint':
    case 'int': {
      if (typeof value !== 'number' || !Number.isInteger(value)) return `must be an integer`;
      const min = type.type === 'uint' ? Math.max(0, type.min ?? 0) : type.min;
      if (min !== undefined && value < min) return `${value} is below the minimum ${min}`;
      if (type.max !== undefined && value > type.max) return `${value} is above the maximum ${type.max}`;
      return undefined;
    }
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'must be true or false';
    case 'string':
      return typeof value === 'string' ? undefined : 'must be a string';
    case 'enum':
      return typeof value === 'string' && type.nicks.includes(value) ? undefined : `"${String(value)}" is not one of ${type.nicks.join(', ')}`;
    case 'flags': {
      if (typeof value !== 'string') return `must be flag nicks joined by "+"`;
      const unknown = value.split('+').filter((nick) => !type.nicks.includes(nick));
      return unknown.length === 0 ? undefined : `unknown flag ${unknown.map((n) => `"${n}"`).join(', ')} (allowed: ${type.nicks.join(', ')})`;
    }
    case 'structure':
      return 'a structure is set field by field';
  }
}

type Path = (string | number)[];

/** Checks beyond the shape: declared properties, types, units, nicks, regexes, element lists. */
export function profileIssues(profile: HardwareProfile): { path: Path; message: string }[] {
  const issues: { path: Path; message: string }[] = [];
  for (const key of ['gpuVendor', 'boardModel'] as const) {
    const pattern = profile.detect[key];
    if (pattern === undefined) continue;
    try {
      new RegExp(pattern, 'i');
    } catch (err) {
      issues.push({ path: ['detect', key], message: `not a valid regular expression: ${(err as Error).message}` });
    }
  }
  for (const codec of CODECS) {
    const encoder = profile.encoders[codec];
    if (encoder === undefined) continue;
    const at = (...rest: Path): Path => ['encoders', codec, ...rest];
    const setters: { path: Path; ref: string; value?: PropertyValue }[] = [
      { path: at('bitrate', 'property'), ref: encoder.bitrate.property },
      ...encoder.keyframeInterval.properties.map((ref, i) => ({ path: at('keyframeInterval', 'properties', i), ref })),
    ];
    const sets: [Path, Record<string, PropertyValue>][] = [
      [at('rateControl', 'cbr'), encoder.rateControl.cbr],
      [at('rateControl', 'vbr'), encoder.rateControl.vbr],
      [at('latency', 'low'), encoder.latency.low],
      [at('latency', 'normal'), encoder.latency.normal],
      [at('fixed'), encoder.fixed],
    ];
    for (const [path, set] of sets) {
      for (const [ref, value] of Object.entries(set)) setters.push({ path: [...path, ref], ref, value });
    }
    for (const setter of setters) {
      const type = resolveProperty(encoder, setter.ref);
      if (typeof type === 'string') {
        issues.push({ path: setter.path, message: type });
        continue;
      }
      if (setter.value !== undefined) {
        const problem = valueProblem(type, setter.value);
        if (problem !== undefined) issues.push({ path: setter.path, message: problem });
      }
    }
    const bitrateType = resolveProperty(encoder, encoder.bitrate.property);
    if (typeof bitrateType !== 'string') {
      if (bitrateType.type !== 'uint' && bitrateType.type !== 'int') {
        issues.push({ path: at('bitrate', 'property'), message: 'the bitrate property must be an integer property' });
      } else if (bitrateType.unit !== encoder.bitrate.unit) {
        // The mistake that costs a factor of 1000: openh264enc and nvv4l2h264enc take bit/s, most others kbit/s.
        issues.push({
          path: at('bitrate', 'unit'),
          message: `is ${encoder.bitrate.unit} but ${encoder.element} documents ${encoder.bitrate.property} in ${bitrateType.unit ?? 'no unit'}`,
        });
      }
    }
    encoder.keyframeInterval.properties.forEach((ref, i) => {
      const type = resolveProperty(encoder, ref);
      if (typeof type !== 'string' && type.type !== 'uint' && type.type !== 'int') {
        issues.push({ path: at('keyframeInterval', 'properties', i), message: 'must be an integer property (frames)' });
      }
    });
    // One source per property: a value set by two maps would depend on the order they are applied in.
    const owners = new Map<string, string>();
    const claim = (ref: string, owner: string, path: Path) => {
      const previous = owners.get(ref);
      if (previous !== undefined && previous !== owner) issues.push({ path, message: `"${ref}" is already set by ${previous}` });
      else owners.set(ref, owner);
    };
    claim(encoder.bitrate.property, 'bitrate', at('bitrate', 'property'));
    encoder.keyframeInterval.properties.forEach((ref, i) => claim(ref, 'keyframeInterval', at('keyframeInterval', 'properties', i)));
    for (const mode of ['cbr', 'vbr'] as const) for (const ref of Object.keys(encoder.rateControl[mode])) claim(ref, 'rateControl', at('rateControl', mode, ref));
    for (const level of ['low', 'normal'] as const) for (const ref of Object.keys(encoder.latency[level])) claim(ref, 'latency', at('latency', level, ref));
    for (const ref of Object.keys(encoder.fixed)) claim(ref, 'fixed', at('fixed', ref));
  }
  // The h264 path is what detection proves: every element it needs besides the encoder must be a detection rule.
  const needed = [...launchElements(profile.encoders.h264.input), PARSER_ELEMENT.h264];
  for (const element of needed) {
    if (!profile.detect.elements.includes(element)) {
      issues.push({ path: ['detect', 'elements'], message: `must list "${element}" (used by the H.264 encoder path)` });
    }
  }
  return issues;
}

/** Validates one parsed profile file; issues carry the file and path. */
export function validateProfile(value: unknown, file: string): { profile?: HardwareProfile; issues: ProfileIssue[] } {
  const parsed = hardwareProfileSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.flatMap((issue): ProfileIssue[] =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => ({ file, path: formatPath([...issue.path, key]), message: 'unknown key' }))
        : [{ file, path: formatPath(issue.path), message: issue.message }],
    );
    return { issues };
  }
  const issues = profileIssues(parsed.data).map(({ path, message }) => ({ file, path: formatPath(path), message }));
  return issues.length > 0 ? { issues } : { profile: parsed.data, issues };
}

/** Profiles in ladder order: ascending priority. */
export function ladderOrder<T extends { priority: number }>(profiles: readonly T[]): T[] {
  return [...profiles].sort((a, b) => a.priority - b.priority);
}

/**
 * Reads and validates every `*.json` in the folder (except the schema), in ladder order. Any problem in any
 * file fails the whole load with every issue listed: a half-loaded ladder could skip the right encoder.
 */
export async function loadHardwareProfiles(
  directory: string = process.env[HARDWARE_PROFILES_DIR_ENV] ?? DEFAULT_HARDWARE_PROFILES_DIR,
): Promise<HardwareProfile[]> {
  const names = (await readdir(directory)).filter((name) => name.endsWith('.json') && name !== PROFILE_SCHEMA_FILE).sort();
  const issues: ProfileIssue[] = [];
  const profiles: HardwareProfile[] = [];
  for (const name of names) {
    const file = join(directory, name);
    let value: unknown;
    try {
      value = JSON.parse(await readFile(file, 'utf8'));
    } catch (err) {
      issues.push({ file, path: '(root)', message: `not valid JSON: ${(err as Error).message}` });
      continue;
    }
    const result = validateProfile(value, file);
    issues.push(...result.issues);
    if (result.profile === undefined) continue;
    if (`${result.profile.id}.json` !== name) issues.push({ file, path: 'id', message: `must match the file name (${name.replace(/\.json$/, '')})` });
    profiles.push(result.profile);
  }
  const byPriority = new Map<number, string>();
  const byId = new Set<string>();
  for (const profile of profiles) {
    const other = byPriority.get(profile.priority);
    if (other !== undefined) issues.push({ file: directory, path: profile.id, message: `priority ${profile.priority} is also the priority of ${other}: the ladder order must be unambiguous` });
    byPriority.set(profile.priority, profile.id);
    if (byId.has(profile.id)) issues.push({ file: directory, path: profile.id, message: 'duplicate id' });
    byId.add(profile.id);
  }
  if (profiles.length === 0 && issues.length === 0) issues.push({ file: directory, path: '(root)', message: 'no hardware profile found' });
  if (issues.length > 0) throw new HardwareProfileError(issues);
  return ladderOrder(profiles);
}
