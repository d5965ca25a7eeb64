// RTSP DESCRIBE against the virtual camera (gst-rtsp-server): no auth, Digest, Basic, wrong password, gone.
import test from 'ava';
import { startVirtualCamera } from '../helpers/index.ts';
import { describeStream } from '../../agent/cameras/rtsp-describe.ts';

test('DESCRIBE answers with the H.264 track, with and without Digest or Basic authentication', async (t) => {
  const open = await startVirtualCamera({ width: 320, height: 240 });
  t.teardown(() => open.stop());
  const digest = await startVirtualCamera({ width: 320, height: 240, username: 'viewer', password: 'Describe-Pw-1' });
  t.teardown(() => digest.stop());
  const basic = await startVirtualCamera({ width: 320, height: 240, username: 'viewer', password: 'Describe-Pw-2', auth: 'basic' });
  t.teardown(() => basic.stop());

  t.like(await describeStream(open.url, {}), { ok: true, status: 200, video: ['H264'], audio: [] });
  const withAudio = await startVirtualCamera({ width: 320, height: 240, audio: true });
  t.teardown(() => withAudio.stop());
  t.like(await describeStream(withAudio.url, {}), { ok: true, video: ['H264'], audio: ['MPEG4-GENERIC'] });
  t.like(await describeStream(digest.url, { username: 'viewer', password: 'Describe-Pw-1' }), { ok: true, status: 200, video: ['H264'] });
  t.like(await describeStream(basic.url, { username: 'viewer', password: 'Describe-Pw-2' }), { ok: true, status: 200, video: ['H264'] });
  t.like(await describeStream(digest.url, { username: 'viewer', password: 'wrong-one' }), { ok: false, status: 401, reason: 'the camera refused the credentials' });
  t.like(await describeStream(digest.url, {}), { ok: false, status: 401, reason: 'the camera requires credentials' });
  t.like(await describeStream(open.url.replace('/stream', '/nothing-here'), {}), { ok: false, status: 404 });
});

test('a camera that is gone: connection refused, reported, not thrown', async (t) => {
  const camera = await startVirtualCamera({ width: 320, height: 240 });
  await camera.stop();
  const result = await describeStream(camera.url, {}, 1000);
  t.false(result.ok);
  t.is(result.status, undefined);
  t.regex(result.reason ?? '', /ECONNREFUSED/);
});
