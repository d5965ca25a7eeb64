/**
 * Remote commands (issue 6): a request on `cmd/{name}` is parsed, validated against its schema
 * (command-schemas.ts), run, and answered — through the request's MQTT 5 response topic with its
 * correlation data (mqtt-link.ts does the transport). An unknown command, a payload that is not JSON or
 * does not fit the schema, a handler that throws: each gets an error response, never a crash. Every command
 * is logged and audited as a `command` event.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import { errorMessage } from '../lib/errors.ts';
import { COMMAND_NAMES, commandRequestSchemas, type CommandName, type CommandRequest } from './command-schemas.ts';
import type { CommandResponsePayload } from './topics.ts';

export type CommandHandlers = { [N in CommandName]: (request: CommandRequest<N>) => Promise<unknown> };

/** A refusal the requester can act on (e.g. reboot during a live event): its message is the whole answer. */
export class CommandRefused extends Error {
  override readonly name = 'CommandRefused';
}

export class CommandRouter {
  constructor(
    private readonly handlers: CommandHandlers,
    private readonly log: Logger,
    private readonly audit: (event: { type: 'command'; command: string; ok: boolean; error?: string; requestedBy?: string }) => void,
  ) {}

  async handle(name: string, text: string): Promise<CommandResponsePayload> {
    const answer = (ok: boolean, detail: { result?: unknown; error?: string }, requestedBy?: string): CommandResponsePayload => {
      const response: CommandResponsePayload = { command: name, ok, ...detail, ts: new Date().toISOString() };
      this.audit({ type: 'command', command: name, ok, ...(detail.error !== undefined ? { error: detail.error } : {}), ...(requestedBy !== undefined ? { requestedBy } : {}) });
      if (ok) this.log.info({ command: name, requestedBy }, 'command done');
      else this.log.warn({ command: name, requestedBy, error: detail.error }, 'command refused or failed');
      return response;
    };
    if (!(COMMAND_NAMES as string[]).includes(name)) return answer(false, { error: `unknown command "${name}"; known: ${COMMAND_NAMES.join(', ')}` });
    const command = name as CommandName;
    let json: unknown;
    try {
      json = text.trim() === '' ? {} : JSON.parse(text);
    } catch (err) {
      return answer(false, { error: `the payload is not JSON: ${errorMessage(err)}` });
    }
    const parsed = commandRequestSchemas[command].safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(payload)'}: ${i.message}`);
      return answer(false, { error: `invalid request: ${issues.join('; ')}` });
    }
    const request = parsed.data as z.output<(typeof commandRequestSchemas)[typeof command]>;
    const requestedBy = (request as { requestedBy?: string }).requestedBy;
    this.log.info({ command, requestedBy }, 'command received');
    try {
      const handler = this.handlers[command] as (r: typeof request) => Promise<unknown>;
      const result = await handler(request);
      return answer(true, result === undefined ? {} : { result }, requestedBy);
    } catch (err) {
      return answer(false, { error: errorMessage(err) }, requestedBy);
    }
  }
}
