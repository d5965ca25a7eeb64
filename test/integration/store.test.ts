// The store against real SQLite files: WAL, migrations once, a corrupt file refused with a clear error.
import test from 'ava';
import { writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Store } from '../../agent/store/index.ts';
import { MIGRATIONS } from '../../agent/store/migrations.ts';
import { FatalStartError } from '../../agent/lib/errors.ts';
import { makeTempDir } from '../helpers/index.ts';

test('opens in WAL with synchronous=NORMAL and applies every migration exactly once', async (t) => {
  const dir = await makeTempDir('store');
  t.teardown(() => dir.remove());
  const file = path.join(dir.path, 'nested', 'venuebox.db');
  const first = Store.open(file);
  t.is(first.db.pragma('journal_mode', { simple: true }), 'wal');
  t.is(first.db.pragma('synchronous', { simple: true }), 1, 'NORMAL');
  t.deepEqual(first.appliedMigrations, MIGRATIONS.map((m) => m.version));
  t.is(first.increment('boot_count'), 1);
  first.close();
  const second = Store.open(file);
  t.deepEqual(second.appliedMigrations, [], 'nothing re-applied');
  t.is(second.schemaVersion(), MIGRATIONS.at(-1)!.version);
  t.is(second.increment('boot_count'), 2, 'state survives a restart');
  second.close();
});

test('a new migration is applied on the next start, in a transaction', async (t) => {
  const dir = await makeTempDir('store-migrate');
  t.teardown(() => dir.remove());
  const file = path.join(dir.path, 'v.db');
  Store.open(file).close();
  const next = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'test', sql: 'CREATE TABLE extra (x INTEGER) STRICT;' }];
  const store = Store.open(file, { migrations: next });
  t.deepEqual(store.appliedMigrations, [MIGRATIONS.length + 1]);
  store.close();
  const broken = [...next, { version: MIGRATIONS.length + 2, name: 'broken', sql: 'CREATE TABLE y (x INTEGER); CREATE TABLE y (z);' }];
  t.throws(() => Store.open(file, { migrations: broken }), { instanceOf: FatalStartError });
  const after = Store.open(file, { migrations: next });
  t.is(after.schemaVersion(), MIGRATIONS.length + 1, 'the failed migration left nothing behind');
  t.is((after.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'y'").get() as { n: number }).n, 0);
  after.close();
});

test('a database newer than the agent is refused, not silently used', async (t) => {
  const dir = await makeTempDir('store-newer');
  t.teardown(() => dir.remove());
  const file = path.join(dir.path, 'v.db');
  const store = Store.open(file);
  store.db.pragma('user_version = 999');
  store.close();
  t.throws(() => Store.open(file), { instanceOf: FatalStartError, message: /newer than this agent/ });
});

test('a file that is not a database, or a corrupt one, is a fatal start error that says what to do', async (t) => {
  const dir = await makeTempDir('store-corrupt');
  t.teardown(() => dir.remove());
  const garbage = path.join(dir.path, 'garbage.db');
  await writeFile(garbage, 'this is not a database'.repeat(300));
  t.throws(() => Store.open(garbage), { instanceOf: FatalStartError, message: /garbage\.db/ });

  // A real database with a damaged page: fill a table, then overwrite bytes in the middle of the file.
  const damaged = path.join(dir.path, 'damaged.db');
  const store = Store.open(damaged);
  const insert = store.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
  store.db.transaction(() => {
    for (let i = 0; i < 3000; i++) insert.run(`k${i}`, 'v'.repeat(100));
  })();
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.close();
  const bytes = await readFile(damaged);
  bytes.fill(0x5a, 4096 * 3, 4096 * 3 + 2048);
  await writeFile(damaged, bytes);
  const error = t.throws(() => Store.open(damaged, { fullCheck: true }), { instanceOf: FatalStartError });
  t.regex(error?.message ?? '', /corrupt|cannot be used/);
});
