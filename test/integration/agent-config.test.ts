// A broken config is refused before anything starts: every error with its path, exit code 2.
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../helpers/index.ts';

const BIN = fileURLToPath(new URL('../../bin/venuebox.js', import.meta.url));
const run = promisify(execFile);

const BROKEN = {
  boxId: 'Box 1',
  mqtt: { url: 'http://broker:1883', keepaliveSeconds: 1 },
  cameras: [
    { id: 'cam1', rtsp: 'rtsp://10.0.0.5/stream' },
    { id: 'cam2', rtsp: 'http://10.0.0.6/stream', latencyMs: -5 },
  ],
  recording: { segmentSecs: 2 },
};

async function runCli(args: string[]) {
  return run(process.execPath, [BIN, ...args], { timeout: 30_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

for (const command of [['config', 'check'], ['agent', '--config']]) {
  test(`venuebox ${command.join(' ')} refuses a broken config with every error path-qualified and exit 2`, async (t) => {
    const dir = await makeTempDir('broken-config');
    t.teardown(() => dir.remove());
    const file = path.join(dir.path, 'config.json');
    await writeFile(file, JSON.stringify(BROKEN, null, 2));
    const result = await runCli([...command, file]);
    t.is(result.code, 2, result.stdout + result.stderr);
    for (const expected of [
      /^boxId: must be/m,
      /^mqtt\.url: must be an mqtt:\/\//m,
      /^mqtt\.keepaliveSeconds: must be ≥ 5/m,
      /^cameras\[1\]\.rtsp: must be an rtsp:\/\/ URL$/m,
      /^cameras\[1\]\.latencyMs: must be ≥ 0/m,
      /^recording\.segmentSecs: unknown key/m,
    ]) {
      t.regex(result.stderr, expected);
    }
  });
}
