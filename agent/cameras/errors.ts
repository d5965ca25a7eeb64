/**
 * The one error type of the camera protocol layer (WS-Discovery, ONVIF SOAP, HTTP Digest).
 *
 * `kind` tells the wiring what to do next:
 * - `malformed`: the reply is not what the protocol says (truncated XML, HTML error page, missing element).
 *   Retry later or try the next XAddr; log the operation, never the raw body (it may carry credentials).
 * - `auth`: the camera refused our credentials (SOAP fault NotAuthorized/FailedAuthentication, …).
 *   Re-sync the clock offset and retry once, then try HTTP Digest, then report "bad credentials".
 * - `fault`: any other SOAP fault (unknown profile token, action not supported, …).
 * - `unsupported`: the camera asks for something this box does not implement (unknown Digest algorithm, …).
 */

export type CameraProtocolErrorKind = 'malformed' | 'fault' | 'auth' | 'unsupported';

/** A SOAP 1.2 (or 1.1) fault, reduced to what a log line and a decision need. */
export interface SoapFault {
  /** Local name of Code/Value, e.g. `Sender`, `Receiver` (SOAP 1.1: `Client`, `Server`). */
  code: string;
  /** Local name of the innermost Code/Subcode/Value, e.g. `NotAuthorized`, `NoProfile`; '' when absent. */
  subcode: string;
  /** Every subcode from outermost to innermost, local names (`['InvalidArgVal', 'NoProfile']`). */
  subcodes: string[];
  /** Reason/Text (first one), trimmed; '' when absent. */
  reason: string;
}

export class CameraProtocolError extends Error {
  override readonly name = 'CameraProtocolError';
  readonly kind: CameraProtocolErrorKind;
  /** The protocol operation that failed, e.g. `GetProfiles`, `ProbeMatches`, `DigestChallenge`. */
  readonly operation: string;
  /** The SOAP fault, for kinds `fault` and `auth`. */
  readonly fault: SoapFault | undefined;

  constructor(
    kind: CameraProtocolErrorKind,
    operation: string,
    reason: string,
    options?: { cause?: unknown; fault?: SoapFault },
  ) {
    super(`${operation}: ${reason}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.operation = operation;
    this.fault = options?.fault;
  }
}
