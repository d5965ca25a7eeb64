// The camera registry on a real SQLite file: identity by URN (fallback MAC), address changes followed.
import test from 'ava';
import path from 'node:path';
import { Store } from '../../agent/store/index.ts';
import { CameraRegistry, normaliseMac, identityKey, derivedCameraId } from '../../agent/cameras/registry.ts';
import { makeTempDir } from '../helpers/index.ts';

async function registry(t: import('ava').ExecutionContext): Promise<{ reg: CameraRegistry; file: string }> {
  const dir = await makeTempDir('registry');
  t.teardown(() => dir.remove());
  const file = path.join(dir.path, 'v.db');
  const store = Store.open(file);
  t.teardown(() => store.close());
  return { reg: new CameraRegistry(store), file };
}

const URN = 'urn:uuid:6A1B2C3D-0000-4000-8000-00AABBCCDDEE';

test('MAC addresses in every vendor spelling normalise to one form; all-zero and short ones are refused', (t) => {
  for (const mac of ['AA:BB:CC:DD:EE:FF', 'aa-bb-cc-dd-ee-ff', 'aabb.ccdd.eeff', 'AABBCCDDEEFF']) t.is(normaliseMac(mac), 'aa:bb:cc:dd:ee:ff');
  t.is(normaliseMac('00:00:00:00:00:00'), undefined);
  t.is(normaliseMac('aa:bb:cc'), undefined);
  t.is(identityKey({ urn: URN }), URN.toLowerCase());
  t.is(identityKey({ urn: 'urn:vendor:SerialABC' }), 'urn:vendor:SerialABC', 'non-uuid URN bodies keep their case');
  t.is(identityKey({ mac: 'AABBCCDDEEFF' }), 'mac:aa:bb:cc:dd:ee:ff');
  t.is(identityKey({}), undefined);
});

test('a camera that changes its IP keeps its identity and id; the move is recorded', async (t) => {
  const { reg } = await registry(t);
  const first = reg.observe({ urn: URN, mac: 'AA:BB:CC:DD:EE:01', address: '10.0.0.21', xaddrs: ['http://10.0.0.21/onvif/device_service'], model: 'DS-2CD2143G2' });
  t.is(first.change, 'new');
  t.is(first.camera.cameraId, derivedCameraId(URN.toLowerCase()));
  t.is(reg.observe({ urn: URN.toLowerCase(), address: '10.0.0.21', xaddrs: [] }).change, 'seen', 'URN case does not matter');
  const moved = reg.observe({ urn: URN, address: '10.0.0.57', xaddrs: ['http://10.0.0.57/onvif/device_service'] }, new Date('2026-11-25T12:00:00Z'));
  t.is(moved.change, 'moved');
  t.is(moved.camera.cameraId, first.camera.cameraId);
  t.is(moved.camera.address, '10.0.0.57');
  t.is(moved.camera.previousAddress, '10.0.0.21');
  t.is(moved.camera.addressChangedAt, '2026-11-25T12:00:00.000Z');
  t.is(moved.camera.model, 'DS-2CD2143G2', 'what the new observation did not say is kept');
  t.is(reg.list().length, 1);
});

test('a camera without URN is known by its MAC; a URN learnt later attaches to the same row', async (t) => {
  const { reg } = await registry(t);
  const byMac = reg.observe({ mac: 'aa-bb-cc-dd-ee-02', address: '10.0.1.5', xaddrs: [] });
  t.is(byMac.camera.key, 'mac:aa:bb:cc:dd:ee:02');
  const later = reg.observe({ urn: 'urn:uuid:11111111-2222-3333-4444-555555555555', mac: 'AABBCCDDEE02', address: '10.0.1.6', xaddrs: [] });
  t.is(later.change, 'moved');
  t.is(later.camera.cameraId, byMac.camera.cameraId);
  t.is(reg.find({ urn: 'urn:uuid:11111111-2222-3333-4444-555555555555' })?.cameraId, byMac.camera.cameraId);
  t.is(reg.find({ mac: 'AA:BB:CC:DD:EE:02' })?.cameraId, byMac.camera.cameraId);
});

test('an observation with neither URN nor MAC is refused with the address in the error', async (t) => {
  const { reg } = await registry(t);
  t.throws(() => reg.observe({ address: '10.0.0.9', xaddrs: [] }), { message: /10\.0\.0\.9.*neither an endpoint URN nor a MAC/ });
});

test('the registry survives a restart of the store', async (t) => {
  const { reg, file } = await registry(t);
  reg.observe({ urn: URN, address: '10.0.0.21', xaddrs: [], profiles: [{ token: 'p0', name: 'main', encoding: 'H264', width: 1920, height: 1080, fps: 25, bitrateKbps: 4096, streamUri: 'rtsp://10.0.0.21/s', snapshotUri: undefined }] });
  const reopened = new CameraRegistry(Store.open(file));
  const camera = reopened.find({ urn: URN });
  t.is(camera?.profiles[0]?.width, 1920);
});
