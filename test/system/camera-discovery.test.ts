// Camera discovery on a venue LAN built from network namespaces: five ONVIF cameras on the LAN, each in its
// own namespace; the box in another, its default route on a separate uplink; a sixth camera on a second
// subnet behind a router, which multicast does not reach and only the unicast sweep finds.
import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTopology, isRoot, makeTempDir, startVirtualCamera, sweepStaleNamespaces, type Topology, type VirtualCamera } from '../helpers/index.ts';

const BIN = fileURLToPath(new URL('../../bin/venuebox.js', import.meta.url));
const PASSWORD = 'Venue-Cam-Pw-55';

interface ScanJson {
  id: string | null;
  urn: string | null;
  address: string;
  auth: string;
  clockOffsetMs: number | null;
  foundBy: string[];
  profiles: Array<{ streamUri: string | null }>;
  errors: Array<{ operation: string; kind: string; message: string }>;
}

async function scanFromBox(topo: Topology, passwordFile: string, extra: string[] = []): Promise<{ cameras: ScanJson[]; stderr: string }> {
  const result = await topo.exec(
    'box',
    process.execPath,
    [BIN, 'cameras', 'scan', '--interface', 'lan', '--subnet', '10.77.3.0/28', '--timeout', '3', '--connect-timeout', '3000', '--username', 'admin', '--password-file', passwordFile, '--json', ...extra],
    { timeoutMs: 90_000 },
  );
  if (result.code !== 0) throw new Error(`scan exited ${result.code}: ${result.stderr}`);
  return { cameras: JSON.parse(result.stdout) as ScanJson[], stderr: result.stderr };
}

if (!isRoot()) {
  test('camera discovery system test skipped: needs root to create network namespaces', (t) => {
    console.log('camera discovery system test skipped: creating network namespaces needs root (uid 0)');
    t.pass();
  });
} else {
  test.serial('every camera is found (multicast on the LAN, sweep behind a router), with identity, clock skew and per-camera errors; Hello and a new address are followed', async (t) => {
    await sweepStaleNamespaces();
    const lanCameras = ['cam1', 'cam2', 'cam3', 'cam4', 'cam5'];
    const topo = await createTopology({
      bridges: [{ name: 'lan' }, { name: 'wan' }, { name: 'lan2' }],
      hosts: [
        ...lanCameras.map((name, i) => ({ name, links: [{ bridge: 'lan', address: `10.77.1.${10 + i}/24` }] })),
        { name: 'late', links: [{ bridge: 'lan', address: '10.77.1.30/24' }] },
        { name: 'box', links: [{ bridge: 'lan', address: '10.77.1.2/24' }, { bridge: 'wan', address: '10.77.2.2/24' }] },
        { name: 'cloud', links: [{ bridge: 'wan', address: '10.77.2.1/24' }] },
        { name: 'rtr', links: [{ bridge: 'lan', address: '10.77.1.1/24' }, { bridge: 'lan2', address: '10.77.3.1/24' }] },
        { name: 'cam6', links: [{ bridge: 'lan2', address: '10.77.3.10/24' }] },
      ],
    });
    t.teardown(() => topo.destroy());
    // The box's default route leaves through the uplink (the trap: a probe without an interface goes there).
    const must = async (host: string, args: string[]) => {
      const r = await topo.exec(host, args[0]!, args.slice(1));
      if (r.code !== 0) throw new Error(`${host}: ${args.join(' ')}: ${r.stderr}`);
    };
    await must('box', ['ip', 'route', 'add', 'default', 'via', '10.77.2.1']);
    await must('box', ['ip', 'route', 'add', '10.77.3.0/24', 'via', '10.77.1.1']);
    await must('rtr', ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await must('cam6', ['ip', 'route', 'add', 'default', 'via', '10.77.3.1']);

    const secrets = await makeTempDir('discovery');
    t.teardown(() => secrets.remove());
    const passwordFile = path.join(secrets.path, 'pw');
    await writeFile(passwordFile, PASSWORD);

    const small = { width: 320, height: 180, fps: 10, bitrateKbps: 300 };
    const vendors = ['hikvision', 'dahua', 'axis', 'hanwha', 'generic'] as const;
    const cameras: Record<string, VirtualCamera> = {};
    await Promise.all(
      lanCameras.map(async (name, i) => {
        const wrongPassword = name === 'cam4';
        cameras[name] = await startVirtualCamera({
          ...small,
          netns: topo.ns(name),
          bind: `10.77.1.${10 + i}`,
          username: 'admin',
          password: wrongPassword ? 'not-the-venue-password' : PASSWORD,
          onvif: { vendor: vendors[i]!, ...(name === 'cam2' ? { clockOffsetMs: 3 * 3600_000 } : {}), ...(name === 'cam3' ? { xaddrs: 'zero' as const, uriWhitespace: true } : {}), ...(name === 'cam5' ? { xaddrs: 'several' as const } : {}) },
        });
      }),
    );
    cameras['cam6'] = await startVirtualCamera({ ...small, netns: topo.ns('cam6'), bind: '10.77.3.10', username: 'admin', password: PASSWORD, onvif: { vendor: 'generic' } });
    t.teardown(async () => {
      await Promise.all(Object.values(cameras).map((c) => c.stop()));
    });

    const { cameras: found, stderr } = await scanFromBox(topo, passwordFile);
    t.log(stderr.trim().split('\n').at(-1));
    const at = (address: string) => found.find((c) => c.address === address);
    for (const [i, name] of lanCameras.entries()) {
      const camera = at(`10.77.1.${10 + i}`);
      t.truthy(camera, `${name} found`);
      t.is(camera?.urn, cameras[name]!.onvif!.urn, `${name} identity`);
      t.true(camera?.foundBy.includes('multicast'), `${name} by multicast`);
    }
    const swept = at('10.77.3.10');
    t.truthy(swept, 'the camera behind the router is found by the sweep');
    t.deepEqual(swept?.foundBy, ['sweep']);
    t.is(swept?.urn, cameras['cam6']!.onvif!.urn, 'its URN learnt by a unicast Probe');
    t.is(found.length, 6, JSON.stringify(found.map((c) => c.address)));

    // Authentication: the camera 3 h off authenticates; the one with another password says so, alone.
    t.true(Math.abs((at('10.77.1.11')?.clockOffsetMs ?? 0) - 3 * 3600_000) < 10_000);
    for (const address of ['10.77.1.10', '10.77.1.11', '10.77.1.12', '10.77.1.14', '10.77.3.10']) {
      t.deepEqual(at(address)?.errors, [], `${address} has no errors`);
    }
    t.is(at('10.77.1.13')?.auth, 'refused');
    t.is(at('10.77.1.13')?.errors[0]?.kind, 'auth');

    // Every stream URI is playable from the box: 0.0.0.0 and several-XAddrs quirks were rewritten.
    for (const camera of found.filter((c) => c.auth !== 'refused')) {
      const uri = camera.profiles[0]?.streamUri;
      t.truthy(uri, `${camera.address} has a stream URI`);
      t.true(uri!.startsWith(`rtsp://${camera.address}:`), `${uri} points at the camera`);
      const probe = await topo.exec('box', 'ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-timeout', '5000000', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', uri!.replace('rtsp://', `rtsp://admin:${PASSWORD}@`)], { timeoutMs: 20_000 });
      t.is(probe.stdout.trim(), 'h264', `${uri}: ${probe.stderr}`);
    }

    // A camera plugged in later is seen by its Hello, without a rescan.
    const watch = spawn('ip', ['netns', 'exec', topo.ns('box'), process.execPath, BIN, 'cameras', 'watch', '--interface', 'lan', '--duration', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => void watch.kill('SIGKILL'));
    const lines: string[] = [];
    const watching = new Promise<void>((resolve) => watch.stderr.on('data', (d: Buffer) => String(d).includes('watching') && resolve()));
    const hello = new Promise<Record<string, unknown>>((resolve) =>
      watch.stdout.on('data', (d: Buffer) => {
        for (const line of String(d).split('\n').filter(Boolean)) {
          lines.push(line);
          const event = JSON.parse(line) as Record<string, unknown>;
          if (event['event'] === 'hello' && event['address'] === '10.77.1.30') resolve(event);
        }
      }),
    );
    await watching;
    cameras['late'] = await startVirtualCamera({ ...small, netns: topo.ns('late'), bind: '10.77.1.30', username: 'admin', password: PASSWORD, onvif: { vendor: 'generic' } });
    const event = await Promise.race([hello, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no Hello; saw ${lines.join(' | ')}`)), 20_000))]);
    t.is(event['urn'], cameras['late']!.onvif!.urn);

    // A camera that comes back on another address keeps its identity (the same id from its URN).
    const before = at('10.77.1.10')!;
    await cameras['cam1']!.stop();
    await must('cam1', ['ip', 'addr', 'add', '10.77.1.40/24', 'dev', 'lan']);
    await cameras['cam1']!.start({ bind: '10.77.1.40' });
    const again = await scanFromBox(topo, passwordFile, ['--subnet', '10.77.1.40/32']);
    const moved = again.cameras.find((c) => c.urn === before.urn);
    t.is(moved?.address, '10.77.1.40');
    t.is(moved?.id, before.id);
  });
}
