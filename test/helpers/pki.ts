// A throwaway PKI for TLS tests, made with the `openssl` command line in a temp folder (removed by remove(),
// and at process exit by tmp.ts): a CA, a broker certificate for the given names and addresses, and client
// certificates whose CN is a box id — what a fleet's provisioning hands each box. EC P-256 keys: generated in
// milliseconds, accepted by mosquitto 2.0 and Node alike.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir } from './tmp.ts';

const run = promisify(execFile);

export interface CertFiles {
  certFile: string;
  keyFile: string;
}

export interface Pki {
  dir: string;
  /** The CA certificate (PEM): the `cafile` of the broker and the `caFile` of the boxes. */
  caFile: string;
  /** A broker certificate with SANs for `names` (host names and IP addresses; default localhost, 127.0.0.1). */
  server(names?: string[]): Promise<CertFiles>;
  /** A client certificate with CN = `commonName` (a box id, or `controller`); the key encrypted when `passphrase` is given. */
  client(commonName: string, options?: { passphrase?: string }): Promise<CertFiles>;
  remove(): Promise<void>;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`openssl ${args[0]} failed: ${stderr || String(err)}`, { cause: err });
  }
}

/** `label` names the CA (two CAs of one test must be told apart in errors: "venuebox test CA other"). */
export async function createPki(label = 'main'): Promise<Pki> {
  const dir = await makeTempDir(`pki-${label}`);
  const file = (name: string) => path.join(dir.path, name);
  const caFile = file('ca.crt');
  const caKey = file('ca.key');
  let serial = 0;

  /** A key and a CSR, signed by the CA with `extensions` (openssl x509 -req copies none from the CSR). */
  const issue = async (name: string, subject: string, extensions: string[]): Promise<CertFiles> => {
    const keyFile = file(`${name}.key`);
    const certFile = file(`${name}.crt`);
    const csr = file(`${name}.csr`);
    const ext = file(`${name}.ext`);
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', subject]);
    await writeFile(ext, `${extensions.join('\n')}\n`);
    serial += 1;
    await openssl(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-set_serial', String(serial), '-days', '2', '-sha256', '-extfile', ext, '-out', certFile]);
    return { certFile, keyFile };
  };

  try {
    await openssl([
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', caFile,
      '-days', '2', '-subj', `/O=venuebox test/CN=venuebox test CA ${label}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  } catch (err) {
    await dir.remove();
    throw err;
  }

  return {
    dir: dir.path,
    caFile,
    server: (names = ['localhost', '127.0.0.1']) =>
      issue(`server-${serial + 1}`, `/O=venuebox test/CN=${names[0] ?? 'localhost'}`, [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=serverAuth',
        `subjectAltName=${names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',')}`,
      ]),
    client: async (commonName, options = {}) => {
      if (!/^[A-Za-z0-9._-]+$/.test(commonName)) throw new Error(`pki: bad common name ${commonName}`);
      const files = await issue(`client-${commonName}`, `/O=venuebox test/CN=${commonName}`, [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=clientAuth',
      ]);
      if (options.passphrase === undefined) return files;
      // PKCS#8 with AES-256: what `openssl genpkey -aes256` gives an installer.
      const encrypted = file(`client-${commonName}.enc.key`);
      await openssl(['pkey', '-in', files.keyFile, '-aes256', '-passout', `pass:${options.passphrase}`, '-out', encrypted]);
      return { certFile: files.certFile, keyFile: encrypted };
    },
    remove: () => dir.remove(),
  };
}
