/**
 * `venuebox config check FILE`: what an installer runs before restarting the agent. It performs the same
 * load as the agent (schema and secrets, so a missing passwordFile shows up now, not at 3 a.m.), prints one
 * `PATH: MESSAGE` line per issue so the output can be grepped, and never prints a secret.
 */
import { redact } from '../lib/redact.ts';
import { ConfigError } from './errors.ts';
import { loadConfig, type Env } from './load.ts';

/** Anything with write(string): process.stdout, or an array collector in tests. */
export interface TextSink {
  write(chunk: string): unknown;
}

/** Exit codes: 0 valid, 2 invalid config (like a usage error: the input is wrong, not the program). */
export async function runConfigCheck(
  file: string,
  out: TextSink = process.stdout,
  err: TextSink = process.stderr,
  env: Env = process.env,
): Promise<number> {
  try {
    const config = await loadConfig(file, env);
    const cameras = config.cameras.length;
    out.write(
      `config OK: box ${config.boxId}, ${cameras} camera${cameras === 1 ? '' : 's'}, broker ${redact(config.mqtt.url)}\n`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const issue of error.issues) err.write(`${issue.path}: ${issue.message}\n`);
    return 2;
  }
}
