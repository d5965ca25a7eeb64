// Hardware profiles: every file validates, the schema is generated, and each profile × codec × settings
// yields an exact launch fragment. Software fragments are parsed and run by this machine's GStreamer; hardware
// fragments are checked against their profile's declared element properties (no hardware here).
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HardwareProfileError,
  PROFILE_SCHEMA_FILE,
  DEFAULT_HARDWARE_PROFILES_DIR,
  loadHardwareProfiles,
  profileJsonSchema,
  resolveProperty,
  validateProfile,
  valueProblem,
  type Codec,
  type HardwareProfile,
} from '../../agent/encoder/hardware-profiles.ts';
import {
  buildEncoderFragment,
  encoderFor,
  launchTokens,
  parseLaunchFragment,
  type EncoderSettings,
} from '../../agent/encoder/encoder-fragment.ts';
import { globSegmentRegExp, nextOnLadder, summarizeGstFailure, type EncoderChoice } from '../../agent/encoder/profile-detect.ts';
import { documents, repoRoot } from '../../scripts/generate-docs.ts';

const profiles = await loadHardwareProfiles(DEFAULT_HARDWARE_PROFILES_DIR);
// Every await before the first test: ava wants tests declared synchronously once the file starts running.
// Raw copies for the loader's checks (one broken copy per row below).
const x264Json = JSON.parse(await readFile(join(DEFAULT_HARDWARE_PROFILES_DIR, 'software-x264.json'), 'utf8')) as Record<string, any>;
const piJson = JSON.parse(await readFile(join(DEFAULT_HARDWARE_PROFILES_DIR, 'raspberry-pi.json'), 'utf8')) as Record<string, any>;
const byId = (id: string): HardwareProfile => {
  const profile = profiles.find((p) => p.id === id);
  if (profile === undefined) throw new Error(`no profile ${id}`);
  return profile;
};

const SETTINGS = {
  // A live output: CBR, low latency, 2 s GOP at 30 fps.
  live: { bitrateKbps: 4000, keyframeIntervalFrames: 60, fps: 30, rateControl: 'cbr', latency: 'low' },
  // A recording/backfill rendition: VBR, normal latency, 2 s GOP at 25 fps.
  record: { bitrateKbps: 2500, keyframeIntervalFrames: 50, fps: 25, rateControl: 'vbr', latency: 'normal' },
} as const satisfies Record<string, Omit<EncoderSettings, 'codec'>>;
type SettingsName = keyof typeof SETTINGS;

const H264_TAIL = 'h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au';
const H265_TAIL = 'h265parse config-interval=-1 ! video/x-h265,stream-format=byte-stream,alignment=au';

/** Every profile × codec × settings, with the exact fragment. Units: kbit/s except openh264, nvv4l2 and the Pi (bit/s). */
const FRAGMENTS: [string, Codec, SettingsName, string][] = [
  ['nvidia-nvenc', 'h264', 'live', `videoconvert ! video/x-raw,format=NV12 ! nvh264enc bitrate=4000 gop-size=60 rc-mode=cbr preset=low-latency-hq zerolatency=true ! ${H264_TAIL}`],
  ['nvidia-nvenc', 'h264', 'record', `videoconvert ! video/x-raw,format=NV12 ! nvh264enc bitrate=2500 gop-size=50 rc-mode=vbr preset=hq ! ${H264_TAIL}`],
  ['nvidia-nvenc', 'h265', 'live', `videoconvert ! video/x-raw,format=NV12 ! nvh265enc bitrate=4000 gop-size=60 rc-mode=cbr preset=low-latency-hq zerolatency=true ! ${H265_TAIL}`],
  ['nvidia-nvenc', 'h265', 'record', `videoconvert ! video/x-raw,format=NV12 ! nvh265enc bitrate=2500 gop-size=50 rc-mode=vbr preset=hq ! ${H265_TAIL}`],
  ['intel-va', 'h264', 'live', `vapostproc ! video/x-raw(memory:VAMemory),format=NV12 ! vah264enc bitrate=4000 key-int-max=60 rate-control=cbr b-frames=0 ! ${H264_TAIL}`],
  ['intel-va', 'h264', 'record', `vapostproc ! video/x-raw(memory:VAMemory),format=NV12 ! vah264enc bitrate=2500 key-int-max=50 rate-control=vbr b-frames=0 ! ${H264_TAIL}`],
  ['intel-va', 'h265', 'live', `vapostproc ! video/x-raw(memory:VAMemory),format=NV12 ! vah265enc bitrate=4000 key-int-max=60 rate-control=cbr b-frames=0 ! ${H265_TAIL}`],
  ['intel-va', 'h265', 'record', `vapostproc ! video/x-raw(memory:VAMemory),format=NV12 ! vah265enc bitrate=2500 key-int-max=50 rate-control=vbr b-frames=0 ! ${H265_TAIL}`],
  ['intel-qsv', 'h264', 'live', `videoconvert ! video/x-raw,format=NV12 ! qsvh264enc bitrate=4000 gop-size=60 rate-control=cbr b-frames=0 ! ${H264_TAIL}`],
  ['intel-qsv', 'h264', 'record', `videoconvert ! video/x-raw,format=NV12 ! qsvh264enc bitrate=2500 gop-size=50 rate-control=vbr b-frames=0 ! ${H264_TAIL}`],
  ['intel-qsv', 'h265', 'live', `videoconvert ! video/x-raw,format=NV12 ! qsvh265enc bitrate=4000 gop-size=60 rate-control=cbr b-frames=0 ! ${H265_TAIL}`],
  ['intel-qsv', 'h265', 'record', `videoconvert ! video/x-raw,format=NV12 ! qsvh265enc bitrate=2500 gop-size=50 rate-control=vbr b-frames=0 ! ${H265_TAIL}`],
  ['intel-vaapi-legacy', 'h264', 'live', `vaapipostproc ! video/x-raw(memory:VASurface),format=NV12 ! vaapih264enc bitrate=4000 keyframe-period=60 rate-control=cbr max-bframes=0 ! ${H264_TAIL}`],
  ['intel-vaapi-legacy', 'h264', 'record', `vaapipostproc ! video/x-raw(memory:VASurface),format=NV12 ! vaapih264enc bitrate=2500 keyframe-period=50 rate-control=vbr max-bframes=0 ! ${H264_TAIL}`],
  ['intel-vaapi-legacy', 'h265', 'live', `vaapipostproc ! video/x-raw(memory:VASurface),format=NV12 ! vaapih265enc bitrate=4000 keyframe-period=60 rate-control=cbr max-bframes=0 ! ${H265_TAIL}`],
  ['intel-vaapi-legacy', 'h265', 'record', `vaapipostproc ! video/x-raw(memory:VASurface),format=NV12 ! vaapih265enc bitrate=2500 keyframe-period=50 rate-control=vbr max-bframes=0 ! ${H265_TAIL}`],
  ['amd-va', 'h264', 'live', `vapostproc ! video/x-raw(memory:VAMemory),format=NV12 ! vah264enc bitrate=4000 key-int-max=60 rate-control=cbr b-frames=0 ! ${H264_TAIL}`],
  ['amd-va', 'h264', 'record', `vapostproc ! video/x-raw(memory:VAMemory),format=NV12 ! vah264enc bitrate=2500 key-int-max=50 rate-control=vbr b-frames=0 ! ${H264_TAIL}`],
  ['amd-va', 'h265', 'live', `vapostproc ! video/x-raw(memory:VAMemory),format=NV12 ! vah265enc bitrate=4000 key-int-max=60 rate-control=cbr b-frames=0 ! ${H265_TAIL}`],
  ['amd-va', 'h265', 'record', `vapostproc ! video/x-raw(memory:VAMemory),format=NV12 ! vah265enc bitrate=2500 key-int-max=50 rate-control=vbr b-frames=0 ! ${H265_TAIL}`],
  ['jetson', 'h264', 'live', `nvvidconv ! video/x-raw(memory:NVMM),format=NV12 ! nvv4l2h264enc bitrate=4000000 iframeinterval=60 idrinterval=60 control-rate=constant_bitrate maxperf-enable=true preset-level=UltraFastPreset insert-sps-pps=true ! ${H264_TAIL}`],
  ['jetson', 'h264', 'record', `nvvidconv ! video/x-raw(memory:NVMM),format=NV12 ! nvv4l2h264enc bitrate=2500000 iframeinterval=50 idrinterval=50 control-rate=variable_bitrate preset-level=UltraFastPreset insert-sps-pps=true ! ${H264_TAIL}`],
  ['jetson', 'h265', 'live', `nvvidconv ! video/x-raw(memory:NVMM),format=NV12 ! nvv4l2h265enc bitrate=4000000 iframeinterval=60 idrinterval=60 control-rate=constant_bitrate maxperf-enable=true preset-level=UltraFastPreset insert-sps-pps=true ! ${H265_TAIL}`],
  ['jetson', 'h265', 'record', `nvvidconv ! video/x-raw(memory:NVMM),format=NV12 ! nvv4l2h265enc bitrate=2500000 iframeinterval=50 idrinterval=50 control-rate=variable_bitrate preset-level=UltraFastPreset insert-sps-pps=true ! ${H265_TAIL}`],
  ['raspberry-pi', 'h264', 'live', `videoconvert ! video/x-raw,format=I420 ! v4l2h264enc extra-controls="controls,video_bitrate=4000000,h264_i_frame_period=60,video_bitrate_mode=1,repeat_sequence_header=1" ! video/x-h264,profile=high,level=(string)4 ! ${H264_TAIL}`],
  ['raspberry-pi', 'h264', 'record', `videoconvert ! video/x-raw,format=I420 ! v4l2h264enc extra-controls="controls,video_bitrate=2500000,h264_i_frame_period=50,video_bitrate_mode=0,repeat_sequence_header=1" ! video/x-h264,profile=high,level=(string)4 ! ${H264_TAIL}`],
  ['software-x264', 'h264', 'live', `videoconvert ! video/x-raw,format=I420 ! x264enc bitrate=4000 key-int-max=60 pass=cbr tune=zerolatency speed-preset=superfast ! video/x-h264,profile=high ! ${H264_TAIL}`],
  ['software-x264', 'h264', 'record', `videoconvert ! video/x-raw,format=I420 ! x264enc bitrate=2500 key-int-max=50 pass=qual quantizer=23 speed-preset=superfast ! video/x-h264,profile=high ! ${H264_TAIL}`],
  ['software-openh264', 'h264', 'live', `videoconvert ! video/x-raw,format=I420 ! openh264enc bitrate=4000000 gop-size=60 rate-control=bitrate complexity=low ! ${H264_TAIL}`],
  ['software-openh264', 'h264', 'record', `videoconvert ! video/x-raw,format=I420 ! openh264enc bitrate=2500000 gop-size=50 rate-control=quality complexity=low ! ${H264_TAIL}`],
];

const SOFTWARE = new Set(['software-x264', 'software-openh264']);

function gstLaunch(launch: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('gst-launch-1.0', ['-q', ...launchTokens(launch)], { timeout: 30_000 }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stderr });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// The files

test('every profile file validates, ids match file names, and the ladder is in priority order', (t) => {
  t.deepEqual(
    profiles.map((p) => [p.priority, p.id]),
    [
      [10, 'nvidia-nvenc'],
      [20, 'intel-va'],
      [30, 'intel-qsv'],
      [40, 'intel-vaapi-legacy'],
      [50, 'amd-va'],
      [60, 'jetson'],
      [70, 'raspberry-pi'],
      [90, 'software-x264'],
      [100, 'software-openh264'],
    ],
  );
  for (const profile of profiles) {
    t.true(profile.capacity.source.length > 20, `${profile.id} says where its capacity comes from`);
    t.truthy(profile.decoders.h264, `${profile.id} names an H.264 decoder`);
  }
});

test('H.265 is declared exactly where the platform has an encoder for it', (t) => {
  t.deepEqual(
    profiles.filter((p) => p.encoders.h265 !== undefined).map((p) => p.id),
    ['nvidia-nvenc', 'intel-va', 'intel-qsv', 'intel-vaapi-legacy', 'amd-va', 'jetson'],
  );
});

test('the profile JSON Schema is generated from the zod schema and up to date', async (t) => {
  const document = documents.find((d) => d.file === `hardware-profiles/${PROFILE_SCHEMA_FILE}`);
  t.truthy(document, 'scripts/generate-docs.ts lists the profile schema');
  const onDisk = await readFile(join(repoRoot, 'hardware-profiles', PROFILE_SCHEMA_FILE), 'utf8');
  t.true(onDisk === `${JSON.stringify(profileJsonSchema(), null, 2)}\n`, 'stale: run npx tsx scripts/generate-docs.ts');
  const schema = JSON.parse(onDisk) as { additionalProperties?: unknown; required?: string[] };
  t.is(schema.additionalProperties, false, 'unknown keys are rejected by editors too');
  t.deepEqual(schema.required, ['id', 'name', 'vendor', 'priority', 'detect', 'decoders', 'encoders', 'capacity']);
});

// ---------------------------------------------------------------------------------------------------------
// The loader's checks, one broken copy of software-x264 per row


const BROKEN: [string, Record<string, any>, (p: Record<string, any>) => void, string[]][] = [
  ['an unknown key', x264Json, (p) => (p['detect']['gpuvendor'] = 'Intel'), ['detect.gpuvendor: unknown key']],
  [
    'an enum nick the element does not have',
    x264Json,
    (p) => (p['encoders']['h264']['rateControl']['cbr']['pass'] = 'constant'),
    ['encoders.h264.rateControl.cbr.pass: "constant" is not one of cbr, quant, qual, pass1, pass2, pass3'],
  ],
  [
    'a bitrate unit that differs from the element (the factor-1000 mistake)',
    x264Json,
    (p) => (p['encoders']['h264']['bitrate']['unit'] = 'bit/s'),
    ['encoders.h264.bitrate.unit: is bit/s but x264enc documents bitrate in kbit/s'],
  ],
  [
    'a property the element does not declare',
    x264Json,
    (p) => (p['encoders']['h264']['keyframeInterval']['properties'] = ['keyframe-period']),
    ['encoders.h264.keyframeInterval.properties[0]: x264enc has no declared property "keyframe-period" (add it to elementProperties with its documented type)'],
  ],
  [
    'an unknown flag',
    x264Json,
    (p) => (p['encoders']['h264']['latency']['low']['tune'] = 'zerolatency+fast'),
    ['encoders.h264.latency.low.tune: unknown flag "fast" (allowed: stillimage, fastdecode, zerolatency)'],
  ],
  [
    'a value outside the documented range',
    x264Json,
    (p) => (p['encoders']['h264']['rateControl']['vbr']['quantizer'] = 60),
    ['encoders.h264.rateControl.vbr.quantizer: 60 is above the maximum 50'],
  ],
  [
    'a property set by two maps',
    x264Json,
    (p) => (p['encoders']['h264']['fixed']['pass'] = 'cbr'),
    ['encoders.h264.fixed.pass: "pass" is already set by rateControl'],
  ],
  [
    'an element of the encoder path missing from the detection rules',
    x264Json,
    (p) => (p['detect']['elements'] = ['h264parse']),
    ['detect.elements: must list "videoconvert" (used by the H.264 encoder path)'],
  ],
  ['a GPU vendor that is not a regular expression', x264Json, (p) => (p['detect']['gpuVendor'] = 'Intel('), ['detect.gpuVendor: not a valid regular expression: Invalid regular expression: /Intel(/i: Unterminated group']],
  ['a device node outside /dev', x264Json, (p) => (p['detect']['deviceNodes'] = ['/sys/class/drm']), ['detect.deviceNodes[0]: must be a path under /dev']],
  ['a priority that is not a number', x264Json, (p) => (p['priority'] = 'low'), ['priority: Invalid input: expected number, received string']],
  [
    'a structure property set as a whole',
    piJson,
    (p) => (p['encoders']['h264']['fixed'] = { 'extra-controls': 'controls,repeat_sequence_header=1' }),
    ['encoders.h264.fixed["extra-controls"]: "extra-controls" is a structure: set one of its fields as extra-controls.FIELD'],
  ],
  [
    'a structure field the element does not declare',
    piJson,
    (p) => (p['encoders']['h264']['fixed'] = { 'extra-controls.h264_profile': 4 }),
    ['encoders.h264.fixed["extra-controls.h264_profile"]: structure "extra-controls" has no declared field "h264_profile"'],
  ],
];

for (const [what, original, mutate, expected] of BROKEN) {
  test(`a profile with ${what} is rejected with its path`, (t) => {
    const copy = structuredClone(original);
    mutate(copy);
    const { profile, issues } = validateProfile(copy, 'broken.json');
    t.is(profile, undefined);
    t.deepEqual(
      issues.map((i) => `${i.path}: ${i.message}`),
      expected,
    );
    t.true(issues.every((i) => i.file === 'broken.json'));
  });
}

test('loading a folder reports every issue of every file: bad JSON, id/file mismatch, duplicate priority', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'venuebox-profiles-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await copyFile(join(DEFAULT_HARDWARE_PROFILES_DIR, 'software-x264.json'), join(dir, 'software-x264.json'));
  await writeFile(join(dir, 'copy.json'), JSON.stringify({ ...x264Json, id: 'software-x264-copy' }));
  await writeFile(join(dir, 'broken.json'), '{ "id": ');
  const error = await t.throwsAsync(loadHardwareProfiles(dir), { instanceOf: HardwareProfileError });
  t.deepEqual(
    error?.issues.map((i) => `${i.file.replace(dir, '<dir>')}: ${i.path}: ${i.message.replace(/:.*/, ':…')}`),
    [
      '<dir>/broken.json: (root): not valid JSON:…',
      '<dir>/copy.json: id: must match the file name (copy)',
      '<dir>: software-x264: priority 90 is also the priority of software-x264-copy:…',
    ],
  );
});

// ---------------------------------------------------------------------------------------------------------
// Fragments

for (const [id, codec, settingsName, expected] of FRAGMENTS) {
  test(`fragment: ${id} ${codec} ${settingsName}`, (t) => {
    t.is(buildEncoderFragment(byId(id), { codec, ...SETTINGS[settingsName] }), expected);
  });
}

test('the table covers every profile × codec × settings', (t) => {
  const covered = new Set(FRAGMENTS.map(([id, codec, settings]) => `${id}/${codec}/${settings}`));
  for (const profile of profiles) {
    for (const codec of ['h264', 'h265'] as const) {
      if (profile.encoders[codec] === undefined) continue;
      for (const settings of Object.keys(SETTINGS)) t.true(covered.has(`${profile.id}/${codec}/${settings}`), `${profile.id}/${codec}/${settings}`);
    }
  }
});

test('an alternative element takes the same properties (vah264lpenc, the low-power entry point)', (t) => {
  t.is(
    buildEncoderFragment(byId('intel-va'), { codec: 'h264', ...SETTINGS.live }, { element: 'vah264lpenc' }),
    `vapostproc ! video/x-raw(memory:VAMemory),format=NV12 ! vah264lpenc bitrate=4000 key-int-max=60 rate-control=cbr b-frames=0 ! ${H264_TAIL}`,
  );
  t.throws(() => buildEncoderFragment(byId('intel-va'), { codec: 'h264', ...SETTINGS.live }, { element: 'x264enc' }), {
    message: 'x264enc is not a H264 encoder of intel-va',
  });
});

test('the encoder element can be named, for finding it in the running pipeline', (t) => {
  t.is(
    buildEncoderFragment(byId('software-openh264'), { codec: 'h264', ...SETTINGS.live }, { name: 'encoder' }),
    `videoconvert ! video/x-raw,format=I420 ! openh264enc name=encoder bitrate=4000000 gop-size=60 rate-control=bitrate complexity=low ! ${H264_TAIL}`,
  );
});

test('the Pi bitrate is rounded to the driver step of 25 kbit/s, never below one step', (t) => {
  const pi = byId('raspberry-pi');
  t.regex(buildEncoderFragment(pi, { codec: 'h264', ...SETTINGS.live, bitrateKbps: 1010 }), /video_bitrate=1000000,/);
  t.regex(buildEncoderFragment(pi, { codec: 'h264', ...SETTINGS.live, bitrateKbps: 1013 }), /video_bitrate=1025000,/);
  t.regex(buildEncoderFragment(pi, { codec: 'h264', ...SETTINGS.live, bitrateKbps: 5 }), /video_bitrate=25000,/);
});

test('settings that no fragment can honour are refused with the reason', (t) => {
  const x264 = byId('software-x264');
  t.throws(() => buildEncoderFragment(byId('raspberry-pi'), { codec: 'h265', ...SETTINGS.live }), { message: 'raspberry-pi has no H265 encoder' });
  t.throws(() => buildEncoderFragment(x264, { codec: 'h264', ...SETTINGS.live, keyframeIntervalFrames: 301 }), {
    message: 'keyframeIntervalFrames 301 is more than 10 s at 30 fps',
  });
  t.throws(() => buildEncoderFragment(x264, { codec: 'h264', ...SETTINGS.live, bitrateKbps: 0 }), { message: /bitrateKbps must be an integer/ });
  t.throws(() => buildEncoderFragment(x264, { codec: 'h264', ...SETTINGS.live, bitrateKbps: 2.5 }), { message: /bitrateKbps must be an integer/ });
  t.throws(() => buildEncoderFragment(x264, { codec: 'h264', ...SETTINGS.live, fps: 0 }), { message: /fps must be above 0/ });
});

for (const id of SOFTWARE) {
  for (const rateControl of ['cbr', 'vbr'] as const) {
    for (const latency of ['low', 'normal'] as const) {
      test(`GStreamer on this machine parses and runs the ${id} fragment (${rateControl}, ${latency} latency)`, async (t) => {
        const fragment = buildEncoderFragment(byId(id), { codec: 'h264', ...SETTINGS.live, rateControl, latency });
        const result = await gstLaunch(`videotestsrc num-buffers=5 ! video/x-raw,width=640,height=360,framerate=30/1 ! ${fragment} ! fakesink`);
        t.is(result.code, 0, result.stderr);
      });
    }
  }
}

test('the software fragment emits an Annex B byte-stream with SPS and PPS (config-interval, byte-stream caps)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'venuebox-fragment-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'out.h264');
  const fragment = buildEncoderFragment(byId('software-x264'), { codec: 'h264', ...SETTINGS.live });
  const result = await gstLaunch(`videotestsrc num-buffers=10 ! video/x-raw,width=320,height=240,framerate=30/1 ! ${fragment} ! filesink location=${file}`);
  t.is(result.code, 0, result.stderr);
  const bytes = await readFile(file);
  t.deepEqual([...bytes.subarray(0, 4)], [0, 0, 0, 1], 'starts with a 4-byte start code');
  const nalTypes = new Set<number>();
  for (let i = 0; i + 4 < bytes.length; i++) {
    if (bytes[i] === 0 && bytes[i + 1] === 0 && bytes[i + 2] === 1) nalTypes.add((bytes[i + 3] ?? 0) & 0x1f);
  }
  t.true(nalTypes.has(7) && nalTypes.has(8) && nalTypes.has(5), `SPS, PPS and IDR present (NAL types ${[...nalTypes].join(',')})`);
});

for (const profile of profiles.filter((p) => !SOFTWARE.has(p.id))) {
  test(`no ${profile.vendor} hardware here, so no real encode: ${profile.id} fragments use only its declared elements, properties and nicks`, (t) => {
    for (const codec of ['h264', 'h265'] as const) {
      if (profile.encoders[codec] === undefined) continue;
      const encoder = encoderFor(profile, codec);
      for (const [name, settings] of Object.entries(SETTINGS)) {
        const where = `${profile.id} ${codec} ${name}`;
        const segments = parseLaunchFragment(buildEncoderFragment(profile, { codec, ...settings }));
        const input = parseLaunchFragment(encoder.input);
        t.deepEqual(segments.slice(0, input.length), input, `${where}: starts with the declared input`);
        for (const segment of input) {
          if (segment.kind === 'element') t.true(profile.detect.elements.includes(segment.name), `${where}: ${segment.name} is a detection rule`);
        }
        const encoderSegment = segments[input.length];
        if (encoderSegment?.kind !== 'element') return t.fail(`${where}: no encoder element after the input`);
        t.true([encoder.element, ...encoder.alternatives].includes(encoderSegment.name), `${where}: ${encoderSegment.name} is the declared encoder`);
        for (const [property, raw] of encoderSegment.properties) {
          const declared = encoder.elementProperties[property];
          if (declared === undefined) return t.fail(`${where}: ${property} is not declared`);
          // Structure properties: every field declared and in range; everything else: its declared type and nicks.
          const values: [string, string][] =
            declared.type === 'structure'
              ? (() => {
                  const [structureName, ...fields] = raw.replace(/^"|"$/g, '').split(',');
                  t.is(structureName, declared.name, `${where}: structure name`);
                  return fields.map((f): [string, string] => [`${property}.${f.split('=')[0]}`, f.split('=')[1] ?? '']);
                })()
              : [[property, raw]];
          for (const [ref, text] of values) {
            const type = resolveProperty(encoder, ref);
            if (typeof type === 'string') return t.fail(`${where}: ${type}`);
            const value = type.type === 'boolean' ? text === 'true' : type.type === 'uint' || type.type === 'int' ? Number(text) : text;
            t.is(valueProblem(type, value), undefined, `${where}: ${ref}=${text}`);
          }
        }
        const expectedTail = parseLaunchFragment([...(encoder.outputCaps ? [encoder.outputCaps] : []), codec === 'h264' ? H264_TAIL : H265_TAIL].join(' ! '));
        t.deepEqual(segments.slice(input.length + 1), expectedTail, `${where}: output caps and parser`);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Pure helpers of detection

test('launch tokens keep quoted structures whole (gst-launch escapes spaces inside one argv entry)', (t) => {
  t.deepEqual(launchTokens('v4l2h264enc extra-controls="controls,video_bitrate=1" ! fakesink'), [
    'v4l2h264enc',
    'extra-controls="controls,video_bitrate=1"',
    '!',
    'fakesink',
  ]);
  t.deepEqual(launchTokens('a  b=" x y " !c'), ['a', 'b=" x y "', '!c']);
});

test('device node globs: *, ? and {a,b}', (t) => {
  t.true(globSegmentRegExp('renderD*').test('renderD128'));
  t.false(globSegmentRegExp('renderD*').test('card0'));
  t.true(globSegmentRegExp('video1?').test('video11'));
  t.false(globSegmentRegExp('video1?').test('video1'));
  t.true(globSegmentRegExp('{nvhost-msenc,v4l2-nvenc}').test('v4l2-nvenc'));
  t.true(globSegmentRegExp('{nvhost-msenc,v4l2-nvenc}').test('nvhost-msenc'));
  t.false(globSegmentRegExp('{nvhost-msenc,v4l2-nvenc}').test('nvhost-msenc2'));
  t.false(globSegmentRegExp('nvidia0').test('nvidia01'));
});

/** stderr of gst-launch-1.0 1.22 on this machine, verbatim. */
const GST_FAILURES: [string, string, string][] = [
  ['missing element', 'WARNING: erroneous pipeline: no element "vah264enc"\n', 'no element "vah264enc"'],
  ['unknown property', 'WARNING: erroneous pipeline: no property "nosuchprop" in element "x264enc"\n', 'no property "nosuchprop" in element "x264enc"'],
  ['bad enum nick', 'WARNING: erroneous pipeline: could not set property "pass" in element "x264enc" to "nosuch"\n', 'could not set property "pass" in element "x264enc" to "nosuch"'],
  [
    'caps that do not negotiate',
    'ERROR: from element /GstPipeline:pipeline0/GstVideoTestSrc:videotestsrc0: Internal data stream error.\nAdditional debug info:\n../libs/gst/base/gstbasesrc.c(3132): gst_base_src_loop (): /GstPipeline:pipeline0/GstVideoTestSrc:videotestsrc0:\nstreaming stopped, reason not-negotiated (-4)\nERROR: pipeline doesn\'t want to preroll.\n',
    'Internal data stream error (not-negotiated)',
  ],
  [
    'a device that cannot be opened',
    "ERROR: from element /GstPipeline:pipeline0/GstV4l2Src:v4l2src0: Cannot identify device '/dev/video11'.\nAdditional debug info:\n../sys/v4l2/v4l2_calls.c(608): gst_v4l2_open (): /GstPipeline:pipeline0/GstV4l2Src:v4l2src0:\nsystem error: No such file or directory\nERROR: pipeline doesn't want to preroll.\nFailed to set pipeline to PAUSED.\n",
    "Cannot identify device '/dev/video11'",
  ],
  ['nothing said', '\n', 'no output'],
];

for (const [what, stderr, expected] of GST_FAILURES) {
  test(`a failed test encode is summarised by its cause: ${what}`, (t) => {
    t.is(summarizeGstFailure(stderr), expected);
  });
}

test('nextOnLadder: the next working profile below the failed one, none at the bottom', (t) => {
  const choice = (id: string, element: string): EncoderChoice => ({ profile: byId(id), elements: { h264: element } });
  const working = [choice('intel-va', 'vah264lpenc'), choice('software-x264', 'x264enc'), choice('software-openh264', 'openh264enc')];
  t.is(nextOnLadder('intel-va', working)?.profile.id, 'software-x264');
  t.is(nextOnLadder('software-x264', working)?.profile.id, 'software-openh264');
  t.is(nextOnLadder('software-openh264', working), undefined);
  t.is(nextOnLadder('nvidia-nvenc', working), undefined, 'a profile that never worked has no place on the ladder');
});
