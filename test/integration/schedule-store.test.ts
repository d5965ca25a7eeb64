// The schedule through a real SQLite file (migration 5): stored, replaced per source with execution state
// kept by id, reloaded after a restart that resumes the running event; the file source. Fake clock, no sleeps.
import test from 'ava';
import pino from 'pino';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Store } from '../../agent/store/index.ts';
import { ScheduleService, ScheduleStore, loadScheduleFile, ScheduleFileError, ScheduleValidationError, type PhaseChange, type ScheduleNotice } from '../../agent/schedule/index.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { makeTempDir } from '../helpers/index.ts';

const silent = pino({ level: 'silent' });
const T0 = Date.parse('2025-06-01T18:00:00Z');
const MIN = 60_000;
const at = (minutes: number): number => T0 + minutes * MIN;
const CAMERAS = [{ id: 'cam1', role: 'main' }, { id: 'cam2', role: 'wide' }];

const SCHEDULE = {
  version: 1,
  timezone: 'Europe/Zurich',
  events: [
    { id: 'a', title: 'Match A', start: '2025-06-01T20:10:00+02:00', end: '2025-06-01T21:40:00+02:00', program: { role: 'main' } },
    { id: 'b', title: 'Match B', start: '2025-06-01T20:00:00Z', end: '2025-06-01T21:00:00Z', program: { cameraId: 'cam2' }, recordOnly: true },
  ],
};

async function open(t: { teardown: (fn: () => unknown) => void }, label: string) {
  const dir = await makeTempDir(label);
  t.teardown(() => dir.remove());
  return { dir, file: path.join(dir.path, 'venuebox.db') };
}

function service(store: Store, clock: FakeClock, file?: string) {
  const schedule = new ScheduleService({ store, cameras: CAMERAS, clock, log: silent, file });
  const changes: PhaseChange[] = [];
  const notices: ScheduleNotice[] = [];
  schedule.on('phase', (c) => changes.push(c));
  schedule.on('notice', (n) => notices.push(n));
  return { schedule, changes, notices };
}

type Row = { id: string; phase: string; started_at: string | null; extended_end: string | null; start_at: string; source: string; title: string };
const rows = (store: Store): Row[] => store.db.prepare('SELECT id, phase, started_at, extended_end, start_at, source, title FROM schedule_events ORDER BY id').all() as Row[];

test('stored in UTC, executed, and resumed after an agent restart mid-event from the SQLite file alone', async (t) => {
  const { file } = await open(t, 'schedule-restart');
  const clock = new FakeClock(at(0));
  let store = Store.open(file);
  t.true(store.schemaVersion() >= 5, 'the schedule tables are there (migration 5)');
  const first = service(store, clock);
  await first.schedule.start();
  const result = first.schedule.applyMessage(JSON.stringify(SCHEDULE), 'mqtt');
  t.deepEqual(result.added, ['a', 'b']);
  clock.advanceTo(at(30));
  t.is(first.schedule.currentEvent('cam1'), 'a');
  first.schedule.extend({ eventId: 'a', minutes: 20 });
  t.deepEqual(rows(store).map((r) => [r.id, r.phase, r.start_at, r.started_at, r.extended_end]), [
    ['a', 'live', '2025-06-01T18:10:00.000Z', '2025-06-01T18:10:00.000Z', '2025-06-01T20:00:00.000Z'],
    ['b', 'scheduled', '2025-06-01T20:00:00.000Z', null, null],
  ]);
  first.schedule.stop();
  store.close();

  // The agent comes back 15 minutes later, the controller unreachable: only the database knows the schedule.
  const later = new FakeClock(at(45));
  store = Store.open(file);
  t.teardown(() => store.close());
  const second = service(store, later);
  await second.schedule.start();
  t.deepEqual(second.changes.map((c) => [c.eventId, c.from, c.to, c.reason, c.resumed]), [['a', 'live', 'live', 'resume', true]]);
  t.is(second.schedule.currentEvent('cam1'), 'a');
  t.deepEqual([...second.schedule.runningEvents()], ['a']);
  const health = second.schedule.health();
  t.is(health.timezone, 'Europe/Zurich');
  t.like(health.events[0], { id: 'a', phase: 'live', end: '2025-06-01T20:00:00.000Z', endVenue: '2025-06-01T22:00:00+02:00' });
  t.is(second.schedule.formatTime(health.events[0]!.start), 'Sun, 1 Jun 2025, 20:10 CEST');
  later.advanceTo(at(120));
  t.is(rows(store).find((r) => r.id === 'a')?.phase, 'post-roll', 'the extended end (20:00) held across the restart');
  t.is(second.schedule.currentEvent('cam2'), 'b');
  second.schedule.stop();
});

test('events whose window passed while the box was down are marked missed, and stored so', async (t) => {
  const { file } = await open(t, 'schedule-missed');
  let store = Store.open(file);
  const first = service(store, new FakeClock(at(0)));
  await first.schedule.start();
  first.schedule.applyMessage(SCHEDULE, 'mqtt');
  first.schedule.stop();
  store.close();
  store = Store.open(file);
  t.teardown(() => store.close());
  const second = service(store, new FakeClock(at(240)));
  await second.schedule.start();
  t.deepEqual(second.changes.map((c) => [c.eventId, c.to, c.reason, c.resumed]), [['a', 'missed', 'window-passed', true], ['b', 'missed', 'window-passed', true]]);
  t.deepEqual(rows(store).map((r) => r.phase), ['missed', 'missed']);
  second.schedule.stop();
});

test('a replace keeps the execution state of kept ids, deletes and cancels removed future events, keeps a removed live event to its end', async (t) => {
  const { file } = await open(t, 'schedule-replace');
  const store = Store.open(file);
  t.teardown(() => store.close());
  const clock = new FakeClock(at(0));
  const s = service(store, clock);
  await s.schedule.start();
  s.schedule.applyMessage({ ...SCHEDULE, events: [...SCHEDULE.events, { id: 'c', title: 'Match C', start: '2025-06-01T18:20:00Z', end: '2025-06-01T19:00:00Z', program: { role: 'wide' } }] }, 'mqtt');
  clock.advanceTo(at(30));
  t.deepEqual(rows(store).map((r) => [r.id, r.phase]), [['a', 'live'], ['b', 'scheduled'], ['c', 'live']]);

  // Title and end of a changed; b and c gone.
  const renamed = { version: 2, timezone: 'Europe/Zurich', events: [{ ...SCHEDULE.events[0]!, title: 'Match A (delayed end)', end: '2025-06-01T22:00:00+02:00' }] };
  const result = s.schedule.applyMessage(renamed, 'mqtt');
  t.like(result, { updated: ['a'], removed: ['b'], keptRunning: ['c'], added: [] });
  t.deepEqual(rows(store).map((r) => [r.id, r.phase, r.title, r.started_at]), [
    ['a', 'live', 'Match A (delayed end)', '2025-06-01T18:10:00.000Z'],
    ['c', 'live', 'Match C', '2025-06-01T18:20:00.000Z'],
  ]);
  t.like(s.changes.at(-1), { eventId: 'b', from: 'scheduled', to: 'cancelled', reason: 'removed' });
  t.like(s.notices.at(-1), { kind: 'removed-while-running', eventId: 'c' });
  t.deepEqual(s.schedule.applyMessage(renamed, 'mqtt').unchanged, ['a'], 'the same message again changes nothing');

  // Stale and empty messages are refused and change nothing.
  const stale = t.throws(() => s.schedule.applyMessage({ ...SCHEDULE, version: 1 }, 'mqtt'), { instanceOf: ScheduleValidationError });
  t.deepEqual(stale?.issues, [{ path: 'version', message: 'is older than the version applied (2): refused as stale' }]);
  t.throws(() => s.schedule.applyMessage('', 'mqtt'), { instanceOf: ScheduleValidationError, message: /cleared retained message/ });
  t.regex(s.schedule.health().lastError ?? '', /cleared retained message/);
  t.deepEqual(rows(store).map((r) => r.id), ['a', 'c']);

  // c finishes; the next replace without it deletes it.
  clock.advanceTo(at(62));
  t.is(rows(store).find((r) => r.id === 'c')?.phase, 'done');
  t.deepEqual(s.schedule.applyMessage({ ...renamed, version: 3 }, 'mqtt').removed, ['c']);
  s.schedule.stop();
});

test('sources are replaced independently; the file source has the same validation', async (t) => {
  const { dir, file } = await open(t, 'schedule-file');
  const store = Store.open(file);
  t.teardown(() => store.close());
  const scheduleFile = path.join(dir.path, 'schedule.json');
  await writeFile(scheduleFile, JSON.stringify({ timezone: 'UTC', events: [{ id: 'training', title: 'Training', start: '2025-06-01T19:00:00Z', end: '2025-06-01T20:00:00Z', program: { role: 'wide' }, recordOnly: true }] }));
  const s = service(store, new FakeClock(at(0)), scheduleFile);
  await s.schedule.start();
  t.deepEqual(rows(store).map((r) => [r.id, r.source]), [['training', 'file']]);
  s.schedule.applyMessage(SCHEDULE, 'mqtt');
  s.schedule.applyMessage({ timezone: 'Europe/Zurich', events: [] }, 'mqtt');
  t.deepEqual(rows(store).map((r) => [r.id, r.source]), [['training', 'file']], 'an mqtt replace leaves the file\'s events alone');
  t.is(s.schedule.timezone(), 'Europe/Zurich', 'the time zone of the schedule applied last');
  t.deepEqual(new ScheduleStore(store).sourceInfo('file'), { timezone: 'UTC', version: null, appliedAt: '2025-06-01T18:00:00.000Z' });

  await writeFile(scheduleFile, JSON.stringify({ timezone: 'UTC', events: [{ id: 'x', title: 'X', start: '2025-06-01T19:00:00Z', end: '2025-06-01T18:00:00Z', program: { role: 'wide' } }] }));
  const invalid = await t.throwsAsync(loadScheduleFile(scheduleFile, { now: at(0) }), { instanceOf: ScheduleValidationError });
  t.deepEqual(invalid?.issues, [{ path: 'events[0].end', message: 'must be after start' }]);
  t.regex(invalid?.message ?? '', /^invalid schedule file .*schedule\.json: 1 issue/);
  await t.throwsAsync(s.schedule.reloadFile(), { instanceOf: ScheduleValidationError });
  t.deepEqual(rows(store).map((r) => r.id), ['training'], 'an invalid file changes nothing');
  await t.throwsAsync(loadScheduleFile(path.join(dir.path, 'missing.json'), { now: at(0) }), { instanceOf: ScheduleFileError, message: /cannot read the schedule file/ });
  s.schedule.stop();
});
