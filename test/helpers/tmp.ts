// Temporary folders for test services, all under os.tmpdir() with the prefix `venuebox-`.
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface TempDir {
  path: string;
  /** Remove the folder and everything in it; safe to call more than once. */
  remove(): Promise<void>;
}

// Folders not yet removed are deleted synchronously when the process exits, so a crashed test
// leaves none behind (a SIGKILLed process still does: nothing runs then). A folder made here must
// not outlive the process that made it.
const liveDirs = new Set<string>();
process.on('exit', () => {
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

export async function makeTempDir(label: string): Promise<TempDir> {
  // Labels end up in paths: keep them to a safe alphabet.
  const safe = label.replace(/[^A-Za-z0-9_.-]/g, '_');
  const dir = await mkdtemp(path.join(os.tmpdir(), `venuebox-${safe}-`));
  liveDirs.add(dir);
  return {
    path: dir,
    remove: async () => {
      await rm(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    },
  };
}
