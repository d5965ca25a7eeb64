/**
 * `update-config` (issue 6): a new config is validated, applied atomically, and rolled back unless the agent
 * comes back healthy with it. Nobody is on site: a config that makes the box unreachable must undo itself.
 *
 *   stage:    new config → `<file>.new` → validated by the real loader (every issue named) → the current file
 *             copied to `<file>.previous` → a `<file>.pending` marker → rename(`.new`, file) (atomic) → restart.
 *   at start: a marker means "on probation": each start counts an attempt; a config the loader refuses, or a
 *             third start that did not confirm (a crash loop), restores `.previous` at once.
 *   running:  healthy (MQTT connected, every pipeline running) within the timeout → confirmed (marker and
 *             backup removed, event `config-applied`); not → restored, event `config-rolled-back`, restart.
 */
import { copyFile, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { loadConfig } from './load.ts';

export interface PendingUpdate {
  since: string;
  healthTimeoutSeconds: number;
  attempts: number;
}

/** Starts on probation before the update is given up (a crash loop restarts the agent every few seconds). */
export const MAX_START_ATTEMPTS = 3;

const pendingFile = (configFile: string) => `${configFile}.pending`;
const previousFile = (configFile: string) => `${configFile}.previous`;

/** Validates and installs a new config (see the module comment). Throws ConfigError with every issue. */
export async function stageConfigUpdate(configFile: string, config: unknown, healthTimeoutSeconds: number): Promise<void> {
  const staged = `${configFile}.new`;
  await writeFile(staged, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  try {
    await loadConfig(staged);
  } catch (err) {
    await rm(staged, { force: true });
    throw err;
  }
  await copyFile(configFile, previousFile(configFile));
  const pending: PendingUpdate = { since: new Date().toISOString(), healthTimeoutSeconds, attempts: 0 };
  await writeFile(pendingFile(configFile), JSON.stringify(pending));
  await rename(staged, configFile);
}

/** At start: the update on probation, if any, with this start counted; or why it was just rolled back. */
export async function checkPendingUpdate(configFile: string): Promise<{ pending?: PendingUpdate; rolledBack?: string }> {
  let pending: PendingUpdate;
  try {
    pending = JSON.parse(await readFile(pendingFile(configFile), 'utf8')) as PendingUpdate;
  } catch {
    return {};
  }
  pending.attempts += 1;
  if (pending.attempts > MAX_START_ATTEMPTS) {
    const reason = `the agent did not become healthy in ${MAX_START_ATTEMPTS} starts with the new config`;
    await rollbackConfig(configFile);
    return { rolledBack: reason };
  }
  await writeFile(pendingFile(configFile), JSON.stringify(pending));
  return { pending };
}

/** Restores the previous config and ends the probation. */
export async function rollbackConfig(configFile: string): Promise<void> {
  await rename(previousFile(configFile), configFile);
  await rm(pendingFile(configFile), { force: true });
}

/** The new config proved itself: the probation ends and the backup goes. */
export async function confirmConfig(configFile: string): Promise<void> {
  await rm(pendingFile(configFile), { force: true });
  await rm(previousFile(configFile), { force: true });
}
