// The segment uploader against a real nginx WebDAV ingest: live first then oldest-first backfill, exactly
// once with the right sha256, playlists beside the segments, the link state through a cut, a refusing ingest.
// The cut here is a TCP forwarder that resets and refuses (no root needed); test/system/uplink.test.ts cuts a
// real link in network namespaces.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile, access } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import pino from 'pino';
import { Store } from '../../agent/store/index.ts';
import { Spool } from '../../agent/uplink/spool.ts';
import { SegmentUploader, type UploaderEvents } from '../../agent/uplink/uploader.ts';
import { segmentObjectName } from '../../agent/uplink/playlists.ts';
import { makeTempDir, startIngest, startVirtualCamera, type Ingest } from '../helpers/index.ts';
import { startAgent } from '../helpers/agent.ts';
import { startTcpLink } from '../helpers/tcp-link.ts';
import { probeMedia } from '../helpers/media.ts';

const silent = pino({ level: 'silent' });
const BOX = 'box-1';
const EVENT = 'match-1';

async function world(t: import('ava').ExecutionContext) {
  const dir = await makeTempDir('uploader');
  t.teardown(() => dir.remove());
  const store = Store.open(path.join(dir.path, 'venuebox.db'));
  t.teardown(() => store.close());
  const root = path.join(dir.path, 'spool');
  await mkdir(path.join(root, 'cam1'), { recursive: true });
  const running = new Set([EVENT]);
  const spool = new Spool(store, { root, quota: { maxBytes: 1e12, minFreeBytes: 0 }, keepUploadedMs: 0, log: silent, runningEvents: () => running });
  let seq = 0;
  /** A segment file of random bytes closed `ageMs` ago (the uploader does not look inside). */
  const addSegment = async (ageMs = 0) => {
    const file = path.join(root, 'cam1', segmentObjectName(seq));
    await writeFile(file, randomBytes(48 * 1024));
    const start = new Date(Date.now() - ageMs - 2000).toISOString();
    return spool.add({ streamId: 'cam1', path: file, startTime: start, durationMs: 2000, bytes: 48 * 1024 }, EVENT).finally(() => (seq += 1));
  };
  return { dir, store, spool, running, addSegment };
}

function uploaderFor(t: import('ava').ExecutionContext, spool: Spool, baseUrl: string, running: Set<string>, concurrency = 1) {
  const uploader = new SegmentUploader({
    spool,
    boxId: BOX,
    baseUrl,
    target: { headers: {}, inactivityTimeoutMs: 3000 },
    segmentSeconds: 2,
    concurrency,
    backfillShare: 1,
    livePlaylistSegments: 6,
    uploadOutsideEvents: true,
    runningEvents: () => running,
    backoff: { initialMs: 200, maxMs: 1000 },
    log: silent,
  });
  t.teardown(() => uploader.stop());
  const uploaded: UploaderEvents['uploaded'][0][] = [];
  const states: string[] = [];
  uploader.on('uploaded', (u) => uploaded.push(u));
  uploader.on('state', (s) => states.push(s.state));
  return { uploader, uploaded, states };
}

function once<K extends keyof UploaderEvents>(uploader: SegmentUploader, name: K, match: (...args: UploaderEvents[K]) => boolean, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${String(name)} event within ${timeoutMs} ms`)), timeoutMs);
    const listener = (...args: UploaderEvents[K]) => {
      if (!match(...args)) return;
      clearTimeout(timer);
      uploader.off(name, listener as never);
      resolve();
    };
    uploader.on(name, listener as never);
  });
}

const objectPath = (ingest: Ingest, seq: number) => path.join(ingest.root, BOX, EVENT, 'cam1', segmentObjectName(seq));
const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

test('a backlog goes out live edge first, then oldest first; every object arrives once with its sha256; files released', async (t) => {
  const { spool, running, addSegment } = await world(t);
  const ingest = await startIngest();
  t.teardown(() => ingest.stop());
  const rows = [];
  for (let i = 0; i < 8; i++) rows.push(await addSegment((8 - i) * 2000));
  const { uploader, uploaded } = uploaderFor(t, spool, ingest.baseUrl, running);
  uploader.start();
  await uploader.drained();
  t.deepEqual(
    uploaded.map((u) => [u.row.seq, u.live]),
    [[7, true], [0, false], [1, false], [2, false], [3, false], [4, false], [5, false], [6, false]],
    'the newest first (live), then the backlog oldest first',
  );
  for (const row of rows) {
    t.is(await sha256(objectPath(ingest, row.seq)), String(row.sha256), `segment ${row.seq} arrived intact`);
    t.is(spool.get('cam1', row.seq)?.state, 'done');
    await t.throwsAsync(access(row.path), { code: 'ENOENT' }, 'the spool file is released after the 2xx');
  }
  t.is(spool.stats().backlogSegments, 0);
  t.is(uploader.health().state, 'online');
  t.true((uploader.health().throughputKbps ?? 0) > 0, 'throughput is measured');

  // Playlists beside the segments: the event playlist is the whole recording, still open while the event runs.
  const eventPlaylist = path.join(ingest.root, BOX, EVENT, 'cam1', 'event.m3u8');
  const text = await readFile(eventPlaylist, 'utf8');
  t.deepEqual(text.split('\n').filter((l) => l.endsWith('.ts')), rows.map((r) => segmentObjectName(r.seq)));
  t.false(text.includes('#EXT-X-ENDLIST'));
  t.false(text.includes('DISCONTINUITY'));
  const live = await readFile(path.join(ingest.root, BOX, EVENT, 'cam1', 'live.m3u8'), 'utf8');
  t.true(live.includes(segmentObjectName(7)), 'the live playlist ends at the live edge');

  // The event ends: its playlist is closed.
  running.delete(EVENT);
  const closed = once(uploader, 'playlist', (p) => p.name === 'event.m3u8' && p.complete === true, 10_000);
  uploader.eventEnded(EVENT);
  await closed;
  t.true((await readFile(eventPlaylist, 'utf8')).trimEnd().endsWith('#EXT-X-ENDLIST'));
});

test('a long running event: its playlist is rewritten no more often than its duration / 50, the live playlist at every segment; the end at once', async (t) => {
  const { dir, spool, running } = await world(t);
  const ingest = await startIngest();
  t.teardown(() => ingest.stop());
  const { uploader } = uploaderFor(t, spool, ingest.baseUrl, running);
  const written: string[] = [];
  uploader.on('playlist', (p) => written.push(p.name));
  uploader.start();
  // Segments that each stand for a minute of footage: the event playlist is rewritten at most every listed duration
  // / 50 — 1.2 s after the first, 2.4 s with two, 3.6 s with three (from its last write).
  const add = async (seq: number) => {
    const file = path.join(dir.path, 'spool', 'cam1', segmentObjectName(seq));
    await writeFile(file, randomBytes(16 * 1024));
    await spool.add({ streamId: 'cam1', path: file, startTime: new Date(Date.now() - (3 - seq) * 60_000).toISOString(), durationMs: 60_000, bytes: 16 * 1024 }, EVENT);
    const live = once(uploader, 'playlist', (p) => p.name === 'live.m3u8', 10_000);
    uploader.wake();
    await live;
  };
  const eventPlaylist = path.join(ingest.root, BOX, EVENT, 'cam1', 'event.m3u8');
  const firstWrite = once(uploader, 'playlist', (p) => p.name === 'event.m3u8', 10_000);
  await add(0);
  await firstWrite;
  const firstAt = performance.now();
  const listed = async () => (await readFile(eventPlaylist, 'utf8')).split('\n').filter((l) => l.endsWith('.ts'));
  t.deepEqual(await listed(), [segmentObjectName(0)], 'the first segment: the event playlist is written at once');
  const deferred = once(uploader, 'playlist', (p) => p.name === 'event.m3u8', 10_000);
  await add(1);
  await add(2);
  t.deepEqual(written.filter((n) => n === 'live.m3u8').length, 3, 'the live playlist after every segment');
  t.deepEqual(written.filter((n) => n === 'event.m3u8').length, 1, 'the event playlist not rewritten within its interval');
  t.deepEqual(await listed(), [segmentObjectName(0)]);
  // The skipped rewrite is made later by itself, once the interval of what it lists (3 min / 50 = 3.6 s) has passed.
  await deferred;
  const waitedMs = performance.now() - firstAt;
  t.true(waitedMs >= 3600 - 50, `the deferred rewrite came ${Math.round(waitedMs)} ms after the first`);
  t.deepEqual(await listed(), [0, 1, 2].map(segmentObjectName), 'and lists every segment');
  t.false((await readFile(eventPlaylist, 'utf8')).includes('#EXT-X-ENDLIST'), 'still open: the event runs');
  await add(3);
  // The event ends: the deferred rewrite does not wait, the playlist gets every segment and its end.
  running.delete(EVENT);
  const closed = once(uploader, 'playlist', (p) => p.name === 'event.m3u8' && p.complete === true, 10_000);
  uploader.eventEnded(EVENT);
  await closed;
  const text = await readFile(eventPlaylist, 'utf8');
  t.deepEqual(await listed(), [0, 1, 2, 3].map(segmentObjectName), 'the segment that came after the deferred rewrite too');
  t.true(text.trimEnd().endsWith('#EXT-X-ENDLIST'));
});

test('a new live segment overtakes the backlog while backfill runs', async (t) => {
  const { spool, running, addSegment } = await world(t);
  const ingest = await startIngest();
  t.teardown(() => ingest.stop());
  for (let i = 0; i < 30; i++) await addSegment((30 - i) * 2000);
  const { uploader, uploaded } = uploaderFor(t, spool, ingest.baseUrl, running);
  const backfillStarted = once(uploader, 'uploaded', (u) => !u.live, 10_000);
  uploader.start();
  await backfillStarted;
  const fresh = await addSegment(0);
  uploader.wake();
  const doneAtWake = uploaded.length;
  await uploader.drained();
  const order = uploaded.map((u) => u.row.seq);
  const freshAt = order.indexOf(fresh.seq);
  const backfillAfter = order.slice(freshAt + 1);
  // At most the one upload in flight when it arrived (concurrency 1) goes before it.
  t.true(backfillAfter.length > 0 && freshAt <= doneAtWake + 1, `the new segment went out right after the upload in flight (order ${order.join(',')}, ${doneAtWake} done when it arrived)`);
  t.true(uploaded[freshAt]!.live);
  t.deepEqual(backfillAfter, [...backfillAfter].sort((a, b) => a - b), 'backfill stays oldest first');
});

test('through a cut: offline with backoff, nothing acknowledged is lost, live edge first on return, then online', async (t) => {
  const { spool, running, addSegment } = await world(t);
  const ingest = await startIngest();
  t.teardown(() => ingest.stop());
  const link = await startTcpLink({ host: '127.0.0.1', port: Number(new URL(ingest.baseUrl).port) });
  t.teardown(() => link.stop());
  const { uploader, uploaded, states } = uploaderFor(t, spool, link.url(), running, 2);
  uploader.start();
  await addSegment(0);
  uploader.wake();
  await once(uploader, 'uploaded', () => true, 10_000);

  link.cut();
  const offline = once(uploader, 'state', (s) => s.state === 'offline', 15_000);
  for (let i = 0; i < 6; i++) {
    await addSegment((6 - i) * 100);
    uploader.wake();
  }
  await offline;
  t.is(spool.stats().backlogSegments, 6, 'the backlog is held in the spool');
  t.truthy(uploader.health().lastError);

  const before = uploaded.length;
  await link.restore();
  await once(uploader, 'state', (s) => s.state === 'online', 15_000);
  await uploader.drained();
  const after = uploaded.slice(before);
  t.is(after[0]!.row.seq, 6, 'the live edge goes first when the link returns');
  t.deepEqual(after.slice(1).map((u) => u.row.seq).sort((a, b) => a - b), [1, 2, 3, 4, 5]);
  t.deepEqual(states.slice(-2), ['offline', 'online']);
  for (let seq = 0; seq <= 6; seq++) t.is(await sha256(objectPath(ingest, seq)), String(spool.get('cam1', seq)!.sha256));
  // The event playlist (complete up to the live edge) has no discontinuity: nothing was missing.
  const text = await readFile(path.join(ingest.root, BOX, EVENT, 'cam1', 'event.m3u8'), 'utf8');
  t.is(text.split('\n').filter((l) => l.endsWith('.ts')).length, 7);
  t.false(text.includes('DISCONTINUITY'));
});

test('an ingest that refuses (HTTP 403) makes the link degraded, not offline; the segment stays pending and is retried', async (t) => {
  const { spool, running, addSegment } = await world(t);
  let refusals = 0;
  const server = http.createServer((req, res) => {
    refusals += 1;
    req.resume();
    req.on('end', () => res.writeHead(403).end('forbidden'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { uploader, states } = uploaderFor(t, spool, `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`, running);
  const degraded = once(uploader, 'state', (s) => s.state === 'degraded' && /403/.test(s.reason ?? ''), 10_000);
  await addSegment(0);
  uploader.start();
  await degraded;
  t.false(states.includes('offline'));
  t.is(spool.get('cam1', 0)?.state, 'pending');
  t.true((spool.get('cam1', 0)?.attempts ?? 0) >= 1);
  t.true(refusals >= 1);
  server.closeAllConnections();
});

test('with a URL template the object name and a token go where the template says; the token is not in the ledger', async (t) => {
  const { spool, running, addSegment, store } = await world(t);
  const ingest = await startIngest();
  t.teardown(() => ingest.stop());
  const uploader = new SegmentUploader({
    spool,
    boxId: BOX,
    urlTemplate: `${ingest.baseUrl}/signed/{boxId}/{eventId}/{streamId}/{name}?token={token}`,
    token: 's3cr3t-token/+=',
    target: { headers: {}, inactivityTimeoutMs: 3000 },
    segmentSeconds: 2,
    concurrency: 1,
    backfillShare: 1,
    livePlaylistSegments: 6,
    uploadOutsideEvents: true,
    runningEvents: () => running,
    log: silent,
  });
  t.teardown(() => uploader.stop());
  t.is(uploader.objectUrl(EVENT, 'cam1', '00000000.ts'), `${ingest.baseUrl}/signed/${BOX}/${EVENT}/cam1/00000000.ts?token=s3cr3t-token%2F%2B%3D`);
  const row = await addSegment(0);
  uploader.start();
  await uploader.drained();
  t.is(await sha256(path.join(ingest.root, 'signed', BOX, EVENT, 'cam1', '00000000.ts')), String(row.sha256));
  const dump = JSON.stringify(store.db.prepare('SELECT * FROM segments').all());
  t.false(dump.includes('s3cr3t'), 'the token is never stored');
});

test('an agent with an ingest: the event recording at the ingest plays back (ffprobe) and matches the ledger', async (t) => {
  const ingest = await startIngest();
  t.teardown(() => ingest.stop());
  const camera = await startVirtualCamera({ width: 640, height: 360, fps: 25, keyint: 25 });
  t.teardown(() => camera.stop());
  const agent = await startAgent({
    config: {
      boxId: BOX,
      log: { level: 'debug' },
      mqtt: { url: 'mqtt://127.0.0.1:1' },
      cameras: [{ id: 'cam1', rtsp: camera.url }],
      recording: { segmentSeconds: 2, eventId: EVENT },
      uplink: { url: ingest.baseUrl },
    },
  });
  t.teardown(() => agent.cleanup());
  let uploadedCount = 0;
  await agent.waitForLog((l) => l.msg === 'segment uploaded' && ++uploadedCount >= 4, 40_000, '4 segments uploaded');
  await agent.stop();
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(agent.databaseFile, { readonly: true });
  const rows = db.prepare("SELECT seq, sha256, state FROM segments WHERE stream_id = 'cam1' ORDER BY seq").all() as Array<{ seq: number; sha256: string; state: string }>;
  db.close();
  const done = rows.filter((r) => r.state === 'done');
  t.true(done.length >= 4, `acknowledged: ${done.length} of ${rows.length}`);
  for (const row of done) t.is(await sha256(objectPath(ingest, row.seq)), String(row.sha256));
  // The event runs on (a fixed event id never ends), so its playlist is open and ffprobe would wait for more;
  // played as it will be once closed: the same playlist with its end appended.
  const open = await readFile(path.join(ingest.root, BOX, EVENT, 'cam1', 'event.m3u8'), 'utf8');
  t.true(open.includes('#EXT-X-PLAYLIST-TYPE:EVENT'));
  const closedCopy = path.join(ingest.root, BOX, EVENT, 'cam1', 'closed-copy.m3u8');
  await writeFile(closedCopy, open + '#EXT-X-ENDLIST\n');
  const media = await probeMedia(closedCopy);
  t.is(media.codec, 'h264');
  t.true(media.durationSeconds >= 6, `the event playlist plays ${media.durationSeconds} s`);
  t.true(media.frames >= 6 * 25 * 0.9, `frames decoded through the playlist: ${media.frames}`);
});
