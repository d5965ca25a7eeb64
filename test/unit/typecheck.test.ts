import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('the whole project type-checks (tsc --noEmit, strict, noUncheckedIndexedAccess)', async (t) => {
  const result = await promisify(execFile)('npx', ['tsc', '--noEmit', '-p', root], { cwd: root, timeout: 110_000 }).then(
    () => ({ ok: true, output: '' }),
    (err: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
  );
  t.true(result.ok, result.output);
});
