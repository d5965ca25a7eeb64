// Encoder detection on this machine, for real: gst-inspect-1.0 and gst-launch-1.0 test encodes. There is no GPU
// here (the va and nvcodec plugins register no elements), so every hardware profile must be rejected with a
// specific reason and software x264 selected. A fake /dev (VENUEBOX_DEV_DIR), a fake /sys (VENUEBOX_SYS_DIR) and
// an injected GPU vendor walk hardware profiles past their rules, to the element check and the test encode.
import test from 'ava';
import { spawn } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../helpers/index.ts';
import { loadHardwareProfiles } from '../../agent/encoder/hardware-profiles.ts';
import {
  detectEncoder,
  gstElementExists,
  hostBoardModel,
  hostGpuVendors,
  nextOnLadder,
  runTestEncode,
  type ProfileVerdict,
} from '../../agent/encoder/profile-detect.ts';
import { runProfilesCommand } from '../../agent/encoder/profiles-command.ts';

const BIN = fileURLToPath(new URL('../../bin/venuebox.js', import.meta.url));
const profiles = await loadHardwareProfiles();
const HARDWARE = profiles.filter((p) => p.vendor !== 'software').map((p) => p.id);

function verdictOf(verdicts: ProfileVerdict[], id: string): ProfileVerdict {
  const verdict = verdicts.find((v) => v.id === id);
  if (verdict === undefined) throw new Error(`no verdict for ${id}`);
  return verdict;
}

/** A fake /dev with the given (empty) nodes. */
async function fakeDev(nodes: string[]) {
  const dir = await makeTempDir('dev');
  for (const node of nodes) {
    await mkdir(path.dirname(path.join(dir.path, node)), { recursive: true });
    await writeFile(path.join(dir.path, node), '');
  }
  return dir;
}

function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('a real detect on this machine selects software x264 and rejects every hardware profile with a specific reason', async (t) => {
  const report = await detectEncoder();
  t.is(report.selected?.profile.id, 'software-x264');
  t.deepEqual(report.selected?.elements, { h264: 'x264enc' });
  t.deepEqual(
    report.working.map((c) => c.profile.id),
    ['software-x264', 'software-openh264'],
  );
  t.is(nextOnLadder('software-x264', report.working)?.profile.id, 'software-openh264', 'the ladder below x264');
  t.deepEqual(
    report.verdicts.map((v) => [v.id, v.status]),
    profiles.map((p) => [p.id, p.id === 'software-x264' ? 'selected' : p.id === 'software-openh264' ? 'works' : 'rejected']),
  );
  for (const id of HARDWARE) {
    const verdict = verdictOf(report.verdicts, id);
    const encoder = profiles.find((p) => p.id === id)?.encoders.h264.element ?? '';
    t.false(verdict.selected);
    // No GPU, no device node, and — what decides it on any machine like this one — no encoder element.
    t.true(verdict.reasons.some((r) => r.startsWith(`element ${encoder}`) && r.endsWith('not found')), `${id}: ${verdict.reasons.join('; ')}`);
    t.true(verdict.reasons.some((r) => /^(no matching GPU|not this board): /.test(r)), `${id}: ${verdict.reasons.join('; ')}`);
    t.true(verdict.reasons.some((r) => r.startsWith('missing /dev/')), `${id}: ${verdict.reasons.join('; ')}`);
    t.deepEqual(verdict.elements, {});
  }
  t.deepEqual(verdictOf(report.verdicts, 'intel-va').reasons, [
    'no matching GPU: wanted a vendor matching /Intel/i, no GPU found',
    'missing /dev/dri/renderD*',
    'element vapostproc not found',
    'element vah264enc (or vah264lpenc) not found',
  ]);
  t.deepEqual(verdictOf(report.verdicts, 'software-x264').reasons, []);
  t.deepEqual(verdictOf(report.verdicts, 'software-openh264').elements, { h264: 'openh264enc' });
});

test('with a fake /dev/dri/renderD128 and an Intel GPU vendor the VA profile passes its rules and is rejected by the missing elements', async (t) => {
  const dev = await fakeDev(['dri/renderD128']);
  t.teardown(() => dev.remove());
  const report = await detectEncoder({ devDir: dev.path, gpuVendors: async () => ['Intel Corporation'] });
  t.deepEqual(verdictOf(report.verdicts, 'intel-va').reasons, ['element vapostproc not found', 'element vah264enc (or vah264lpenc) not found']);
  t.deepEqual(verdictOf(report.verdicts, 'intel-qsv').reasons, ['element qsvh264enc not found']);
  t.deepEqual(verdictOf(report.verdicts, 'amd-va').reasons, [
    'no matching GPU: wanted a vendor matching /Advanced Micro Devices|\\bAMD\\b|\\bATI\\b/i, found "Intel Corporation"',
    'element vapostproc not found',
    'element vah264enc not found',
  ]);
  t.is(report.selected?.profile.id, 'software-x264');
});

test('when the element registry claims the VA elements, the real test encode rejects the profile with GStreamer\'s own message', async (t) => {
  // Stands in for a box whose va plugin lists vah264enc but cannot use it: only the element-existence answer is
  // faked; the test encode is the real gst-launch-1.0 of this machine, which has no va plugin at all.
  const dev = await fakeDev(['dri/renderD128']);
  t.teardown(() => dev.remove());
  const claimed = new Set(['vapostproc', 'vah264enc', 'vah264lpenc', 'vah265enc']);
  const report = await detectEncoder({
    profiles: profiles.filter((p) => p.id === 'intel-va' || p.id === 'software-x264'),
    devDir: dev.path,
    gpuVendors: async () => ['Intel Corporation'],
    elementExists: async (element) => claimed.has(element) || (await gstElementExists(element)),
  });
  const va = verdictOf(report.verdicts, 'intel-va');
  t.is(va.status, 'rejected');
  t.deepEqual(va.reasons, [
    'H264 vah264enc: test encode failed: no element "vapostproc"',
    'H264 vah264lpenc: test encode failed: no element "vapostproc"',
  ]);
  t.is(report.selected?.profile.id, 'software-x264');
});

test('a test encode that hangs is killed at the timeout and reported as such', async (t) => {
  // A stand-in for a driver that never returns: a gst-launch-1.0 that sleeps. It records its pid.
  const dir = await makeTempDir('hang');
  t.teardown(() => dir.remove());
  const fake = path.join(dir.path, 'gst-launch-hangs');
  const pidFile = path.join(dir.path, 'pid');
  await writeFile(fake, `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 30\n`);
  await chmod(fake, 0o755);
  const started = Date.now();
  const result = await runTestEncode('videotestsrc num-buffers=30 ! fakesink', { timeoutMs: 500, gstLaunch: fake });
  t.false(result.ok);
  t.is(result.reason, 'test encode timed out after 0.5 s (killed)');
  t.true(Date.now() - started < 5000);
  const pid = Number(await readFile(pidFile, 'utf8'));
  t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the hung process is gone');
});

test('a real test encode that fails reports the cause, not gst-launch\'s last line', async (t) => {
  // GStreamer 1.22's gst-launch hangs in about 1 run in 20 after this not-negotiated error (measured: 3 of 60
  // runs, never exits). Detection handles that by its timeout (tested above); here the cause is what is checked,
  // so a run that hangs is retried, at most three times, with a short timeout.
  const launch = 'videotestsrc num-buffers=5 ! video/x-raw,format=NV12 ! x264enc ! video/x-h264,profile=high-10 ! fakesink';
  let result = await runTestEncode(launch, { timeoutMs: 4000 });
  for (let retry = 0; retry < 2 && /timed out/.test(result.reason ?? ''); retry++) {
    t.log(`gst-launch hung after the error (${result.reason}); retrying`);
    result = await runTestEncode(launch, { timeoutMs: 4000 });
  }
  t.false(result.ok);
  t.is(result.reason, 'test encode failed: Internal data stream error (not-negotiated)');
  const ok = await runTestEncode('videotestsrc num-buffers=5 ! fakesink');
  t.true(ok.ok);
});

test('host sources: GPU vendor from the PCI id of a DRM render node, board model from the device tree', async (t) => {
  const sys = await makeTempDir('sys');
  t.teardown(() => sys.remove());
  await mkdir(path.join(sys.path, 'class/drm/renderD128/device'), { recursive: true });
  await writeFile(path.join(sys.path, 'class/drm/renderD128/device/vendor'), '0x8086\n');
  await mkdir(path.join(sys.path, 'firmware/devicetree/base'), { recursive: true });
  await writeFile(path.join(sys.path, 'firmware/devicetree/base/model'), 'Raspberry Pi 4 Model B Rev 1.4\0');
  t.true((await hostGpuVendors(sys.path)).includes('Intel Corporation'));
  t.is(await hostBoardModel(sys.path), 'Raspberry Pi 4 Model B Rev 1.4');

  // Through detection, from the host sources (nothing injected): the Pi profile passes the board and device rules.
  const dev = await fakeDev(['video11']);
  t.teardown(() => dev.remove());
  const report = await detectEncoder({ devDir: dev.path, sysDir: sys.path });
  t.deepEqual(verdictOf(report.verdicts, 'raspberry-pi').reasons, ['element v4l2h264enc not found']);
  t.deepEqual(verdictOf(report.verdicts, 'intel-va').reasons, [
    'missing /dev/dri/renderD* (looked under ' + dev.path + ')',
    'element vapostproc not found',
    'element vah264enc (or vah264lpenc) not found',
  ]);
});

test('venuebox profiles detect --json exits 0 and lists every profile; VENUEBOX_DEV_DIR moves /dev', async (t) => {
  const dev = await fakeDev(['dri/renderD128']);
  t.teardown(() => dev.remove());
  const result = await runCli(['profiles', 'detect', '--json'], { VENUEBOX_DEV_DIR: dev.path });
  t.is(result.code, 0, result.stderr);
  const json = JSON.parse(result.stdout) as { selected: string; profiles: ProfileVerdict[] };
  t.is(json.selected, 'software-x264');
  t.deepEqual(
    json.profiles.map((p) => p.id),
    profiles.map((p) => p.id),
  );
  for (const profile of json.profiles) {
    t.deepEqual(Object.keys(profile).slice(0, 6), ['id', 'name', 'priority', 'selected', 'status', 'reasons']);
    t.is(profile.status === 'rejected', profile.reasons.length > 0, `${profile.id}: rejected exactly when there are reasons`);
  }
  const va = json.profiles.find((p) => p.id === 'intel-va');
  t.false(va?.reasons.some((r) => r.startsWith('missing /dev/dri')), 'the fake render node was found');
  t.true(va?.reasons.includes('element vah264enc (or vah264lpenc) not found'));
});

test('venuebox profiles detect prints a table; usage errors exit 2', async (t) => {
  const table = await runCli(['profiles', 'detect']);
  t.is(table.code, 0, table.stderr);
  const lines = table.stdout.split('\n');
  t.regex(lines[0] ?? '', /^profile\s+status\s+reasons$/);
  t.regex(table.stdout, /^software-x264\s+selected\s+h264: x264enc$/m);
  t.regex(table.stdout, /^intel-va\s+rejected\s+no matching GPU: .*element vah264enc \(or vah264lpenc\) not found$/m);
  t.regex(table.stdout, /^selected: software-x264 \(h264: x264enc\), about 1 concurrent 1080p30 encode\(s\)$/m);
  const usage = await runCli(['profiles', 'detetc']);
  t.is(usage.code, 2);
  t.regex(usage.stderr, /expected: venuebox profiles detect/);
});

test('the command exits 1 when no profile works', async (t) => {
  let out = '';
  const io = { out: { write: (s: string) => ((out += s), true) }, err: { write: () => true } } as unknown as Parameters<typeof runProfilesCommand>[1];
  const code = await runProfilesCommand(['detect'], io, { profiles: profiles.filter((p) => p.vendor !== 'software') });
  t.is(code, 1);
  t.regex(out, /no encoder works on this box/);
});
