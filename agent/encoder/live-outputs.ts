/**
 * The live outputs of one camera: a loopback UDP port per destination, fixed for the life of the camera's
 * recording (its tap sends to every port, see live-output-tap.ts), and a supervised live output per destination.
 *
 * A port per destination, not per camera: two udpsrc on one unicast port do not both get the datagrams (with
 * SO_REUSEPORT the kernel spreads them), and one reader feeding several destinations would let one dead
 * destination disturb the others. multiudpsink sends each datagram to every port instead.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../lib/log.ts';
import type { BackoffOptions } from '../lib/backoff.ts';
import type { LiveDestination, LiveInput } from './live-output-builder.ts';
import { freeLoopbackUdpPort } from './live-output-host.ts';
import { LiveOutputSupervisor, type LiveOutputEvent, type LiveOutputHealth } from './live-output-supervisor.ts';

export interface CameraLiveOutputsOptions {
  cameraId: string;
  destinations: readonly LiveDestination[];
  /** What the camera's tap carries (codec, audio), asked before each run of each output. */
  input: () => Omit<LiveInput, 'port'>;
  log: Logger;
  backoff?: BackoffOptions | undefined;
  stallMs?: number | undefined;
}

export class CameraLiveOutputs extends EventEmitter<{ event: [LiveOutputEvent]; state: [LiveOutputHealth] }> {
  private readonly outputs: LiveOutputSupervisor[] = [];
  private stopped = false;
  /** The tap's ports, one per destination in order; undefined until start() allocated them. */
  ports: number[] | undefined;

  constructor(private readonly options: CameraLiveOutputsOptions) {
    super();
  }

  /** Allocates the ports and starts every output. */
  async start(): Promise<void> {
    const { cameraId, destinations, log } = this.options;
    const ports: number[] = [];
    for (let i = 0; i < destinations.length; i++) {
      let port = await freeLoopbackUdpPort();
      // Two sockets bound and released one after the other can be handed the same port.
      while (ports.includes(port)) port = await freeLoopbackUdpPort();
      ports.push(port);
    }
    if (this.stopped) return;
    this.ports = ports;
    destinations.forEach((destination, output) => {
      const port = ports[output]!;
      const supervisor = new LiveOutputSupervisor({
        cameraId,
        output,
        destination,
        input: () => ({ ...this.options.input(), port }),
        log: log.child({ live: output, kind: destination.kind }),
        backoff: this.options.backoff,
        stallMs: this.options.stallMs,
      });
      supervisor.on('event', (event) => this.emit('event', event));
      supervisor.on('state', (health) => this.emit('state', health));
      this.outputs.push(supervisor);
      supervisor.start();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.outputs.map((output) => output.stop()));
  }

  health(): LiveOutputHealth[] {
    return this.outputs.map((output) => output.health());
  }
}
