// Credentials never leave the box in the clear: the canary password `Canary-Pw-4417` is used for the broker,
// a camera that accepts it and a camera that rejects it (so authentication errors are logged too), at log
// level trace — and is then looked for in everything the agent wrote, published and exposed.
import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, startMosquitto, startVirtualCamera } from '../helpers/index.ts';
import { startAgent } from '../helpers/agent.ts';
import { watchMqtt } from '../helpers/mqtt-watch.ts';

const CANARY = 'Canary-Pw-4417';
const BIN = fileURLToPath(new URL('../../bin/venuebox.js', import.meta.url));
const run = promisify(execFile);

function leaks(text: string): boolean {
  return text.includes(CANARY) || text.includes(encodeURIComponent(CANARY)) || text.includes(Buffer.from(CANARY).toString('base64'));
}

test('the canary password appears in no log line, stderr, MQTT payload or child command line', async (t) => {
  const broker = await startMosquitto({ auth: { username: 'box-canary', password: CANARY } });
  t.teardown(() => broker.stop());
  const good = await startVirtualCamera({ username: 'viewer', password: CANARY });
  t.teardown(() => good.stop());
  const wrong = await startVirtualCamera({ username: 'viewer', password: 'something-else-9' });
  t.teardown(() => wrong.stop());
  const secrets = await makeTempDir('canary-secrets');
  t.teardown(() => secrets.remove());
  const passwordFile = path.join(secrets.path, 'cam2.pw');
  await writeFile(passwordFile, `${CANARY}\n`, { mode: 0o600 });

  const watch = await watchMqtt(broker.url, 'venuebox/v1/#', { username: 'box-canary', password: CANARY });
  t.teardown(() => watch.stop());
  const agent = await startAgent({
    config: {
      boxId: 'box-canary',
      log: { level: 'trace' },
      mqtt: { url: broker.url, username: 'box-canary', passwordEnv: 'VENUEBOX_TEST_MQTT_PASSWORD', healthIntervalSeconds: 5 },
      cameras: [
        { id: 'good', rtsp: good.url, username: 'viewer', password: CANARY },
        { id: 'wrong', rtsp: wrong.url, username: 'viewer', passwordFile },
      ],
    },
    env: { VENUEBOX_TEST_MQTT_PASSWORD: CANARY, GST_DEBUG: '2' },
  });
  t.teardown(() => agent.cleanup());

  let closed = 0;
  await agent.waitForLog((l) => l.msg === 'segment closed' && ++closed >= 2, 40_000, 'segments from the good camera');
  // The camera with the wrong password fails authentication: its error (with the child's stderr) is logged.
  const failure = await agent.waitForLog((l) => l.msg === 'pipeline ended; restarting after backoff' && l['stream'] === 'wrong', 30_000, 'the auth failure');
  t.regex(String(failure['reason']), /\S/, 'the failure has a reason');
  await watch.waitFor((m) => m.topic.endsWith('/health'), 20_000, 'a health message');

  // While it runs: no child process carries the password on its command line or in its environment file.
  const { stdout: pids } = await run('pgrep', ['-P', String(agent.child.pid)]).catch(() => ({ stdout: '' }));
  for (const pid of pids.split('\n').filter(Boolean)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    t.false(leaks(cmdline), `child ${pid} command line`);
  }

  await agent.stop();
  const output = agent.output();
  t.true(output.length > 2000, 'the agent wrote a substantial log at level trace');
  t.false(leaks(output), 'the canary is in the agent output');
  for (const message of watch.messages) t.false(leaks(message.payload), `MQTT ${message.topic}`);
});

test('a config check of a file with an inline canary password and a credential-carrying URL does not echo the secret', async (t) => {
  const dir = await makeTempDir('canary-config');
  t.teardown(() => dir.remove());
  const file = path.join(dir.path, 'config.json');
  await writeFile(
    file,
    JSON.stringify({ boxId: 'box-1', mqtt: { url: `mqtt://box:${CANARY}@127.0.0.1:1883` }, cameras: [{ id: 'c1', rtsp: `rtsp://admin:${CANARY}@10.0.0.1/s`, password: CANARY, passwordEnv: 'X' }] }),
  );
  const result = await run(process.execPath, [BIN, 'config', 'check', file]).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, out: err.stdout + err.stderr }),
  );
  t.is(result.code, 2);
  t.regex(result.out, /cameras\[0\]\.rtsp: must not contain credentials/);
  t.false(leaks(result.out), result.out);
});
