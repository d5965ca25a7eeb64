// The fleet controller as a test service: sends commands to a box over MQTT 5 request/response (a response topic
// under the box's own subtree, as the ACL wants it, and a correlation id per request) and writes the box's
// retained schedule. One MQTT client per controller; stop() closes it.
import mqtt, { type MqttClient } from 'mqtt';
import { randomUUID } from 'node:crypto';

/** Every answer of the box: `{command, ok, result | error, ts}` (docs/OPERATIONS.md, Commands). */
export interface CommandResponse {
  command: string;
  ok: boolean;
  result?: Record<string, unknown>;
  error?: string;
  ts?: string;
}

export interface Controller {
  /** Sends a command (a string payload is sent as is) and resolves with its response; rejects after timeoutMs. */
  send(name: string, payload: unknown, timeoutMs?: number): Promise<CommandResponse>;
  /**
   * Writes the retained schedule topic `venuebox/v1/{boxId}/schedule` (an object is sent as JSON, a string as is)
   * and resolves once the broker acknowledged it (QoS 1).
   */
  publishSchedule(schedule: unknown): Promise<void>;
  stop(): Promise<void>;
}

export async function startController(url: string, boxId: string): Promise<Controller> {
  const name = `controller-${randomUUID().slice(0, 8)}`;
  const client: MqttClient = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: name, reconnectPeriod: 500 });
  const responseTopic = `venuebox/v1/${boxId}/responses/${name}`;
  const waiting = new Map<string, (r: CommandResponse) => void>();
  client.on('message', (_topic, payload, packet) => {
    const id = packet.properties?.correlationData?.toString('utf8');
    if (id) waiting.get(id)?.(JSON.parse(payload.toString('utf8')) as CommandResponse);
  });
  await client.subscribeAsync(responseTopic, { qos: 1 });
  return {
    send(command, payload, timeoutMs = 30_000) {
      const id = randomUUID();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`no response to ${command} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, (r) => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(r);
        });
        client
          .publishAsync(`venuebox/v1/${boxId}/cmd/${command}`, typeof payload === 'string' ? payload : JSON.stringify(payload), {
            qos: 1,
            properties: { responseTopic, correlationData: Buffer.from(id) },
          })
          .catch((err: unknown) => {
            clearTimeout(timer);
            waiting.delete(id);
            reject(err instanceof Error ? err : new Error(String(err)));
          });
      });
    },
    async publishSchedule(schedule) {
      await client.publishAsync(`venuebox/v1/${boxId}/schedule`, typeof schedule === 'string' ? schedule : JSON.stringify(schedule), { qos: 1, retain: true });
    },
    stop: () => client.endAsync(true),
  };
}
