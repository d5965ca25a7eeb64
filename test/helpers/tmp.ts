// Temporary folders for test services, all under os.tmpdir() with the prefix `venuebox-`.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface TempDir {
  path: string;
  /** Remove the folder and everything in it; safe to call more than once. */
  remove(): Promise<void>;
}

export async function makeTempDir(label: string): Promise<TempDir> {
  // Labels end up in paths: keep them to a safe alphabet.
  const safe = label.replace(/[^A-Za-z0-9_.-]/g, '_');
  const dir = await mkdtemp(path.join(os.tmpdir(), `venuebox-${safe}-`));
  return {
    path: dir,
    remove: async () => {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
