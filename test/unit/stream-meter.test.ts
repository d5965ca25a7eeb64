import test from 'ava';
import { DropLedger, StreamMeter, isKeyframe, nalUnitTypes, parseJitterbufferStats } from '../../agent/encoder/stream-meter.ts';

// Access units as a camera sends them: SPS/PPS/SEI before an IDR made of two slices; P slices otherwise.
const H264_IDR = Uint8Array.from([0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x06, 0x05, 0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x65, 0x88]);
const H264_P = Uint8Array.from([0, 0, 0, 1, 0x09, 0x10, 0, 0, 0, 1, 0x41, 0x9a, 0x22]);
// H.265: VPS(32) SPS(33) PPS(34) IDR_W_RADL(19); TRAIL_R(1).
const H265_IDR = Uint8Array.from([0, 0, 0, 1, 0x40, 1, 0, 0, 0, 1, 0x42, 1, 0, 0, 0, 1, 0x44, 1, 0, 0, 1, 0x26, 1, 0xaf]);
const H265_P = Uint8Array.from([0, 0, 0, 1, 0x02, 1, 0xd0]);

test('NAL unit types and keyframes of H.264 and H.265 access units', (t) => {
  t.deepEqual(nalUnitTypes(H264_IDR, 'h264'), [7, 8, 6, 5, 5]);
  t.deepEqual(nalUnitTypes(H265_IDR, 'h265'), [32, 33, 34, 19]);
  t.true(isKeyframe(H264_IDR, 'h264'));
  t.false(isKeyframe(H264_P, 'h264'));
  t.true(isKeyframe(H265_IDR, 'h265'));
  t.false(isKeyframe(H265_P, 'h265'));
  t.false(isKeyframe(Uint8Array.from([1, 2, 3]), 'h264'), 'garbage is not a keyframe');
});

test('25 fps with a keyframe every 2 s: fps, bitrate and keyframe interval over a 5 s window', (t) => {
  const meter = new StreamMeter('h264', 5000, 0);
  for (let frame = 0; frame < 250; frame++) {
    const at = frame * 40;
    const au = frame % 50 === 0 ? H264_IDR : H264_P;
    meter.push(au, at);
  }
  const stats = meter.snapshot(10_000);
  t.true(Math.abs(stats.fps - 25) <= 0.3, `fps ${stats.fps}`);
  t.is(stats.keyframeIntervalMs, 2000);
  t.is(stats.keyframeIntervalFrames, 50);
  t.is(stats.keyframes, 5);
  t.is(stats.frames, 250);
  // The window holds frames 125–249 (t = 5.00–9.96 s): keyframes 150 and 200, and 123 P frames.
  const bytesInWindow = 2 * H264_IDR.length + 123 * H264_P.length;
  t.is(stats.bitrateKbps, Math.round((bytesInWindow * 8) / 5000));
  t.is(stats.silenceMs, 40);
});

test('a frozen camera: the rate falls to zero and the silence grows', (t) => {
  const meter = new StreamMeter('h264', 5000, 0);
  for (let frame = 0; frame < 50; frame++) meter.push(frame === 0 ? H264_IDR : H264_P, frame * 40);
  const stats = meter.snapshot(20_000);
  t.is(stats.fps, 0);
  t.is(stats.bitrateKbps, 0);
  t.is(stats.silenceMs, 20_000 - 49 * 40);
  t.is(stats.keyframeIntervalMs, undefined, 'one keyframe gives no interval');
});

test('rtpjitterbuffer stats as gstreamer-superficial hands them over (the GstStructure as a string) give lost and late packets', (t) => {
  // Read from a real rtspsrc jitterbuffer here, with the virtual camera dropping 2 % of its video packets.
  const read = 'application/x-rtp-jitterbuffer-stats, num-pushed=(guint64)477, num-lost=(guint64)7, num-late=(guint64)2, num-duplicates=(guint64)0, avg-jitter=(guint64)1232897, rtx-count=(guint64)0, rtx-success-count=(guint64)0, rtx-per-packet=(double)0, rtx-rtt=(guint64)0;';
  t.deepEqual(parseJitterbufferStats(read), { lost: 7, late: 2 });
  t.is(parseJitterbufferStats(undefined), undefined, 'no such property');
  t.is(parseJitterbufferStats('application/x-rtp-session-stats, rtx-drop-count=(uint)0'), undefined, 'another structure');
  t.is(parseJitterbufferStats('application/x-rtp-jitterbuffer-stats, num-pushed=(guint64)1;'), undefined, 'counters missing');
});

test("drop ledger: the run total is the sum of every element's last reading, and an element that went away keeps its counts", (t) => {
  const ledger = new DropLedger();
  t.deepEqual(ledger.snapshot(0), { packetsLost: 0, packetsLate: 0, framesDropped: 0, framesDuplicated: 0, ageMs: undefined });
  ledger.record('rtpjitterbuffer0', { packetsLost: 3, packetsLate: 1 }, 1000);
  ledger.record('rtpjitterbuffer1', { packetsLost: 1, packetsLate: 0 }, 1000);
  ledger.record('source0.rate', { framesDropped: 10, framesDuplicated: 2 }, 1000);
  // The camera is lost and its source pipeline rebuilt: new elements, counting from 0 again.
  ledger.record('rtpjitterbuffer0', { packetsLost: 5, packetsLate: 1 }, 2000);
  ledger.record('rtpjitterbuffer2', { packetsLost: 2, packetsLate: 0 }, 3000);
  ledger.record('source1.rate', { framesDropped: 4, framesDuplicated: 0 }, 3000);
  t.deepEqual(ledger.snapshot(3500), { packetsLost: 8, packetsLate: 1, framesDropped: 14, framesDuplicated: 2, ageMs: 500 });
});
