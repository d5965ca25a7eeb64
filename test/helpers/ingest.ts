// A real HTTP PUT ingest: nginx with WebDAV on a free loopback port; files land in `root`.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './ports.ts';
import { retryOnBindFailure, startProcess } from './processes.ts';
import { makeTempDir } from './tmp.ts';

export interface Ingest {
  baseUrl: string;
  /** The folder where PUT files land (and GET serves from). */
  root: string;
  /** Kill nginx and remove its folder; idempotent. */
  stop(): Promise<void>;
}

const NGINX = '/usr/sbin/nginx';

function nginxConf(dir: string, root: string, port: number): string {
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
  default_type application/octet-stream;
  client_body_temp_path ${tmp('body')};
  proxy_temp_path ${tmp('proxy')};
  fastcgi_temp_path ${tmp('fastcgi')};
  uwsgi_temp_path ${tmp('uwsgi')};
  scgi_temp_path ${tmp('scgi')};
  server {
    listen 127.0.0.1:${port};
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

export async function startIngest(opts: { timeoutMs?: number } = {}): Promise<Ingest> {
  const dir = await makeTempDir('ingest');
  const root = path.join(dir.path, 'root');
  try {
    await mkdir(root);
    await mkdir(path.join(dir.path, 'tmp'));
    const confPath = path.join(dir.path, 'nginx.conf');
    let port = 0;
    const proc = await retryOnBindFailure(freePort, async (p) => {
      port = p;
      await writeFile(confPath, nginxConf(dir.path, root, p));
      // -e stderr: without it nginx first opens its compiled-in /var/log/nginx/error.log,
      // which a normal user cannot.
      return await startProcess(NGINX, ['-e', 'stderr', '-c', confPath, '-p', dir.path, '-g', 'daemon off;'], {
        label: `nginx :${p}`,
        readyCheck: async () => {
          try {
            const res = await fetch(`http://127.0.0.1:${p}/`, { signal: AbortSignal.timeout(500) });
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
      baseUrl: `http://127.0.0.1:${port}`,
      root,
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
