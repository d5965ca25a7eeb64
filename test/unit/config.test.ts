import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  loadConfig,
  parseConfigText,
  runConfigCheck,
  validateConfig,
  type ConfigInput,
} from '../../agent/config/index.ts';
import { redact } from '../../agent/lib/redact.ts';
import { documents, repoRoot } from '../../scripts/generate-docs.ts';

/** A typical installer's config: two cameras, TLS broker. Cases below derive from it by one change each. */
function venueConfig(): ConfigInput & Record<string, unknown> {
  return {
    boxId: 'arena-north-01',
    mqtt: { url: 'mqtts://broker.example.net:8883', username: 'arena-north-01' },
    cameras: [
      { id: 'main-wide', rtsp: 'rtsp://192.168.10.21:554/Streaming/Channels/101', username: 'venuebox' },
      { id: 'goal-left', rtsp: 'rtsp://192.168.10.22:554/cam/realmonitor?channel=1&subtype=0' },
    ],
  };
}

/** The issue lines of a config that must fail validation, as `runConfigCheck` prints them. */
function issueLines(value: unknown, env: Record<string, string> = {}): string[] {
  try {
    validateConfig(value, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  throw new Error('config was accepted');
}

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'venuebox-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function collector(): { write(chunk: string): boolean; text(): string } {
  const chunks: string[] = [];
  return { write: (chunk) => chunks.push(chunk) > 0, text: () => chunks.join('') };
}

test('a minimal config gets every default', (t) => {
  const config = validateConfig({ boxId: 'gym-7', mqtt: { url: 'mqtt://10.0.0.2' } }, {});
  t.deepEqual(config, {
    boxId: 'gym-7',
    paths: {
      state: '/var/lib/venuebox',
      spool: '/var/lib/venuebox/spool',
      logs: '/var/log/venuebox',
      database: '/var/lib/venuebox/venuebox.db',
    },
    log: { level: 'info' },
    mqtt: {
      url: 'mqtt://10.0.0.2',
      clientId: 'venuebox-gym-7',
      keepaliveSeconds: 30,
      healthIntervalSeconds: 30,
      topicPrefix: 'venuebox/v1',
      connectTimeoutSeconds: 10,
    },
    cameras: [],
    discovery: {
      enabled: true,
      interfaces: [],
      probeWindowSeconds: 3,
      probeRepeats: 3,
      subnets: [],
      ports: [80, 8080, 8000, 8899, 2020, 8081, 10080, 888, 5000],
      rescanMinutes: 15,
      sweepConcurrency: 128,
      connectTimeoutMs: 800,
    },
    cameraHealth: { probeIntervalSeconds: 10, downSeconds: 5, upSeconds: 15 },
    recording: { enabled: true, segmentSeconds: 2, mode: 'continuous' },
    spool: { maxMegabytes: 20480, minFreeMegabytes: 1024, keepUploadedMinutes: 0 },
    commands: { rebootCommand: ['systemctl', 'reboot'] },
    schedule: { readinessMinutes: [30, 5] },
  });
});

test('camera defaults are applied per camera', (t) => {
  const config = validateConfig(venueConfig(), {});
  t.like(config.cameras[1], { id: 'goal-left', transport: 'tcp', latencyMs: 200 });
});

const rejected: { title: string; change: (c: ReturnType<typeof venueConfig>) => void; issues: string[] }[] = [
  {
    title: 'an http URL as a camera stream',
    change: (c) => Object.assign(c.cameras![1]!, { rtsp: 'http://192.168.10.22/video.mjpg' }),
    issues: ['cameras[1].rtsp: must be an rtsp:// URL'],
  },
  {
    title: 'a bare host as a camera stream',
    change: (c) => Object.assign(c.cameras![1]!, { rtsp: '192.168.10.22:554' }),
    issues: ['cameras[1].rtsp: must be an rtsp:// URL'],
  },
  {
    title: 'credentials inside an rtsp URL',
    change: (c) => Object.assign(c.cameras![0]!, { rtsp: 'rtsp://admin:Stadion2024@192.168.10.21/Streaming/Channels/101' }),
    issues: ['cameras[0].rtsp: must not contain credentials: use the camera username and passwordFile (or password, passwordEnv)'],
  },
  {
    title: 'credentials inside the broker URL',
    change: (c) => Object.assign(c.mqtt!, { url: 'mqtts://box:hunter22@broker.example.net' }),
    issues: ['mqtt.url: must not contain credentials: use mqtt.username and mqtt.passwordFile (or password, passwordEnv)'],
  },
  {
    title: 'an http broker URL',
    change: (c) => Object.assign(c.mqtt!, { url: 'https://broker.example.net' }),
    issues: ['mqtt.url: must be an mqtt://, mqtts://, ws:// or wss:// URL'],
  },
  {
    title: 'a misspelled key',
    change: (c) => Object.assign(c.cameras![0]!, { passwrd: 'x' }),
    issues: ['cameras[0].passwrd: unknown key (did you mean "password"?)'],
  },
  {
    title: 'an unknown top-level key',
    change: (c) => Object.assign(c, { streams: [] }),
    issues: ['streams: unknown key'],
  },
  {
    title: 'keepalive below its bound',
    change: (c) => Object.assign(c.mqtt!, { keepaliveSeconds: 2 }),
    issues: ['mqtt.keepaliveSeconds: must be ≥ 5'],
  },
  {
    title: 'keepalive above its bound',
    change: (c) => Object.assign(c.mqtt!, { keepaliveSeconds: 900 }),
    issues: ['mqtt.keepaliveSeconds: must be ≤ 600'],
  },
  {
    title: 'a fractional latency',
    change: (c) => Object.assign(c.cameras![0]!, { latencyMs: 12.5 }),
    issues: ['cameras[0].latencyMs: must be an integer'],
  },
  {
    title: 'a duplicate camera id, reported on the second one',
    change: (c) => Object.assign(c.cameras![1]!, { id: 'main-wide' }),
    issues: ['cameras[1].id: duplicate id "main-wide" (also cameras[0])'],
  },
  {
    title: 'password and passwordFile both given',
    change: (c) => Object.assign(c.cameras![0]!, { password: 'secret-1', passwordFile: '/etc/venuebox/cam' }),
    issues: ['cameras[0].passwordFile: conflicts with password: give only one of password, passwordFile, passwordEnv'],
  },
  {
    title: 'an unknown log level',
    change: (c) => Object.assign(c, { log: { level: 'verbose' } }),
    issues: ['log.level: must be one of trace, debug, info, warn, error, fatal'],
  },
  {
    title: 'a wildcard in the topic prefix',
    change: (c) => Object.assign(c.mqtt!, { topicPrefix: 'venuebox/#' }),
    issues: ['mqtt.topicPrefix: must be topic levels separated by "/", without + or #, without leading or trailing "/"'],
  },
  {
    title: 'a box id with capitals',
    change: (c) => Object.assign(c, { boxId: 'Arena-North' }),
    issues: ['boxId: must be 3–63 lowercase letters, digits or "-", starting with a letter or digit'],
  },
  {
    title: 'the broker missing',
    change: (c) => Reflect.deleteProperty(c, 'mqtt'),
    issues: ['mqtt: required'],
  },
  {
    title: 'a relative state path',
    change: (c) => Object.assign(c, { paths: { state: 'var/lib/venuebox' } }),
    issues: ['paths.state: must be an absolute path'],
  },
  {
    title: 'too many cameras',
    change: (c) => Object.assign(c, { cameras: Array.from({ length: 65 }, (_, i) => ({ id: `c${i}`, rtsp: `rtsp://10.0.1.${i}/` })) }),
    issues: ['cameras: must have at most 64 items'],
  },
  {
    title: 'a camera with neither rtsp nor match',
    change: (c) => delete (c.cameras![0]! as { rtsp?: string }).rtsp,
    issues: ['cameras[0].rtsp: required unless match names a discovered camera'],
  },
  {
    title: 'a match without urn or mac, and a malformed MAC',
    change: (c) => c.cameras!.push({ id: 'c3', match: {} } as never, { id: 'c4', match: { mac: 'not-a-mac' } } as never),
    issues: ['cameras[2].match: needs urn or mac', 'cameras[3].match.mac: must be a MAC address'],
  },
  {
    title: 'a sweep subnet larger than /16',
    change: (c) => Object.assign(c, { discovery: { subnets: ['10.0.0.0/8'] } }),
    issues: ['discovery.subnets[0]: must be an IPv4 CIDR from /16 to /32'],
  },
];

for (const { title, change, issues } of rejected) {
  test(`rejects ${title}`, (t) => {
    const config = venueConfig();
    change(config);
    t.deepEqual(issueLines(config), issues);
  });
}

test('reports every issue at once, not just the first', (t) => {
  const config = venueConfig();
  Object.assign(config.mqtt!, { keepaliveSeconds: 1, healthIntervalSeconds: 'often' });
  // latencyMs: a non-integer is an explicit abort in zod 4, which once hid the duplicate id below.
  Object.assign(config.cameras![0]!, { rtsp: 'http://x', transport: 'quic', latencyMs: 12.5 });
  Object.assign(config.cameras![1]!, { id: 'main-wide', password: 'a', passwordEnv: 'CAM_PW' });
  t.deepEqual(issueLines(config), [
    'mqtt.keepaliveSeconds: must be ≥ 5',
    'mqtt.healthIntervalSeconds: must be a number',
    'cameras[0].rtsp: must be an rtsp:// URL',
    'cameras[0].transport: must be one of tcp, udp',
    'cameras[0].latencyMs: must be an integer',
    'cameras[1].passwordEnv: conflicts with password: give only one of password, passwordFile, passwordEnv',
    'cameras[1].id: duplicate id "main-wide" (also cameras[0])',
  ]);
});

test('passwordFile and passwordEnv are resolved and registered with the redactor', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'mqtt-password'), 'broker-Secret-41\n');
  const config = venueConfig();
  Object.assign(config.mqtt!, { passwordFile: 'mqtt-password' }); // relative to the config file
  Object.assign(config.cameras![0]!, { passwordEnv: 'CAM_MAIN_PASSWORD' });
  Object.assign(config.cameras![1]!, { password: 'inline-Secret-9' });
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));

  const loaded = await loadConfig(join(dir, 'config.json'), { CAM_MAIN_PASSWORD: 'camera-Secret-7' });
  t.is(loaded.mqtt.password, 'broker-Secret-41');
  t.is(loaded.cameras[0]?.password, 'camera-Secret-7');
  t.is(loaded.cameras[1]?.password, 'inline-Secret-9');
  t.false('passwordFile' in loaded.mqtt);
  t.false('passwordEnv' in loaded.cameras[0]!);
  for (const secret of ['broker-Secret-41', 'camera-Secret-7', 'inline-Secret-9']) {
    t.false(redact(`x ${secret}`).includes(secret), secret);
  }
});

test('a missing password file or unset variable names the key', async (t) => {
  const dir = await tempDir(t);
  const config = venueConfig();
  Object.assign(config.mqtt!, { passwordEnv: 'MQTT_PASSWORD' });
  Object.assign(config.cameras![0]!, { passwordFile: '/nonexistent/venuebox/cam' });
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  const error = await t.throwsAsync(loadConfig(join(dir, 'config.json'), {}), { instanceOf: ConfigError });
  t.deepEqual(error?.issues, [
    { path: 'mqtt.passwordEnv', message: 'environment variable MQTT_PASSWORD is not set' },
    { path: 'cameras[0].passwordFile', message: 'cannot read /nonexistent/venuebox/cam: ENOENT' },
  ]);
});

test('environment path overrides win over the file', (t) => {
  const config = { ...venueConfig(), paths: { state: '/srv/venuebox', logs: '/srv/logs' } };
  const env = { VENUEBOX_STATE_DIR: '/tmp/vb/state', VENUEBOX_LOG_DIR: '/tmp/vb/logs', VENUEBOX_SPOOL_DIR: '' };
  t.deepEqual(validateConfig(config, env).paths, {
    state: '/tmp/vb/state',
    logs: '/tmp/vb/logs',
    spool: '/tmp/vb/state/spool',
    database: '/tmp/vb/state/venuebox.db',
  });
  t.is(validateConfig(venueConfig(), { VENUEBOX_DB: '/tmp/x.db' }).paths.database, '/tmp/x.db');
  t.deepEqual(issueLines(venueConfig(), { VENUEBOX_DB: 'x.db' }), [
    'paths.database: must be an absolute path (from VENUEBOX_DB)',
  ]);
});

const brokenJson: { title: string; text: string; message: string }[] = [
  {
    title: 'an unquoted URL',
    text: '{\n  "boxId": "arena-north-01",\n  "mqtt": { "url": mqtt://10.0.0.2 }\n}\n',
    message: "invalid JSON at line 3, column 20: Unexpected token 'm'",
  },
  {
    title: 'a trailing comma',
    text: '{\n  "boxId": "arena-north-01",\n}\n',
    message: 'invalid JSON at line 3, column 1: Expected double-quoted property name',
  },
  { title: 'an empty file', text: '', message: 'invalid JSON at line 1, column 1: Unexpected end of JSON input' },
];

for (const { title, text, message } of brokenJson) {
  test(`invalid JSON with ${title} reports line and column`, (t) => {
    const error = t.throws(() => parseConfigText(text, 'config.json'), { instanceOf: ConfigError });
    t.deepEqual(error?.issues, [{ path: 'config.json', message }]);
  });
}

test('an unreadable config file is a ConfigError', async (t) => {
  const error = await t.throwsAsync(loadConfig('/nonexistent/venuebox.json', {}), { instanceOf: ConfigError });
  t.deepEqual(error?.issues, [{ path: '/nonexistent/venuebox.json', message: 'cannot read: ENOENT' }]);
});

test('config check prints path-qualified issues and returns 2 for a broken file', async (t) => {
  const dir = await tempDir(t);
  const config = venueConfig();
  Object.assign(config.cameras![1]!, { rtsp: 'http://192.168.10.22/' });
  Object.assign(config.mqtt!, { keepaliveSeconds: 1000 });
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const out = collector();
  const err = collector();
  t.is(await runConfigCheck(join(dir, 'config.json'), out, err, {}), 2);
  t.is(out.text(), '');
  t.is(err.text(), 'mqtt.keepaliveSeconds: must be ≤ 600\ncameras[1].rtsp: must be an rtsp:// URL\n');
});

test('config check returns 0 and a summary without secrets for a good file', async (t) => {
  const dir = await tempDir(t);
  const config = venueConfig();
  Object.assign(config.mqtt!, { password: 'do-not-print-me' });
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  const out = collector();
  const err = collector();
  t.is(await runConfigCheck(join(dir, 'config.json'), out, err, {}), 0);
  t.is(out.text(), 'config OK: box arena-north-01, 2 cameras, broker mqtts://broker.example.net:8883\n');
  t.is(err.text(), '');
});

test('examples/config.json is valid', async (t) => {
  const text = await readFile(join(repoRoot, 'examples/config.json'), 'utf8');
  const config = validateConfig(parseConfigText(text, 'examples/config.json'), {});
  t.true(config.cameras.length > 0);
  t.truthy(config.mqtt.passwordFile, 'the example shows the recommended secret form');
});

test('generated docs are up to date', async (t) => {
  for (const document of documents) {
    const onDisk = await readFile(join(repoRoot, document.file), 'utf8').catch(() => '');
    t.true(onDisk === document.render(), `${document.file} is stale: run npx tsx scripts/generate-docs.ts`);
  }
});
