// `venuebox doctor` against real things: a virtual camera (frames, fps, keyframe interval measured), a real
// nginx ingest (test PUT, measured upload), the spool's file system, the clock. A camera that is down turns the
// verdict red and is named.
import test from 'ava';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { makeTempDir, startIngest, startVirtualCamera } from '../helpers/index.ts';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/venuebox.js', import.meta.url));

interface Verdict {
  verdict: 'green' | 'amber' | 'red';
  reasons: string[];
  checks: Array<{ check: string; grade: string; reason: string; detail?: Record<string, number> }>;
}

async function doctor(configFile: string): Promise<{ code: number; verdict: Verdict }> {
  try {
    const { stdout } = await run(process.execPath, [BIN, 'doctor', '--config', configFile, '--json', '--hours', '1'], { timeout: 90_000 });
    return { code: 0, verdict: JSON.parse(stdout) as Verdict };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    if (typeof e.code !== 'number' || e.stdout === '') throw err;
    return { code: e.code, verdict: JSON.parse(e.stdout) as Verdict };
  }
}

test('doctor measures each check for real; a camera that is down makes the verdict red and is named', async (t) => {
  const dir = await makeTempDir('doctor');
  t.teardown(() => dir.remove());
  const ingest = await startIngest();
  t.teardown(() => ingest.stop());
  const camera = await startVirtualCamera({ width: 640, height: 360, fps: 25, keyint: 25, username: 'viewer', password: 'doc-Secret-7' });
  t.teardown(() => camera.stop());
  const configFile = path.join(dir.path, 'config.json');
  await writeFile(
    configFile,
    JSON.stringify({
      boxId: 'doc-box',
      paths: { state: path.join(dir.path, 'state') },
      mqtt: { url: 'mqtt://127.0.0.1:1' },
      cameras: [
        { id: 'main', rtsp: camera.url, username: 'viewer', password: 'doc-Secret-7' },
        { id: 'wide', rtsp: 'rtsp://127.0.0.1:9/nothing' },
      ],
      recording: { segmentSeconds: 2 },
      uplink: { url: ingest.baseUrl },
    }),
  );
  const { code, verdict } = await doctor(configFile);
  const byName = Object.fromEntries(verdict.checks.map((c) => [c.check, c]));
  t.log(verdict.checks.map((c) => `${c.grade.padEnd(5)} ${c.check}: ${c.reason}`).join('\n'));
  t.is(byName['camera main']?.grade, 'green', byName['camera main']?.reason);
  t.true(Math.abs((byName['camera main']?.detail?.['fps'] ?? 0) - 25) < 3, 'fps measured from the frames');
  t.true(Math.abs((byName['camera main']?.detail?.['keyframeIntervalMs'] ?? 0) - 1000) < 250, 'keyframe interval measured');
  t.is(byName['camera wide']?.grade, 'red');
  t.is(byName['ingest']?.grade, 'green');
  t.true((byName['uplink']?.detail?.['measuredKbps'] ?? 0) > 0, 'the uplink is measured by a real upload');
  t.is(byName['encoder']?.grade, 'green');
  t.is(byName['spool']?.grade, 'green');
  t.truthy(byName['clock']);
  t.is(verdict.verdict, 'red');
  t.is(code, 3, 'exit 3 on red');
  t.true(verdict.reasons[0]?.startsWith('camera wide: '), `the down camera is named first: ${verdict.reasons[0]}`);
  t.false(JSON.stringify(verdict).includes('doc-Secret-7'), 'no credential in the verdict');
});

test('a matched camera is checked on the stream its ONVIF profile gives, against the frame rate the profile promises', async (t) => {
  const { Store } = await import('../../agent/store/index.ts');
  const { CameraRegistry } = await import('../../agent/cameras/registry.ts');
  const { readiness } = await import('../../agent/health/doctor.ts');
  const { configSchema } = await import('../../agent/config/schema.ts');
  const dir = await makeTempDir('doctor-match');
  t.teardown(() => dir.remove());
  const camera = await startVirtualCamera({ width: 640, height: 360, fps: 25, keyint: 25 });
  t.teardown(() => camera.stop());
  const store = Store.open(path.join(dir.path, 'v.db'));
  t.teardown(() => store.close());
  const registry = new CameraRegistry(store);
  const urn = 'urn:uuid:5f1d7c2e-0000-4000-8000-00000000d0c7';
  // The camera promises 50 fps in its profile and delivers 25.
  registry.observe({ urn, address: '127.0.0.1', xaddrs: [], profiles: [{ token: 'p0', name: 'main', encoding: 'H264', width: 640, height: 360, fps: 50, bitrateKbps: 800, streamUri: camera.url, snapshotUri: undefined }] });
  const config = configSchema.parse({ boxId: 'doc-match', paths: { state: dir.path }, mqtt: { url: 'mqtt://127.0.0.1:1' }, cameras: [{ id: 'main', match: { urn } }], recording: { segmentSeconds: 2 } });
  const verdict = await readiness(config as never, { id: null, seconds: 3600, cameraIds: ['main'] }, 0, registry);
  const check = verdict.checks.find((c) => c.check === 'camera main');
  t.is(check?.grade, 'amber', check?.reason);
  t.regex(check?.reason ?? '', /fps, expected 50/);
});
