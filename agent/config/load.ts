/**
 * Loading the config, in three steps so that the pure part is testable without files:
 *  1. `parseConfigText`  — JSON text → value; a syntax error names line and column.            (pure)
 *  2. `validateConfig`   — value + env → ValidatedConfig: env path overrides, schema, defaults. (pure)
 *  3. `resolveSecrets`   — password / passwordFile / passwordEnv → one `password`, registered with the
 *                          redactor.                                                             (I/O)
 * `loadConfig` runs all three on a file. Every step reports ALL its issues in one ConfigError, so an
 * installer fixes a config in one round trip, not one error per restart.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { registerSecret } from '../lib/redact.ts';
import { ConfigError, formatPath, issueMessage, toConfigIssues, type ConfigIssue } from './errors.ts';
import { configSchema, LIVE_SECRET_NAMES, PATH_ENV_OVERRIDES, SECRET_KEYS, TLS_SECRET_NAMES, type Config, type ValidatedConfig } from './schema.ts';
import { absoluteTlsPaths, readTlsFiles } from './tls-files.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/** Reads, parses, validates `file` and resolves its secrets. Throws ConfigError listing every issue. */
export async function loadConfig(file: string, env: Env = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ path: file, message: `cannot read: ${errorCode(error)}` }], file, { cause: error });
  }
  const config = validateConfig(parseConfigText(text, file), env, file);
  return resolveSecrets(config, { env, baseDir: dirname(resolve(file)) }, file);
}

/** JSON text → value. A syntax error becomes a ConfigError with line and column (`file` names the source). */
export function parseConfigText(text: string, file = '(config)'): unknown {
  // Editors on Windows like to add a byte order mark; JSON.parse rejects it and the error would be baffling.
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  try {
    return JSON.parse(source);
  } catch (error) {
    // V8's wording minus its position and source excerpt (which may hold a secret); we add line and column.
    const reason = String((error as Error).message)
      .replace(/ (?:in JSON )?at position \d+[\s\S]*$/, '')
      .replace(/, [\s\S]* is not valid JSON$/, '');
    const { line, column } = lineAndColumn(source, jsonErrorOffset(source));
    const message = `invalid JSON at line ${line}, column ${column}: ${reason}`;
    throw new ConfigError([{ path: file, message }], file, { cause: error });
  }
}

/** Value + env → validated config with every default. Env path overrides win over the file. Pure. */
export function validateConfig(value: unknown, env: Env = process.env, file?: string): ValidatedConfig {
  const overrides = PATH_ENV_OVERRIDES.filter(({ env: name }) => (env[name] ?? '') !== '');
  const result = configSchema.safeParse(withPathOverrides(value, overrides, env), { error: issueMessage });
  if (result.success) return result.data;
  const issues = toConfigIssues(result.error.issues).map((issue) => {
    // An override's value is checked like the file's; say where a bad one came from, or nobody finds it.
    const from = overrides.find(({ key }) => issue.path === `paths.${key}`);
    return from === undefined ? issue : { ...issue, message: `${issue.message} (from ${from.env})` };
  });
  throw new ConfigError(issues, file);
}

function withPathOverrides(value: unknown, overrides: typeof PATH_ENV_OVERRIDES[number][], env: Env): unknown {
  if (overrides.length === 0 || !isPlainObject(value)) return value;
  const paths = value.paths ?? {};
  if (!isPlainObject(paths)) return value; // the schema reports `paths: must be an object`
  const fromEnv = Object.fromEntries(overrides.map(({ env: name, key }) => [key, env[name]]));
  return { ...value, paths: { ...paths, ...fromEnv } };
}

export interface SecretSources {
  env: Env;
  /** Relative `passwordFile`s are resolved against this folder (the config file's). */
  baseDir: string;
}

/**
 * Every secret and its three forms: `password` (mqtt, cameras, discovery, uplink) and the live destinations'
 * `passphrase` (SRT) and `streamKey` (RTMP). `check` is a rule on the value that the schema can only apply to
 * the inline form (a file or a variable is read here).
 */
const SECRETS: ReadonlyArray<{ name: string; forms: readonly [string, string, string]; check?: (value: string) => string | undefined }> = [
  { name: 'password', forms: SECRET_KEYS },
  ...LIVE_SECRET_NAMES.map((name) => ({
    name,
    forms: [name, `${name}File`, `${name}Env`] as const,
    ...(name === 'passphrase' ? { check: (v: string) => (v.length < 10 || v.length > 79 ? 'the passphrase must be 10–79 characters (SRT)' : undefined) } : {}),
  })),
  // mqtt.tls.keyPassphrase: the passphrase of an encrypted client key.
  ...TLS_SECRET_NAMES.map((name) => ({ name, forms: [name, `${name}File`, `${name}Env`] as const })),
];
const SECRET_FORM_KEYS: ReadonlySet<string> = new Set(SECRETS.flatMap((secret) => secret.forms));

/**
 * Replaces the secret forms of every object that has them (mqtt, each camera, each live output, whatever gets
 * them later) by one value (`password`, `passphrase`, `streamKey`), and registers each value with the redactor
 * before anything can log it.
 */
export async function resolveSecrets(config: ValidatedConfig, sources: SecretSources, file?: string): Promise<Config> {
  const issues: ConfigIssue[] = [];
  // The walk is generic (it finds secrets wherever the schema put secretFields); the type follows the schema.
  const resolved = (await resolveNode(config, [], sources, issues)) as Config;
  if (issues.length === 0 && resolved.mqtt.tls) resolved.mqtt.tls = checkMqttTls(resolved.mqtt.tls, config.mqtt.tls ?? {}, sources.baseDir, issues);
  if (issues.length > 0) throw new ConfigError(issues, file);
  return resolved;
}

/** mqtt.tls: paths made absolute, the files read and checked at start (the MQTT link reads them again to connect). */
function checkMqttTls(tls: NonNullable<Config['mqtt']['tls']>, given: object, baseDir: string, issues: ConfigIssue[]): NonNullable<Config['mqtt']['tls']> {
  const absolute = absoluteTlsPaths(tls, baseDir);
  for (const problem of readTlsFiles(absolute).problems) {
    // A wrong passphrase is reported on the form that was given (keyPassphraseFile, …).
    const key = problem.key === 'keyPassphrase' ? (['keyPassphrase', 'keyPassphraseFile', 'keyPassphraseEnv'].find((form) => form in given) ?? problem.key) : problem.key;
    issues.push({ path: formatPath(['mqtt', 'tls', key]), message: problem.message });
  }
  return absolute;
}

type Path = (string | number)[];

async function resolveNode(node: unknown, path: Path, sources: SecretSources, issues: ConfigIssue[]): Promise<unknown> {
  if (Array.isArray(node)) return Promise.all(node.map((item, i) => resolveNode(item, [...path, i], sources, issues)));
  if (!isPlainObject(node)) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (!SECRET_FORM_KEYS.has(key)) out[key] = await resolveNode(value, [...path, key], sources, issues);
  }
  for (const secret of SECRETS) {
    const value = await resolveSecret(node, path, sources, issues, secret.forms);
    if (value === undefined) continue;
    registerSecret(value);
    const problem = secret.check?.(value);
    if (problem !== undefined) {
      // On the form that was given; never with the value.
      issues.push({ path: formatPath([...path, secret.forms.find((form) => node[form] !== undefined) ?? secret.name]), message: problem });
      continue;
    }
    out[secret.name] = value;
  }
  return out;
}

async function resolveSecret(
  node: Record<string, unknown>,
  path: Path,
  { env, baseDir }: SecretSources,
  issues: ConfigIssue[],
  [inline, fileKey, envKey]: readonly [string, string, string] = SECRET_KEYS,
): Promise<string | undefined> {
  const fail = (key: string, message: string) => {
    issues.push({ path: formatPath([...path, key]), message });
    return undefined;
  };
  const given = { inline: node[inline], file: node[fileKey], env: node[envKey] };
  if (typeof given.inline === 'string') return given.inline;
  if (typeof given.file === 'string') {
    const file = resolve(baseDir, given.file);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      return fail(fileKey, `cannot read ${file}: ${errorCode(error)}`);
    }
    // `echo secret > file` and editors add a final newline that is not part of the secret.
    const value = text.replace(/[\r\n]+$/, '');
    return value === '' ? fail(fileKey, `${file} is empty`) : value;
  }
  if (typeof given.env === 'string') {
    const value = env[given.env];
    if (value === undefined) return fail(envKey, `environment variable ${given.env} is not set`);
    return value === '' ? fail(envKey, `environment variable ${given.env} is empty`) : value;
  }
  return undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorCode(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  return code ?? message;
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

/**
 * The offset of the first JSON syntax error. Node 20's JSON.parse gives a position for some errors only
 * ("Unexpected token 'm', …" has none — yet an unquoted URL is the typical hand-edit mistake), so a small
 * RFC 8259 scanner finds it. Only called after JSON.parse failed.
 */
function jsonErrorOffset(text: string): number {
  let i = 0;
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] ?? '')) i++;
  };
  const expect = (pattern: RegExp): boolean => {
    pattern.lastIndex = i;
    const match = pattern.exec(text);
    if (match === null) return false;
    i += match[0].length;
    return true;
  };
  const advance = () => {
    i++;
    return true;
  };
  const value = (): boolean => {
    space();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      space();
      if (text[i] === close) return advance();
      for (;;) {
        if (c === '{') {
          space();
          if (!expect(/"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y)) return false;
          space();
          if (!expect(/:/y)) return false;
        }
        if (!value()) return false;
        space();
        if (text[i] === close) return advance();
        if (!expect(/,/y)) return false;
      }
    }
    return expect(/"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y);
  };
  // A complete value followed by more text: the error is at the first non-space after it.
  if (value()) space();
  return Math.min(i, text.length);
}
