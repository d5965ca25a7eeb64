/**
 * The demo: one virtual camera, a local mosquitto, the agent recording for about 20 seconds, then a report
 * of what happened — the segments with their ffprobe summary, the status and health seen on the broker.
 * (The scheduler issue grows this into a scheduled event with an ingest and an uplink cut.)
 */
import { cp, rm, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startMosquitto, startVirtualCamera, type Mosquitto, type VirtualCamera } from '../test/helpers/index.ts';
import { startAgent, type AgentProcess } from '../test/helpers/agent.ts';
import { watchMqtt, type MqttWatch } from '../test/helpers/mqtt-watch.ts';
import { probeMedia } from '../test/helpers/media.ts';

const RECORD_SECONDS = Number(process.env['VENUEBOX_DEMO_SECONDS'] ?? 20);
const OUTPUT = fileURLToPath(new URL('../.venuebox-demo/', import.meta.url));
const BOX = 'demo-box';

const say = (text: string): void => void process.stdout.write(`${text}\n`);

async function main(): Promise<void> {
  const started = performance.now();
  let broker: Mosquitto | undefined;
  let camera: VirtualCamera | undefined;
  let watch: MqttWatch | undefined;
  let agent: AgentProcess | undefined;
  try {
    say('demo: starting a local mosquitto and a virtual camera (1280x720, 25 fps, H.264)…');
    broker = await startMosquitto();
    camera = await startVirtualCamera({ width: 1280, height: 720, fps: 25, keyint: 25, bitrateKbps: 2000 });
    watch = await watchMqtt(broker.url, `venuebox/v1/${BOX}/#`);
    say(`demo: starting the agent (camera ${camera.url}, broker ${broker.url}), recording ${RECORD_SECONDS} s…`);
    agent = await startAgent({
      config: {
        boxId: BOX,
        mqtt: { url: broker.url, healthIntervalSeconds: 5 },
        cameras: [{ id: 'main', name: 'Main camera (virtual)', rtsp: camera.url }],
        recording: { segmentSeconds: 2 },
      },
    });
    await agent.waitForLog((l) => l.msg === 'venuebox agent running', 30_000, 'the agent to start');
    // The demo's job is to record for a while; this wait is the recording, not a synchronisation.
    await new Promise((resolve) => setTimeout(resolve, RECORD_SECONDS * 1000));
    const exit = await agent.stop();
    say(`demo: agent stopped with SIGTERM → exit ${exit.code}`);
    await watch.waitFor((m) => m.topic.endsWith('/status') && (m.json() as { state?: string }).state === 'offline', 5000, 'the offline status').catch(() => undefined);

    await rm(OUTPUT, { recursive: true, force: true });
    await mkdir(OUTPUT, { recursive: true });
    await cp(agent.spoolDir, path.join(OUTPUT, 'spool'), { recursive: true });
    await report(agent, watch);
    say(`\nrecording kept in ${path.join(OUTPUT, 'spool', 'main')}; play it with:`);
    say(`  cat ${path.join(OUTPUT, 'spool', 'main')}/*.ts | ffplay -`);
    say(`demo finished in ${Math.round((performance.now() - started) / 1000)} s`);
  } finally {
    await agent?.cleanup();
    await watch?.stop();
    await camera?.stop();
    await broker?.stop();
  }
}

async function report(agent: AgentProcess, watch: MqttWatch): Promise<void> {
  const db = new Database(agent.databaseFile, { readonly: true });
  const rows = db.prepare('SELECT stream_id, seq, path, duration_ms, bytes FROM segments ORDER BY stream_id, seq').all() as Array<{
    stream_id: string;
    seq: number;
    path: string;
    duration_ms: number;
    bytes: number;
  }>;
  db.close();
  say(`\n== segments written: ${rows.length} ==`);
  say('stream  seq       codec  size        duration  frames  bytes');
  let total = 0;
  for (const row of rows) {
    const media = await probeMedia(row.path).catch((err: Error) => err);
    const summary = media instanceof Error ? `NOT PLAYABLE: ${media.message.split('\n')[0]}` : `${media.codec.padEnd(6)} ${`${media.width}x${media.height}`.padEnd(11)} ${media.durationSeconds.toFixed(2).padStart(6)} s  ${String(media.frames).padStart(6)}`;
    if (!(media instanceof Error)) total += media.durationSeconds;
    say(`${row.stream_id.padEnd(7)} ${String(row.seq).padStart(8, '0')}  ${summary}  ${row.bytes}`);
  }
  say(`total recorded: ${total.toFixed(1)} s`);

  const statuses = watch.messages.filter((m) => m.topic.endsWith('/status'));
  const healths = watch.messages.filter((m) => m.topic.endsWith('/health'));
  say(`\n== MQTT: ${statuses.length} status, ${healths.length} health message(s) ==`);
  for (const m of statuses) {
    const s = m.json() as { state: string; reason?: string; bootCount?: number; version?: string };
    say(`status  ${s.state}${s.reason ? ` (${s.reason})` : ''}  boot #${s.bootCount} version ${s.version}${m.retain ? '  [retained]' : ''}`);
  }
  const last = healths.at(-1)?.json() as
    | { cpu: { loadPercent: number }; memory: { usedBytes: number; totalBytes: number; agentRssBytes: number }; disk: { freeBytes: number }; pipelines: Array<{ streamId: string; state: string; segments: number; bitrateKbps: number | null; restarts: number }> }
    | undefined;
  if (last) {
    const mib = (b: number): string => `${Math.round(b / 2 ** 20)} MiB`;
    say(`health  cpu ${last.cpu.loadPercent}%  memory ${mib(last.memory.usedBytes)}/${mib(last.memory.totalBytes)}  agent rss ${mib(last.memory.agentRssBytes)}  spool disk free ${mib(last.disk.freeBytes)}`);
    for (const p of last.pipelines) say(`        pipeline ${p.streamId}: ${p.state}, ${p.segments} segments, ${p.bitrateKbps ?? '?'} kbps, ${p.restarts} restarts`);
  }
}

await main();
