/**
 * The pipeline host child (and the live output child) as one plain-JavaScript file, so that each child runs on
 * bare Node without the tsx loader. tsx costs every child a second V8 isolate (its module hooks thread) and,
 * when its transform cache misses, an esbuild service process: measured 92–96 MiB peak RSS per passthrough host
 * at 1080p30 with tsx, 67 MiB as a bundle (docs/BENCHMARKS.md, docs/DECISIONS.md "Pipeline host child").
 *
 * There is no build step to forget: the bundle is built on demand into a cache and found again by the content
 * of its sources, so a clean checkout works and a stale bundle is never used.
 * - Cache hit (every start but the first after a change): read the manifest (the inputs of the last build),
 *   hash their contents, and the bundle named by that hash exists. No esbuild involved; well under 1 ms.
 * - Miss: esbuild's JS API runs in a short-lived child process (this file run as a script, ~0.5 s). Not in the
 *   caller: esbuild's synchronous API keeps a worker thread and a service process alive, and stopping them
 *   leaves a zombie process and stops the esbuild service tsx shares in the agent's main thread. The build
 *   hashes the exact bytes esbuild compiled (an onLoad hook), so a source saved during a build cannot file
 *   old code under the new contents' name.
 *
 * INVARIANTS (several agents, test workers and benches build at once into the same folder):
 * - A bundle's file name is the hash of everything that made it (format, esbuild version, every input's path
 *   and bytes, the tsconfig among them): a name never holds other code, so a reader needs no lock.
 * - Files are written under a temporary name and renamed into place (atomic on one file system): a reader
 *   sees a whole file or none. Two builders of the same sources write the same bytes; the last rename wins.
 * - Old bundles are removed only when older than PRUNE_AFTER_MS: a child forked a moment ago with an older
 *   name has long read it by then.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Bump when the way bundles are made (the build options below) changes: the hashed inputs do not show it. */
const FORMAT = 'venuebox-host-bundle-1';
const PRUNE_AFTER_MS = 10 * 60_000;
const BUILD_TIMEOUT_MS = 60_000;
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const TSX_LOADER = import.meta.resolve('tsx');

export class HostBundleError extends Error {
  override readonly name = 'HostBundleError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface HostBundleOptions {
  /** Absolute path of the TypeScript entry (the child's main module). */
  entry: string;
  /** Tried in order: the first that holds a current bundle is used; a new one goes into the first writable one. */
  cacheDirs: string[];
}

export interface HostBundle {
  /** Absolute path of the `.mjs` to run with plain `node`. */
  path: string;
  /** True when this call ran esbuild (a cache miss). */
  built: boolean;
}

/**
 * Where bundles live: `$VENUEBOX_CACHE_DIR` when set; else `node_modules/.cache/venuebox` (the convention of
 * build tools; read-only on a box under ProtectSystem=strict, where a bundle made at install time is still
 * found), then a private folder in the OS temp dir.
 */
export function defaultCacheDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const configured = env['VENUEBOX_CACHE_DIR'];
  if (configured) return [configured];
  const user = typeof process.getuid === 'function' ? String(process.getuid()) : os.userInfo().username;
  return [path.join(REPO_ROOT, 'node_modules', '.cache', 'venuebox'), path.join(os.tmpdir(), `venuebox-cache-${user}`)];
}

/** The current bundle of `options.entry`, built first if none of the cache folders holds one. */
export function hostBundle(options: HostBundleOptions): HostBundle {
  const names = bundleNames(options.entry);
  for (const dir of options.cacheDirs) {
    const found = currentBundle(dir, names, options.entry);
    if (found) return { path: found, built: false };
  }
  const made = buildInChild(options.entry);
  const failures: string[] = [];
  for (const dir of options.cacheDirs) {
    try {
      return { path: publish(dir, names, made), built: true };
    } catch (err) {
      failures.push(`${dir}: ${(err as Error).message}`);
    }
  }
  throw new HostBundleError(`no cache folder can take the bundle of ${path.basename(options.entry)} (${failures.join('; ')})`);
}

interface BundleNames {
  /** `pipeline-host-child-<8 hex of the entry path>`: checkouts sharing a folder do not evict each other. */
  stem: string;
  manifest: string;
}

interface Built {
  entry: string;
  key: string;
  code: string;
  inputs: string[];
}

interface Manifest {
  format: string;
  entry: string;
  inputs: string[];
}

function bundleNames(entry: string): BundleNames {
  const stem = `${path.basename(entry, path.extname(entry))}-${sha256(entry).slice(0, 8)}`;
  return { stem, manifest: `${stem}.inputs.json` };
}

function currentBundle(dir: string, names: BundleNames, entry: string): string | undefined {
  let manifest: Manifest;
  try {
    if (!trustedFolder(dir)) return undefined;
    manifest = JSON.parse(readFileSync(path.join(dir, names.manifest), 'utf8')) as Manifest;
  } catch {
    return undefined; // no manifest yet (first start) or a torn one: build
  }
  if (manifest.format !== FORMAT || manifest.entry !== entry || !Array.isArray(manifest.inputs)) return undefined;
  const contents = readAll(manifest.inputs);
  if (!contents) return undefined; // an input is gone: the import graph changed
  const file = path.join(dir, `${names.stem}-${bundleKey(contents)}.mjs`);
  return existsSync(file) ? file : undefined;
}

/** Runs this file as a script (script mode, at the end) and takes the bundle it prints as JSON. */
function buildInChild(entry: string): Built {
  try {
    const stdout = execFileSync(process.execPath, ['--import', TSX_LOADER, SELF, entry], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: BUILD_TIMEOUT_MS,
      maxBuffer: 64 << 20,
    });
    return JSON.parse(stdout) as Built;
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim().split('\n').slice(-5).join(' | ');
    throw new HostBundleError(`${path.basename(entry)} cannot be bundled: ${stderr || (err as Error).message}`, { cause: err });
  }
}

/** The build itself (in the child process): one ESM file, and the exact bytes it was made from. */
async function build(entry: string): Promise<Built> {
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  const contents = new Map<string, string>();
  const tsconfig = nearestTsconfig(path.dirname(entry));
  if (tsconfig) contents.set(tsconfig, readFileSync(tsconfig, 'utf8'));
  const loaders: Record<string, import('esbuild').Loader> = { '.ts': 'ts', '.mts': 'ts', '.js': 'js', '.mjs': 'js', '.json': 'json' };
  const result = await esbuild.build({
    entryPoints: [entry],
    absWorkingDir: path.dirname(entry),
    ...(tsconfig ? { tsconfig } : {}),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // gstreamer-superficial and other packages load from node_modules at run time, as before.
    packages: 'external',
    // The bundle lives in a cache folder: keep import.meta.url (createRequire of gstreamer-superficial) at
    // the entry's real place, so packages resolve from the repository wherever the cache is.
    define: { 'import.meta.url': JSON.stringify(pathToFileURL(entry).href) },
    banner: { js: `// Built from ${entry} by agent/encoder/host-bundle.ts (esbuild ${esbuild.version}); rebuilt when a source changes. Do not edit.` },
    write: false,
    logLevel: 'silent',
    plugins: [
      {
        name: 'hash-what-is-compiled',
        setup(on) {
          on.onLoad({ filter: /\.(m?ts|m?js|json)$/ }, (args) => {
            const text = readFileSync(args.path, 'utf8');
            contents.set(args.path, text);
            return { contents: text, loader: loaders[path.extname(args.path)] ?? 'js' };
          });
        },
      },
    ],
  });
  await esbuild.stop();
  const code = result.outputFiles[0]?.text;
  if (code === undefined) throw new Error('esbuild produced no output');
  // esbuild reads the tsconfig itself (no hook for it): it must not have changed while it did.
  if (tsconfig && readFileSync(tsconfig, 'utf8') !== contents.get(tsconfig)) throw new Error(`${tsconfig} changed during the build; try again`);
  return { entry, key: bundleKey(contents), code, inputs: [...contents.keys()].sort() };
}

function publish(dir: string, names: BundleNames, built: Built): string {
  makeFolder(dir);
  if (!trustedFolder(dir)) throw new Error('not owned by this user, or writable by others');
  const file = path.join(dir, `${names.stem}-${built.key}.mjs`);
  writeAtomically(file, built.code);
  const manifest: Manifest = { format: FORMAT, entry: built.entry, inputs: built.inputs };
  writeAtomically(path.join(dir, names.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
  prune(dir, names.stem, file);
  return file;
}

/**
 * mkdir -p, one level at a time. Not `mkdirSync(dir, { recursive: true })`: on Node 20 that loops forever where
 * mkdir answers ENOENT under an existing parent (seen with VENUEBOX_CACHE_DIR under /proc: the process
 * hung at 100 % CPU, deaf to signals). Here each level is tried once.
 */
function makeFolder(dir: string): void {
  const missing: string[] = [];
  for (let current = path.resolve(dir); !existsSync(current); current = path.dirname(current)) {
    missing.unshift(current);
    if (path.dirname(current) === current) break;
  }
  for (const folder of missing) {
    try {
      mkdirSync(folder, { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // another builder made it meanwhile
    }
  }
}

function writeAtomically(file: string, text: string): void {
  const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(temporary, text, { mode: 0o644 });
  renameSync(temporary, file);
}

/** Removes this entry's older bundles and abandoned temporary files, once nothing can be starting from them. */
function prune(dir: string, stem: string, keep: string): void {
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (file === keep || !name.startsWith(`${stem}-`)) continue;
    if (!name.endsWith('.mjs') && !name.endsWith('.tmp')) continue;
    try {
      if (now - statSync(file).mtimeMs > PRUNE_AFTER_MS) rmSync(file, { force: true });
    } catch {
      continue; // another builder pruned it first
    }
  }
}

/**
 * A shared temp folder could be made by another user first, who would then choose the code the agent runs:
 * use a folder only if this user (or root, who installed the code itself) owns it and nobody else may write
 * into it.
 */
function trustedFolder(dir: string): boolean {
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) return false;
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid() && stat.uid !== 0) return false;
  return (stat.mode & 0o022) === 0;
}

/** Contents of each file by path, or undefined if one cannot be read. */
function readAll(files: string[]): Map<string, string> | undefined {
  const contents = new Map<string, string>();
  for (const file of files) {
    try {
      contents.set(file, readFileSync(file, 'utf8'));
    } catch {
      return undefined;
    }
  }
  return contents;
}

let installedEsbuildVersion: string | undefined;

/** The hash naming a bundle: the format, the esbuild that builds it, and every input path with its bytes. */
function bundleKey(contents: Map<string, string>): string {
  const hash = createHash('sha256').update(`${FORMAT}\0${esbuildPackageVersion()}\0`);
  for (const file of [...contents.keys()].sort()) hash.update(`${file}\0${sha256(contents.get(file) ?? '')}\0`);
  return hash.digest('hex').slice(0, 16);
}

/** esbuild's version from its package.json: a cache hit must not load esbuild itself. */
function esbuildPackageVersion(): string {
  installedEsbuildVersion ??= (JSON.parse(readFileSync(createRequire(import.meta.url).resolve('esbuild/package.json'), 'utf8')) as { version: string }).version;
  return installedEsbuildVersion;
}

function nearestTsconfig(dir: string): string | undefined {
  for (let current = dir; ; current = path.dirname(current)) {
    const candidate = path.join(current, 'tsconfig.json');
    if (existsSync(candidate)) return candidate;
    if (path.dirname(current) === current) return undefined;
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

// Script mode, for buildInChild: `node --import tsx host-bundle.ts ENTRY` prints the Built as JSON.
if (process.argv[1] === SELF) {
  build(process.argv[2] ?? '').then(
    (built) => process.stdout.write(JSON.stringify(built)),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
