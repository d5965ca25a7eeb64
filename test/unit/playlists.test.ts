// HLS playlists from ledger rows: the live window, the event recording, and where discontinuities go.
import test from 'ava';
import { eventPlaylist, livePlaylist, segmentObjectName } from '../../agent/uplink/playlists.ts';
import type { SegmentRow, SegmentState } from '../../agent/uplink/spool.ts';

function row(seq: number, state: SegmentState, extra: Partial<SegmentRow> = {}): SegmentRow {
  return {
    id: seq,
    stream_id: 'cam1',
    seq,
    path: `/spool/cam1/${segmentObjectName(seq)}`,
    start_time: new Date(Date.UTC(2026, 10, 25, 18, 0, 0) + seq * 2000).toISOString(),
    duration_ms: 2000,
    bytes: 1000,
    state,
    gap_before_ms: 0,
    event_id: 'match-1',
    sha256: null,
    attempts: 0,
    priority: 1,
    uploaded_at: null,
    last_error: null,
    adopted: 0,
    ...extra,
  };
}

const uris = (text: string) => text.split('\n').filter((l) => l.endsWith('.ts'));

test('live: the newest run of acknowledged segments, at most the window', (t) => {
  const rows = [row(0, 'done'), row(1, 'done'), row(2, 'done'), row(3, 'done'), row(4, 'uploaded'), row(5, 'pending')];
  const live = livePlaylist(rows, 3)!;
  t.deepEqual(uris(live.text), ['00000002.ts', '00000003.ts', '00000004.ts']);
  t.true(live.text.includes('#EXT-X-MEDIA-SEQUENCE:2'));
  t.true(live.text.includes('#EXT-X-TARGETDURATION:2'));
  t.false(live.text.includes('#EXT-X-ENDLIST'), 'a live playlist has no end');
});

test('live: after an outage the newest segment goes out alone; backfill never moves the media sequence back', (t) => {
  // 0–1 were live before the cut; 2–9 recorded during it; 10 (the live edge) was uploaded first.
  const rows = [row(0, 'done'), row(1, 'done'), ...[2, 3, 4, 5, 6, 7, 8, 9].map((s) => row(s, 'pending')), row(10, 'done')];
  const first = livePlaylist(rows, 6)!;
  t.deepEqual(uris(first.text), ['00000010.ts']);
  // Backfill catches up 8 and 9: they are older than what viewers already have, so the floor keeps them out.
  rows[8] = row(8, 'done');
  rows[9] = row(9, 'done');
  const second = livePlaylist(rows, 6, first.firstSeq)!;
  t.deepEqual(uris(second.text), ['00000010.ts']);
  t.true(second.text.includes('#EXT-X-MEDIA-SEQUENCE:10'));
  // New live segments extend the run forward.
  rows.push(row(11, 'done'), row(12, 'done'));
  t.deepEqual(uris(livePlaylist(rows, 6, second.firstSeq)!.text), ['00000010.ts', '00000011.ts', '00000012.ts']);
});

test('live: nothing acknowledged yet → no playlist', (t) => {
  t.is(livePlaylist([row(0, 'pending')], 6), undefined);
});

test('event: every segment in order, complete with ENDLIST once over and nothing waits', (t) => {
  const rows = [row(0, 'done'), row(1, 'done'), row(2, 'uploaded')];
  const running = eventPlaylist(rows, true);
  t.true(running.text.includes('#EXT-X-PLAYLIST-TYPE:EVENT'));
  t.false(running.complete);
  const over = eventPlaylist(rows, false);
  t.true(over.complete);
  t.true(over.text.includes('#EXT-X-PLAYLIST-TYPE:VOD'));
  t.true(over.text.trimEnd().endsWith('#EXT-X-ENDLIST'));
  t.deepEqual(uris(over.text), ['00000000.ts', '00000001.ts', '00000002.ts']);
  t.is(over.discontinuities, 0);
});

test('event: it stops at the first segment still waiting (an EVENT playlist only grows at its end)', (t) => {
  const rows = [row(0, 'done'), row(1, 'pending'), row(2, 'done')];
  const playlist = eventPlaylist(rows, false);
  t.deepEqual(uris(playlist.text), ['00000000.ts']);
  t.false(playlist.complete, 'not complete while backfill is pending');
});

test('event: footage truly missing is a discontinuity — a recording gap, an evicted or a lost segment — never a splice', (t) => {
  const rows = [row(0, 'done'), row(1, 'done', { gap_before_ms: 4000 }), row(2, 'evicted'), row(3, 'lost'), row(4, 'done'), row(5, 'done')];
  const playlist = eventPlaylist(rows, false);
  t.deepEqual(uris(playlist.text), ['00000000.ts', '00000001.ts', '00000004.ts', '00000005.ts']);
  t.is(playlist.discontinuities, 2);
  const lines = playlist.text.split('\n');
  t.is(lines[lines.indexOf('00000001.ts') - 2], '#EXT-X-DISCONTINUITY');
  t.is(lines[lines.indexOf('00000004.ts') - 2], '#EXT-X-DISCONTINUITY');
  t.true(playlist.complete);
});

test('target duration is the longest segment rounded (RFC 8216: EXTINF rounded must not exceed it)', (t) => {
  const rows = [row(0, 'done', { duration_ms: 2000 }), row(1, 'done', { duration_ms: 3400 })];
  t.true(eventPlaylist(rows, false).text.includes('#EXT-X-TARGETDURATION:3'));
  t.true(eventPlaylist(rows, false).text.includes('#EXTINF:3.400,'));
});
