// Network namespaces for system tests (root only): hosts joined by veth pairs to Linux bridges.
//
// Layout: every host is a namespace; all bridges live in one extra "switch" namespace of the
// topology, never in the root namespace. Why: nothing of a test touches the machine's own
// interfaces, routes or firewall; veth pairs are created with both ends directly in their
// namespaces (`ip link add … netns A type veth peer … netns B`), so no name ever exists in the root
// namespace where parallel tests could collide on the 15-character limit; and deleting the
// namespaces deletes every veth and bridge with them, even after a crash.
//
// Names: `vbx-<creator pid>-<random>-<host>`. The pid lets sweepStaleNamespaces() tell a crashed
// run's leftovers from the namespaces of a test running in parallel.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface BridgeSpec {
  /** [a-z0-9], ≤ 12 characters: it names the bridge `br-NAME` and each host's interface on it. */
  name: string;
  /** For the reader; the addresses of the links define the addressing. */
  subnet?: string;
}
export interface LinkSpec {
  bridge: string;
  /** CIDR, e.g. 10.77.1.10/24. */
  address: string;
}
export interface HostSpec {
  /** [a-z0-9], e.g. cam1, box, cloud. */
  name: string;
  links: LinkSpec[];
}
export interface TopologySpec {
  bridges: BridgeSpec[];
  hosts: HostSpec[];
}
export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}
export interface Topology {
  /** The namespace name of a host, for `ip netns exec` or a helper's netns option. */
  ns(host: string): string;
  /** Run a command inside a host's namespace; a non-zero exit is a result, not an error. */
  exec(host: string, cmd: string, args: readonly string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Pull the host's cable on that bridge (the switch side goes down; the host sees no carrier). */
  linkDown(host: string, bridge: string): Promise<void>;
  linkUp(host: string, bridge: string): Promise<void>;
  /** Delete every namespace (and with them every veth and bridge); idempotent. */
  destroy(): Promise<void>;
}

const PREFIX = 'vbx-';

// Namespaces not yet destroyed, deleted synchronously if the process exits after a crash; a
// SIGKILLed process leaves them to sweepStaleNamespaces().
const liveNamespaces = new Set<string>();
process.on('exit', () => {
  for (const name of liveNamespaces) {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {
      /* nothing more can be done while exiting */
    }
  }
});
const NAME = /^[a-z0-9]{1,12}$/;

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

async function ip(args: readonly string[]): Promise<string> {
  try {
    return (await run('ip', args)).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(' ')} failed: ${stderr || String(err)}`, { cause: err });
  }
}

/** Kill what still runs inside a namespace, then delete it: a live process would keep it alive. */
async function deleteNamespace(name: string): Promise<void> {
  const pids = (await ip(['netns', 'pids', name]).catch(() => '')).split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* exited meanwhile */
    }
  }
  await ip(['netns', 'del', name]);
}

export async function createTopology(spec: TopologySpec): Promise<Topology> {
  for (const name of [...spec.bridges.map((b) => b.name), ...spec.hosts.map((h) => h.name)]) {
    if (!NAME.test(name) || name === 'switch') throw new Error(`createTopology: bad name "${name}" (want [a-z0-9]{1,12})`);
  }
  const id = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const switchNs = `${PREFIX}${id}-switch`;
  const hostNs = new Map(spec.hosts.map((h) => [h.name, `${PREFIX}${id}-${h.name}`]));
  // (host, bridge) → the switch port of that host's link
  const ports = new Map<string, string>();
  const created: string[] = [];

  let destroyed: Promise<void> | undefined;
  const destroy = (): Promise<void> => {
    destroyed ??= (async () => {
      const failures: string[] = [];
      for (const name of created.reverse()) {
        await deleteNamespace(name).then(
          () => liveNamespaces.delete(name),
          (err: Error) => failures.push(err.message),
        );
      }
      if (failures.length) throw new Error(`destroy: ${failures.join('; ')}`);
    })();
    return destroyed;
  };

  const addNamespace = async (name: string) => {
    await ip(['netns', 'add', name]);
    created.push(name);
    liveNamespaces.add(name);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  };

  try {
    await addNamespace(switchNs);
    for (const bridge of spec.bridges) {
      // Snooping off: the bridge floods multicast like a plain switch, so WS-Discovery works
      // without an IGMP querier on the test LAN.
      await ip(['-n', switchNs, 'link', 'add', `br-${bridge.name}`, 'type', 'bridge', 'mcast_snooping', '0']);
      await ip(['-n', switchNs, 'link', 'set', `br-${bridge.name}`, 'up']);
    }
    for (const [h, host] of spec.hosts.entries()) {
      const ns = hostNs.get(host.name) ?? '';
      await addNamespace(ns);
      for (const [l, link] of host.links.entries()) {
        if (!spec.bridges.some((b) => b.name === link.bridge)) throw new Error(`createTopology: ${host.name} links to unknown bridge ${link.bridge}`);
        const port = `vbx${h}p${l}`;
        ports.set(`${host.name}/${link.bridge}`, port);
        // The host's interface is named after its bridge: `lan`, `wan`.
        await ip(['link', 'add', 'name', link.bridge, 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', switchNs]);
        await ip(['-n', switchNs, 'link', 'set', port, 'master', `br-${link.bridge}`, 'up']);
        await ip(['-n', ns, 'addr', 'add', link.address, 'dev', link.bridge]);
        await ip(['-n', ns, 'link', 'set', link.bridge, 'up']);
      }
    }
  } catch (err) {
    await destroy().catch(() => {}); // the creation error is the one to report
    throw err;
  }

  const nsOf = (host: string): string => {
    const ns = hostNs.get(host);
    if (!ns) throw new Error(`topology: unknown host ${host}`);
    return ns;
  };
  const portOf = (host: string, bridge: string): string => {
    const port = ports.get(`${host}/${bridge}`);
    if (!port) throw new Error(`topology: ${host} has no link to ${bridge}`);
    return port;
  };

  return {
    ns: nsOf,
    exec: async (host, cmd, args, opts = {}) => {
      try {
        const { stdout, stderr } = await run('ip', ['netns', 'exec', nsOf(host), cmd, ...args], {
          timeout: opts.timeoutMs ?? 30_000,
          killSignal: 'SIGKILL',
          maxBuffer: 16 * 1024 * 1024,
        });
        return { code: 0, signal: null, stdout, stderr };
      } catch (err) {
        const e = err as { code?: unknown; signal?: string | null; stdout?: string; stderr?: string };
        if (typeof e.code !== 'number' && !e.signal) throw err; // spawn failure, not an exit
        return { code: typeof e.code === 'number' ? e.code : null, signal: e.signal ?? null, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
      }
    },
    linkDown: async (host, bridge) => {
      await ip(['-n', switchNs, 'link', 'set', portOf(host, bridge), 'down']);
    },
    linkUp: async (host, bridge) => {
      await ip(['-n', switchNs, 'link', 'set', portOf(host, bridge), 'up']);
    },
    destroy,
  };
}

/** Seconds since a process started, or undefined when it does not exist. */
async function ageOfProcess(pid: number): Promise<number | undefined> {
  try {
    const { stdout } = await run('ps', ['-o', 'etimes=', '-p', String(pid)]);
    const seconds = Number(stdout.trim());
    return Number.isFinite(seconds) ? seconds : undefined;
  } catch {
    return undefined; // ps exits 1 when there is no such process
  }
}

/**
 * Remove `vbx-*` namespaces left by a crashed run: those whose creator process is gone, or is a
 * newer process that reused its pid (the namespace is older than it). Namespaces of tests running
 * in parallel, in live processes, are left alone. Returns the names removed.
 */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const listed = await ip(['netns', 'list']).catch(() => '');
  const removed: string[] = [];
  for (const name of listed.split('\n').map((line) => line.split(' ')[0] ?? '')) {
    const pid = Number(/^vbx-(\d+)-/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    const age = await ageOfProcess(pid);
    const createdMs = (await stat(`/run/netns/${name}`).catch(() => undefined))?.mtimeMs;
    const creatorStartedMs = age === undefined ? undefined : Date.now() - age * 1000;
    // 2 s of slack: etimes has one-second resolution.
    const stale = creatorStartedMs === undefined || (createdMs !== undefined && createdMs < creatorStartedMs - 2000);
    if (!stale) continue;
    await deleteNamespace(name);
    removed.push(name);
  }
  return removed;
}

/** The world most system tests need: a box and a cloud on one bridge (`<prefix>.2` and `<prefix>.10`). */
export interface BoxAndCloud {
  topo: Topology;
  /** The box's address on the bridge. */
  box: string;
  /** The cloud's address (its broker, its ingest). */
  cloud: string;
}

/**
 * Sweeps what crashed runs left, makes the box ↔ cloud topology on `${prefix}.0/24` and destroys it when the test
 * ends. Register processes' teardowns after this: they run first, before their namespaces go (destroy() also kills
 * whatever is still inside).
 */
export async function createBoxAndCloud(t: { teardown(fn: () => unknown): void }, prefix: string, bridge = 'wan'): Promise<BoxAndCloud> {
  await sweepStaleNamespaces();
  const [box, cloud] = [`${prefix}.2`, `${prefix}.10`];
  const topo = await createTopology({
    bridges: [{ name: bridge, subnet: `${prefix}.0/24` }],
    hosts: [
      { name: 'box', links: [{ bridge, address: `${box}/24` }] },
      { name: 'cloud', links: [{ bridge, address: `${cloud}/24` }] },
    ],
  });
  t.teardown(() => topo.destroy());
  return { topo, box, cloud };
}

/** By path: under `npx ava`, node_modules/.bin comes first on PATH, and its `nft` is @vercel/nft's CLI (exit 0, no rule). */
const NFT = '/usr/sbin/nft';

export interface SilentFlow {
  /** Date.now() from just before the rule existed: an upper bound on when the silence began. */
  from: number;
  /** Removes the rule (idempotent). */
  lift(): Promise<void>;
}

/**
 * Makes one TCP flow silent on `host`'s side: packets to `peer:port` and back are dropped (nft), so nothing is
 * closed or refused and both sockets stay open — the failure a keepalive exists for (a dead route, a NAT that
 * forgot the flow). The table goes with the namespace too.
 */
export async function silenceFlow(topo: Topology, host: string, peer: string, port: number): Promise<SilentFlow> {
  const table = 'vbx_silence';
  const rules = [
    `table inet ${table} {`,
    `  chain out { type filter hook output priority 0; policy accept; ip daddr ${peer} tcp dport ${port} drop; }`,
    `  chain in { type filter hook input priority 0; policy accept; ip saddr ${peer} tcp sport ${port} drop; }`,
    '}',
    '',
  ].join('\n');
  const from = Date.now();
  const added = await topo.exec(host, 'sh', ['-c', `printf '%s' "$1" | ${NFT} -f -`, 'sh', rules]);
  if (added.code !== 0) throw new Error(`nft in ${host}: ${added.stderr}`);
  const listed = await topo.exec(host, NFT, ['list', 'table', 'inet', table]);
  if (!/drop/.test(listed.stdout)) throw new Error(`nft in ${host}: the rule is not in place: ${listed.stdout}${listed.stderr}`);
  let lifted: Promise<void> | undefined;
  return {
    from,
    lift: () =>
      (lifted ??= topo.exec(host, NFT, ['delete', 'table', 'inet', table]).then((r) => {
        if (r.code !== 0) throw new Error(`nft in ${host}: cannot delete the rule: ${r.stderr}`);
      })),
  };
}
