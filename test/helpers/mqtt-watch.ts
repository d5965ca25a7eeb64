// A subscriber that records every message on a topic filter, for tests and the demo report.
import mqtt, { type IClientOptions } from 'mqtt';

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
  const messages: SeenMessage[] = [];
  const waiters = new Set<{ match: (m: SeenMessage) => boolean; resolve: (m: SeenMessage) => void }>();
  client.on('message', (topic, payload, packet) => {
    const text = payload.toString('utf8');
    const message: SeenMessage = { topic, payload: text, retain: packet.retain, at: Date.now(), json: () => JSON.parse(text) as unknown };
    messages.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.match(message)) {
        waiters.delete(waiter);
        waiter.resolve(message);
      }
    }
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return {
    messages,
    waitFor(match, timeoutMs, what = 'an MQTT message') {
      const seen = messages.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = { match, resolve: (m: SeenMessage) => (clearTimeout(timer), resolve(m)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; seen: ${messages.map((m) => m.topic).join(', ') || 'nothing'}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    async stop() {
      await client.endAsync(true);
    },
  };
}
