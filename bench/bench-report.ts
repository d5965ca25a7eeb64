// Shared by the benchmarks: write a result section into docs/BENCHMARKS.md between markers, and run a
// benchmark's main with one way of reporting an interruption or a failure.
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export const BENCHMARKS_DOC = fileURLToPath(new URL('../docs/BENCHMARKS.md', import.meta.url));

/** Replaces the text between `begin` and `end` (the markers are part of `section`), or appends it. */
export async function writeBenchSection(begin: string, end: string, section: string, heading?: string): Promise<void> {
  // Read just before writing: others edit this file too. Only the part between the markers is replaced.
  const doc = await readFile(BENCHMARKS_DOC, 'utf8').catch(() => '# Benchmarks\n');
  const at = doc.indexOf(begin);
  const appended = heading ? `${doc.trimEnd()}\n\n${heading}\n\n${section}\n` : `${doc.trimEnd()}\n\n${section}\n`;
  const next = at >= 0 ? doc.slice(0, at) + section + doc.slice(doc.indexOf(end, at) + end.length) : appended;
  await writeFile(BENCHMARKS_DOC, next);
  console.error(`wrote the results into ${BENCHMARKS_DOC}`);
}

export function runBench(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    const interrupted = err instanceof Error && err.name === 'AbortError';
    console.error(interrupted ? 'interrupted; everything started was stopped' : `bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = interrupted ? 130 : 1;
  });
}

/** The machine and the time of a run, for a results heading: date (UTC), CPU, cores, kernel, Node. */
export function machineLine(): string {
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  return `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${cpu}, ${os.cpus().length} cores · kernel ${os.release()} · Node ${process.version}`;
}
