/**
 * ConfigError, and how zod issues become the human lines an installer reads: `cameras[1].rtsp: must be an
 * rtsp:// URL`. zod's default messages ("Too small: expected number to be >=5") name no key and read like a
 * compiler; ours are a small table by issue code. Messages given in the schema itself win over this table
 * (zod's precedence: schema-level error > per-parse error map), so the table only covers generic rules.
 *
 * No message here ever contains the offending value: it may be a password or a URL with one.
 */
import type { z } from 'zod';
import { configJsonSchema } from './schema.ts';

export interface ConfigIssue {
  /** `(root)`, `mqtt.keepaliveSeconds`, `cameras[1].rtsp`, or the file name for file-level problems. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: ConfigIssue[];
  readonly file: string | undefined;

  constructor(issues: ConfigIssue[], file?: string, options?: { cause?: unknown }) {
    const where = file === undefined ? 'invalid config' : `invalid config ${file}`;
    const count = issues.length === 1 ? '1 issue' : `${issues.length} issues`;
    super(`${where}: ${count}\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, options);
    this.issues = issues;
    this.file = file;
  }
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `['cameras', 1, 'rtsp']` → `cameras[1].rtsp`; `[]` → `(root)`. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (IDENTIFIER.test(String(key))) out += out === '' ? String(key) : `.${String(key)}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
};

type RawIssue = z.core.$ZodRawIssue;
type IssueOf<C extends RawIssue['code']> = Extract<RawIssue, { code: C }>;

function bound(issue: IssueOf<'too_small'> | IssueOf<'too_big'>, limit: number | bigint, small: boolean): string {
  const n = Number(limit);
  switch (issue.origin) {
    case 'string':
      if (small && n === 1) return 'must not be empty';
      return `must be ${small ? 'at least' : 'at most'} ${n} character${n === 1 ? '' : 's'}`;
    case 'array':
    case 'set':
      return `must have ${small ? 'at least' : 'at most'} ${n} item${n === 1 ? '' : 's'}`;
    default:
      if (issue.inclusive === false) return `must be ${small ? '>' : '<'} ${n}`;
      return `must be ${small ? '≥' : '≤'} ${n}`;
  }
}

/** One line per zod issue code; anything not listed keeps zod's own message. */
const MESSAGES: { [C in RawIssue['code']]?: (issue: IssueOf<C>) => string } = {
  invalid_type: (i) => (i.input === undefined ? 'required' : `must be ${TYPE_NAMES[i.expected] ?? i.expected}`),
  too_small: (i) => bound(i, i.minimum, true),
  too_big: (i) => bound(i, i.maximum, false),
  invalid_value: (i) =>
    i.values.length === 1 ? `must be ${String(i.values[0])}` : `must be one of ${i.values.map(String).join(', ')}`,
  invalid_format: (i) => (i.format === 'regex' && i.pattern ? `must match ${i.pattern}` : `must be a valid ${i.format}`),
  not_multiple_of: (i) => `must be a multiple of ${i.divisor}`,
  unrecognized_keys: () => 'unknown key',
  invalid_union: () => 'matches none of the allowed forms',
};

/** The per-parse error map: `schema.safeParse(value, { error: issueMessage })`. */
export function issueMessage(issue: RawIssue): string | undefined {
  const render = MESSAGES[issue.code] as ((i: RawIssue) => string) | undefined;
  return render?.(issue);
}

/** zod issues → ConfigIssues; an `unrecognized_keys` issue becomes one issue per key, on that key's path. */
export function toConfigIssues(issues: readonly z.core.$ZodIssue[]): ConfigIssue[] {
  return issues.flatMap((issue): ConfigIssue[] => {
    if (issue.code !== 'unrecognized_keys') return [{ path: formatPath(issue.path), message: issue.message }];
    return issue.keys.map((key) => {
      const suggestion = closestKey(knownKeysAt(issue.path), key);
      const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
      return { path: formatPath([...issue.path, key]), message: `unknown key${hint}` };
    });
  });
}

let jsonSchema: Record<string, unknown> | undefined;

/** The keys allowed at `path`, read from the generated JSON Schema so that the schema stays the only list. */
function knownKeysAt(path: readonly PropertyKey[]): string[] {
  jsonSchema ??= configJsonSchema();
  let node: Record<string, unknown> | undefined = jsonSchema;
  for (const key of path) {
    const next: unknown =
      typeof key === 'number' ? node?.items : (node?.properties as Record<string, unknown> | undefined)?.[String(key)];
    node = typeof next === 'object' && next !== null ? (next as Record<string, unknown>) : undefined;
  }
  return Object.keys((node?.properties as object | undefined) ?? {});
}

/**
 * The closest known key for a typo (`passwrd`, `keepAliveSecond`), if any. The allowed distance grows with
 * the key's length (at most 2) so that a short unrelated key (`foo`) is not "corrected" into `log`.
 */
function closestKey(known: readonly string[], key: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.max(1, Math.floor(key.length / 3))) + 1;
  for (const candidate of known) {
    const d = editDistance(candidate.toLowerCase(), key.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, substitution));
    }
    previous = row;
  }
  return previous[b.length] ?? 0;
}
