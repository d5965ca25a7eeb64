import test from 'ava';
import { CameraQualityTracker, gradeSample, type CameraHealthSample } from '../../agent/cameras/camera-health.ts';

const healthy = (at: number): CameraHealthSample => ({ at, reachable: true, describeOk: true, stream: { fps: 25, bitrateKbps: 4000, keyframeIntervalMs: 1000, silenceMs: 40 } });
const EXPECT = { fps: 25, keyframeIntervalMs: 1000, minBitrateKbps: 500 };

const GRADES: Array<[string, CameraHealthSample, string, string[]]> = [
  ['healthy stream', healthy(0), 'good', []],
  ['unreachable', { at: 0, reachable: false }, 'offline', ['unreachable']],
  ['DESCRIBE fails (wrong password, dead RTSP server)', { at: 0, reachable: true, describeOk: false }, 'offline', ['RTSP DESCRIBE failed']],
  ['frozen: TCP open, no frames', { at: 0, reachable: true, stream: { fps: 0, bitrateKbps: 0, keyframeIntervalMs: 1000, silenceMs: 8000 } }, 'offline', ['no frames for 8 s']],
  ['low frame rate', { at: 0, stream: { fps: 12, bitrateKbps: 4000, keyframeIntervalMs: 1000, silenceMs: 80 } }, 'degraded', ['12 fps, expected 25']],
  ['long GOP and starved bitrate', { at: 0, stream: { fps: 25, bitrateKbps: 200, keyframeIntervalMs: 4000, silenceMs: 40 } }, 'degraded', ['keyframe every 4.0 s, expected 1.0 s', '200 kbps, below 500']],
  ['reachability only, no pipeline yet', { at: 0, reachable: true, describeOk: true }, 'good', []],
];

for (const [name, sample, quality, reasons] of GRADES) {
  test(`grade: ${name}`, (t) => {
    t.deepEqual(gradeSample(sample, EXPECT), { quality, reasons });
  });
}

test('hysteresis: a short dip is not reported; a lasting one is, after downMs', (t) => {
  const tracker = new CameraQualityTracker('cam1', EXPECT, 5000, 15_000);
  t.deepEqual(tracker.update(healthy(0)).map((e) => e.type), ['quality', 'online']);
  const dip = (at: number): CameraHealthSample => ({ ...healthy(at), stream: { fps: 10, bitrateKbps: 4000, keyframeIntervalMs: 1000, silenceMs: 100 } });
  t.deepEqual(tracker.update(dip(1000)), []);
  t.deepEqual(tracker.update(dip(3000)), []);
  t.deepEqual(tracker.update(healthy(4000)), [], 'recovered before 5 s: nothing reported');
  t.is(tracker.quality, 'good');
  t.deepEqual(tracker.update(dip(10_000)), []);
  const events = tracker.update(dip(15_000));
  t.deepEqual(events, [{ type: 'quality', cameraId: 'cam1', from: 'good', to: 'degraded', reasons: ['10 fps, expected 25'], at: 15_000 }]);
});

test('debounced offline/online: one lost probe does not flap; a return must hold for upMs', (t) => {
  const tracker = new CameraQualityTracker('cam2', EXPECT, 5000, 15_000);
  tracker.update(healthy(0));
  t.deepEqual(tracker.update({ at: 1000, reachable: false }), []);
  t.deepEqual(tracker.update(healthy(2000)), []);
  t.deepEqual(tracker.update({ at: 10_000, reachable: false }), []);
  t.deepEqual(tracker.update({ at: 15_000, reachable: false }).map((e) => e.type), ['quality', 'offline']);
  t.deepEqual(tracker.update(healthy(16_000)), [], 'back, but not for long enough');
  t.deepEqual(tracker.update(healthy(30_000)), []);
  const back = tracker.update(healthy(31_000));
  t.deepEqual(back.map((e) => e.type), ['quality', 'online']);
  t.like(back[0], { from: 'offline', to: 'good' });
});
