// The test world: real services (broker, ingest, cameras, network namespaces) for tests, the demo and benchmarks.
export * from './ports.ts';
export * from './processes.ts';
export * from './tmp.ts';
export * from './mosquitto.ts';
export * from './ingest.ts';
export * from './virtual-camera.ts';
export * from './netns.ts';
