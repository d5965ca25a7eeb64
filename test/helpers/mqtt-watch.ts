// A subscriber that records every message on a topic filter, for tests and the demo report.
import mqtt, { type IClientOptions } from 'mqtt';
import { createWaitList } from './wait-list.ts';

export interface SeenMessage {
  topic: string;
  payload: string;
  retain: boolean;
  at: number;
  json(): unknown;
}

export interface MqttWatch {
  messages: SeenMessage[];
  /** Resolves with the first message (already seen or future) that matches; rejects after timeoutMs. */
  waitFor(match: (m: SeenMessage) => boolean, timeoutMs: number, what?: string): Promise<SeenMessage>;
  stop(): Promise<void>;
}

export async function watchMqtt(url: string, filter: string, options: IClientOptions = {}): Promise<MqttWatch> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 500, ...options });
  const seen = createWaitList<SeenMessage>();
  const messages = seen.items;
  client.on('message', (topic, payload, packet) => {
    const text = payload.toString('utf8');
    const message: SeenMessage = { topic, payload: text, retain: packet.retain, at: Date.now(), json: () => JSON.parse(text) as unknown };
    seen.push(message);
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return {
    messages,
    waitFor: (match, timeoutMs, what = 'an MQTT message') =>
      seen.waitFor(match, timeoutMs, what, () => `seen: ${messages.map((m) => m.topic).join(', ') || 'nothing'}`),
    async stop() {
      await client.endAsync(true);
    },
  };
}
