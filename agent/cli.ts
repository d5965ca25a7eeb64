/**
 * `venuebox` command line. Subcommands:
 *   venuebox agent [--config FILE]      run the agent (the systemd service)
 *   venuebox config check FILE          validate a config file; every error with its path; exit 2 if invalid
 *   venuebox cameras scan [...]         find the venue's ONVIF cameras (agent/cameras/scan-command.ts)
 *   venuebox profiles detect [--json]   prove the box's encoders (agent/encoder/profiles-command.ts)
 * Exit codes: 0 ok, 1 runtime failure, 2 bad arguments or invalid config.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG_FILE, CONFIG_FILE_ENV } from './config/index.ts';

const USAGE = `usage:
  venuebox agent [--config FILE]     run the agent (default config: $${CONFIG_FILE_ENV} or ${DEFAULT_CONFIG_FILE})
  venuebox config check FILE         validate a config file
  venuebox cameras scan [--interface IF]... [--subnet CIDR]... [--port P]... [--timeout SECONDS]
                        [--connect-timeout MS] [--username U] [--password-file F] [--json]
  venuebox cameras watch [--interface IF]... [--duration SECONDS]   print camera Hello/Bye as JSON lines
  venuebox profiles detect [--json] [--timeout SECONDS]   prove each encoder profile by a test encode; exit 1 if none works
  venuebox doctor [--config FILE] [--event ID] [--hours N] [--json]   readiness of the next event: exit 0 green, 1 amber, 3 red
  venuebox --version`;

function fail(message: string): never {
  process.stderr.write(`venuebox: ${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'agent': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } }, strict: true });
      const { runAgent } = await import('./main.ts');
      // Exit explicitly: everything was stopped in order, and a library's stray handle must not keep a
      // stopped agent alive past systemd's stop timeout.
      process.exit(await runAgent(values.config ?? process.env[CONFIG_FILE_ENV] ?? DEFAULT_CONFIG_FILE));
    }
    case 'config': {
      const [sub, file, ...extra] = rest;
      if (sub !== 'check' || !file || extra.length > 0) fail('expected: venuebox config check FILE');
      const { runConfigCheck } = await import('./config/check-command.ts');
      return runConfigCheck(file);
    }
    case 'cameras': {
      const [sub, ...args] = rest;
      if (sub === 'watch') {
        const { runCamerasWatch } = await import('./cameras/watch-command.ts');
        return runCamerasWatch(args);
      }
      if (sub !== 'scan') fail('expected: venuebox cameras scan|watch [options]');
      const { runCamerasScan } = await import('./cameras/scan-command.ts');
      return runCamerasScan(args);
    }
    case 'profiles': {
      const { runProfilesCommand } = await import('./encoder/profiles-command.ts');
      return runProfilesCommand(rest);
    }
    case 'doctor': {
      const { runDoctor } = await import('./health/doctor-command.ts');
      const { resolveEventNeeds } = await import('./health/event-needs.ts');
      return runDoctor(rest, process.env[CONFIG_FILE_ENV] ?? DEFAULT_CONFIG_FILE, resolveEventNeeds);
    }
    case '--version':
    case 'version': {
      const { VERSION } = await import('./main.ts');
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    case undefined:
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      fail(`unknown command "${command}"`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) fail(err.message);
  throw err;
}
