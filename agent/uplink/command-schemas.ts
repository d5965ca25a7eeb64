/**
 * The request payload of every command the box takes on `cmd/{name}` (issue 6). Strict: an unknown field is
 * an error in the response, not silently ignored — a typo in a fleet script must not "succeed".
 */
import { z } from 'zod';
import { LOG_LEVELS } from '../lib/log.ts';
import { scheduleCommandSchemas } from '../schedule/schema.ts';

const base = { requestedBy: z.string().max(200).optional().meta({ description: 'Who asked (for the audit event).' }) };

export const commandRequestSchemas = {
  'restart-pipeline': z.strictObject({ ...base, streamId: z.string().min(1) }).meta({ description: 'Restart one camera\'s pipeline now (a new pipeline host).' }),
  'restart-agent': z.strictObject({ ...base }).meta({ description: 'Stop cleanly and exit; systemd starts the agent again.' }),
  reboot: z.strictObject({ ...base, force: z.boolean().default(false) }).meta({ description: 'Reboot the box. Refused while an event is live unless force is true.' }),
  'rescan-cameras': z.strictObject({ ...base }).meta({ description: 'Run camera discovery now; answers with what was found.' }),
  snapshot: z.strictObject({ ...base, cameraId: z.string().min(1) }).meta({ description: 'A JPEG from a camera, uploaded to the ingest; answers with its URL.' }),
  'set-log-level': z
    .strictObject({ ...base, level: z.enum(LOG_LEVELS), durationSeconds: z.number().int().min(1).max(86_400).optional().meta({ description: 'Back to the configured level after this long.' }) })
    .meta({ description: 'Change the log level at run time.' }),
  'update-config': z
    .strictObject({ ...base, config: z.record(z.string(), z.unknown()).meta({ description: 'The whole new config file (as JSON).' }), healthTimeoutSeconds: z.number().int().min(10).max(3600).default(120) })
    .meta({ description: 'Validate, apply atomically and restart; rolled back if the agent is not healthy within healthTimeoutSeconds.' }),
  'get-logs': z.strictObject({ ...base, lines: z.number().int().min(1).max(1000).default(200) }).meta({ description: 'The last lines of the agent log, redacted.' }),
  // The schedule's own (agent/schedule/schema.ts): overtime, a start on demand, a cancellation.
  ...scheduleCommandSchemas,
} as const;

export type CommandName = keyof typeof commandRequestSchemas;
export const COMMAND_NAMES = Object.keys(commandRequestSchemas) as CommandName[];
export type CommandRequest<N extends CommandName> = z.output<(typeof commandRequestSchemas)[N]>;
