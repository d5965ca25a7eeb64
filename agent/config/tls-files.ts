/**
 * The files of `mqtt.tls` (CA, client certificate, client key): read at start and checked together, so that a
 * missing file, a key that is not the certificate's or a wrong passphrase stops the agent with one line naming
 * the key (`mqtt.tls.certFile: cannot read /etc/venuebox/tls/box.crt: ENOENT`) instead of an endless reconnect
 * loop of TLS errors that nobody reads.
 *
 * No message built here contains file contents or the passphrase: only paths, errno codes and OpenSSL's
 * reason strings (which never quote key material).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { TLS_FILE_KEYS, type MqttTlsConfig } from './schema.ts';

export interface TlsProblem {
  /** The key under `mqtt.tls` that is wrong: `certFile`, `keyPassphrase`, … */
  key: string;
  message: string;
}

/** What mqtt.js (node:tls) gets: the file contents, never the paths. */
export interface TlsConnectOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

/** `tls` with its file paths made absolute against `baseDir` (the config file's folder), like passwordFile. */
export function absoluteTlsPaths(tls: MqttTlsConfig, baseDir: string): MqttTlsConfig {
  const out = { ...tls };
  for (const key of TLS_FILE_KEYS) if (out[key] !== undefined) out[key] = resolve(baseDir, out[key]);
  return out;
}

/** Reads and checks the files; every problem is reported (an installer fixes them in one round). */
export function readTlsFiles(tls: MqttTlsConfig): { options: TlsConnectOptions; problems: TlsProblem[] } {
  const problems: TlsProblem[] = [];
  const files: Partial<Record<(typeof TLS_FILE_KEYS)[number], Buffer>> = {};
  for (const key of TLS_FILE_KEYS) {
    const file = tls[key];
    if (file === undefined) continue;
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (error) {
      problems.push({ key, message: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` });
      continue;
    }
    // DER files are the usual mistake (an export from a Windows CA), then files swapped: say which, rather than
    // OpenSSL's "no start line" at connect time (node:tls ignores a CA file without certificates altogether).
    const want = key === 'keyFile' ? /-----BEGIN [A-Z ]*PRIVATE KEY-----/ : /-----BEGIN CERTIFICATE-----/;
    if (!data.includes('-----BEGIN ')) problems.push({ key, message: `${file} is not a PEM file (no "-----BEGIN" line)` });
    else if (!want.test(data.toString('latin1'))) problems.push({ key, message: `${file} holds no ${key === 'keyFile' ? 'private key' : 'certificate'}` });
    else files[key] = data;
  }
  const options: TlsConnectOptions = { rejectUnauthorized: tls.rejectUnauthorized };
  if (files.caFile) options.ca = files.caFile;
  if (files.certFile) options.cert = files.certFile;
  if (files.keyFile) options.key = files.keyFile;
  if (tls.keyPassphrase !== undefined) options.passphrase = tls.keyPassphrase;
  if (tls.servername !== undefined) options.servername = tls.servername;
  if (problems.length > 0) return { options, problems };

  // The same parsing node:tls does at connect time, now, so that each failure is put on the right key.
  if (options.ca) {
    const problem = secureContextProblem({ ca: options.ca });
    if (problem) problems.push({ key: 'caFile', message: `${tls.caFile} holds no usable CA certificate (${problem})` });
  }
  if (options.cert && options.key) {
    const problem = secureContextProblem({ cert: options.cert, key: options.key, passphrase: options.passphrase });
    if (problem) problems.push(keyProblem(problem, tls));
  }
  return { options, problems };
}

/** readTlsFiles for the MQTT link: the first problem is thrown, named as the config names it. */
export function tlsConnectOptions(tls: MqttTlsConfig): TlsConnectOptions {
  const { options, problems } = readTlsFiles(tls);
  if (problems.length > 0) throw new Error(problems.map((p) => `mqtt.tls.${p.key}: ${p.message}`).join('; '));
  return options;
}

function secureContextProblem(options: Parameters<typeof createSecureContext>[0]): string | undefined {
  try {
    createSecureContext(options);
    return undefined;
  } catch (error) {
    // "error:1C800064:Provider routines::bad decrypt" → "bad decrypt"
    return String((error as Error).message).replace(/^error:[0-9A-Fa-f]+:[^:]*:[^:]*:/, '');
  }
}

function keyProblem(reason: string, tls: MqttTlsConfig): TlsProblem {
  const encrypted = /bad decrypt|bad password|interrupted or cancelled|no password|PEM_read_bio|DECODER routines/i.test(reason);
  if (/key values mismatch/i.test(reason)) return { key: 'keyFile', message: `${tls.keyFile} is not the key of ${tls.certFile}` };
  if (encrypted && tls.keyPassphrase === undefined) {
    return { key: 'keyFile', message: `${tls.keyFile} cannot be loaded (${reason}); if it is encrypted, give keyPassphraseFile` };
  }
  if (encrypted) return { key: 'keyPassphrase', message: `does not decrypt ${tls.keyFile} (${reason})` };
  return { key: /certificate|x509|X509/.test(reason) ? 'certFile' : 'keyFile', message: `${tls.certFile} and ${tls.keyFile} cannot be loaded (${reason})` };
}
