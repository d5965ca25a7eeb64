// The fleet controller's ears inside a namespace: a mosquitto_sub in a topology host (the test process cannot
// reach the namespaces' addresses) with its own client certificate (CN controller, what the ACL of
// docs/mosquitto-acl.example grants the whole fleet to). Every message becomes one line "topic<TAB>retain<TAB>payload",
// timestamped when it reaches the test, its payload JSON-parsed when it is JSON.
//
// Ready once a probe published after the subscriber started came back: the subscription is in place, so
// nothing the box says from then on can be missed.
import type { ExecutionContext } from 'ava';
import { startProcess, type ManagedProcess } from './processes.ts';
import type { Mosquitto } from './mosquitto.ts';
import type { Topology } from './netns.ts';
import type { Pki } from './pki.ts';
import { createWaitList, type WaitList } from './wait-list.ts';

export interface ControllerLine {
  topic: string;
  /** The retain flag of the delivery (a retained message replayed on subscribe, or not). */
  retain: boolean;
  /** The payload as it came. */
  payload: string;
  /** The payload parsed; empty when it is not a JSON object. */
  json: Record<string, unknown>;
  /** Date.now() when the line reached the test. */
  at: number;
}

export interface ControllerWatch extends WaitList<ControllerLine> {
  process: ManagedProcess;
  /** The subscriber's own last output lines (connection errors). */
  output(): string;
  /** The last `count` lines seen, for a timeout's message (payloads cut to `width` characters). */
  describe(count?: number, width?: number): string;
}

export interface WatchControllerOptions {
  /** The topology host the subscriber runs in (the broker's). */
  host: string;
  /** The broker's address as seen from that host (its certificate's SAN). */
  address: string;
  /** Topic filters, e.g. `venuebox/v1/+/status` or `venuebox/v1/<box>/#`. */
  topics: string[];
  /** Published until it comes back; subscribed to as well when no filter covers it. Default venuebox/v1/probe/status. */
  probeTopic?: string;
  /** The certificate's CN; default controller. */
  commonName?: string;
  timeoutMs?: number;
  /** Called after every line (a test's change waker). */
  onLine?: () => void;
}

/** MQTT topic filter match (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * How the controller logs in: a client certificate from the test PKI (TLS), a user name and password (plain), or
 * nothing (a broker that allows anonymous clients, e.g. the box's own in the uplink and schedule tests).
 */
export type ControllerAccess = Pki | { username: string; password: string } | 'anonymous';

export async function watchController(t: ExecutionContext, topo: Topology, broker: Pick<Mosquitto, 'port'>, access: ControllerAccess, options: WatchControllerOptions): Promise<ControllerWatch> {
  const probeTopic = options.probeTopic ?? 'venuebox/v1/probe/status';
  let login: string[];
  if (access === 'anonymous') {
    login = [];
  } else if ('username' in access) {
    login = ['-u', access.username, '-P', access.password];
  } else {
    const controller = await access.client(options.commonName ?? 'controller');
    login = ['--cafile', access.caFile, '--cert', controller.certFile, '--key', controller.keyFile];
  }
  const filters = [...options.topics, ...(options.topics.some((f) => topicMatches(f, probeTopic)) ? [] : [probeTopic])];
  const list = createWaitList<ControllerLine>();
  const sub = await startProcess(
    'ip',
    ['netns', 'exec', topo.ns(options.host), 'mosquitto_sub', '-V', 'mqttv5', '-h', options.address, '-p', String(broker.port), ...login, '-q', '1', ...filters.flatMap((f) => ['-t', f]), '-F', '%t\t%r\t%p'],
    { label: 'mosquitto_sub (controller)', readyCheck: async () => true, timeoutMs: 5000, keepLines: 20 },
  );
  t.teardown(() => sub.stop());
  // The subscriber's stdout is consumed here, line by line; startProcess keeps only a ring of it.
  let partial = '';
  sub.child.stdout?.on('data', (chunk: Buffer | string) => {
    const at = Date.now();
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const first = line.indexOf('\t');
      const second = first < 0 ? -1 : line.indexOf('\t', first + 1);
      if (second < 0) continue;
      const payload = line.slice(second + 1);
      let json: Record<string, unknown> = {};
      try {
        const parsed = JSON.parse(payload) as unknown;
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
      } catch {
        /* not JSON: kept as text */
      }
      list.push({ topic: line.slice(0, first), retain: line.slice(first + 1, second) === '1', payload, json, at });
      options.onLine?.();
    }
  });
  void sub.exited.then(({ code, signal }) => list.fail((what) => `the controller's mosquitto_sub exited (code ${code}, signal ${signal}) while waiting for ${what}; its output:\n${sub.output()}`));

  // The subscription is in place once a probe published after it arrives (QoS 1, until one does).
  const probe = list.waitFor((l) => l.topic === probeTopic, options.timeoutMs ?? 10_000, 'the controller to see its probe', () => sub.output());
  let seen = false;
  void probe.then(
    () => (seen = true),
    () => undefined,
  );
  for (let i = 0; i < 40 && !seen; i++) {
    await topo.exec(options.host, 'mosquitto_pub', ['-V', 'mqttv5', '-h', options.address, '-p', String(broker.port), ...login, '-q', '1', '-t', probeTopic, '-m', '{"state":"probe"}']);
    await Promise.race([probe.catch(() => undefined), new Promise((r) => setTimeout(r, 250))]);
  }
  await probe;

  const describe = (count = 30, width = 160): string =>
    list.items
      .slice(-count)
      .map((l) => `  ${new Date(l.at).toISOString().slice(11, 23)} ${l.topic}${l.retain ? ' (retained)' : ''} ${l.payload.length > width ? `${l.payload.slice(0, width)}…` : l.payload}`)
      .join('\n') || '  nothing';
  return Object.assign(list, { process: sub, output: () => sub.output(), describe });
}
