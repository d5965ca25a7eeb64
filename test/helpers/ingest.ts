// A real HTTP PUT ingest: nginx with WebDAV on a free loopback port (or on an address inside a network
// namespace, for system tests); files land in `root`.
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.ts';
import { retryOnBindFailure, startProcess } from './processes.ts';
import { makeTempDir } from './tmp.ts';

export interface IngestOptions {
  timeoutMs?: number;
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** Run inside this network namespace (`ip netns exec`, root only), e.g. a system test's cloud host. */
  netns?: string;
}

/** One request as the ingest saw it (its request log, one line per request). */
export interface IngestRequest {
  /** Seconds since the epoch, ms resolution (nginx $msec). */
  at: number;
  method: string;
  /** The path, e.g. /box-1/match-1/cam1/00000003.ts */
  uri: string;
  status: number;
  /** The request's Content-Length (0 when absent). */
  bodyBytes: number;
  /** The x-checksum-sha256 header, or '' when absent. */
  checksum: string;
}

export interface Ingest {
  baseUrl: string;
  /** The folder where PUT files land (and GET serves from). */
  root: string;
  /** Every request so far (written by nginx after each answer). */
  requests(): Promise<IngestRequest[]>;
  /** Kill nginx and remove its folder; idempotent. */
  stop(): Promise<void>;
}

const NGINX = '/usr/sbin/nginx';

function nginxConf(dir: string, root: string, host: string, port: number): string {
  const tmp = (name: string) => path.join(dir, 'tmp', name);
  // One process, no master/worker split: the kernel kills it with the test worker
  // (PR_SET_PDEATHSIG, see processes.ts), which it cannot do for a worker that outlives a SIGKILLed
  // master (seen here). It also makes `user root;` unnecessary: a single process keeps the
  // invoking user, root or not, so it can write into this 0700 folder (a worker would run as nobody).
  return `
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
error_log stderr warn;
events { worker_connections 128; }
http {
  access_log ${dir}/access.log;
  # Tab-separated, one line per request: what requests() parses.
  log_format ingest '$msec\t$request_method\t$uri\t$status\t$content_length\t$http_x_checksum_sha256';
  access_log ${dir}/requests.log ingest;
  default_type application/octet-stream;
  client_body_temp_path ${tmp('body')};
  proxy_temp_path ${tmp('proxy')};
  fastcgi_temp_path ${tmp('fastcgi')};
  uwsgi_temp_path ${tmp('uwsgi')};
  scgi_temp_path ${tmp('scgi')};
  server {
    listen ${host}:${port};
    location / {
      root ${root};
      dav_methods PUT DELETE MKCOL;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
      client_max_body_size 0;
      client_body_temp_path ${tmp('put')};
      autoindex on;
    }
  }
}
`;
}

const run = promisify(execFile);

/** One TCP connect from inside a namespace (bash's /dev/tcp: no extra package): true when nginx accepts. */
async function acceptsInNamespace(netns: string, host: string, port: number): Promise<boolean> {
  try {
    await run('ip', ['netns', 'exec', netns, 'timeout', '1', 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`]);
    return true;
  } catch {
    return false;
  }
}

export async function startIngest(opts: IngestOptions = {}): Promise<Ingest> {
  const host = opts.host ?? '127.0.0.1';
  const dir = await makeTempDir('ingest');
  const root = path.join(dir.path, 'root');
  try {
    await mkdir(root);
    await mkdir(path.join(dir.path, 'tmp'));
    const confPath = path.join(dir.path, 'nginx.conf');
    let port = 0;
    // In a namespace nginx is started through `ip netns exec`, which execs it: the same pid, so stop() and
    // PR_SET_PDEATHSIG still reach it.
    const [cmd, prefix]: [string, string[]] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, NGINX]] : [NGINX, []];
    // Inside a fresh namespace every port is free; the loopback probe only yields a number.
    const proc = await retryOnBindFailure(() => freePort(opts.netns ? '127.0.0.1' : host), async (p) => {
      port = p;
      const url = `http://${host}:${p}/`;
      await writeFile(confPath, nginxConf(dir.path, root, host, p));
      // -e stderr: without it nginx first opens its compiled-in /var/log/nginx/error.log,
      // which a normal user cannot.
      return await startProcess(cmd, [...prefix, '-e', 'stderr', '-c', confPath, '-p', dir.path, '-g', 'daemon off;'], {
        label: `nginx ${host}:${p}`,
        readyCheck: async () => {
          // From here the test process cannot reach into another namespace: ask from inside it.
          if (opts.netns) return await acceptsInNamespace(opts.netns, host, p);
          try {
            const res = await fetch(url, { signal: AbortSignal.timeout(500) });
            await res.arrayBuffer();
            return res.ok;
          } catch {
            return false;
          }
        },
        timeoutMs: opts.timeoutMs ?? 10_000,
      });
    });
    let stopped: Promise<void> | undefined;
    return {
      baseUrl: `http://${host}:${port}`,
      root,
      requests: async () => {
        const text = await readFile(path.join(dir.path, 'requests.log'), 'utf8').catch(() => '');
        return text
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const [at, method, uri, status, length, checksum] = line.split('\t');
            return { at: Number(at), method: method ?? '', uri: uri ?? '', status: Number(status), bodyBytes: Number(length) || 0, checksum: checksum === '-' ? '' : (checksum ?? '') };
          });
      },
      stop: () => {
        stopped ??= (async () => {
          await proc.stop();
          await dir.remove();
        })();
        return stopped;
      },
    };
  } catch (err) {
    await dir.remove();
    throw err;
  }
}
