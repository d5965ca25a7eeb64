/**
 * The box's one SQLite database (better-sqlite3 12; 13 needs Node 22 and crashes on 20 — STACK-NOTES).
 * WAL + synchronous=NORMAL: a commit survives an agent crash (kill -9), and at worst the last commits are
 * lost on a power cut, never corrupting the file; batching makes the sync mode nearly free (measured, STACK-NOTES).
 * At open: integrity check (a corrupt ledger is a fatal start error with a clear message, not a crash loop
 * of mysterious SQL errors), then the migrations not yet applied.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { FatalStartError } from '../lib/errors.ts';
import { MIGRATIONS, type Migration } from './migrations.ts';

export type Db = Database.Database;

export interface StoreOptions {
  /** Full integrity_check instead of quick_check (O(N log N) vs O(N)); quick_check at every start. */
  fullCheck?: boolean;
  migrations?: readonly Migration[];
}

export class Store {
  /** Prepared statements by their SQL: preparing costs more than running a small query (bench/telemetry's profile). */
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(
    readonly db: Db,
    readonly path: string,
    readonly appliedMigrations: number[],
  ) {}

  static open(path: string, options: StoreOptions = {}): Store {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    let db: Db;
    try {
      db = new Database(path);
    } catch (err) {
      throw new FatalStartError(`cannot open the database ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      const check = db.pragma(options.fullCheck ? 'integrity_check' : 'quick_check', { simple: false }) as Array<Record<string, string>>;
      const problems = check.map((row) => Object.values(row)[0]).filter((v) => v !== 'ok');
      if (problems.length > 0) {
        throw new FatalStartError(
          `the database ${path} is corrupt (${problems.slice(0, 3).join('; ')}); move it aside to start with an empty ledger`,
        );
      }
      const applied = migrate(db, options.migrations ?? MIGRATIONS);
      return new Store(db, path, applied);
    } catch (err) {
      db.close();
      if (err instanceof FatalStartError) throw err;
      // SQLITE_NOTADB and friends: the file is not a database at all.
      throw new FatalStartError(`the database ${path} cannot be used: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * The statement for `sql`, prepared once and kept for the life of the database. For the fixed SQL the agent runs
   * over and over (the spool's ledger, the outbox, meta): never build `sql` from values — they go in as parameters.
   */
  prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  getMeta(key: string): string | undefined {
    const row = this.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** Increments a counter kept in meta and returns the new value (boot count, birth sequence). */
  increment(key: string): number {
    return this.db.transaction(() => {
      const next = Number(this.getMeta(key) ?? '0') + 1;
      this.setMeta(key, String(next));
      return next;
    })();
  }

  schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  close(): void {
    this.statements.clear();
    if (this.db.open) this.db.close();
  }
}

/** Applies the migrations above `user_version`, each in a transaction with its version bump. Returns those applied. */
function migrate(db: Db, migrations: readonly Migration[]): number[] {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new FatalStartError(`the database is at schema version ${current}, newer than this agent knows (${latest}); a downgrade needs a fresh database`);
  }
  const applied: number[] = [];
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    })();
    applied.push(migration.version);
  }
  return applied;
}
