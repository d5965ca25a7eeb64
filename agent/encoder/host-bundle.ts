/**
 * The pipeline host child as one plain-JavaScript file, so that each child runs on bare Node without the tsx
 * loader. tsx costs every child a second V8 isolate (its module hooks thread) and, when its transform cache
 * misses, an esbuild service process: measured 92–96 MiB peak RSS per passthrough host at 1080p30 with tsx,
 * 67 MiB as a bundle (docs/BENCHMARKS.md, docs/DECISIONS.md "Pipeline host child").
 *
 * There is no build step to forget: the bundle is built on demand (esbuild's JS API, ~60 ms) into a cache and
 * found again by the content of its sources, so a clean checkout works and a stale bundle is never used.
 * - Cache hit (every start but the first after a change): read the manifest (the inputs of the last build),
 *   hash their contents, and the bundle named by that hash exists. No esbuild involved; well under 1 ms.
 * - Miss: build, and keep the result only if every input read the same before and after the build (an editor
 *   saving during the build would otherwise file old code under the new contents' name).
 *
 * INVARIANTS (several agents, test workers and benches build at once into the same folder):
 * - A bundle's file name is the hash of everything that made it (esbuild version, options, tsconfig, every
 *   input's bytes): a name never holds other code, so a reader needs no lock.
 * - Files are written under a temporary name and renamed into place (atomic on one file system): a reader
 *   sees a whole file or none. Two builders of the same sources write the same bytes; the last rename wins.
 * - Old bundles are removed only when older than PRUNE_AFTER_MS: a child forked a moment ago with an older
 *   name has long read it by then.
 */
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Bump when the way bundles are made (the build options below) changes: the hashed inputs do not show it. */
const FORMAT = 'venuebox-host-bundle-1';
const PRUNE_AFTER_MS = 10 * 60_000;
/** Builds in a row whose inputs changed while esbuild read them before giving up. */
const MAX_BUILDS = 3;
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

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
  const made = buildVerified(options.entry);
  const failures: string[] = [];
  for (const dir of options.cacheDirs) {
    try {
      return { path: publish(dir, names, made), built: true };
    } catch (err) {
      failures.push(`${dir}: ${(err as Error).message}`);
    }
  }
  throw new HostBundleError(`no cache folder can take the pipeline host bundle (${failures.join('; ')})`);
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

/**
 * Builds until every input read the same before and after esbuild read it. The first build of an entry runs
 * twice (its imports are only known after it); later ones once, unless a source changes meanwhile.
 */
function buildVerified(entry: string): Built {
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  const tsconfig = nearestTsconfig(path.dirname(entry));
  let before = readAll([entry, ...(tsconfig ? [tsconfig] : [])]) ?? new Map<string, string>();
  try {
    for (let attempt = 1; attempt <= MAX_BUILDS; attempt++) {
      const result = esbuild.buildSync({
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
        metafile: true,
        logLevel: 'silent',
      });
      const inputs = [...Object.keys(result.metafile.inputs).map((input) => path.resolve(path.dirname(entry), input)), ...(tsconfig ? [tsconfig] : [])];
      const after = readAll(inputs);
      const code = result.outputFiles[0]?.text;
      if (after && code !== undefined && inputs.every((input) => before.get(input) === after.get(input))) {
        return { entry, key: bundleKey(after), code, inputs };
      }
      before = after ?? before;
    }
  } catch (err) {
    throw new HostBundleError(`the pipeline host child cannot be bundled: ${(err as Error).message}`, { cause: err });
  } finally {
    // buildSync keeps a worker thread and an esbuild process alive for later calls; none will come soon.
    void esbuild.stop();
  }
  throw new HostBundleError(`the pipeline host sources kept changing during ${MAX_BUILDS} builds; try again`);
}

function publish(dir: string, names: BundleNames, built: Built): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (!trustedFolder(dir)) throw new Error('not owned by this user, or writable by others');
  const file = path.join(dir, `${names.stem}-${built.key}.mjs`);
  writeAtomically(file, built.code);
  const manifest: Manifest = { format: FORMAT, entry: built.entry, inputs: built.inputs };
  writeAtomically(path.join(dir, names.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
  prune(dir, names.stem, file);
  return file;
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
