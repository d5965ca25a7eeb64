// A small tmpfs mounted for a test (root only): a disk that really fills up (ENOSPC), for the spool tests.
//
// The mount point is a fresh folder under os.tmpdir(), named `venuebox-tmpfs-<label>-…`. unmount() takes it
// away (lazily if something still holds it open) and removes the folder; a mount still in place when the
// process exits is undone by the exit hook, so a failing test leaves no mount behind (a SIGKILLed one does).
import { execFile, execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const mounted = new Set<string>();
process.on('exit', () => {
  for (const dir of mounted) {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* nothing more can be done while exiting */
    }
  }
});

export interface Tmpfs {
  path: string;
  sizeBytes: number;
  /** Free bytes as a non-root writer sees them (statfs bavail). */
  freeBytes(): Promise<number>;
  /** Writes a file of `bytes` zero bytes (tmpfs allocates them) and returns its path. */
  fill(name: string, bytes: number): Promise<string>;
  /** Unmounts (lazily when busy) and removes the mount point; idempotent. */
  unmount(): Promise<void>;
}

export async function mountTmpfs(label: string, sizeMiB: number): Promise<Tmpfs> {
  const safe = label.replace(/[^A-Za-z0-9_.-]/g, '_');
  const dir = await mkdtemp(path.join(os.tmpdir(), `venuebox-tmpfs-${safe}-`));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, `venuebox-${safe}`, dir]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`mount -t tmpfs failed: ${(err as { stderr?: string }).stderr?.trim() || String(err)}`, { cause: err });
  }
  mounted.add(dir);
  let unmounted: Promise<void> | undefined;
  return {
    path: dir,
    sizeBytes: sizeMiB * 1024 * 1024,
    freeBytes: async () => {
      const fs = await statfs(dir);
      return fs.bavail * fs.bsize;
    },
    fill: async (name, bytes) => {
      const file = path.join(dir, name);
      await writeFile(file, Buffer.alloc(bytes));
      return file;
    },
    unmount: () => {
      unmounted ??= (async () => {
        try {
          await run('umount', [dir]);
        } catch {
          // A process that has not let go yet (a pipeline child being killed): detach now, freed when it exits.
          await run('umount', ['-l', dir]);
        }
        mounted.delete(dir);
        await rm(dir, { recursive: true, force: true });
      })();
      return unmounted;
    },
  };
}
