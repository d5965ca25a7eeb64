/**
 * Wiring: which encoder does this box really have? For each hardware profile, in ladder order:
 *  1. the rules — a GPU vendor, a board model, device nodes, GStreamer elements (`gst-inspect-1.0 --exists`);
 *  2. the proof — a one-second real test encode through the profile's own fragment (go2rtc's approach:
 *     a profile is never trusted from its rules, drivers lie and plugins register elements that cannot open
 *     the device). The test runs in a child gst-launch-1.0 with a timeout, because some drivers hang.
 * Every profile gets a verdict with its reasons, so `venuebox profiles detect` says why each was rejected.
 * The first working profile is selected; the others that work are the ladder the pipeline supervisor
 * drops down (`nextOnLadder`) when an encoder fails at run time.
 *
 * Host paths are overridable (DESIGN): VENUEBOX_DEV_DIR for /dev, VENUEBOX_SYS_DIR for /sys; the GPU vendor
 * and board model sources are injectable, so tests fake a box without faking the code under test.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../lib/log.ts';
import { errorMessage } from '../lib/errors.ts';
import { mapLimit } from '../lib/concurrency.ts';
import { buildEncoderFragment, launchTokens, type EncoderSettings } from './encoder-fragment.ts';
import { CODECS, loadHardwareProfiles, type Codec, type HardwareProfile } from './hardware-profiles.ts';

export const DEV_DIR_ENV = 'VENUEBOX_DEV_DIR';
export const SYS_DIR_ENV = 'VENUEBOX_SYS_DIR';
export const DEFAULT_TEST_TIMEOUT_MS = 10_000;

/** The settings of every test encode: what a 720p30 live output would use. */
export const TEST_ENCODE_SETTINGS: Omit<EncoderSettings, 'codec'> = {
  bitrateKbps: 2000,
  keyframeIntervalFrames: 30,
  fps: 30,
  rateControl: 'cbr',
  latency: 'low',
};

/** One second of 720p30 test pattern through the fragment. */
export function testEncodeLaunch(fragment: string): string {
  return `videotestsrc num-buffers=30 ! video/x-raw,width=1280,height=720,framerate=30/1 ! ${fragment} ! fakesink`;
}

export type ProfileStatus = 'selected' | 'works' | 'rejected';

export interface ProfileVerdict {
  id: string;
  name: string;
  priority: number;
  selected: boolean;
  status: ProfileStatus;
  /** Why the profile was rejected (every failed rule, or the test encode's failure). Empty when it works. */
  reasons: string[];
  /** Facts that do not reject the profile (an alternative element that failed, no working H.265). */
  notes: string[];
  /** Proven encoder elements per codec; H.265 only if its own test encode passed. */
  elements: Partial<Record<Codec, string>>;
}

export interface EncoderChoice {
  profile: HardwareProfile;
  /** The element that passed the test encode per codec (`vah264lpenc` when only the low-power one works). */
  elements: { h264: string; h265?: string };
}

export interface DetectionReport {
  selected: EncoderChoice | undefined;
  /** Every working profile in ladder order (the selected one first). */
  working: EncoderChoice[];
  /** Every profile in ladder order. */
  verdicts: ProfileVerdict[];
}

export interface TestEncodeResult {
  ok: boolean;
  /** `test encode failed: …` or `test encode timed out …` when not ok. */
  reason?: string;
  elapsedMs: number;
}

export interface DetectOptions {
  profiles?: readonly HardwareProfile[];
  /** Where `/dev` is; default $VENUEBOX_DEV_DIR or /dev. */
  devDir?: string;
  /** Where `/sys` is; default $VENUEBOX_SYS_DIR or /sys. */
  sysDir?: string;
  /** GPU vendor names of this box; default systeminformation + the PCI vendor of DRM render nodes. */
  gpuVendors?: () => Promise<string[]>;
  /** Device-tree board model; default read from <sys>/firmware/devicetree/base/model. */
  boardModel?: () => Promise<string | undefined>;
  /** Whether a GStreamer element exists; default `gst-inspect-1.0 --exists`. */
  elementExists?: (element: string) => Promise<boolean>;
  /** Runs one test encode; default gst-launch-1.0 with a timeout. */
  testEncode?: (launch: string) => Promise<TestEncodeResult>;
  timeoutMs?: number;
  log?: Logger;
}

// ---------------------------------------------------------------------------------------------------------
// Device node globs

/** `renderD*` → /^renderD[^/]*$/; supports `*`, `?` and `{a,b}`. */
export function globSegmentRegExp(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] ?? '';
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '{') {
      const end = segment.indexOf('}', i);
      if (end < 0) throw new Error(`unclosed "{" in ${segment}`);
      source += `(?:${segment
        .slice(i + 1, end)
        .split(',')
        .map((alt) => alt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('|')})`;
      i = end;
    } else source += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** The first node matching a `/dev/...` glob under `devDir`, or undefined. */
export async function findDeviceNode(devDir: string, pattern: string): Promise<string | undefined> {
  const segments = pattern.replace(/^\/dev\/?/, '').split('/').filter((s) => s !== '');
  let candidates = [devDir];
  for (const segment of segments) {
    const next: string[] = [];
    for (const dir of candidates) {
      if (!/[*?{]/.test(segment)) {
        const path = join(dir, segment);
        if (await stat(path).then(() => true, () => false)) next.push(path);
        continue;
      }
      const regexp = globSegmentRegExp(segment);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.sort()) if (regexp.test(name)) next.push(join(dir, name));
    }
    candidates = next;
    if (candidates.length === 0) return undefined;
  }
  return candidates[0];
}

// ---------------------------------------------------------------------------------------------------------
// Host sources (defaults)

const PCI_VENDORS: Record<string, string> = {
  '0x8086': 'Intel Corporation',
  '0x10de': 'NVIDIA Corporation',
  '0x1002': 'Advanced Micro Devices, Inc. [AMD/ATI]',
};

/**
 * GPU vendors from systeminformation (lspci underneath) and, because minimal images ship without lspci
 * (this project's own machines have none, and then systeminformation reports no controller at all), from the
 * PCI vendor id of each DRM render node in sysfs.
 */
export async function hostGpuVendors(sysDir: string): Promise<string[]> {
  const vendors = new Set<string>();
  try {
    const { default: si } = await import('systeminformation');
    for (const controller of (await si.graphics()).controllers) if (controller.vendor) vendors.add(controller.vendor);
  } catch {
    // systeminformation failing is the same as finding nothing: sysfs below is the second source.
  }
  const drm = join(sysDir, 'class', 'drm');
  for (const name of await readdir(drm).catch(() => [] as string[])) {
    if (!name.startsWith('renderD')) continue;
    const id = (await readFile(join(drm, name, 'device', 'vendor'), 'utf8').catch(() => '')).trim().toLowerCase();
    const vendor = PCI_VENDORS[id];
    if (vendor !== undefined) vendors.add(vendor);
  }
  return [...vendors];
}

/** The device-tree model (Raspberry Pi, Jetson), without its trailing NUL; undefined on PCs. */
export async function hostBoardModel(sysDir: string): Promise<string | undefined> {
  const model = await readFile(join(sysDir, 'firmware', 'devicetree', 'base', 'model'), 'utf8').catch(() => undefined);
  const trimmed = model?.replace(/\0/g, '').trim();
  return trimmed === '' ? undefined : trimmed;
}

/** `gst-inspect-1.0 --exists ELEMENT` (exit 0 = exists). */
export function gstElementExists(element: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('gst-inspect-1.0', ['--exists', element], { stdio: 'ignore' });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}

// ---------------------------------------------------------------------------------------------------------
// The test encode

/**
 * The line that says why gst-launch failed: the parser's complaint (`no element "vah264enc"`), else the first
 * ERROR with the flow reason appended (`Internal data stream error (not-negotiated)`) — gst-launch's last line
 * is usually the useless "pipeline doesn't want to preroll".
 */
export function summarizeGstFailure(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const parse = lines.find((l) => l.startsWith('WARNING: erroneous pipeline:'));
  if (parse !== undefined) return parse.replace('WARNING: erroneous pipeline: ', '');
  const error = lines.find((l) => l.startsWith('ERROR:'));
  if (error !== undefined) {
    const message = error.replace(/^ERROR: from element \S+: /, '').replace(/^ERROR: /, '').replace(/\.$/, '');
    const reason = /reason ([a-z-]+) \(-?\d+\)/.exec(stderr)?.[1];
    return reason !== undefined && !message.includes(reason) ? `${message} (${reason})` : message;
  }
  return lines.at(-1) ?? 'no output';
}

/** Lines of stderr kept per test encode: enough for the cause, bounded for a driver that floods. */
const STDERR_KEEP_BYTES = 16 * 1024;

/** Runs `gst-launch-1.0 -q <launch>`; kills it (SIGKILL) when it outlives `timeoutMs`. */
export function runTestEncode(
  launch: string,
  options: { timeoutMs?: number; gstLaunch?: string } = {},
): Promise<TestEncodeResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TEST_TIMEOUT_MS;
  const started = performance.now();
  return new Promise((resolve) => {
    // One argv entry per token: gst-launch escapes spaces inside an entry (see launchTokens).
    const child = spawn(options.gstLaunch ?? 'gst-launch-1.0', ['-q', ...launchTokens(launch)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let timedOut = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP_BYTES);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const done = (result: Omit<TestEncodeResult, 'elapsedMs'>) => {
      clearTimeout(timer);
      resolve({ ...result, elapsedMs: Math.round(performance.now() - started) });
    };
    child.on('error', (err) => done({ ok: false, reason: `test encode failed: cannot run gst-launch-1.0: ${errorMessage(err)}` }));
    child.on('close', (code, signal) => {
      if (timedOut) return done({ ok: false, reason: `test encode timed out after ${timeoutMs / 1000} s (killed)` });
      if (code === 0) return done({ ok: true });
      const summary = stderr.trim() === '' ? `exit ${code ?? signal}` : summarizeGstFailure(stderr);
      done({ ok: false, reason: `test encode failed: ${summary}` });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Detection

function alternativesText(elements: readonly string[]): string {
  const [first, ...rest] = elements;
  return rest.length === 0 ? `${first}` : `${first} (or ${rest.join(', or ')})`;
}

/** Proves every profile on the ladder; see the module comment. Never throws for a profile's failure. */
export async function detectEncoder(options: DetectOptions = {}): Promise<DetectionReport> {
  const profiles = [...(options.profiles ?? (await loadHardwareProfiles()))].sort((a, b) => a.priority - b.priority);
  const devDir = options.devDir ?? process.env[DEV_DIR_ENV] ?? '/dev';
  const sysDir = options.sysDir ?? process.env[SYS_DIR_ENV] ?? '/sys';
  const timeoutMs = options.timeoutMs ?? DEFAULT_TEST_TIMEOUT_MS;
  const testEncode = options.testEncode ?? ((launch: string) => runTestEncode(launch, { timeoutMs }));
  const [vendors, model] = await Promise.all([
    (options.gpuVendors ?? (() => hostGpuVendors(sysDir)))(),
    (options.boardModel ?? (() => hostBoardModel(sysDir)))(),
  ]);

  // Every element any profile mentions, asked once each (gst-inspect takes ~50 ms per call).
  const exists = options.elementExists ?? gstElementExists;
  const mentioned = new Set<string>();
  for (const profile of profiles) {
    for (const element of profile.detect.elements) mentioned.add(element);
    for (const codec of CODECS) {
      const encoder = profile.encoders[codec];
      if (encoder !== undefined) for (const element of [encoder.element, ...encoder.alternatives]) mentioned.add(element);
    }
  }
  const names = [...mentioned];
  const answers = await mapLimit(names, 4, (name) => exists(name));
  const found = new Map(names.map((name, i) => [name, answers[i] === true] as const));

  const verdicts: ProfileVerdict[] = [];
  const working: EncoderChoice[] = [];
  for (const profile of profiles) {
    const verdict: ProfileVerdict = {
      id: profile.id,
      name: profile.name,
      priority: profile.priority,
      selected: false,
      status: 'rejected',
      reasons: [],
      notes: [],
      elements: {},
    };
    verdicts.push(verdict);
    const { detect } = profile;
    const vendorPattern = detect.gpuVendor === undefined ? undefined : new RegExp(detect.gpuVendor, 'i');
    if (vendorPattern !== undefined && !vendors.some((v) => vendorPattern.test(v))) {
      const seen = vendors.length === 0 ? 'no GPU found' : `found ${vendors.map((v) => `"${v}"`).join(', ')}`;
      verdict.reasons.push(`no matching GPU: wanted a vendor matching /${detect.gpuVendor}/i, ${seen}`);
    }
    if (detect.boardModel !== undefined && (model === undefined || !new RegExp(detect.boardModel, 'i').test(model))) {
      verdict.reasons.push(`not this board: wanted a model matching /${detect.boardModel}/i, ${model === undefined ? 'no device-tree model' : `found "${model}"`}`);
    }
    for (const pattern of detect.deviceNodes) {
      if ((await findDeviceNode(devDir, pattern)) === undefined) {
        verdict.reasons.push(devDir === '/dev' ? `missing ${pattern}` : `missing ${pattern} (looked under ${devDir})`);
      }
    }
    for (const element of detect.elements) if (found.get(element) !== true) verdict.reasons.push(`element ${element} not found`);
    const h264 = profile.encoders.h264;
    const candidates = [h264.element, ...h264.alternatives].filter((e) => found.get(e) === true);
    if (candidates.length === 0) verdict.reasons.push(`element ${alternativesText([h264.element, ...h264.alternatives])} not found`);
    if (verdict.reasons.length > 0) {
      options.log?.info({ profile: profile.id, reasons: verdict.reasons }, 'encoder profile rejected by its rules');
      continue;
    }

    const h264Element = await proveCodec(profile, 'h264', candidates, testEncode, verdict);
    if (h264Element === undefined) {
      options.log?.info({ profile: profile.id, reasons: verdict.reasons }, 'encoder profile failed its test encode');
      continue;
    }
    verdict.elements.h264 = h264Element;
    const choice: EncoderChoice = { profile, elements: { h264: h264Element } };
    const h265 = profile.encoders.h265;
    if (h265 !== undefined) {
      const h265Candidates = [h265.element, ...h265.alternatives].filter((e) => found.get(e) === true);
      if (h265Candidates.length === 0) verdict.notes.push(`no H.265: element ${alternativesText([h265.element, ...h265.alternatives])} not found`);
      const h265Element = h265Candidates.length === 0 ? undefined : await proveCodec(profile, 'h265', h265Candidates, testEncode, verdict, true);
      if (h265Element !== undefined) {
        verdict.elements.h265 = h265Element;
        choice.elements.h265 = h265Element;
      }
    }
    verdict.status = working.length === 0 ? 'selected' : 'works';
    verdict.selected = working.length === 0;
    working.push(choice);
    options.log?.info({ profile: profile.id, elements: verdict.elements, status: verdict.status }, 'encoder profile proved by a test encode');
  }
  return { selected: working[0], working, verdicts };
}

/**
 * Test-encodes with each candidate element until one works. Failures of all candidates are reasons (for
 * H.264) or notes (H.265: a profile without working H.265 still encodes H.264); failures of an earlier
 * candidate when a later one works are notes.
 */
async function proveCodec(
  profile: HardwareProfile,
  codec: Codec,
  candidates: readonly string[],
  testEncode: (launch: string) => Promise<TestEncodeResult>,
  verdict: ProfileVerdict,
  optional = false,
): Promise<string | undefined> {
  const failures: string[] = [];
  for (const element of candidates) {
    let fragment: string;
    try {
      fragment = buildEncoderFragment(profile, { codec, ...TEST_ENCODE_SETTINGS }, { element });
    } catch (err) {
      // A profile whose ranges exclude the test settings is broken, not this box: say so and move on.
      failures.push(`${codec.toUpperCase()} ${element}: cannot build the test fragment: ${errorMessage(err)}`);
      continue;
    }
    const result = await testEncode(testEncodeLaunch(fragment));
    if (result.ok) {
      verdict.notes.push(...failures);
      return element;
    }
    const reason = result.reason ?? 'test encode failed';
    failures.push(candidates.length > 1 || optional ? `${codec.toUpperCase()} ${element}: ${reason}` : reason);
  }
  if (optional) verdict.notes.push(...failures.map((f) => `no H.265: ${f}`));
  else verdict.reasons.push(...failures);
  return undefined;
}

/**
 * The profile to drop to when `currentId`'s encoder fails at run time: the next working profile below it on
 * the ladder, or undefined at the bottom (or when `currentId` is not among the working ones).
 */
export function nextOnLadder(currentId: string, working: readonly EncoderChoice[]): EncoderChoice | undefined {
  const index = working.findIndex((choice) => choice.profile.id === currentId);
  return index < 0 ? undefined : working[index + 1];
}
