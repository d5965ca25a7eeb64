/**
 * Generates the documents derived from code, so that they are never written by hand:
 *   docs/config.schema.json  — JSON Schema of the config file (input side), for editors and validators
 *   docs/CONFIG.md           — the config reference, rendered by walking that JSON Schema
 * Later documents (the MQTT AsyncAPI) are one more entry in `documents`.
 *
 *   npx tsx scripts/generate-docs.ts          write every document that changed
 *   npx tsx scripts/generate-docs.ts --check  write nothing; exit 1 naming each stale document (CI, tests)
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CONFIG_FILE_ENV,
  DEFAULT_CONFIG_FILE,
  PATH_ENV_OVERRIDES,
  SECRET_KEYS,
  configJsonSchema,
} from '../agent/config/index.ts';
import { profileJsonSchema } from '../agent/encoder/hardware-profiles.ts';

export interface GeneratedDocument {
  /** Path relative to the repository root. */
  file: string;
  /** Must be deterministic: same code, same bytes (the up-to-date test compares them). */
  render(): string;
}

export const documents: GeneratedDocument[] = [
  { file: 'docs/config.schema.json', render: () => `${JSON.stringify(configJsonSchema(), null, 2)}\n` },
  { file: 'docs/CONFIG.md', render: renderConfigReference },
  { file: 'hardware-profiles/profile.schema.json', render: () => `${JSON.stringify(profileJsonSchema(), null, 2)}\n` },
];

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

type JsonSchema = {
  type?: string;
  description?: string;
  default?: unknown;
  'x-default'?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
};

interface Section {
  title: string;
  description: string | undefined;
  rows: string[][];
}

/** One section per object in the schema, in schema order: the root, then each nested object. */
function collectSections(
  schema: JsonSchema,
  prefix: string,
  title: string,
  description: string | undefined,
  sections: Section[],
): void {
  const section: Section = { title, description, rows: [] };
  sections.push(section);
  const nested: [JsonSchema, string, string | undefined][] = [];
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    let description = escapeCell(property.description ?? '');
    const child =
      property.type === 'object' ? property : property.type === 'array' && property.items?.type === 'object' ? property.items : undefined;
    if (child !== undefined) {
      const childTitle = child === property ? path : `${path}[]`;
      nested.push([child, childTitle, property.description]);
      description += ` See [${childTitle}](#${anchor(childTitle)}).`;
    }
    const env = PATH_ENV_OVERRIDES.find(({ key: k }) => `paths.${k}` === path)?.env;
    if (env !== undefined) description += ` Env: \`${env}\`.`;
    const required = schema.required?.includes(key) ?? false;
    section.rows.push([code(path), typeOf(property), defaultOf(property, required), allowedOf(property), description.trim()]);
  }
  for (const [child, childTitle, childDescription] of nested) {
    collectSections(child, childTitle, childTitle, childDescription, sections);
  }
}

function typeOf(schema: JsonSchema): string {
  if (schema.type === 'array') return `array of ${schema.items?.type ?? 'any'}`;
  return schema.type ?? 'any';
}

function defaultOf(schema: JsonSchema, required: boolean): string {
  if (required) return '**required**';
  if (schema['x-default'] !== undefined) return code(schema['x-default']);
  if (schema.default !== undefined) return code(JSON.stringify(schema.default));
  return '—';
}

function allowedOf(schema: JsonSchema): string {
  const parts: string[] = [];
  if (schema.enum) parts.push(schema.enum.map((v) => code(String(v))).join(', '));
  if (schema.minimum !== undefined && schema.maximum !== undefined) parts.push(`${schema.minimum} … ${schema.maximum}`);
  else if (schema.minimum !== undefined) parts.push(`≥ ${schema.minimum}`);
  else if (schema.maximum !== undefined) parts.push(`≤ ${schema.maximum}`);
  if (schema.maxLength !== undefined) parts.push(`${schema.minLength ?? 0} … ${schema.maxLength} characters`);
  else if (schema.minLength !== undefined) parts.push('not empty');
  if (schema.maxItems !== undefined) parts.push(`at most ${schema.maxItems} items`);
  if (schema.pattern !== undefined) parts.push(PATTERN_NAMES[schema.pattern] ?? `matches ${code(schema.pattern)}`);
  return parts.join('; ') || '—';
}

/** Patterns that read better in words. */
const PATTERN_NAMES: Record<string, string> = { '^\\/': 'absolute path' };

/** Inline code in a table cell: GFM splits cells on `|` even inside backticks, so it is escaped. */
function code(text: string): string {
  return `\`${text.replaceAll('|', '\\|')}\``;
}

function escapeCell(text: string): string {
  return text.replaceAll('\n', ' ').replaceAll('|', '\\|');
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
function anchor(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-');
}

function renderConfigReference(): string {
  const sections: Section[] = [];
  collectSections(configJsonSchema() as JsonSchema, '', 'Top level', undefined, sections);
  const [password, passwordFile, passwordEnv] = SECRET_KEYS;
  const lines = [
    '<!-- Generated by scripts/generate-docs.ts from agent/config/schema.ts. Do not edit: run `npx tsx scripts/generate-docs.ts`. -->',
    '# venuebox configuration reference',
    '',
    `The agent reads one JSON file, \`${DEFAULT_CONFIG_FILE}\` unless the environment variable \`${CONFIG_FILE_ENV}\` names another.`,
    'Unknown keys are errors, not ignored, so a misspelled key cannot silently fall back to a default.',
    'A full example is [examples/config.json](../examples/config.json); editors validate and complete the file when it',
    'starts with `"$schema": "<path or URL of>/config.schema.json"` ([config.schema.json](config.schema.json)).',
    '',
    'Check a file before (re)starting the agent — it prints one `PATH: MESSAGE` line per problem and exits 2, or',
    'prints a summary and exits 0:',
    '',
    '```sh',
    'venuebox config check /etc/venuebox/config.json',
    '```',
    '',
    '## Environment overrides',
    '',
    'Every host path can be overridden by an environment variable; the variable wins over the file.',
    '',
    '| variable | overrides |',
    '|---|---|',
    ...PATH_ENV_OVERRIDES.map(({ env, key }) => `| \`${env}\` | \`paths.${key}\` |`),
    '',
    '## Secrets',
    '',
    `Every object that authenticates (\`mqtt\`, each camera) takes at most one of \`${password}\` (the value inline),`,
    `\`${passwordFile}\` (a file holding it, read at start, trailing newline removed; relative to the config file's folder)`,
    `or \`${passwordEnv}\` (the name of an environment variable holding it). Prefer \`${passwordFile}\`: the config can then be`,
    'shared and logged without leaking anything. Credentials inside URLs (`rtsp://user:pass@…`) are rejected. Every',
    'resolved secret is removed from every log line the agent writes.',
  ];
  for (const section of sections) {
    lines.push('', `## ${section.title}`, '');
    if (section.description !== undefined) lines.push(section.description, '');
    lines.push('| key | type | default | allowed | description |', '|---|---|---|---|---|');
    for (const row of section.rows) lines.push(`| ${row.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const check = argv.includes('--check');
  let stale = 0;
  for (const document of documents) {
    const path = join(repoRoot, document.file);
    const wanted = document.render();
    const current = await readFile(path, 'utf8').catch(() => undefined);
    if (current === wanted) continue;
    if (check) {
      process.stderr.write(`${document.file} is stale: run npx tsx scripts/generate-docs.ts\n`);
      stale++;
    } else {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, wanted);
      process.stdout.write(`wrote ${document.file}\n`);
    }
  }
  return stale > 0 ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await main(process.argv.slice(2));
}
