// The WS-Discovery side of the camera: answers Probes (multicast on 239.255.255.250 and unicast), sends
// Hello at start and Bye at stop.
//
// Sockets: one bound to the group address (multicast only), one to the camera's own address (unicast Probes
// and every send, so replies come from ADDRESS:PORT like a camera's). Both with SO_REUSEADDR, so cameras in one
// namespace can share 3702 as cameras on a LAN do (a unicast Probe then reaches only one of them).
// For bind 0.0.0.0 one wildcard socket does both: a wildcard socket also gets the group's datagrams on Linux.
//
// INVARIANTS
// - At most MAX_PENDING replies wait for their random delay; Probes beyond that are dropped and counted
//   (a Probe storm must not grow memory). stop() cancels the waiting ones.
// - A Probe whose MessageID was seen among the last RECENT_IDS is a retransmission: not answered twice.
// - Hello and Bye go out twice with one MessageID (SOAP-over-UDP MULTICAST_UDP_REPEAT=1, 50–250 ms apart):
//   UDP loses datagrams, and receivers drop the duplicate by MessageID.
import dgram from 'node:dgram';
import type { CameraConfig } from './config.ts';
import { scopesOf } from './config.ts';
import { byeMessage, helloMessage, parseProbe, probeMatches, probeMatchesMessage, type AppSequence } from './discovery-messages.ts';

export const GROUP = '239.255.255.250';
const MAX_PENDING = 64;
const RECENT_IDS = 256;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class DiscoveryResponder {
  private groupSocket: dgram.Socket | undefined;
  private unicastSocket: dgram.Socket | undefined;
  private readonly pending = new Set<NodeJS.Timeout>();
  private readonly recentIds = new Set<string>(); // insertion-ordered: the oldest leaves first
  private dropped = 0;
  private port = 0;
  private readonly seq: AppSequence;

  constructor(
    private readonly config: CameraConfig,
    private readonly log: (line: string) => void,
  ) {
    // InstanceId grows with every start (WS-Discovery §7): seconds since the epoch do that across reboots.
    let number = 0;
    this.seq = { instanceId: Math.floor(Date.now() / 1000), next: () => ++number };
  }

  /** Binds, joins the group, sends Hello; resolves with the port (given, or picked when 0). */
  async start(port: number): Promise<number> {
    const bind = this.config.bind;
    const wildcard = bind === '0.0.0.0';
    const unicast = await this.open(wildcard ? '0.0.0.0' : bind, port);
    this.unicastSocket = unicast;
    this.port = unicast.address().port;
    if (wildcard) unicast.addMembership(GROUP);
    else {
      this.groupSocket = await this.open(GROUP, this.port);
      this.groupSocket.addMembership(GROUP, bind);
      unicast.setMulticastInterface(bind);
    }
    unicast.setMulticastTTL(1);
    await this.announce(helloMessage(this.config, this.seq));
    return this.port;
  }

  /** Sends Bye and closes the sockets; idempotent. */
  async stop(): Promise<void> {
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
    if (this.dropped) this.log(`discovery: dropped ${this.dropped} probes beyond ${MAX_PENDING} waiting replies`);
    if (this.unicastSocket) await this.announce(byeMessage(this.config, this.seq)).catch((err: Error) => this.log(`discovery: Bye not sent: ${err.message}`));
    for (const socket of [this.groupSocket, this.unicastSocket]) socket?.close();
    this.groupSocket = this.unicastSocket = undefined;
  }

  private async open(address: string, port: number): Promise<dgram.Socket> {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address, port }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (err) => this.log(`discovery: socket error: ${err.message}`));
    socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    return socket;
  }

  private async announce(text: string): Promise<void> {
    const socket = this.unicastSocket;
    if (!socket) return;
    const send = () => new Promise<void>((resolve, reject) => socket.send(text, this.port, GROUP, (err) => (err ? reject(err) : resolve())));
    await send();
    await delay(50 + Math.random() * 200);
    await send();
  }

  private onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const probe = parseProbe(msg.toString('utf8'));
    if (!probe || !probeMatches(probe, scopesOf(this.config))) return;
    // SOAP-over-UDP: a retransmission repeats the MessageID, and the repeat is not answered again.
    if (this.recentIds.has(probe.messageId)) return;
    this.recentIds.add(probe.messageId);
    if (this.recentIds.size > RECENT_IDS) this.recentIds.delete(this.recentIds.values().next().value ?? '');
    if (this.pending.size >= MAX_PENDING) {
      this.dropped++;
      return;
    }
    // Cameras wait a random 0..APP_MAX_DELAY (500 ms) before answering so that a hundred of them do not
    // answer one multicast Probe at the same instant.
    const timer = setTimeout(() => {
      this.pending.delete(timer);
      const reply = probeMatchesMessage(this.config, this.seq, probe.messageId);
      this.unicastSocket?.send(reply, rinfo.port, rinfo.address, (err) => {
        if (err) this.log(`discovery: ProbeMatches to ${rinfo.address}:${rinfo.port} failed: ${err.message}`);
      });
    }, Math.random() * this.config.maxReplyDelayMs);
    this.pending.add(timer);
  }
}
