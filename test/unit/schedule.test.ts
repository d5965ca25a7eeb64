// Schedule semantics on a fake clock (no real timers, no sleeps): phases and their timing, the overlap rule,
// the extend / start-now / stop commands, a restart mid-event, clock jumps, validation and time zones.
import test from 'ava';
import pino from 'pino';
import { FakeClock } from '../helpers/fake-clock.ts';
import { Scheduler } from '../../agent/schedule/scheduler.ts';
import { parseSchedule, parseScheduleText, scheduleCommandSchemas, type ScheduleEventInput } from '../../agent/schedule/schema.ts';
import { ScheduleCommandRefused, ScheduleValidationError } from '../../agent/schedule/errors.ts';
import { cameraDirectory } from '../../agent/schedule/index.ts';
import { formatVenueTime, venueIsoString } from '../../agent/schedule/venue-time.ts';
import { findOverlaps, footageOwner } from '../../agent/schedule/phase-rules.ts';
import { INITIAL_STATE, type ClockJump, type ExecutionState, type Phase, type PhaseChange, type ScheduleNotice, type StoredEvent } from '../../agent/schedule/types.ts';

const silent = pino({ level: 'silent' });
const T0 = Date.parse('2025-06-01T18:00:00Z');
const MIN = 60_000;
/** Wall ms `minutes` after 18:00Z. */
const at = (minutes: number): number => T0 + minutes * MIN;
const iso = (ms: number): string => new Date(ms).toISOString();
const ROLES = new Map([['main', 'cam1'], ['wide', 'cam2'], ['goal-left', 'cam3']]);
const IDS = new Set(['cam1', 'cam2', 'cam3']);

/** An event from `startMin` to `endMin` after 18:00Z on the main camera (pre-roll 5 min, post-roll 2 min by default). */
function ev(id: string, startMin: number, endMin: number, extra: Partial<ScheduleEventInput> = {}): ScheduleEventInput {
  return { id, title: `Match ${id}`, start: iso(at(startMin)), end: iso(at(endMin)), program: { role: 'main' }, ...extra };
}

function stored(list: ScheduleEventInput[], state: Partial<ExecutionState> = {}): StoredEvent[] {
  return parseSchedule({ timezone: 'Europe/Zurich', events: list }, { now: T0 }).events.map((event) => ({ event, source: 'mqtt', state: { ...INITIAL_STATE, ...state } }));
}

function harness(events: StoredEvent[], now = T0) {
  const clock = new FakeClock(now);
  const persisted = new Map<string, ExecutionState>();
  const scheduler = new Scheduler({ clock, camerasByRole: ROLES, cameraIds: IDS, events, persist: (id, state) => persisted.set(id, state), log: silent });
  const changes: PhaseChange[] = [];
  const notices: ScheduleNotice[] = [];
  const jumps: ClockJump[] = [];
  scheduler.on('phase', (change) => changes.push(change));
  scheduler.on('notice', (notice) => notices.push(notice));
  scheduler.on('clock-jump', (jump) => jumps.push(jump));
  /** The changes so far as lines: `a scheduled→warming pre-roll @18:05:00`, then forgets them. */
  const take = (): string[] => changes.splice(0).map((c) => `${c.eventId} ${c.from}→${c.to} ${c.reason}${c.resumed ? ' (resumed)' : ''} @${c.at.slice(11, 19)}`);
  return { clock, scheduler, persisted, changes, notices, jumps, take };
}

test('pre-roll: warming exactly at start − preRoll, not a millisecond before', (t) => {
  const h = harness(stored([ev('a', 10, 100)]));
  h.scheduler.start();
  h.clock.advanceTo(at(5) - 1);
  t.is(h.scheduler.phaseOf('a'), 'scheduled');
  t.deepEqual(h.take(), []);
  t.is(h.scheduler.currentEvent('cam1'), null, 'footage before the pre-roll belongs to no event');
  h.clock.advance(1);
  const [warming] = h.changes;
  t.deepEqual(h.take(), ['a scheduled→warming pre-roll @18:05:00']);
  t.is(warming?.plannedAt, '2025-06-01T18:05:00.000Z');
  t.is(warming?.cameraId, 'cam1');
  t.deepEqual([...h.scheduler.runningEvents()], ['a']);
  t.is(h.scheduler.currentEvent('cam1'), 'a', 'pre-roll footage is the event\'s');
  t.is(h.persisted.get('a')?.phase, 'warming', 'persisted before it was announced');
});

test('live at start, post-roll at end, done at end + postRoll; the state is persisted at each step', (t) => {
  const h = harness(stored([ev('a', 10, 100)]));
  h.scheduler.start();
  h.clock.advanceTo(at(10) - 1);
  t.deepEqual(h.take(), ['a scheduled→warming pre-roll @18:05:00']);
  h.clock.advance(1);
  t.deepEqual(h.take(), ['a warming→live start @18:10:00']);
  t.deepEqual([...h.scheduler.liveEvents()], ['a']);
  h.clock.advanceTo(at(100));
  t.deepEqual(h.take(), ['a live→post-roll end @19:40:00']);
  t.is(h.scheduler.currentEvent('cam1'), 'a', 'post-roll footage is the event\'s');
  h.clock.advanceTo(at(102) - 1);
  t.deepEqual(h.take(), []);
  h.clock.advance(1);
  t.deepEqual(h.take(), ['a post-roll→done post-roll-over @19:42:00']);
  t.deepEqual([...h.scheduler.runningEvents()], []);
  t.is(h.scheduler.currentEvent('cam1'), null);
  t.deepEqual(h.persisted.get('a'), { phase: 'done', startedAt: '2025-06-01T18:10:00.000Z', extendedEnd: null, stoppedAt: null });
  h.clock.advance(24 * 60 * MIN);
  t.deepEqual(h.take(), [], 'nothing after done');
});

test('overlap on one camera: the earlier event keeps it to its end, the later one waits and goes live when it is freed', (t) => {
  const h = harness(stored([ev('a', 0, 120), ev('b', 90, 180)]), at(-10));
  h.scheduler.start();
  t.like(h.notices[0], { kind: 'overlap', eventId: 'b', otherEventId: 'a', cameraId: 'cam1' });
  h.clock.advanceTo(at(90));
  t.deepEqual(h.take(), ['a scheduled→warming pre-roll @17:55:00', 'a warming→live start @18:00:00', 'b scheduled→warming pre-roll @19:25:00']);
  t.like(h.notices.at(-1), { kind: 'deferred', eventId: 'b', otherEventId: 'a' });
  t.is(h.scheduler.phaseOf('b'), 'warming');
  t.is(h.scheduler.status().find((e) => e.id === 'b')?.waitingFor, 'a');
  t.is(h.scheduler.currentEvent('cam1'), 'a', 'the live event owns the footage');
  h.clock.advanceTo(at(120));
  t.deepEqual(h.take(), ['a live→post-roll end @20:00:00', 'b warming→live camera-freed @20:00:00']);
  t.is(h.scheduler.currentEvent('cam1'), 'b', 'live beats post-roll');
  h.clock.advanceTo(at(182));
  t.deepEqual(h.take(), ['a post-roll→done post-roll-over @20:02:00', 'b live→post-roll end @21:00:00', 'b post-roll→done post-roll-over @21:02:00']);
  t.is(h.notices.filter((n) => n.kind === 'deferred').length, 1, 'deferred once');
});

test('overlap: an event whose camera is held past its own end is missed (camera-busy)', (t) => {
  const h = harness(stored([ev('a', 10, 60), ev('b', 20, 50)]));
  h.scheduler.start();
  h.clock.advanceTo(at(50));
  t.is(h.scheduler.phaseOf('a'), 'live');
  t.like(h.changes.at(-1), { eventId: 'b', from: 'warming', to: 'missed', reason: 'camera-busy' });
});

test('pre-roll of the next event overlapping the post-roll of the previous: footage goes post-roll first, then warming, then live', (t) => {
  const h = harness(stored([ev('a', 0, 60), ev('b', 63, 120)]), at(-10));
  h.scheduler.start();
  t.deepEqual(h.notices, [], 'rolls overlapping is not an overlap');
  h.clock.advanceTo(at(59));
  t.is(h.scheduler.currentEvent('cam1'), 'a', 'b warming, a live');
  h.clock.advanceTo(at(61));
  t.deepEqual([h.scheduler.phaseOf('a'), h.scheduler.phaseOf('b')], ['post-roll', 'warming']);
  t.is(h.scheduler.currentEvent('cam1'), 'a', 'post-roll beats warming');
  h.clock.advanceTo(at(62));
  t.is(h.scheduler.currentEvent('cam1'), 'b');
  h.clock.advanceTo(at(63));
  t.is(h.scheduler.phaseOf('b'), 'live');
  t.is(h.changes.filter((c) => c.to === 'live' && c.eventId === 'b')[0]?.reason, 'start', 'on time, not deferred');
});

test('events on different cameras run at the same time', (t) => {
  const h = harness(stored([ev('a', 10, 100), ev('b', 20, 80, { program: { role: 'wide' } }), ev('c', 30, 70, { program: { cameraId: 'cam3' } })]));
  h.scheduler.start();
  h.clock.advanceTo(at(40));
  t.deepEqual([...h.scheduler.liveEvents()].sort(), ['a', 'b', 'c']);
  t.deepEqual(['cam1', 'cam2', 'cam3'].map((c) => h.scheduler.currentEvent(c)), ['a', 'b', 'c']);
  t.deepEqual(h.notices, []);
});

test('extend during live: minutes or a new end; post-roll moves with it', (t) => {
  const h = harness(stored([ev('a', 10, 60)]));
  h.scheduler.start();
  h.clock.advanceTo(at(30));
  h.take();
  const result = h.scheduler.extend('a', { minutes: 30 });
  t.deepEqual(result, { eventId: 'a', phase: 'live', previousEnd: '2025-06-01T19:00:00.000Z', end: '2025-06-01T19:30:00.000Z' });
  t.is(h.persisted.get('a')?.extendedEnd, '2025-06-01T19:30:00.000Z');
  t.like(h.notices.at(-1), { kind: 'extended', eventId: 'a' });
  t.is(h.scheduler.extend('a', { end: '2025-06-01T21:45:00+02:00' }).end, '2025-06-01T19:45:00.000Z', 'an end in the venue offset');
  h.clock.advanceTo(at(60));
  t.is(h.scheduler.phaseOf('a'), 'live', 'still live at the scheduled end');
  h.clock.advanceTo(at(107));
  t.deepEqual(h.take(), ['a live→post-roll end @19:45:00', 'a post-roll→done post-roll-over @19:47:00']);
});

test('extend refusals: an earlier end, more than 12 h, an unknown event', (t) => {
  const h = harness(stored([ev('a', 10, 60)]));
  h.scheduler.start();
  h.clock.advanceTo(at(30));
  t.throws(() => h.scheduler.extend('a', { end: iso(at(50)) }), { instanceOf: ScheduleCommandRefused, message: /must be after the current end .*send stop/ });
  t.throws(() => h.scheduler.extend('a', { minutes: 12 * 60 }), { instanceOf: ScheduleCommandRefused, message: /more than 12 h/ });
  t.throws(() => h.scheduler.extend('nope', { minutes: 5 }), { instanceOf: ScheduleCommandRefused, message: /no event "nope"/ });
  t.is(h.persisted.get('a')?.extendedEnd, null, 'a refusal changes nothing');
});

test('extend after the end: allowed in post-roll (back to live), refused once done', (t) => {
  const h = harness(stored([ev('a', 10, 60)]));
  h.scheduler.start();
  h.clock.advanceTo(at(61));
  t.is(h.scheduler.phaseOf('a'), 'post-roll');
  t.throws(() => h.scheduler.extend('a', { end: iso(at(60) + 30_000) }), { instanceOf: ScheduleCommandRefused, message: /already passed/ });
  h.take();
  h.scheduler.extend('a', { minutes: 15 });
  t.deepEqual(h.take(), ['a post-roll→live extend @19:01:00']);
  t.is(h.persisted.get('a')?.startedAt, '2025-06-01T18:10:00.000Z', 'startedAt is the first start');
  h.clock.advanceTo(at(77));
  t.deepEqual(h.take(), ['a live→post-roll end @19:15:00', 'a post-roll→done post-roll-over @19:17:00']);
  t.throws(() => h.scheduler.extend('a', { minutes: 5 }), { instanceOf: ScheduleCommandRefused, message: /is done: it can no longer be extended; schedule a new event/ });
});

test('extend in post-roll is refused while the next event is live on the camera (never cut a running event)', (t) => {
  const h = harness(stored([ev('a', 10, 60), ev('b', 61, 120, { preRollSeconds: 0 })]));
  h.scheduler.start();
  h.clock.advanceTo(at(61));
  t.deepEqual([h.scheduler.phaseOf('a'), h.scheduler.phaseOf('b')], ['post-roll', 'live']);
  t.throws(() => h.scheduler.extend('a', { minutes: 10 }), { instanceOf: ScheduleCommandRefused, message: /camera cam1 is live with event b/ });
});

test('stop before the start cancels the event; it never warms or goes live', (t) => {
  for (const [when, from] of [[0, 'scheduled'], [7, 'warming']] as const) {
    const h = harness(stored([ev('a', 10, 60)]));
    h.scheduler.start();
    h.clock.advanceTo(at(when));
    h.take();
    t.like(h.scheduler.stopEvent('a'), { eventId: 'a', from });
    h.clock.advanceTo(at(120));
    t.deepEqual(h.take(), [`a ${from}→cancelled stop @18:${String(when).padStart(2, '0')}:00`]);
    t.is(h.persisted.get('a')?.stoppedAt, iso(at(when)));
  }
});

test('stop during live ends it at once, frees the camera for a waiting event, and cannot be repeated', (t) => {
  const h = harness(stored([ev('a', 10, 60), ev('b', 30, 90)]));
  h.scheduler.start();
  h.clock.advanceTo(at(40));
  h.take();
  t.deepEqual(h.scheduler.stopEvent('a'), { eventId: 'a', from: 'live', stoppedAt: '2025-06-01T18:40:00.000Z' });
  t.deepEqual(h.take(), ['a live→cancelled stop @18:40:00', 'b warming→live camera-freed @18:40:00']);
  t.is(h.scheduler.currentEvent('cam1'), 'b');
  t.throws(() => h.scheduler.stopEvent('a'), { instanceOf: ScheduleCommandRefused, message: /already cancelled/ });
});

test('start-now of a future event: live at once through warming, its end unchanged, no second start at its scheduled time', (t) => {
  const h = harness(stored([ev('a', 120, 180)]));
  h.scheduler.start();
  h.clock.advance(5000);
  t.deepEqual(h.scheduler.startNow('a'), { eventId: 'a', startedAt: '2025-06-01T18:00:05.000Z', end: '2025-06-01T21:00:00.000Z' });
  t.deepEqual(h.take(), ['a scheduled→warming start-now @18:00:05', 'a warming→live start-now @18:00:05']);
  h.clock.advanceTo(at(182));
  t.deepEqual(h.take(), ['a live→post-roll end @21:00:00', 'a post-roll→done post-roll-over @21:02:00']);
  t.throws(() => h.scheduler.startNow('a'), { instanceOf: ScheduleCommandRefused, message: /is done/ });
});

test('start-now is refused while another event is live on the camera, and for an event already live', (t) => {
  const h = harness(stored([ev('a', 10, 60), ev('b', 70, 120), ev('c', 80, 100, { program: { role: 'wide' } })]));
  h.scheduler.start();
  h.clock.advanceTo(at(20));
  t.throws(() => h.scheduler.startNow('b'), { instanceOf: ScheduleCommandRefused, message: /camera cam1 is live with event a: send stop for a first/ });
  t.throws(() => h.scheduler.startNow('a'), { instanceOf: ScheduleCommandRefused, message: /already live/ });
  t.is(h.scheduler.startNow('c').eventId, 'c', 'another camera is free');
});

/** a: warm 18:05, live 18:10, end 19:40, done 19:42. */
const RESTARTS: Array<{ title: string; stored: Partial<ExecutionState>; now: number; expect: string[]; phase: Phase }> = [
  { title: 'in pre-roll, warming', stored: { phase: 'warming' }, now: at(7), expect: ['a warming→warming resume (resumed) @18:07:00'], phase: 'warming' },
  { title: 'live, live', stored: { phase: 'live', startedAt: iso(at(10)) }, now: at(30), expect: ['a live→live resume (resumed) @18:30:00'], phase: 'live' },
  { title: 'in post-roll, post-roll', stored: { phase: 'post-roll', startedAt: iso(at(10)) }, now: at(101), expect: ['a post-roll→post-roll resume (resumed) @19:41:00'], phase: 'post-roll' },
  { title: 'live, restarted in its post-roll', stored: { phase: 'live', startedAt: iso(at(10)) }, now: at(101), expect: ['a live→post-roll end (resumed) @19:41:00'], phase: 'post-roll' },
  { title: 'extended live, restarted after the scheduled end', stored: { phase: 'live', startedAt: iso(at(10)), extendedEnd: iso(at(130)) }, now: at(110), expect: ['a live→live resume (resumed) @19:50:00'], phase: 'live' },
  { title: 'down at kick-off, back mid-event: goes live late', stored: { phase: 'scheduled' }, now: at(30), expect: ['a scheduled→warming pre-roll (resumed) @18:30:00', 'a warming→live start (resumed) @18:30:00'], phase: 'live' },
  { title: 'down for the whole live window: missed', stored: { phase: 'scheduled' }, now: at(101), expect: ['a scheduled→missed window-passed (resumed) @19:41:00'], phase: 'missed' },
  { title: 'warming when the box went down, back after the end: missed', stored: { phase: 'warming' }, now: at(110), expect: ['a warming→missed window-passed (resumed) @19:50:00'], phase: 'missed' },
  { title: 'live when the box went down, back after the post-roll: done', stored: { phase: 'live', startedAt: iso(at(10)) }, now: at(200), expect: ['a live→post-roll end (resumed) @21:20:00', 'a post-roll→done post-roll-over (resumed) @21:20:00'], phase: 'done' },
  { title: 'done stays done (no second start)', stored: { phase: 'done', startedAt: iso(at(10)) }, now: at(30), expect: [], phase: 'done' },
  { title: 'scheduled before its pre-roll: nothing', stored: { phase: 'scheduled' }, now: at(0), expect: [], phase: 'scheduled' },
];

for (const c of RESTARTS) {
  test(`restart: ${c.title}`, (t) => {
    const h = harness(stored([ev('a', 10, 100)], c.stored), c.now);
    t.is(h.scheduler.phaseOf('a'), c.stored.phase, 'built from the stored state');
    h.scheduler.start();
    t.deepEqual(h.take(), c.expect);
    t.is(h.scheduler.phaseOf('a'), c.phase);
  });
}

test('restart: after resuming, the event goes on normally (not resumed) and goes live only once', (t) => {
  const h = harness(stored([ev('a', 10, 100)], { phase: 'live', startedAt: iso(at(10)) }), at(30));
  h.scheduler.start();
  h.clock.advanceTo(at(102));
  t.deepEqual(h.take(), ['a live→live resume (resumed) @18:30:00', 'a live→post-roll end @19:40:00', 'a post-roll→done post-roll-over @19:42:00']);
});

test('wall clock steps forward 1 h: the event whose start it passed goes live late (not skipped, not twice); one inside the jump is missed', (t) => {
  const h = harness(stored([ev('a', 30, 120), ev('b', 40, 60, { program: { role: 'wide' } })]));
  h.scheduler.start();
  h.clock.advanceTo(at(10));
  t.deepEqual(h.take(), []);
  h.clock.stepWall(60 * MIN);
  h.clock.advance(1000);
  t.deepEqual(h.jumps, [{ jumpMs: 3_600_000, at: '2025-06-01T19:10:01.000Z' }]);
  const late = h.changes.filter((c) => c.eventId === 'a');
  t.deepEqual(h.take(), ['a scheduled→warming pre-roll @19:10:01', 'b scheduled→missed window-passed @19:10:01', 'a warming→live start @19:10:01']);
  t.is(late[1]?.plannedAt, '2025-06-01T18:30:00.000Z', 'the change says which boundary it stands for');
  h.clock.advance(30 * MIN);
  t.deepEqual(h.take(), []);
  h.clock.advanceTo(at(122));
  t.deepEqual(h.take(), ['a live→post-roll end @20:00:00', 'a post-roll→done post-roll-over @20:02:00']);
});

test('wall clock steps back 1 h: a live event stays live (no second start) and ends when the wall clock reaches its end', (t) => {
  const h = harness(stored([ev('a', 10, 60), ev('b', 70, 90)]));
  h.scheduler.start();
  h.clock.advanceTo(at(30));
  h.take();
  h.clock.stepWall(-60 * MIN);
  h.clock.advance(1000);
  t.deepEqual(h.jumps.map((j) => j.jumpMs), [-3_600_000]);
  t.deepEqual(h.take(), [], 'nothing goes back');
  t.is(h.scheduler.phaseOf('a'), 'live');
  // Wall now 17:30:01: 90 min of monotonic time to its end.
  h.clock.advance(90 * MIN - 1000 - 1);
  t.is(h.scheduler.phaseOf('a'), 'live');
  h.clock.advance(1);
  t.deepEqual(h.take(), ['a live→post-roll end @19:00:00']);
  h.clock.advanceTo(at(95));
  t.deepEqual(h.changes.filter((c) => c.to === 'live').map((c) => c.eventId), ['b'], 'b once, a never again');
});

test('a small wall clock adjustment (≤ 2 s) is not a jump', (t) => {
  const h = harness(stored([ev('a', 10, 60)]));
  h.scheduler.start();
  h.clock.advance(5000);
  h.clock.stepWall(1500);
  h.clock.advance(5000);
  t.deepEqual(h.jumps, []);
});

test('timers: the scheduler never sleeps longer than a tick, and stop() leaves no timer behind', (t) => {
  const h = harness(stored([ev('a', 600, 660)]));
  h.scheduler.start();
  t.is(h.clock.pendingTimers(), 1);
  h.scheduler.stop();
  t.is(h.clock.pendingTimers(), 0);
});

test('program by role resolves through camerasByRole; an unknown role or camera is reported once and owns no footage', (t) => {
  const h = harness(stored([ev('a', 10, 60, { program: { role: 'goal-left' } }), ev('b', 10, 60, { program: { role: 'drone' } }), ev('c', 10, 60, { program: { cameraId: 'cam9' } })]));
  h.scheduler.start();
  t.deepEqual(h.scheduler.status().map((e) => [e.id, e.cameraId]), [['a', 'cam3'], ['b', null], ['c', null]]);
  t.deepEqual(h.notices.map((n) => [n.kind, n.eventId]), [['unresolved-program', 'b'], ['unresolved-program', 'c']]);
  t.regex(h.notices[0]!.message, /role "drone": no camera of this box has it/);
  h.scheduler.setEvents(stored([ev('a', 10, 60, { program: { role: 'goal-left' } }), ev('b', 10, 60, { program: { role: 'drone' } })]));
  t.is(h.notices.length, 2, 'not repeated when the same schedule comes again');
  h.clock.advanceTo(at(20));
  t.is(h.scheduler.currentEvent('cam3'), 'a');
  t.like(h.changes.find((c) => c.eventId === 'b' && c.to === 'live'), { cameraId: null }, 'its phases still run, visible to the fleet');
});

test('cameraDirectory: roles from the config, the first camera takes a duplicated role', (t) => {
  const dir = cameraDirectory([{ id: 'a', role: 'main' }, { id: 'b', role: 'main' }, { id: 'c' }, { id: 'd', role: 'wide' }]);
  t.deepEqual([...dir.byRole], [['main', 'a'], ['wide', 'd']]);
  t.deepEqual(dir.duplicateRoles, ['main']);
  t.deepEqual([...dir.ids], ['a', 'b', 'c', 'd']);
});

test('setEvents: a removed future event is cancelled, a removed live event runs on, a changed live event keeps its state', (t) => {
  const h = harness(stored([ev('a', 10, 60), ev('b', 100, 160), ev('c', 20, 50, { program: { role: 'wide' } })]));
  h.scheduler.start();
  h.clock.advanceTo(at(30));
  h.take();
  h.scheduler.setEvents(stored([ev('a', 10, 75)]));
  t.deepEqual(h.take(), ['b scheduled→cancelled removed @18:30:00']);
  t.like(h.notices.at(-1), { kind: 'removed-while-running', eventId: 'c' });
  t.deepEqual([h.scheduler.phaseOf('a'), h.scheduler.phaseOf('c')], ['live', 'live']);
  h.clock.advanceTo(at(60));
  t.is(h.scheduler.phaseOf('a'), 'live', 'the new end (19:15) applies to the running event');
  t.deepEqual(h.take(), ['c live→post-roll end @18:50:00', 'c post-roll→done post-roll-over @18:52:00']);
  t.is(h.scheduler.phaseOf('c'), 'done');
});

test('pure rules: footage owner preference and overlaps', (t) => {
  t.is(footageOwner([{ id: 'w', phase: 'warming', startMs: 1 }, { id: 'p', phase: 'post-roll', startMs: 0 }, { id: 'l', phase: 'live', startMs: 2 }]), 'l');
  t.is(footageOwner([{ id: 'w', phase: 'warming', startMs: 1 }, { id: 'p', phase: 'post-roll', startMs: 0 }]), 'p');
  t.is(footageOwner([{ id: 'y', phase: 'warming', startMs: 5 }, { id: 'x', phase: 'warming', startMs: 5 }]), 'x', 'ties: the smaller id');
  t.is(footageOwner([{ id: 'd', phase: 'done', startMs: 0 }]), null);
  t.deepEqual(
    findOverlaps([
      { id: 'a', cameraId: 'c1', startMs: 0, endMs: 10 },
      { id: 'b', cameraId: 'c1', startMs: 10, endMs: 20 },
      { id: 'c', cameraId: 'c1', startMs: 5, endMs: 15 },
      { id: 'd', cameraId: 'c2', startMs: 0, endMs: 20 },
    ]),
    [{ first: 'a', second: 'c', cameraId: 'c1' }, { first: 'c', second: 'b', cameraId: 'c1' }],
  );
});

// --- validation ---

const VALID = { timezone: 'Europe/Zurich', events: [ev('a', 10, 100)] };

test('a valid schedule: defaults filled, times in UTC, time zone canonical', (t) => {
  const message = parseSchedule({ timezone: 'europe/zurich', version: 3, events: [{ id: 'cup-final', title: 'Cup final', start: '2025-06-01T20:45:00+02:00', end: '2025-06-01T22:45:00+02:00', program: { cameraId: 'cam1' } }] }, { now: T0 });
  t.is(message.timezone, 'Europe/Zurich');
  t.deepEqual(message.events[0], {
    id: 'cup-final',
    title: 'Cup final',
    start: '2025-06-01T18:45:00.000Z',
    end: '2025-06-01T20:45:00.000Z',
    preRollSeconds: 300,
    postRollSeconds: 120,
    program: { cameraId: 'cam1' },
    outputs: { segments: true, live: 'all' },
    recordOnly: false,
  });
});

const INVALID: Array<{ title: string; input: unknown; issues: string[] }> = [
  { title: 'end before start', input: { ...VALID, events: [ev('a', 10, 100), ev('b', 60, 50)] }, issues: ['events[1].end: must be after start'] },
  { title: 'duplicate ids', input: { ...VALID, events: [ev('a', 10, 100), ev('a', 110, 200)] }, issues: ['events[1].id: duplicate id "a" (also events[0])'] },
  { title: 'longer than 12 h', input: { ...VALID, events: [ev('a', 0, 13 * 60)] }, issues: ['events[0].end: must be at most 12 h after start'] },
  { title: 'no offset', input: { ...VALID, events: [{ ...ev('a', 10, 100), start: '2025-06-01T20:00:00' }] }, issues: ['events[0].start: must be an ISO 8601 time with seconds and an offset, e.g. 2025-06-01T20:45:00+02:00 or …Z'] },
  { title: 'an impossible date', input: { ...VALID, events: [{ ...ev('a', 10, 100), end: '2025-02-30T20:00:00Z' }] }, issues: ['events[0].end: must be an ISO 8601 time with seconds and an offset, e.g. 2025-06-01T20:45:00+02:00 or …Z'] },
  { title: 'unknown time zone', input: { ...VALID, timezone: 'Mars/Olympus' }, issues: ['timezone: must be an IANA time zone such as Europe/Zurich'] },
  { title: 'far past', input: { ...VALID, events: [ev('old', -8 * 24 * 60, -8 * 24 * 60 + 90)] }, issues: ['events[0].end: is more than 7 days in the past'] },
  { title: 'misspelled key', input: { ...VALID, events: [{ ...ev('a', 10, 100), title: undefined, titel: 'x' }] }, issues: ['events[0].title: required', 'events[0].titel: unknown key'] },
  { title: 'program neither camera nor role', input: { ...VALID, events: [ev('a', 10, 100, { program: { camera: 'cam1' } as never })] }, issues: ['events[0].program: must be {"cameraId": "…"} or {"role": "…"}'] },
  { title: 'negative pre-roll', input: { ...VALID, events: [ev('a', 10, 100, { preRollSeconds: -1 })] }, issues: ['events[0].preRollSeconds: must be ≥ 0'] },
  { title: 'record only with live outputs', input: { ...VALID, events: [ev('a', 10, 100, { recordOnly: true, outputs: { live: [0] } })] }, issues: ['events[0].outputs.live: must be empty when recordOnly is true'] },
  { title: 'bad id', input: { ...VALID, events: [ev('a/b', 10, 100)] }, issues: ['events[0].id: must be 1–128 letters, digits, ".", "_" or "-", starting with a letter or digit'] },
  {
    title: 'several mistakes at once',
    input: { timezone: 'Nowhere', events: [ev('a', 10, 100, { postRollSeconds: 7200 }), ev('a', 60, 50)] },
    issues: ['timezone: must be an IANA time zone such as Europe/Zurich', 'events[0].postRollSeconds: must be ≤ 3600', 'events[1].end: must be after start', 'events[1].id: duplicate id "a" (also events[0])'],
  },
];

for (const c of INVALID) {
  test(`invalid schedule: ${c.title}`, (t) => {
    const err = t.throws(() => parseSchedule(c.input, { now: T0 }), { instanceOf: ScheduleValidationError });
    t.deepEqual(err?.issues.map((i) => `${i.path}: ${i.message}`), c.issues);
  });
}

test('a payload that is not JSON is one issue at (root)', (t) => {
  const err = t.throws(() => parseScheduleText('{"events": [', { now: T0, what: 'mqtt schedule' }), { instanceOf: ScheduleValidationError });
  t.is(err?.issues[0]?.path, '(root)');
  t.regex(err?.message ?? '', /^invalid mqtt schedule: 1 issue: \(root\): is not JSON/);
});

test('command requests: extend takes exactly one of minutes and end', (t) => {
  const extend = scheduleCommandSchemas.extend;
  t.true(extend.safeParse({ eventId: 'a', minutes: 15 }).success);
  t.is(extend.parse({ eventId: 'a', end: '2025-06-01T22:00:00+02:00' }).end, '2025-06-01T20:00:00.000Z');
  t.false(extend.safeParse({ eventId: 'a' }).success);
  t.false(extend.safeParse({ eventId: 'a', minutes: 5, end: '2025-06-01T22:00:00Z' }).success);
  t.false(extend.safeParse({ eventId: 'a', minutes: 0 }).success);
  t.true(scheduleCommandSchemas['start-now'].safeParse({ eventId: 'a', requestedBy: 'ops' }).success);
  t.false(scheduleCommandSchemas.stop.safeParse({ eventId: 'a', force: true }).success, 'strict');
});

test('venue time: shown in the venue\'s zone with its abbreviation; ISO with the venue offset', (t) => {
  t.is(formatVenueTime('2025-06-01T18:45:00Z', 'Europe/Zurich'), 'Sun, 1 Jun 2025, 20:45 CEST');
  t.is(formatVenueTime('2025-01-12T18:45:00Z', 'Europe/Zurich'), 'Sun, 12 Jan 2025, 19:45 CET');
  t.is(venueIsoString('2025-06-01T18:45:00Z', 'Europe/Zurich'), '2025-06-01T20:45:00+02:00');
  t.is(venueIsoString('2025-06-01T18:45:00Z', 'America/Sao_Paulo'), '2025-06-01T15:45:00-03:00');
  t.is(venueIsoString('2025-06-01T18:45:00Z', 'UTC'), '2025-06-01T18:45:00+00:00');
});
