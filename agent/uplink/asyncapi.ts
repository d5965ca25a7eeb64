/**
 * The MQTT contract (topics.ts) as an AsyncAPI 3.0 document: docs/mqtt-asyncapi.yaml is rendered from it by
 * scripts/generate-docs.ts, and a test checks the file is up to date. Pure and deterministic.
 *
 * AsyncAPI 3 speaks from the application's side: `send` = the box publishes, `receive` = the box subscribes.
 */
import { z } from 'zod';
import { TOPICS, type TopicSpec } from './topics.ts';

export const MQTT_TOPIC_PREFIX_DEFAULT = 'venuebox/v1';

function payloadSchema(spec: TopicSpec): Record<string, unknown> {
  const { $schema: _drop, ...schema } = z.toJSONSchema(spec.schema, { target: 'draft-2020-12', io: 'output', unrepresentable: 'any' }) as Record<string, unknown>;
  return schema;
}

function parameters(address: string): Record<string, { description: string }> | undefined {
  const names = [...address.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1]!);
  const all = ['boxId', ...names];
  return Object.fromEntries(all.map((name) => [name, { description: name === 'boxId' ? 'The box id (config boxId).' : name === 'cameraId' ? 'A camera id of the box.' : `The ${name}.` }]));
}

export function asyncApiDocument(version: string): Record<string, unknown> {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(TOPICS)) {
    const channel = key;
    const message = `${key}Message`;
    channels[channel] = {
      address: `${MQTT_TOPIC_PREFIX_DEFAULT}/{boxId}/${spec.address}`,
      title: spec.title,
      ...(spec.schema.description ? { description: spec.schema.description } : {}),
      parameters: parameters(spec.address),
      messages: {
        [message]: {
          name: message,
          contentType: 'application/json',
          payload: payloadSchema(spec),
          bindings: { mqtt: { bindingVersion: '0.2.0', ...(spec.address.startsWith('cmd/') ? { responseTopic: { type: 'string', description: 'MQTT 5 response topic; by convention under the box\'s own subtree (venuebox/v1/{boxId}/responses/…) so the ACL allows the answer.' }, correlationData: { type: 'string', description: 'Returned unchanged with the answer.' } } : {}) } },
        },
      },
    };
    operations[`${spec.direction === 'publish' ? 'send' : 'receive'}${key.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase())}`] = {
      action: spec.direction === 'publish' ? 'send' : 'receive',
      channel: { $ref: `#/channels/${channel}` },
      messages: [{ $ref: `#/channels/${channel}/messages/${message}` }],
      bindings: { mqtt: { bindingVersion: '0.2.0', qos: 1, retain: spec.retained } },
      ...(spec.address.startsWith('cmd/') ? { reply: { channel: { $ref: '#/channels/responses' }, messages: [{ $ref: '#/channels/responses/messages/responsesMessage' }] } } : {}),
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'venuebox box ↔ fleet controller',
      version,
      description:
        'The MQTT 5 contract of a venuebox agent. Every topic is under the configured prefix (default venuebox/v1) and the box id. ' +
        'QoS 1 throughout. Events and health produced while the broker is unreachable are replayed in order after the reconnect with historical: true. ' +
        'Generated from agent/uplink/topics.ts by scripts/generate-docs.ts: do not edit by hand.',
    },
    defaultContentType: 'application/json',
    servers: {
      broker: { host: 'broker.example.net:8883', protocol: 'mqtt', protocolVersion: '5', description: 'TLS with a CA and a client certificate per box (docs/OPERATIONS.md), or username/password.' },
    },
    channels,
    operations,
  };
}
