/** Error helpers shared by subsystems: a message that always carries its cause, redacted. */
import { redact } from './redact.ts';

/** The message of anything thrown, redacted (an error from a URL parser may quote the URL it was given). */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return redact(err.message);
  return redact(String(err));
}

export class FatalStartError extends Error {
  override readonly name = 'FatalStartError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
