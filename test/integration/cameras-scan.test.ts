// `venuebox cameras scan` against virtual ONVIF cameras on loopback, found by the unicast sweep (multicast
// between namespaces is the system test's job). Real HTTP, real SOAP, real RTSP behind the stream URIs.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, startVirtualCamera, type VirtualCamera } from '../helpers/index.ts';
import { probeMedia } from '../helpers/media.ts';

const BIN = fileURLToPath(new URL('../../bin/venuebox.js', import.meta.url));
const run = promisify(execFile);
const PASSWORD = 'Cam-Secret-981';

interface ScanJson {
  id: string | null;
  manufacturer: string | null;
  model: string | null;
  mac: string | null;
  address: string;
  xaddrs: string[];
  clockOffsetMs: number | null;
  auth: string;
  profiles: Array<{ token: string; encoding: string; width: number | null; height: number | null; streamUri: string | null; snapshotUri: string | null }>;
  errors: Array<{ operation: string; kind: string; message: string }>;
}

async function scan(t: import('ava').ExecutionContext, cameras: VirtualCamera[], extra: string[] = []): Promise<{ code: number; cameras: ScanJson[]; stderr: string }> {
  const dir = await makeTempDir('scan');
  t.teardown(() => dir.remove());
  const passwordFile = path.join(dir.path, 'pw');
  await writeFile(passwordFile, `${PASSWORD}\n`);
  const ports = cameras.flatMap((c) => ['--port', String(c.onvif!.httpPort)]);
  const args = [BIN, 'cameras', 'scan', '--subnet', '127.0.0.1/32', ...ports, '--timeout', '1', '--connect-timeout', '5000', '--username', 'admin', '--password-file', passwordFile, '--json', ...extra];
  const result = await run(process.execPath, args, { timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
  t.false(result.stdout.includes(PASSWORD) || result.stderr.includes(PASSWORD), 'the password is never printed');
  return { code: result.code, cameras: result.code === 0 ? (JSON.parse(result.stdout) as ScanJson[]) : [], stderr: result.stderr };
}

test('a sweep finds an ONVIF camera whose clock is 3 hours off, authenticates, and returns playable stream URIs', async (t) => {
  const camera = await startVirtualCamera({ width: 640, height: 360, username: 'admin', password: PASSWORD, onvif: { vendor: 'hikvision', clockOffsetMs: 3 * 3600_000 } });
  t.teardown(() => camera.stop());
  const { code, cameras, stderr } = await scan(t, [camera]);
  t.is(code, 0, stderr);
  t.is(cameras.length, 1, stderr);
  const found = cameras[0]!;
  t.deepEqual(found.errors, []);
  t.is(found.auth, 'ws-security');
  t.true(Math.abs((found.clockOffsetMs ?? 0) - 3 * 3600_000) < 5000, `clock offset ${found.clockOffsetMs}`);
  t.is(found.mac, camera.onvif!.mac);
  t.truthy(found.id);
  t.regex(found.manufacturer ?? '', /hikvision/i);
  const main = found.profiles[0]!;
  t.is(main.encoding, 'H264');
  t.false(/@/.test(main.streamUri ?? ''), 'no credentials in the URI');
  const media = await probeMedia(main.streamUri!.replace('rtsp://', `rtsp://admin:${PASSWORD}@`), ['-rtsp_transport', 'tcp']);
  t.deepEqual([media.codec, media.width, media.height], ['h264', 640, 360]);
});

test('a camera that wants HTTP Digest is served by the fallback; one with a wrong password yields a clear per-camera error', async (t) => {
  const digest = await startVirtualCamera({ username: 'admin', password: PASSWORD, onvif: { vendor: 'dahua', auth: 'digest' } });
  t.teardown(() => digest.stop());
  const wrong = await startVirtualCamera({ username: 'admin', password: 'another-password-1', onvif: { vendor: 'axis' } });
  t.teardown(() => wrong.stop());
  const { code, cameras, stderr } = await scan(t, [digest, wrong]);
  t.is(code, 0, 'the scan ran: exit 0 even though a camera failed');
  t.is(cameras.length, 2, stderr);
  const byPort = (c: VirtualCamera) => cameras.find((f) => f.xaddrs.some((x) => x.includes(`:${c.onvif!.httpPort}/`)));
  const ok = byPort(digest)!;
  t.is(ok.auth, 'digest');
  t.deepEqual(ok.errors, []);
  t.true(ok.profiles.length > 0);
  t.is(ok.mac, digest.onvif!.mac);
  const refused = byPort(wrong)!;
  t.is(refused.auth, 'refused');
  t.is(refused.errors.length, 1, JSON.stringify(refused.errors));
  t.is(refused.errors[0]?.kind, 'auth');
  t.regex(refused.errors[0]?.operation ?? '', /GetDeviceInformation/);
  t.regex(refused.errors[0]?.message ?? '', /refused|NotAuthorized|credentials/i);
  t.not(refused.clockOffsetMs, null, 'the unauthenticated clock read still worked');
});

test('bad arguments exit 2 with the reason', async (t) => {
  for (const args of [['--subnet', '10.0.0.0/8'], ['--port', '70000'], ['--timeout', 'x'], ['--password-file', '/nonexistent', '--username', 'u'], ['--nope']]) {
    const result = await run(process.execPath, [BIN, 'cameras', 'scan', ...args]).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    t.is(result.code, 2, args.join(' '));
    t.regex(result.stderr, /venuebox cameras scan: \S/);
  }
});

test('a camera on port 10080 (a "bad port" to the Fetch Standard, a real camera port) is found and interrogated', async (t) => {
  const camera = await startVirtualCamera({ width: 320, height: 240, username: 'admin', password: PASSWORD, onvif: { vendor: 'generic', httpPort: 10080 } });
  t.teardown(() => camera.stop());
  const { code, cameras, stderr } = await scan(t, [camera]);
  t.is(code, 0, stderr);
  t.is(cameras.length, 1, stderr);
  t.deepEqual(cameras[0]?.errors, []);
  t.true((cameras[0]?.profiles.length ?? 0) > 0);
});
