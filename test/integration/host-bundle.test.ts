// The pipeline host child's plain-JavaScript bundle (agent/encoder/host-bundle.ts) with real esbuild and files:
// reused while its sources are unchanged, rebuilt when one changes, safe with two builders at once, and the
// real child runs from it on bare Node (no tsx) wherever the cache folder is.
import test from 'ava';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hostBundle } from '../../agent/encoder/host-bundle.ts';
import { PipelineHost } from '../../agent/encoder/pipeline-host.ts';
import type { HostEvent } from '../../agent/encoder/pipeline-host-protocol.ts';
import { makeTempDir } from '../helpers/index.ts';

const run = promisify(execFile);
const HOST_BUNDLE = new URL('../../agent/encoder/host-bundle.ts', import.meta.url).href;

/** A tiny TypeScript program in the shape of the child: an entry importing a typed module. */
function writeProgram(dir: string, greeting: string): string {
  writeFileSync(path.join(dir, 'greeting.ts'), `export const greeting: string = ${JSON.stringify(greeting)};\n`);
  writeFileSync(path.join(dir, 'entry.ts'), `import { greeting } from './greeting.ts';\nconst out: string = greeting;\nconsole.log(out);\n`);
  return path.join(dir, 'entry.ts');
}

test('a bundle runs on plain node, is reused while its sources are unchanged, and a changed import gives a fresh one', async (t) => {
  const dir = await makeTempDir('bundle-src');
  t.teardown(() => dir.remove());
  const cache = path.join(dir.path, 'cache');
  const entry = writeProgram(dir.path, 'first');

  const first = hostBundle({ entry, cacheDirs: [cache] });
  t.true(first.built);
  t.is((await run(process.execPath, [first.path])).stdout.trim(), 'first');
  const again = hostBundle({ entry, cacheDirs: [cache] });
  t.deepEqual(again, { path: first.path, built: false }, 'unchanged sources: the same file, no build');

  // Only the imported module changes: the entry alone would not tell.
  writeFileSync(path.join(dir.path, 'greeting.ts'), `export const greeting: string = 'second';\n`);
  const second = hostBundle({ entry, cacheDirs: [cache] });
  t.true(second.built);
  t.not(second.path, first.path);
  t.is((await run(process.execPath, [second.path])).stdout.trim(), 'second');

  // A new import appears: the manifest of inputs follows the graph.
  writeFileSync(path.join(dir.path, 'suffix.ts'), `export const suffix = '!';\n`);
  writeFileSync(path.join(dir.path, 'entry.ts'), `import { greeting } from './greeting.ts';\nimport { suffix } from './suffix.ts';\nconsole.log(greeting + suffix);\n`);
  const third = hostBundle({ entry, cacheDirs: [cache] });
  t.true(third.built);
  writeFileSync(path.join(dir.path, 'suffix.ts'), `export const suffix = '?';\n`);
  const fourth = hostBundle({ entry, cacheDirs: [cache] });
  t.true(fourth.built, 'a change in the newly imported file is seen');
  t.is((await run(process.execPath, [fourth.path])).stdout.trim(), 'second?');
  t.deepEqual(readdirSync(cache).filter((name) => name.endsWith('.tmp')), [], 'no temporary files left');
});

test('two processes building at once get the same complete bundle', async (t) => {
  const dir = await makeTempDir('bundle-race');
  t.teardown(() => dir.remove());
  const cache = path.join(dir.path, 'cache');
  const entry = writeProgram(dir.path, 'raced');
  const script = `import { hostBundle } from ${JSON.stringify(HOST_BUNDLE)}; console.log(hostBundle({ entry: ${JSON.stringify(entry)}, cacheDirs: [${JSON.stringify(cache)}] }).path);`;
  const builders = [1, 2].map(() => run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('../..', import.meta.url)) }));
  const paths = (await Promise.all(builders)).map((r) => r.stdout.trim());
  t.is(paths[0], paths[1]);
  t.is((await run(process.execPath, [paths[0]!])).stdout.trim(), 'raced');
  t.deepEqual(readdirSync(cache).filter((name) => name.endsWith('.tmp')), [], 'no temporary files left');
});

test('a cache folder that cannot be made, or that others may write into, is passed over for the next one', async (t) => {
  const dir = await makeTempDir('bundle-trust');
  t.teardown(() => dir.remove());
  const entry = writeProgram(dir.path, 'trusted');
  const open = path.join(dir.path, 'open');
  const own = path.join(dir.path, 'own');
  mkdirSync(open);
  chmodSync(open, 0o777);
  // mkdir under /proc answers ENOENT: Node 20's recursive mkdirSync spun forever there.
  const bundle = hostBundle({ entry, cacheDirs: ['/proc/venuebox-cannot-exist/cache', open, own] });
  t.is(path.dirname(bundle.path), own);
  t.deepEqual(readdirSync(open), []);
  t.is((await run(process.execPath, [bundle.path])).stdout.trim(), 'trusted');
});

test('the real pipeline host child runs from its bundle on bare node, even from a cache outside the repository', async (t) => {
  const dir = await makeTempDir('bundle-host');
  t.teardown(() => dir.remove());
  const host = new PipelineHost('bundled');
  t.teardown(() => host.kill());
  const events: HostEvent[] = [];
  host.on('event', (e) => events.push(e));
  const started = new Promise<void>((resolve) => host.on('event', (e) => e.type === 'started' && resolve()));
  // A fresh cache folder: the bundle is built now from the current sources (it cannot be a stale one).
  host.start({ launch: 'videotestsrc is-live=true ! fakesink', properties: {} }, { ...process.env, VENUEBOX_CACHE_DIR: dir.path });
  const argv = readFileSync(`/proc/${host.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  await started;
  t.is(argv.length, 2, `no loader and no flags before the module: ${argv.join(' ')}`);
  t.true(argv[1]!.startsWith(`${dir.path}/pipeline-host-child-`) && argv[1]!.endsWith('.mjs'), argv[1]);
  t.deepEqual(await host.stop(5000), { code: 0, signal: null });
  t.deepEqual(events.filter((e) => e.type === 'warning'), [], 'no fall-back to tsx');
});
