/**
 * `venuebox profiles detect [--json] [--timeout SECONDS]` — the installer's view of the box's encoders: every
 * hardware profile in ladder order, proved by a real test encode, with the reasons each was rejected.
 * A table (or with --json one JSON document) on stdout. Exit 0 when a profile was selected, 1 when none works,
 * 2 on bad arguments or invalid profile files.
 */
import { parseArgs } from 'node:util';
import { HardwareProfileError } from './hardware-profiles.ts';
import { detectEncoder, type DetectOptions, type DetectionReport } from './profile-detect.ts';

export interface ProfilesCommandIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export async function runProfilesCommand(
  args: string[],
  io: ProfilesCommandIo = { out: process.stdout, err: process.stderr },
  detectOptions: DetectOptions = {},
): Promise<number> {
  let json: boolean;
  let timeoutMs: number;
  try {
    const { values, positionals } = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { json: { type: 'boolean', default: false }, timeout: { type: 'string', default: '10' } },
    });
    if (positionals[0] !== 'detect' || positionals.length > 1) throw new Error('expected: venuebox profiles detect [--json] [--timeout SECONDS]');
    const seconds = Number(values.timeout);
    if (!Number.isFinite(seconds) || seconds < 1 || seconds > 120) throw new Error('--timeout must be between 1 and 120 seconds');
    json = values.json;
    timeoutMs = seconds * 1000;
  } catch (err) {
    io.err.write(`venuebox profiles: ${(err as Error).message}\n`);
    return 2;
  }

  let report: DetectionReport;
  try {
    report = await detectEncoder({ timeoutMs, ...detectOptions });
  } catch (err) {
    if (!(err instanceof HardwareProfileError)) throw err;
    io.err.write(`venuebox profiles: ${err.message}\n`);
    return 2;
  }
  io.out.write(json ? `${JSON.stringify(toJson(report), null, 2)}\n` : table(report));
  return report.selected === undefined ? 1 : 0;
}

function toJson(report: DetectionReport) {
  return {
    selected: report.selected?.profile.id ?? null,
    profiles: report.verdicts.map((v) => ({
      id: v.id,
      name: v.name,
      priority: v.priority,
      selected: v.selected,
      status: v.status,
      reasons: v.reasons,
      notes: v.notes,
      elements: v.elements,
    })),
  };
}

function table(report: DetectionReport): string {
  const rows = report.verdicts.map((v) => [v.id, v.status, [...v.reasons, ...v.notes.map((n) => `(${n})`)].join('; ') || elementsText(v.elements)]);
  const header = ['profile', 'status', 'reasons'];
  const widths = [0, 1].map((i) => Math.max(header[i]?.length ?? 0, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c)).join('  ').trimEnd();
  const lines = [line(header), ...rows.map(line)];
  const selected = report.selected;
  lines.push(
    '',
    selected === undefined
      ? 'no encoder works on this box'
      : `selected: ${selected.profile.id} (${elementsText(selected.elements)}), about ${selected.profile.capacity.concurrent1080p30} concurrent 1080p30 encode(s)`,
  );
  return `${lines.join('\n')}\n`;
}

function elementsText(elements: { h264?: string; h265?: string }): string {
  return Object.entries(elements)
    .map(([codec, element]) => `${codec}: ${element}`)
    .join(', ');
}
