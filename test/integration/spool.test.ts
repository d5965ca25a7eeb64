// The spool against real SQLite files and real MPEG-TS segments (made once per run with ffmpeg, copied into
// temp folders): the quota's eviction order step by step, the free-disk floor, start-up reconciliation of
// files and rows (lost, adopted, truncated, garbage, already acknowledged), and the sha256 in the rows.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, stat, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { Store } from '../../agent/store/index.ts';
import { Spool, type Eviction, type SegmentRow, type SpoolQuota } from '../../agent/uplink/spool.ts';
import { segmentPath } from '../../agent/encoder/pipeline-builder.ts';
import { makeTempDir, type TempDir } from '../helpers/tmp.ts';
import { probeMedia } from '../helpers/media.ts';

const run = promisify(execFile);
const T0 = Date.parse('2026-11-25T18:00:00.000Z');
const TS_PACKET = 188;

interface Fixture {
  path: string;
  bytes: number;
  /** ffprobe's container duration, ms. */
  durationMs: number;
}

/**
 * Real 2 s MPEG-TS segments: `camera` like an IP camera's stream (x264 without B-frames, 1 s GOP) and
 * `bframes` with B-frames (x264 medium, 3 B-frames), whose PTS are out of order in the file.
 */
const fixtures = { camera: [] as Fixture[], bframes: [] as Fixture[] };
let fixtureDir: TempDir | undefined;

test.before(async () => {
  fixtureDir = await makeTempDir('spool-fixtures');
  const make = async (name: keyof typeof fixtures, x264: string[]) => {
    const pattern = path.join(fixtureDir!.path, `${name}-%02d.ts`);
    await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-t', '6', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', ...x264, '-g', '25', '-f', 'segment', '-segment_time', '2', '-segment_format', 'mpegts', pattern]);
    for (const file of (await readdir(fixtureDir!.path)).filter((f) => f.startsWith(`${name}-`)).sort()) {
      const full = path.join(fixtureDir!.path, file);
      fixtures[name].push({ path: full, bytes: (await stat(full)).size, durationMs: (await probeMedia(full)).durationSeconds * 1000 });
    }
  };
  await make('camera', ['-preset', 'ultrafast', '-bf', '0']);
  await make('bframes', ['-preset', 'medium', '-bf', '3']);
});

test.after.always(async () => {
  await fixtureDir?.remove();
});

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

interface World {
  dir: string;
  root: string;
  store: Store;
  spool: Spool;
  /** The spool reads it at every pass: tests change the quota by assigning to it. */
  quota: SpoolQuota;
  /** What the `freeBytes` option reports (the file system's free space as the spool sees it). */
  disk: { freeBytes: number };
  evicted: Eviction[];
  lost: Array<{ streamId: string; seq: number; reason: string }>;
  adopted: Array<{ streamId: string; seq: number }>;
  /** Copies a fixture into the spool as segment `seq` of `streamId` and returns its path. */
  place(streamId: string, seq: number, fixture?: Fixture): Promise<string>;
  /** Places a segment and records it (Spool.add), starting `offsetS` seconds after T0. */
  add(streamId: string, seq: number, offsetS: number, eventId: string | null, fixture?: Fixture): Promise<SegmentRow>;
  row(streamId: string, seq: number): SegmentRow;
}

async function world(t: ExecutionContext, options: { running?: string[]; keepUploadedMs?: number; quota?: Partial<SpoolQuota> } = {}): Promise<World> {
  const temp = await makeTempDir('spool');
  const store = Store.open(path.join(temp.path, 'state', 'venuebox.db'));
  t.teardown(async () => {
    store.close();
    await temp.remove();
  });
  const root = path.join(temp.path, 'state', 'spool');
  const quota: SpoolQuota = { maxBytes: 1024 ** 3, minFreeBytes: 0, ...options.quota };
  const disk = { freeBytes: 100 * 1024 ** 3 };
  const running = new Set(options.running ?? []);
  const spool = new Spool(store, {
    root,
    quota,
    keepUploadedMs: options.keepUploadedMs ?? 0,
    log: pino({ level: 'silent' }),
    runningEvents: () => running,
    freeBytes: async () => disk.freeBytes,
  });
  const w: World = {
    dir: temp.path,
    root,
    store,
    spool,
    quota,
    disk,
    evicted: [],
    lost: [],
    adopted: [],
    async place(streamId, seq, fixture = fixtures.camera[seq % fixtures.camera.length]!) {
      const file = segmentPath(path.join(root, streamId), seq);
      await mkdir(path.dirname(file), { recursive: true });
      await copyFile(fixture.path, file);
      return file;
    },
    async add(streamId, seq, offsetS, eventId, fixture) {
      const file = await w.place(streamId, seq, fixture);
      const { size } = await stat(file);
      return spool.add({ streamId, path: file, startTime: new Date(T0 + offsetS * 1000).toISOString(), durationMs: 2000, bytes: size }, eventId);
    },
    row(streamId, seq) {
      const row = spool.get(streamId, seq);
      if (!row) throw new Error(`no row for ${streamId}/${seq}`);
      return row;
    },
  };
  spool.on('evicted', (e) => w.evicted.push(e));
  spool.on('lost', (e) => w.lost.push(e));
  spool.on('adopted', (e) => w.adopted.push(e));
  return w;
}

test('the quota releases files in the documented order, oldest first within each step, one at a time, and counts every eviction', async (t) => {
  const w = await world(t, { running: ['live-match'], keepUploadedMs: 60 * 60_000 });
  // Two streams, inserted stream by stream (so row ids do not follow time), start times interleaved.
  const layout: Array<[string, number, number, string | null]> = [
    ['cam1', 1, 0, null],
    ['cam1', 2, 2, 'old-match'],
    ['cam1', 3, 4, 'live-match'],
    ['cam1', 4, 6, null],
    ['cam1', 5, 8, 'live-match'],
    ['cam1', 6, 10, 'old-match'],
    ['cam1', 7, 12, 'live-match'], // the live edge of cam1
    ['cam2', 1, 1, 'live-match'],
    ['cam2', 2, 3, null],
    ['cam2', 3, 5, 'old-match'],
    ['cam2', 4, 7, 'live-match'],
    ['cam2', 5, 9, null], // the live edge of cam2: footage outside an event, still kept to the very last
  ];
  for (const [stream, seq, offset, event] of layout) await w.add(stream, seq, offset, event);
  // Acknowledged and kept for local replays: cam2/1 first, then cam1/3 (uploaded_at order is not id order).
  await w.spool.markUploaded(w.row('cam2', 1));
  await sleep(5);
  await w.spool.markUploaded(w.row('cam1', 3));
  t.is(w.row('cam1', 3).state, 'uploaded');

  const expected: Array<[string, number, Eviction['reason']]> = [
    ['cam2', 1, 'kept-after-upload'],
    ['cam1', 3, 'kept-after-upload'],
    ['cam1', 1, 'outside-event'],
    ['cam2', 2, 'outside-event'],
    ['cam1', 4, 'outside-event'],
    ['cam1', 2, 'ended-event-backfill'],
    ['cam2', 3, 'ended-event-backfill'],
    ['cam1', 6, 'ended-event-backfill'],
    ['cam2', 4, 'running-event-backfill'],
    ['cam1', 5, 'running-event-backfill'],
    ['cam2', 5, 'live-edge'],
    ['cam1', 7, 'live-edge'],
  ];
  t.is(expected.length, layout.length);
  const start = w.spool.stats();
  t.is(start.segments, layout.length);
  t.is(start.evictions, 0);
  t.deepEqual(await w.spool.enforceQuota(), [], 'under the quota: nothing released');

  let budget = start.bytes;
  let evictions = 0;
  let evictedBytes = 0;
  for (const [stream, seq, reason] of expected) {
    const row = w.row(stream, seq);
    // One file over the quota: exactly the next file in the order goes, and nothing else.
    budget -= row.bytes;
    w.quota.maxBytes = budget;
    const released = await w.spool.enforceQuota();
    const after = w.row(stream, seq);
    t.false(await exists(row.path), `${stream}/${seq} deleted`);
    if (reason === 'kept-after-upload') {
      t.deepEqual(released, [], `${stream}/${seq}: releasing a kept file is not an eviction`);
      t.is(after.state, 'done', `${stream}/${seq}: an acknowledged file released becomes done`);
    } else {
      evictions += 1;
      evictedBytes += row.bytes;
      t.deepEqual(released, [{ streamId: stream, seq, eventId: row.event_id, bytes: row.bytes, reason }], `${stream}/${seq} is next, for ${reason}`);
      t.is(after.state, 'evicted');
      t.regex(after.last_error ?? '', new RegExp(reason));
    }
    const stats = w.spool.stats();
    t.is(stats.evictions, evictions, `evictions counted after ${stream}/${seq}`);
    t.is(stats.evictedBytes, evictedBytes);
    t.is(stats.bytes, budget, 'owned bytes are exactly the quota after each pass');
    // Every file not yet reached in the order is still there.
    const remaining = expected.slice(expected.findIndex(([s, q]) => s === stream && q === seq) + 1);
    for (const [s, q] of remaining) t.true(['pending', 'uploaded'].includes(w.row(s, q).state), `${s}/${q} untouched`);
  }
  t.deepEqual(
    w.evicted.map((e) => [e.streamId, e.seq, e.reason]),
    expected.filter(([, , reason]) => reason !== 'kept-after-upload'),
    'one evicted event per eviction, in order',
  );
  const end = w.spool.stats();
  t.is(end.segments, 0);
  t.is(end.backlogSegments, 0);
  t.is(end.evictions, layout.length - 2);
  t.is(Number(w.store.getMeta('spool.evictions')), end.evictions, 'the counter is durable (meta), not just in memory');
});

test('the owned-bytes tally the quota reads follows every change of ownership (checked against the ledger\'s sum)', async (t) => {
  const w = await world(t, { keepUploadedMs: 60_000 });
  const ledgerSum = () => (w.store.db.prepare("SELECT coalesce(sum(bytes), 0) AS b FROM segments WHERE state IN ('pending', 'uploaded')").get() as { b: number }).b;
  const check = (what: string) => t.is(w.spool.ownedBytes(), ledgerSum(), what);
  check('empty');
  const rows: SegmentRow[] = [];
  for (let seq = 0; seq < 6; seq++) rows.push(await w.add('cam1', seq, seq * 2, null));
  check('after six new segments');
  await w.add('cam1', 2, 4, null, fixtures.camera[0]); // the same seq again (a re-adoption): bytes may differ
  check('after an upsert of a known segment');
  await w.spool.markUploaded(w.row('cam1', 0)); // kept for replays: still owned
  check('uploaded and kept');
  await w.spool.expireKept(Date.now() + 120_000);
  check('the kept copy expired');
  w.quota.maxBytes = ledgerSum() - rows[1]!.bytes + 1;
  t.is((await w.spool.enforceQuota()).length, 1);
  check('one evicted');
  const noKeep = await world(t);
  const row = await noKeep.add('cam2', 0, 0, null);
  t.is(noKeep.spool.ownedBytes(), row.bytes);
  await noKeep.spool.markUploaded(row); // not kept: released at once
  t.is(noKeep.spool.ownedBytes(), 0);
});

test('one pass brings the spool under its quota in a single sweep and stops there', async (t) => {
  const w = await world(t);
  const rows: SegmentRow[] = [];
  for (let seq = 0; seq < 6; seq++) rows.push(await w.add('cam1', seq, seq * 2, null));
  const total = rows.reduce((sum, r) => sum + r.bytes, 0);
  // Three files too many (plus a byte): the three oldest go in one pass.
  w.quota.maxBytes = total - rows[0]!.bytes - rows[1]!.bytes - rows[2]!.bytes + 1;
  const released = await w.spool.enforceQuota();
  t.deepEqual(released.map((e) => e.seq), [0, 1, 2]);
  t.deepEqual(released.map((e) => e.reason), ['outside-event', 'outside-event', 'outside-event']);
  t.deepEqual(w.spool.pending().map((r) => r.seq), [3, 4, 5]);
  t.is(w.spool.stats().evictions, 3);
  // Concurrent callers share one pass: nothing is released twice, nothing more than needed.
  w.quota.maxBytes = rows[5]!.bytes;
  const [a, b] = await Promise.all([w.spool.enforceQuota(), w.spool.enforceQuota()]);
  t.is(a, b, 'the same pass');
  t.deepEqual(a.map((e) => e.seq), [3, 4]);
  t.is(w.spool.stats().evictions, 5);
  t.deepEqual(w.spool.pending().map((r) => r.seq), [5], 'the live edge survives');
});

test('the free-disk floor releases files even under maxBytes', async (t) => {
  const minFreeBytes = 64 * 1024 * 1024;
  const w = await world(t, { quota: { maxBytes: 1024 ** 3, minFreeBytes } });
  const rows: SegmentRow[] = [];
  for (let seq = 0; seq < 5; seq++) rows.push(await w.add('cam1', seq, seq * 2, 'match'));
  w.disk.freeBytes = minFreeBytes + 1;
  t.deepEqual(await w.spool.enforceQuota(), [], 'free disk above the floor: nothing released');
  t.true(w.spool.stats().bytes < w.quota.maxBytes);
  // The disk is 1.5 segments short of the floor: two segments (the oldest backfill of an ended event) go.
  w.disk.freeBytes = minFreeBytes - Math.round(rows[0]!.bytes * 1.5);
  const released = await w.spool.enforceQuota();
  t.deepEqual(
    released.map((e) => [e.seq, e.reason]),
    [
      [0, 'ended-event-backfill'],
      [1, 'ended-event-backfill'],
    ],
  );
  t.deepEqual(w.evicted.map((e) => e.seq), [0, 1], 'each one emitted');
  t.is(w.spool.stats().evictions, 2);
  t.is(w.spool.stats().evictedBytes, rows[0]!.bytes + rows[1]!.bytes);
  t.is(w.row('cam1', 0).state, 'evicted');
  t.false(await exists(rows[0]!.path));
  // The disk stays full (something else fills it): each pass releases more, the live edge last.
  w.disk.freeBytes = 0;
  const rest = await w.spool.enforceQuota();
  t.deepEqual(rest.map((e) => [e.seq, e.reason]), [
    [2, 'ended-event-backfill'],
    [3, 'ended-event-backfill'],
    [4, 'live-edge'],
  ]);
  t.is(w.spool.stats().segments, 0);
});

test('every row carries the sha256 of its file', async (t) => {
  const w = await world(t);
  for (const [i, fixture] of [...fixtures.camera, ...fixtures.bframes].entries()) {
    const row = await w.add('cam1', i, i * 2, 'match', fixture);
    t.regex(row.sha256 ?? '', /^[0-9a-f]{64}$/);
    t.is(row.sha256, await sha256(row.path), `${path.basename(fixture.path)}`);
    t.is(row.sha256, await sha256(fixture.path), 'the file as the pipeline closed it');
    t.is(row.bytes, fixture.bytes);
    t.is(row.state, 'pending');
    t.is(row.adopted, 0);
  }
});

test('reconcile: missing files are lost, orphans adopted (cut to whole packets), garbage and acknowledged leftovers removed', async (t) => {
  const w = await world(t, { keepUploadedMs: 60 * 60_000 });
  // A pending row whose file was deleted behind the agent's back.
  const gone = await w.add('cam1', 1, 0, 'match');
  await unlink(gone.path);
  // Acknowledged and kept for replay, then the file vanished: the footage is safe at the ingest.
  const keptGone = await w.add('cam1', 2, 2, 'match');
  await w.spool.markUploaded(keptGone);
  await unlink(keptGone.path);
  // Acknowledged and deleted (keepUploadedMs 0 in effect: state done), but the file is back, as a crash
  // between the ledger update and the unlink leaves it.
  const done = await w.add('cam1', 3, 4, 'match');
  w.store.db.prepare("UPDATE segments SET state = 'done', uploaded_at = ? WHERE id = ?").run(new Date().toISOString(), done.id);
  t.true(await exists(done.path));
  // A healthy pending row: untouched.
  const healthy = await w.add('cam1', 4, 6, 'match');

  // Files without rows, as a kill -9 between the pipeline closing a file and the row insert leaves them.
  const orphan = await w.place('cam1', 5, fixtures.camera[1]);
  const orphanB = await w.place('cam2', 7, fixtures.bframes[1]);
  // Cut mid-packet, as a crash while writing leaves it.
  const cut = await w.place('cam1', 6, fixtures.camera[2]);
  const cutAt = Math.floor(fixtures.camera[2]!.bytes * 0.6) + 77;
  await truncate(cut, cutAt);
  // When the crash happened (the files' last writes), well before this start.
  const crashedAt = new Date(Date.now() - 3_600_000);
  for (const file of [orphan, orphanB, cut]) await utimes(file, crashedAt, crashedAt);
  // Named like segments but not MPEG-TS, MPEG-TS without any timestamp, and too short to be anything.
  const garbage = await w.place('cam2', 8);
  await writeFile(garbage, randomBytes(64 * 1024));
  const noPts = await w.place('cam2', 9);
  const padding = Buffer.alloc(TS_PACKET * 100, 0xff);
  for (let i = 0; i < 100; i++) padding.set([0x47, 0x1f, 0xff, 0x10], i * TS_PACKET);
  await writeFile(noPts, padding);
  const tiny = await w.place('cam2', 10);
  await writeFile(tiny, 'x'.repeat(100));
  // Not a segment name: not the spool's business.
  const notes = path.join(w.root, 'cam1', 'notes.txt');
  await writeFile(notes, 'left by an engineer');

  const report = await w.spool.reconcile();

  t.deepEqual(report.lost, [{ streamId: 'cam1', seq: 1, eventId: 'match' }], 'the pending row without a file is reported lost');
  t.is(w.row('cam1', 1).state, 'lost');
  t.deepEqual(w.lost.map((l) => [l.streamId, l.seq]), [['cam1', 1]], 'and emitted');
  t.is(w.spool.stats().lost, 1, 'and counted');

  t.not(w.row('cam1', 2).state, 'lost', 'an acknowledged segment whose kept copy vanished is not lost footage');
  t.is(w.row('cam1', 2).state, 'done');

  t.false(await exists(done.path), 'the leftover of an acknowledged segment is removed');
  t.true(report.removed.some((r) => r.path === done.path && /acknowledged/.test(r.reason)), JSON.stringify(report.removed));
  t.is(w.row('cam1', 3).state, 'done');

  t.true(await exists(healthy.path));
  t.is(w.row('cam1', 4).state, 'pending');

  t.deepEqual(report.adopted.map((a) => `${a.streamId}/${a.seq}`).sort(), ['cam1/5', 'cam1/6', 'cam2/7']);
  t.deepEqual(w.adopted.map((a) => `${a.streamId}/${a.seq}`).sort(), ['cam1/5', 'cam1/6', 'cam2/7'], 'each adoption emitted');
  for (const [file, fixture, eventId] of [
    [orphan, fixtures.camera[1]!, 'match'],
    [orphanB, fixtures.bframes[1]!, null],
  ] as const) {
    const row = w.spool.get(path.basename(path.dirname(file)), Number(path.basename(file, '.ts')))!;
    t.is(row.state, 'pending');
    t.is(row.adopted, 1);
    t.is(row.bytes, fixture.bytes);
    t.is(row.sha256, await sha256(file));
    t.true(Math.abs(row.duration_ms - fixture.durationMs) <= 200, `${path.basename(fixture.path)}: adopted ${row.duration_ms} ms, ffprobe ${fixture.durationMs} ms`);
    // Its start is its last write (the crash) minus what it holds.
    t.true(Math.abs(Date.parse(row.start_time) + row.duration_ms - crashedAt.getTime()) < 5, `${row.start_time} + ${row.duration_ms} ms`);
    // The event of the segment before it in its stream (none for a stream without rows).
    t.is(row.event_id, eventId);
  }

  const cutRow = w.row('cam1', 6);
  const whole = Math.floor(cutAt / TS_PACKET) * TS_PACKET;
  t.is((await stat(cut)).size, whole, 'cut back to its last whole packet');
  t.is(cutRow.bytes, whole);
  t.is(cutRow.sha256, await sha256(cut));
  const media = await probeMedia(cut);
  t.is(media.codec, 'h264');
  t.true(media.frames > 0, 'the cut segment still decodes');
  t.true(cutRow.duration_ms > 0 && cutRow.duration_ms < fixtures.camera[2]!.durationMs, `cut segment: ${cutRow.duration_ms} ms`);
  t.true(Math.abs(cutRow.duration_ms - media.durationSeconds * 1000) <= 200, `cut segment: adopted ${cutRow.duration_ms} ms, ffprobe ${media.durationSeconds * 1000} ms`);
  // Ends when it was cut, not when reconcile truncated it: the downtime after it stays a gap.
  t.true(Math.abs(Date.parse(cutRow.start_time) + cutRow.duration_ms - crashedAt.getTime()) < 5, `cut segment ends ${new Date(Date.parse(cutRow.start_time) + cutRow.duration_ms).toISOString()}, crash at ${crashedAt.toISOString()}`);
  t.is(cutRow.event_id, 'match');

  for (const file of [garbage, noPts, tiny]) {
    t.false(await exists(file), `${path.basename(file)} removed`);
    t.true(report.removed.some((r) => r.path === file && r.reason.length > 0), `${path.basename(file)} reported`);
    t.is(w.spool.get('cam2', Number(path.basename(file, '.ts'))), undefined, 'and never given a row');
  }
  t.true(await exists(notes), 'a file not named like a segment is left alone');
  t.is(report.removed.length, 4, JSON.stringify(report.removed));

  // A second start finds nothing to do.
  const again = await w.spool.reconcile();
  t.deepEqual(again, { adopted: [], removed: [], lost: [] });
  t.is(w.spool.stats().lost, 1);
});
