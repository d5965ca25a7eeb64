// Shared by the benchmarks: CPU time and peak memory of a process tree, the whole machine's busy share, and the
// virtual camera's process, all read from /proc (proc(5)), so a figure is what the kernel accounted, not an estimate.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second: the unit of /proc/PID/stat and /proc/stat. */
export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100;

/** CPU ticks (utime+stime, plus reaped children's) and summed VmHWM (KiB) of a process and its live descendants. */
export function sampleTree(root: number): { ticks: number; hwmKiB: number; alive: boolean } {
  const stats = new Map<number, string[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // the process exited between readdir and read: it is not ours to count
    }
    // Field 2 (comm) may hold spaces and parentheses: the fixed fields start after the last ')' (proc(5)).
    stats.set(Number(entry), text.slice(text.lastIndexOf(')') + 2).split(' '));
  }
  if (!stats.has(root)) return { ticks: 0, hwmKiB: 0, alive: false };
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, fields] of stats) if (Number(fields[1]) === tree[i]) tree.push(pid);
  }
  let ticks = 0;
  let hwmKiB = 0;
  for (const pid of tree) {
    const f = stats.get(pid) ?? [];
    ticks += [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i] ?? 0), 0); // utime stime cutime cstime
    try {
      hwmKiB += Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      continue; // exited since the stat read; its CPU is counted, its memory is gone
    }
  }
  return { ticks, hwmKiB, alive: true };
}

/** Busy and total jiffies of the whole machine (all cores), from the first line of /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total }; // idle and iowait are not busy
}

/** The virtual camera helper does not expose its PID: find the python process serving that port. */
export function cameraPid(port: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('virtual-camera.py')) && argv[argv.indexOf('--port') + 1] === String(port)) return Number(entry);
    } catch {
      continue; // gone meanwhile
    }
  }
  throw new Error(`no virtual camera process found for port ${port}`);
}
