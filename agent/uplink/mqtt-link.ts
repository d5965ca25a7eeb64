/**
 * The box's MQTT connection (mqtt.js 5, MQTT 5). A retained `status` with a last will: the broker publishes
 * `offline / connection-lost` within milliseconds of the socket closing (kill -9, crash) or after 1.5 ×
 * keepalive when the link dies silently (STACK-NOTES). On every (re)connect the birth `online` is published
 * again, since a will may have replaced it in between. A clean stop publishes `offline / shutdown` itself.
 *
 * While the broker is unreachable, health samples are dropped and counted, never queued in memory without
 * bound; the durable SQLite outbox arrives with the telemetry issue.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { errorMessage } from '../lib/errors.ts';
import { redact } from '../lib/redact.ts';
import type { Logger } from '../lib/log.ts';
import { RETAINED, topicOf, type StatusPayload, type TopicMap, type TopicName } from './topics.ts';

export interface MqttLinkOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  keepaliveSeconds: number;
  connectTimeoutSeconds: number;
  topicPrefix: string;
  boxId: string;
  /** The status published on every connect (birth). `state`/`ts` are filled in. */
  birth: () => Omit<StatusPayload, 'state' | 'ts'>;
  log: Logger;
}

export class MqttLink {
  private client: MqttClient | undefined;
  private dropped = 0;
  private connects = 0;
  private lastError: string | undefined;

  constructor(private readonly options: MqttLinkOptions) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Starts connecting; resolves at once (the box works without a broker and keeps trying). */
  start(): void {
    const o = this.options;
    const will: StatusPayload = { ...o.birth(), state: 'offline', reason: 'connection-lost', ts: new Date().toISOString() };
    this.client = mqtt.connect(o.url, {
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
    });
    this.client.on('connect', () => {
      this.connects += 1;
      o.log.info({ url: o.url, connects: this.connects }, 'connected to the MQTT broker');
      this.publish('status', { ...o.birth(), state: 'online', ts: new Date().toISOString() });
    });
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
    if (!client?.connected) {
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

  health(): { connected: boolean; connects: number; dropped: number; lastError: string | undefined } {
    return { connected: this.connected, connects: this.connects, dropped: this.dropped, lastError: this.lastError };
  }

  /** Publishes `offline / shutdown` (so the will is not needed) and disconnects, bounded by `timeoutMs`. */
  async stop(timeoutMs = 2000): Promise<void> {
    const client = this.client;
    if (!client) return;
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
    if (client.connected) {
      await Promise.race([this.publish('status', { ...this.options.birth(), state: 'offline', reason: 'shutdown', ts: new Date().toISOString() }), deadline]);
    }
    await Promise.race([client.endAsync(!client.connected), deadline]);
    client.end(true);
  }

  private topic(name: TopicName, sub?: string): string {
    return topicOf(this.options.topicPrefix, this.options.boxId, name, sub);
  }
}
