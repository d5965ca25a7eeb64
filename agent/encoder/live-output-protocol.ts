/** Messages between the agent and a live output host child process (Node IPC channel, JSON). */

export type LiveHostCommand =
  | {
      type: 'start';
      launch: string;
      /** Secrets (passphrase, stream key) travel only here, never in the launch string or on a command line. */
      properties: Record<string, Record<string, string | number | boolean>>;
      /** The element whose `stats` structure counts the bytes sent, and that field. */
      sink: { element: string; bytesField: string };
      /** The udpsrc reading the tap; its timeout messages mean the recording sends nothing. */
      input: string;
      inputTimeoutMs: number;
      progressIntervalMs: number;
    }
  /** EOS (RTMP: unpublish cleanly), then exit; stops hard after timeoutMs. */
  | { type: 'stop'; timeoutMs: number };

export type LiveHostEvent =
  | { type: 'started' }
  /** Every progressIntervalMs: bytes sent so far by the sink, and whether the tap sent nothing lately. */
  | { type: 'progress'; bytesSent: number; inputIdle: boolean }
  | { type: 'warning'; message?: string | undefined; debug?: string | undefined; element?: string | undefined }
  | { type: 'error'; message: string; debug?: string | undefined; element?: string | undefined }
  | { type: 'eos'; requested: boolean };
