// A full disk, for real: the spool (and in one variant the SQLite ledger) on a small tmpfs that a 4 Mbit/s
// camera fills in seconds. The agent must not crash, must say what failed, and must record again by itself
// when space returns. And the quota's free-disk floor, set high enough, must keep the disk from ever
// filling: files are evicted instead, and every eviction is reported in health and as an event over MQTT.
// Root only (mount); every test unmounts in its teardown, even when it fails.
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRoot, startMosquitto, startVirtualCamera, type Mosquitto, type VirtualCamera } from '../helpers/index.ts';
import { startAgent, type AgentProcess, type LogLine } from '../helpers/agent.ts';
import { watchMqtt, type MqttWatch } from '../helpers/mqtt-watch.ts';
import { probeMedia } from '../helpers/media.ts';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.ts';

const MIB = 1024 * 1024;
/** The camera: incompressible noise at 4 Mbit/s, so ~1 MB per 2 s segment (a 24 MiB disk fills in well under a minute). */
const CAMERA = { width: 640, height: 360, fps: 25, keyint: 25, bitrateKbps: 4000, pattern: 'snow' as const };
const DISK_FULL = /no space left|ENOSPC|SQLITE_FULL|disk is full/i;

interface Row {
  seq: number;
  gap_before_ms: number;
  path: string;
  start_time: string;
  bytes: number;
  state: string;
  sha256: string | null;
  last_error: string | null;
}

function readLedger(file: string): { rows: Row[]; integrity: string } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return {
      rows: db.prepare("SELECT seq, path, start_time, bytes, state, sha256, last_error, gap_before_ms FROM segments WHERE stream_id = 'cam1' ORDER BY seq").all() as Row[],
      integrity: db.pragma('integrity_check', { simple: true }) as string,
    };
  } finally {
    db.close();
  }
}

const lineText = (line: LogLine): string => JSON.stringify(line);
const isProblem = (line: LogLine): boolean => ['warn', 'error', 'fatal'].includes(line.level);

interface World {
  disk: Tmpfs;
  /** The ledger's own small disk, when the database is not with the spool. */
  dbDisk: Tmpfs | undefined;
  broker: Mosquitto;
  camera: VirtualCamera;
  watch: MqttWatch;
  agent: AgentProcess;
  spoolDir: string;
  databaseFile: string;
  /** Lowest free space seen on the tmpfs, sampled every 100 ms while the agent runs. */
  minFree(): number;
}

/** Where the SQLite ledger lives: the agent's state folder, the spool's full disk, or a small disk of its own. */
type DatabasePlace = 'state' | 'spool-disk' | 'own-disk';

async function world(t: ExecutionContext, boxId: string, options: { database: DatabasePlace; fillerMiB: number; minFreeMegabytes: number }): Promise<World> {
  // Teardowns run last-registered first: the agent stops (its pipelines let go of their files) before the unmount.
  const disk = await mountTmpfs(boxId, 24);
  t.teardown(() => disk.unmount());
  if (options.fillerMiB > 0) await disk.fill('filler', options.fillerMiB * MIB);
  const dbDisk = options.database === 'own-disk' ? await mountTmpfs(`${boxId}-db`, 4) : undefined;
  if (dbDisk) t.teardown(() => dbDisk.unmount());
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const camera = await startVirtualCamera(CAMERA);
  t.teardown(() => camera.stop());
  const watch = await watchMqtt(broker.url, `venuebox/v1/${boxId}/#`);
  t.teardown(() => watch.stop());
  const spoolDir = path.join(disk.path, 'spool');
  const databaseFile = options.database === 'state' ? undefined : path.join((dbDisk ?? disk).path, 'venuebox.db');
  const agent = await startAgent({
    config: {
      boxId,
      log: { level: 'debug' },
      mqtt: { url: broker.url, keepaliveSeconds: 5, healthIntervalSeconds: 5 },
      cameras: [{ id: 'cam1', rtsp: camera.url }],
      recording: { segmentSeconds: 2 },
      // A quota larger than the whole disk: only the floor (or nothing) stands between the spool and ENOSPC.
      spool: { maxMegabytes: 64, minFreeMegabytes: options.minFreeMegabytes, keepUploadedMinutes: 0 },
    },
    env: { VENUEBOX_SPOOL_DIR: spoolDir, ...(databaseFile ? { VENUEBOX_DB: databaseFile } : {}) },
  });
  t.teardown(async () => {
    await agent.stop({ killAfterMs: 5000 });
    await agent.cleanup();
  });
  let minFree = Number.POSITIVE_INFINITY;
  const sampler = setInterval(() => {
    void disk.freeBytes().then((free) => (minFree = Math.min(minFree, free)), () => undefined);
  }, 100);
  t.teardown(() => clearInterval(sampler));
  return { disk, dbDisk, broker, camera, watch, agent, spoolDir, databaseFile: databaseFile ?? agent.databaseFile, minFree: () => minFree };
}

/** Waits for `count` segments recorded in the ledger whose log line came after `after` (ms since the epoch). */
function segmentsAfter(agent: AgentProcess, after: number, count: number, timeoutMs: number, what: string): Promise<LogLine> {
  let seen = 0;
  return agent.waitForLog((l) => l.msg === 'segment closed' && Date.parse(String(l['time'])) > after && ++seen >= count, timeoutMs, what);
}

function alive(agent: AgentProcess): boolean {
  return agent.child.exitCode === null && agent.child.signalCode === null;
}

/** The disk fills, stays full a while, then the test frees space: the agent must live through it and record again. */
async function fullDiskAndBack(t: ExecutionContext, boxId: string, database: DatabasePlace): Promise<void> {
  // 24 MiB, 16 of them taken by a filler: about 8 MiB for the spool (and the database), ~16 s of footage.
  const w = await world(t, boxId, { database, fillerMiB: 16, minFreeMegabytes: 0 });
  const { agent, disk } = w;
  await segmentsAfter(agent, 0, 2, 40_000, 'the first 2 segments');

  const full = await agent.waitForLog((l) => isProblem(l) && DISK_FULL.test(lineText(l)), 60_000, 'a logged disk-full error');
  t.log(`disk full: ${full.msg} — ${lineText(full).slice(0, 300)}`);
  t.true((await disk.freeBytes()) < MIB, `the disk is really full (${await disk.freeBytes()} bytes free)`);
  const fullAt = Date.now();
  // Full for a while: pipeline restarts fail, the ledger may refuse writes; the agent must keep going.
  await sleep(10_000);
  t.true(alive(agent), `the agent is still running 10 s after the disk filled; output tail:\n${agent.output().split('\n').slice(-10).join('\n')}`);
  const problems = agent.logs().filter((l) => isProblem(l) && Date.parse(String(l['time'])) >= fullAt - 5000);
  t.true(problems.some((l) => DISK_FULL.test(lineText(l))), 'the failure is logged with its cause');
  // The box keeps reporting, and the fleet can see why it stopped recording. With the ledger (and so the MQTT
  // outbox) on the full disk a health message may not be storable: then its loss must at least be visible
  // (logged and counted), never silent.
  const healthWhileFull = w.watch.messages.filter((m) => m.topic.endsWith('/health') && m.at >= fullAt).map((m) => m.json() as { disk?: { freeBytes: number } });
  const outboxRefused = agent.logs().filter((l) => l.msg === 'outbox write failed; message dropped').length;
  if (database === 'spool-disk') {
    t.true(healthWhileFull.length + outboxRefused >= 1, `health while the disk was full: ${healthWhileFull.length} delivered, ${outboxRefused} refused by the outbox and reported; none at all means they vanished silently`);
  } else {
    t.true(healthWhileFull.length >= 1, `health messages while the disk was full: ${healthWhileFull.length}`);
    t.true(healthWhileFull.some((h) => (h.disk?.freeBytes ?? Infinity) < MIB), `health shows the full disk (free: ${healthWhileFull.map((h) => h.disk?.freeBytes).join(', ')})`);
  }

  // Space returns.
  await rm(path.join(disk.path, 'filler'));
  const freedAt = Date.now();
  await segmentsAfter(agent, freedAt, 3, 60_000, '3 segments recorded after space returned');
  t.true(alive(agent));
  const recovery = (Date.now() - freedAt) / 1000;
  t.log(`recording resumed: 3 segments in the ledger ${recovery.toFixed(1)} s after space returned`);

  const exit = await agent.stop();
  t.is(exit.code, 143, 'a clean stop after all that');
  t.falsy(agent.logs().find((l) => l.level === 'fatal'), 'nothing fatal');

  const { rows, integrity } = readLedger(w.databaseFile);
  t.is(integrity, 'ok', 'the ledger survived the full disk');
  const after = rows.filter((r) => Date.parse(r.start_time) > freedAt);
  t.true(after.length >= 2, `segments that started after space returned: ${after.length}`);
  for (const row of after) {
    t.is(row.state, 'pending');
    t.true((await stat(row.path)).size === row.bytes, `${row.seq}: the file is as recorded`);
    const media = await probeMedia(row.path);
    t.true(media.frames > 0, `${row.seq} decodes`);
  }
  const seqs = rows.map((r) => r.seq);
  t.is(new Set(seqs).size, seqs.length, 'no sequence number reused');
  // Every file the ledger owns is on disk; files without a row are only ones the full disk cut short.
  for (const row of rows.filter((r) => r.state === 'pending')) t.true(await stat(row.path).then(() => true, () => false), `${row.seq} on disk`);
  const names = (await readdir(path.join(w.spoolDir, 'cam1'))).filter((name) => !rows.some((r) => path.basename(r.path) === name));
  const orphans = await Promise.all(names.map(async (name) => `${name} (${(await stat(path.join(w.spoolDir, 'cam1', name))).size} bytes)`));
  t.log(`files without a row (cut short by ENOSPC; adopted or removed at the next start): ${orphans.join(', ') || 'none'}`);
  const unrecorded = agent.logs().filter((l) => l.msg?.startsWith('segment closed but not written to the ledger')).length;
  t.log(`ledger inserts that failed while the disk was full: ${unrecorded}`);
}

if (!isRoot()) {
  test('full-disk system tests skipped: mounting a tmpfs needs root', (t) => {
    console.log('spool-disk system tests skipped: mounting a tmpfs needs root (uid 0)');
    t.pass();
  });
} else {
  test.serial('ENOSPC on the spool: the agent keeps running, logs it, and records again by itself when space returns', async (t) => {
    await fullDiskAndBack(t, 'box-enospc', 'state');
  });

  test.serial('ENOSPC with the ledger on the same full disk: no crash, the ledger intact, recording again after', async (t) => {
    await fullDiskAndBack(t, 'box-enospc-db', 'spool-disk');
  });

  test.serial('SQLITE_FULL while segments keep closing: they wait in the retry list and are all recorded when space returns', async (t) => {
    // The spool has room; the ledger's own 4 MiB disk is filled to the last byte once recording runs.
    const w = await world(t, 'box-ledger-full', { database: 'own-disk', fillerMiB: 0, minFreeMegabytes: 0 });
    const { agent } = w;
    const dbDisk = w.dbDisk!;
    await segmentsAfter(agent, 0, 2, 40_000, 'the first 2 segments');
    await dbDisk.fill('filler', await dbDisk.freeBytes());
    const filledAt = Date.now();
    const failed = await agent.waitForLog((l) => l.msg === 'segment closed but not written to the ledger; retrying', 30_000, 'a ledger insert refused');
    t.regex(lineText(failed), DISK_FULL, 'the cause is in the log line');
    // Three more segments close and are refused while the ledger's disk stays full.
    let refused = 0;
    await agent.waitForLog((l) => l.msg === 'segment closed but not written to the ledger; retrying' && ++refused >= 4, 30_000, '4 refused inserts');
    t.true(alive(agent), 'the agent lives on with a full ledger disk');
    t.log(`${refused} inserts refused in ${((Date.now() - filledAt) / 1000).toFixed(1)} s`);

    // Space returns just after a housekeeping pass failed: the next pass (which works through the retry list)
    // is 5 s away, so a new segment closes before it. Its row must still not jump the queue.
    await agent.waitForLog((l) => l.msg === 'spool housekeeping failed; retried' && Date.parse(String(l['time'])) > Date.now() - 500, 10_000, 'a failed housekeeping pass');
    await rm(path.join(dbDisk.path, 'filler'));
    const freedAt = Date.now();
    await segmentsAfter(agent, freedAt, 2, 30_000, '2 segments recorded after the ledger has room again');
    // The retry list is worked through by the housekeeping pass (every 5 s).
    await sleep(6000);
    t.true(alive(agent));
    const exit = await agent.stop();
    t.is(exit.code, 143);

    const { rows, integrity } = readLedger(w.databaseFile);
    t.is(integrity, 'ok');
    // The order of events, for a reader of a failure: closes, refusals, housekeeping passes.
    t.log(agent.logs().filter((l) => /segment closed|housekeeping|recording gap/.test(l.msg ?? '')).map((l) => `${String(l['time']).slice(11, 23)} ${l.msg} ${l['seq'] ?? path.basename(String(l['path'] ?? ''))}`).join('\n'));
    const files = (await readdir(path.join(w.spoolDir, 'cam1'))).sort();
    t.deepEqual(rows.map((r) => path.basename(r.path)), files, 'every segment on disk has its row: none lost to the full ledger');
    const seqs = rows.map((r) => r.seq);
    seqs.forEach((seq, i) => t.is(seq, seqs[0]! + i, 'consecutive'));
    for (const row of rows) {
      t.is(row.state, 'pending');
      t.regex(row.sha256 ?? '', /^[0-9a-f]{64}$/);
    }
    // The camera and the pipeline never stopped: a late row is not a gap in the footage.
    t.deepEqual(rows.filter((r) => r.gap_before_ms > 0).map((r) => `${r.seq}: ${r.gap_before_ms} ms`), [], 'no recording gap in the ledger');
    t.deepEqual(agent.logs().filter((l) => l.msg === 'recording gap: footage missing before this segment').map((l) => l['seq']), [], 'no recording gap reported');
  });

  test.serial('the free-disk floor evicts before the disk fills: no ENOSPC, evictions in health and as events over MQTT', async (t) => {
    // 24 MiB, 6 taken, a floor of 10: the spool gets about 8 MiB, then must evict, ~one segment per segment.
    const w = await world(t, 'box-floor', { database: 'spool-disk', fillerMiB: 6, minFreeMegabytes: 10 });
    const { agent, watch } = w;
    const first = await agent.waitForLog((l) => l.msg === 'spool quota: segment evicted before upload', 90_000, 'the first eviction');
    t.is(first['reason'], 'outside-event', 'footage outside any event goes first');
    // Keep recording a while at the floor.
    await segmentsAfter(agent, Date.now(), 4, 40_000, '4 more segments at the floor');
    t.true(alive(agent));

    // Every eviction so far (the agent logs each one) reaches the broker as a spool-eviction event, in order,
    // and health counts them.
    const logged = agent.logs().filter((l) => l.msg === 'spool quota: segment evicted before upload').map((l) => Number(l['seq']));
    const eventsOf = (): Array<{ seq: number; reason: string; bytes: number; streamId: string }> =>
      watch.messages.filter((m) => m.topic.endsWith('/events') && (m.json() as { type: string }).type === 'spool-eviction').map((m) => m.json() as { seq: number; reason: string; bytes: number; streamId: string });
    const healthEvictions = (): number => Math.max(0, ...watch.messages.filter((m) => m.topic.endsWith('/health')).map((m) => (m.json() as { spool?: { evictions: number } }).spool?.evictions ?? 0));
    for (let deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(200)) {
      if (logged.every((seq) => eventsOf().some((e) => e.seq === seq)) && healthEvictions() > 0) break;
    }
    const events = eventsOf();
    t.deepEqual(events.map((e) => e.seq).slice(0, logged.length), logged, `one spool-eviction event per eviction over MQTT (logged: ${logged.join(',')}; received: ${events.map((e) => e.seq).join(',') || 'none'})`);
    for (const e of events) t.like(e, { streamId: 'cam1', reason: 'outside-event' });
    t.true(healthEvictions() > 0, `health reports spool.evictions (highest seen: ${healthEvictions()})`);
    const exit = await agent.stop();
    t.is(exit.code, 143);

    t.log(`lowest free space seen: ${(w.minFree() / MIB).toFixed(1)} MiB (floor 10 MiB); evictions: ${logged.length}; in health: ${healthEvictions()}; events received: ${events.length}`);
    t.true(w.minFree() >= 8 * MIB, `free space never went below the floor minus a segment or two (lowest seen: ${(w.minFree() / MIB).toFixed(1)} MiB)`);
    t.deepEqual(agent.logs().filter((l) => DISK_FULL.test(lineText(l))).map((l) => l.msg), [], 'no disk-full error at all');
    const { rows, integrity } = readLedger(w.databaseFile);
    t.is(integrity, 'ok');
    const evictedRows = rows.filter((r) => r.state === 'evicted');
    t.deepEqual(evictedRows.slice(0, logged.length).map((r) => r.seq), logged, 'the ledger agrees with what was reported');
    // Oldest first: the evicted rows are the oldest ones, and the newest segment (the live edge) is still there.
    const firstKept = rows.findIndex((r) => r.state !== 'evicted');
    t.true(rows.slice(firstKept).every((r) => r.state === 'pending'), `evictions are a prefix of the recording: ${rows.map((r) => r.state[0]).join('')}`);
    t.is(rows.at(-1)!.state, 'pending', 'the live edge is kept');
    for (const row of evictedRows) t.false(await stat(row.path).then(() => true, () => false), `${row.seq} deleted`);
  });
}
