import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildRecordingPipeline, METER_SINK } from '../agent/encoder/pipeline-builder.ts';
import { PipelineHost } from '../agent/encoder/pipeline-host.ts';
import { startVirtualCamera } from '../test/helpers/virtual-camera.ts';
const ticks = (pid: number) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return Number(f[11]) + Number(f[12]); };
const cam = await startVirtualCamera({ width: 1920, height: 1080, bitrateKbps: 4000 });
try {
  for (const round of [1, 2]) for (const meter of [false, true]) {
    const dir = mkdtempSync('/tmp/vbx-ab-');
    const p = buildRecordingPipeline({ streamId: 'x', source: { uri: cam.url, transport: 'tcp', latencyMs: 200 }, codec: 'h264', segment: { seconds: 2, directory: dir, startIndex: 0 } });
    const host = new PipelineHost('ab');
    let stats = 0; host.on('event', (e) => { if (e.type === 'stats') stats++; });
    host.start(meter ? { ...p, meter: { element: METER_SINK, codec: p.codec, intervalMs: 2000 } } : p);
    await sleep(6000); const t0 = ticks(host.pid!); const a = performance.now();
    await sleep(20000); const t1 = ticks(host.pid!); const s = (performance.now() - a) / 1000;
    await host.stop(5000); rmSync(dir, { recursive: true });
    console.log(`round ${round} meter=${meter}: ${((t1 - t0) / 100 / s * 100).toFixed(2)} % of a core, ${stats} stats events`);
  }
} finally { await cam.stop(); }
