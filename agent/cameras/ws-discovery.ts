/**
 * WS-Discovery on the venue LAN (the wiring; messages are built and parsed in ws-discovery-messages.ts).
 *
 * Why not the `onvif` package's Discovery: with no multicast route it finds nothing and reports nothing,
 * with a default route elsewhere its probe leaves through the uplink, and a malformed reply throws
 * (STACK-NOTES, measured). Here every LAN interface gets its own socket bound to its address, so the probe
 * leaves where the cameras are and every failure is reported per interface.
 *
 * Timing follows SOAP-over-UDP (WS-Discovery 1.1 appendix I): a multicast message is repeated
 * MULTICAST_UDP_REPEAT = 2 more times, after a random delay in [UDP_MIN_DELAY 50, UDP_MAX_DELAY 250] ms
 * doubling each time; cameras answer after a random delay of up to APP_MAX_DELAY = 500 ms.
 *
 * INVARIANTS
 * - A socket error, a send error or a malformed datagram becomes a `problem`, never an exception.
 * - Every socket opened is closed by `close()` (and a probe's sockets at the end of its window).
 */
import dgram from 'node:dgram';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { lanInterfaces, type LanInterface } from './lan-interfaces.ts';
import { buildProbe, parseDiscoveryMessage, type DiscoveryMatch } from './ws-discovery-messages.ts';
import { errorMessage } from '../lib/errors.ts';

export const WS_DISCOVERY_GROUP = '239.255.255.250';
export const WS_DISCOVERY_PORT = 3702;
const PROBE_TYPES = [['dn:NetworkVideoTransmitter'], ['tds:Device']];

export interface DiscoveredDevice extends DiscoveryMatch {
  /** The address the reply came from. */
  address: string;
  /** The interface it was found on, or `unicast` for a sweep. */
  via: string;
}

export interface DiscoveryProblem {
  where: string;
  message: string;
}

export interface ProbeOptions {
  /** Interface names; empty = every IPv4 LAN interface. */
  interfaces?: readonly string[];
  windowMs?: number;
  repeats?: number;
  /** Send multicast probes on the interfaces (default true); false = unicast targets only. */
  multicast?: boolean;
  /** Extra unicast targets (host or host:port) for a probe where multicast does not reach. */
  unicastTargets?: readonly string[];
  random?: () => number;
}

export interface WsDiscoveryEvents {
  hello: [DiscoveredDevice];
  bye: [{ urn: string; address: string }];
  problem: [DiscoveryProblem];
}

/**
 * Probes once: sends the probes on every interface (and to unicast targets), collects ProbeMatches for
 * `windowMs`, and returns every device (deduplicated by URN) with the problems met.
 */
export async function probeCameras(options: ProbeOptions = {}): Promise<{ devices: DiscoveredDevice[]; problems: DiscoveryProblem[]; interfaces: LanInterface[] }> {
  const windowMs = options.windowMs ?? 3000;
  const repeats = options.repeats ?? 3;
  const random = options.random ?? Math.random;
  const interfaces = options.multicast === false ? [] : lanInterfaces(options.interfaces ?? []);
  const problems: DiscoveryProblem[] = [];
  const devices = new Map<string, DiscoveredDevice>();
  const messageIds = new Set<string>();
  if (interfaces.length === 0 && (options.unicastTargets ?? []).length === 0) {
    const wanted = options.interfaces?.length ? ` named ${options.interfaces.join(', ')}` : '';
    problems.push({ where: 'interfaces', message: `no IPv4 LAN interface${wanted} to probe on` });
    return { devices: [], problems, interfaces };
  }

  const onMessage = (via: string) => (buf: Buffer, rinfo: dgram.RemoteInfo) => {
    try {
      const message = parseDiscoveryMessage(buf.toString('utf8'), { address: rinfo.address, port: rinfo.port });
      if (message.kind !== 'probe-match') return;
      if (message.relatesTo && !messageIds.has(message.relatesTo)) return; // an answer to someone else's probe
      for (const match of message.matches) {
        if (!devices.has(match.urn)) devices.set(match.urn, { ...match, address: rinfo.address, via });
      }
    } catch (err) {
      problems.push({ where: `${via} from ${rinfo.address}`, message: `malformed reply: ${errorMessage(err)}` });
    }
  };

  // The window counts from the first probe, not from the last repeat (a 3 s window is a 3 s scan).
  const windowStarted = performance.now();
  const sockets: dgram.Socket[] = [];
  const sends: Promise<void>[] = [];
  const open = async (via: string, bindAddress: string | undefined, targets: Array<{ host: string; port: number }>, multicastInterface?: string) => {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    sockets.push(socket);
    socket.on('message', onMessage(via));
    socket.on('error', (err) => problems.push({ where: via, message: `socket error: ${errorMessage(err)}` }));
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ port: 0, ...(bindAddress ? { address: bindAddress } : {}) }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      if (multicastInterface) {
        socket.setMulticastInterface(multicastInterface);
        socket.setMulticastTTL(1);
      }
    } catch (err) {
      problems.push({ where: via, message: `cannot open a discovery socket: ${errorMessage(err)}` });
      return;
    }
    for (const types of PROBE_TYPES) {
      const messageId = `urn:uuid:${randomUUID()}`;
      messageIds.add(messageId);
      const probe = Buffer.from(buildProbe({ messageId, types }));
      sends.push(sendRepeated(socket, probe, targets, repeats, random, (message) => problems.push({ where: via, message })));
    }
  };

  await Promise.all([
    ...interfaces.map((iface) => open(iface.name, iface.address, [{ host: WS_DISCOVERY_GROUP, port: WS_DISCOVERY_PORT }], iface.address)),
    ...(options.unicastTargets?.length
      ? [open('unicast', undefined, options.unicastTargets.map((t) => parseTarget(t)))]
      : []),
  ]);
  await Promise.all(sends);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, windowMs - (performance.now() - windowStarted))));
  for (const socket of sockets) socket.close();
  return { devices: [...devices.values()], problems, interfaces };
}

function parseTarget(target: string): { host: string; port: number } {
  const [host, port] = target.split(':');
  return { host: host ?? target, port: port ? Number(port) : WS_DISCOVERY_PORT };
}

/** Sends `payload` to every target `repeats` times with SOAP-over-UDP's doubling random delays. */
async function sendRepeated(
  socket: dgram.Socket,
  payload: Buffer,
  targets: Array<{ host: string; port: number }>,
  repeats: number,
  random: () => number,
  report: (message: string) => void,
): Promise<void> {
  let delay = 50 + random() * 200;
  for (let i = 0; i < repeats; i++) {
    for (const target of targets) {
      await new Promise<void>((resolve) =>
        socket.send(payload, target.port, target.host, (err) => {
          // ENETUNREACH, EHOSTUNREACH, EPERM (a firewall): said once per target and attempt, never thrown.
          if (err) report(`probe to ${target.host}:${target.port} failed: ${errorMessage(err)}`);
          resolve();
        }),
      );
    }
    if (i < repeats - 1) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 500);
    }
  }
}

/**
 * Listens for Hello and Bye while the agent runs: a camera plugged in later announces itself with Hello
 * and appears without a rescan. One socket on port 3702, joined to the group on every LAN interface.
 */
export class DiscoveryListener extends EventEmitter<WsDiscoveryEvents> {
  private socket: dgram.Socket | undefined;

  constructor(private readonly interfaces: readonly string[] = [], private readonly port = WS_DISCOVERY_PORT) {
    super();
  }

  async start(): Promise<LanInterface[]> {
    const interfaces = lanInterfaces(this.interfaces);
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    this.socket = socket;
    socket.on('error', (err) => this.emit('problem', { where: 'hello listener', message: errorMessage(err) }));
    socket.on('message', (buf, rinfo) => {
      try {
        const message = parseDiscoveryMessage(buf.toString('utf8'), { address: rinfo.address, port: rinfo.port });
        if (message.kind === 'hello') for (const match of message.matches) this.emit('hello', { ...match, address: rinfo.address, via: 'hello' });
        else if (message.kind === 'bye') this.emit('bye', { urn: message.urn, address: rinfo.address });
      } catch (err) {
        this.emit('problem', { where: `hello listener from ${rinfo.address}`, message: `malformed message: ${errorMessage(err)}` });
      }
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.port, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    for (const iface of interfaces) {
      try {
        socket.addMembership(WS_DISCOVERY_GROUP, iface.address);
      } catch (err) {
        this.emit('problem', { where: iface.name, message: `cannot join ${WS_DISCOVERY_GROUP}: ${errorMessage(err)}` });
      }
    }
    if (interfaces.length === 0) this.emit('problem', { where: 'hello listener', message: 'no IPv4 LAN interface to listen on' });
    return interfaces;
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}
