/**
 * The box's MQTT connection (mqtt.js 5, MQTT 5). A retained `status` with a last will: the broker publishes
 * `offline / connection-lost` within milliseconds of the socket closing (kill -9, crash) or after 1.5 ×
 * keepalive when the link dies silently (STACK-NOTES). On every (re)connect the birth `online` is published
 * again, since a will may have replaced it in between. A clean stop publishes `offline / shutdown` itself.
 *
 * Events and health go through the durable SQLite outbox (agent/uplink/outbox.ts) when one is given: a
 * row before sending, deleted on the broker's PUBACK, replayed in order after a reconnect or a restart
 * with `historical: true` (anything created before the current connection). A window of unacknowledged
 * messages is handed to mqtt.js at a time. The outbox is the only source of resends: mqtt.js's own
 * in-memory store of unacknowledged packets is not replayed after a reconnect (measured: with it, messages
 * written to a socket that was being reset were neither acknowledged nor resent), so after a connection
 * closes, every row still in the outbox goes again from the oldest — at least once, in order. Retained topics (status, camera states) are not replayed: the latest value per
 * topic is kept and published on connect — a retained topic is a state, not a history.
 */
import mqtt, { Store, type MqttClient } from 'mqtt';
import { Readable } from 'node:stream';
import { tlsConnectOptions } from '../config/tls-files.ts';
import type { MqttTlsConfig } from '../config/schema.ts';
import { errorMessage } from '../lib/errors.ts';
import { redact } from '../lib/redact.ts';
import type { Logger } from '../lib/log.ts';
import { RETAINED, topicOf, type CommandResponsePayload, type StatusPayload, type TopicMap, type TopicName } from './topics.ts';
import type { Outbox } from './outbox.ts';

/** Messages handed to mqtt.js and not yet acknowledged, at most. */
const WINDOW = 64;

/** mqtt.js's packet store, minus its replay after a reconnect: the outbox resends (see the module comment). */
class NoReplayStore extends Store {
  override createStream(): ReturnType<Store['createStream']> {
    return Readable.from([]) as unknown as ReturnType<Store['createStream']>;
  }
}

export interface MqttLinkOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  /** CA, client certificate and key (files read at start), for an mqtts:// or wss:// url. */
  tls?: MqttTlsConfig | undefined;
  keepaliveSeconds: number;
  connectTimeoutSeconds: number;
  topicPrefix: string;
  boxId: string;
  /** The status published on every connect (birth). `state`/`ts` are filled in. */
  birth: () => Omit<StatusPayload, 'state' | 'ts'>;
  log: Logger;
  /** The next birth sequence number (persisted across restarts); asked once per connect. */
  nextBirthSeq?: () => number;
  /** Requests on `cmd/{name}`: the answer goes to the request's response topic (MQTT 5) or to `responses`. */
  onCommand?: (name: string, payload: string) => Promise<CommandResponsePayload>;
  /** The retained schedule written by the controller. */
  onSchedule?: (payload: string) => void;
  /** Durable delivery of events and health; without it they are dropped (and counted) while offline. */
  outbox?: Outbox | undefined;
}

export class MqttLink {
  private client: MqttClient | undefined;
  private dropped = 0;
  private connects = 0;
  private lastError: string | undefined;
  private readonly unacked = new Set<number>();
  private connectedAt = 0;
  /** Retained topics published while disconnected: the latest payload of each, sent on connect. */
  private readonly latestRetained = new Map<string, string>();
  private replayed = 0;
  private refused = 0;
  private readonly refusedTopics = new Set<string>();
  private birthSeq: number | undefined;
  /** Connection generation: acknowledgements from a closed connection are ignored. */
  private generation = 0;

  constructor(private readonly options: MqttLinkOptions) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Starts connecting; resolves at once (the box works without a broker and keeps trying). */
  start(): void {
    const o = this.options;
    const will: StatusPayload = { ...o.birth(), state: 'offline', reason: 'connection-lost', ts: new Date().toISOString() };
    this.client = mqtt.connect(o.url, {
      // Contents, not paths: read now; an unreadable file throws naming its key (load.ts checked them already).
      // The key and its passphrase stay in these options only; nothing here logs options.
      ...(o.tls ? tlsConnectOptions(o.tls) : {}),
      clientId: o.clientId,
      username: o.username,
      password: o.password,
      protocolVersion: 5,
      keepalive: o.keepaliveSeconds,
      connectTimeout: o.connectTimeoutSeconds * 1000,
      reconnectPeriod: 2000,
      clean: true,
      // Do not pile up publishes in memory while offline (bounded and visible: they are counted as dropped).
      queueQoSZero: false,
      will: { topic: this.topic('status'), payload: Buffer.from(JSON.stringify(will)), qos: 1, retain: true },
      outgoingStore: new NoReplayStore(),
      resubscribe: false,
    });
    this.client.on('close', () => {
      // Whatever was not acknowledged on that connection goes again, from the oldest, on the next one.
      this.generation += 1;
      this.unacked.clear();
    });
    this.client.on('connect', () => {
      this.connects += 1;
      o.log.info({ url: o.url, connects: this.connects }, 'connected to the MQTT broker');
      this.connectedAt = Date.now();
      this.birthSeq = o.nextBirthSeq?.();
      this.publish('status', { ...this.birth(), state: 'online', ts: new Date().toISOString() });
      for (const [topic, payload] of this.latestRetained) this.client?.publish(topic, payload, { qos: 1, retain: true });
      this.latestRetained.clear();
      this.pump();
      // clean: true means no session survives a reconnect: subscribe again each time (resubscribe is off).
      if (o.onCommand || o.onSchedule) {
        const base = `${o.topicPrefix}/${o.boxId}`;
        const filters = [...(o.onCommand ? [`${base}/cmd/+`] : []), ...(o.onSchedule ? [`${base}/schedule`] : [])];
        this.client?.subscribe(filters, { qos: 1 }, (err) => {
          if (err) o.log.error({ err: errorMessage(err), filters }, 'MQTT subscribe failed; commands will not arrive');
        });
      }
    });
    this.client.on('message', (topic, payload, packet) => void this.onMessage(topic, payload, packet.properties));
    this.client.on('error', (err) => {
      const message = errorMessage(err);
      if (message !== this.lastError) o.log.warn({ err: message }, 'MQTT error; reconnecting');
      this.lastError = message;
    });
    this.client.on('offline', () => o.log.warn('MQTT broker unreachable; will retry'));
  }

  /** Publishes a payload on its typed topic, QoS 1; dropped (and counted) while disconnected. */
  publish<T extends TopicName>(name: T, payload: TopicMap[T], sub?: string): Promise<boolean> {
    const client = this.client;
    const outbox = this.options.outbox;
    if (outbox && (name === 'events' || name === 'health')) {
      try {
        outbox.add(this.topic(name, sub), redact(JSON.stringify(payload)), name === 'events' ? 'event' : 'health');
      } catch (err) {
        // The database is unwritable (disk full): the message cannot be kept; said once per message.
        this.dropped += 1;
        this.options.log.error({ topic: name, err: errorMessage(err) }, 'outbox write failed; message dropped');
        return Promise.resolve(false);
      }
      this.pump();
      return Promise.resolve(true);
    }
    if (!client?.connected) {
      if (RETAINED[name]) this.latestRetained.set(this.topic(name, sub), redact(JSON.stringify(payload)));
      this.dropped += 1;
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      // Payloads carry error texts from cameras and GStreamer: the same redaction as the logs, so a secret that
      // slipped into an error message never reaches the fleet's broker either.
      client.publish(this.topic(name, sub), redact(JSON.stringify(payload)), { qos: 1, retain: RETAINED[name] }, (err) => {
        if (err) {
          this.dropped += 1;
          this.options.log.warn({ topic: name, err: errorMessage(err) }, 'MQTT publish failed');
        }
        resolve(!err);
      });
    });
  }

  private async onMessage(topic: string, payload: Buffer, properties: { responseTopic?: string; correlationData?: Buffer } | undefined): Promise<void> {
    const o = this.options;
    const base = `${o.topicPrefix}/${o.boxId}/`;
    if (!topic.startsWith(base)) return;
    const rest = topic.slice(base.length);
    if (rest === 'schedule') {
      o.onSchedule?.(payload.toString('utf8'));
      return;
    }
    if (!rest.startsWith('cmd/') || !o.onCommand) return;
    const response = await o.onCommand(rest.slice('cmd/'.length), payload.toString('utf8'));
    const client = this.client;
    if (!client?.connected) return;
    const text = redact(JSON.stringify(response));
    if (properties?.responseTopic) {
      client.publish(properties.responseTopic, text, { qos: 1, properties: properties.correlationData ? { correlationData: properties.correlationData } : {} });
    } else {
      client.publish(this.topic('responses'), text, { qos: 1 });
    }
  }

  /** The box's current birth: what `status` says (with the birth sequence of the current connection). */
  birth(): Omit<StatusPayload, 'state' | 'ts'> {
    return { ...this.options.birth(), ...(this.birthSeq !== undefined ? { birthSeq: this.birthSeq } : {}) };
  }

  /** Hands the oldest outbox rows to mqtt.js, up to the window; each is deleted on its PUBACK. */
  private pump(): void {
    const client = this.client;
    const outbox = this.options.outbox;
    if (!client?.connected || !outbox) return;
    const room = WINDOW - this.unacked.size;
    if (room <= 0) return;
    for (const row of outbox.next(room, this.unacked)) {
      this.unacked.add(row.id);
      const historical = Date.parse(row.created_at) < this.connectedAt;
      let payload = row.payload;
      if (historical) {
        payload = JSON.stringify({ ...(JSON.parse(row.payload) as object), historical: true });
        this.replayed += 1;
      }
      const generation = this.generation;
      client.publish(row.topic, payload, { qos: 1, retain: false }, (err) => {
        if (generation !== this.generation) return;
        this.unacked.delete(row.id);
        const reasonCode = (err as { code?: unknown } | undefined)?.code;
        if (err && !(typeof reasonCode === 'number' && reasonCode >= 0x80)) {
          // Not acknowledged (the client is closing): it stays in the outbox and goes again next time.
          return;
        }
        if (err) {
          // The broker answered and refused it (PUBACK ≥ 0x80, e.g. 0x87 not authorized by the ACL): sending
          // it again would be refused again, forever. Dropped, counted, said once per topic.
          this.refused += 1;
          if (!this.refusedTopics.has(row.topic)) {
            this.refusedTopics.add(row.topic);
            this.options.log.error({ topic: row.topic, reasonCode, err: errorMessage(err) }, 'the broker refuses this topic; its messages are dropped');
          }
        }
        outbox.acknowledged(row.id);
        this.pump();
      });
    }
  }

  health(): { connected: boolean; connects: number; dropped: number; replayed: number; refused: number; lastError: string | undefined } {
    return { connected: this.connected, connects: this.connects, dropped: this.dropped, replayed: this.replayed, refused: this.refused, lastError: this.lastError };
  }

  /** Publishes `offline / shutdown` (so the will is not needed) and disconnects, bounded by `timeoutMs`. */
  async stop(timeoutMs = 2000): Promise<void> {
    const client = this.client;
    if (!client) return;
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    if (client.connected) {
      await Promise.race([this.publish('status', { ...this.birth(), state: 'offline', reason: 'shutdown', ts: new Date().toISOString() }), deadline]);
    }
    await Promise.race([client.endAsync(!client.connected), deadline]);
    client.end(true);
  }

  private topic(name: TopicName, sub?: string): string {
    return topicOf(this.options.topicPrefix, this.options.boxId, name, sub);
  }
}
