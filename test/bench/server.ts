/**
 * The server under test, as production runs it: `node dist/server/main.js serve` in its own process (group),
 * cluster workers, validation, search indexing and referential integrity at their defaults. Its output goes to a
 * log file; error-level lines are echoed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../server/database/embedded';
import { PROJECT_ROOT } from '../../server/version';

export interface BenchServer {
  base: string;
  pid: number;
  logFile: string;
  /** Graceful stop (SIGTERM), then SIGKILL of its process group after a grace period; idempotent. */
  stop(): Promise<void>;
}

export interface ServerOptions {
  databaseUrl: string;
  workers: number;
  logFile: string;
  /** extra node flags, e.g. --cpu-prof (cluster workers inherit them) */
  nodeFlags?: string[];
  /** extra environment, e.g. AROGYA_AUTH and the admin client's credentials */
  env?: Record<string, string>;
  /** the script and its arguments, under dist/ (default: the server, `server/main.js serve`) */
  entry?: string[];
}

async function waitReady(base: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the server exited during start-up (code ${child.exitCode ?? child.signalCode})`);
    try {
      const res = await fetch(`${base.replace(/\/fhir$/, '')}/readyz`);
      if (res.status === 200) return;
      await res.arrayBuffer();
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the server was not ready within ${timeoutMs / 1000} s`);
}

export async function startServer(opts: ServerOptions): Promise<BenchServer> {
  const port = await freePort();
  const log = fs.openSync(opts.logFile, 'a');
  const [script, ...args] = opts.entry ?? ['server/main.js', 'serve'];
  const child = spawn(process.execPath, [...(opts.nodeFlags ?? []), path.join(PROJECT_ROOT, 'dist', script), ...args], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: opts.databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      AROGYA_BASE_URL: `http://127.0.0.1:${port}/fhir`,
      AROGYA_WORKERS: String(opts.workers),
      LOG_LEVEL: 'warn',
      ...opts.env,
    },
    stdio: ['ignore', log, log],
    detached: true, // its own process group: a ctrl-c on the terminal reaches us, and we stop it in order
  });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref());
      if ((await Promise.race([exited, timer])) === 'timeout') {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
        await exited;
      }
    })());
  const base = `http://127.0.0.1:${port}/fhir`;
  try {
    await waitReady(base, child, 60_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { base, pid: child.pid!, logFile: opts.logFile, stop };
}

/**
 * The server's log lines at error level or above (pino level ≥ 50) and any non-JSON output (a crash trace),
 * summarised as "message: error message" and de-duplicated with a count, at most `max` of them.
 */
export function serverErrors(logFile: string, max = 5): string[] {
  let text = '';
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let summary: string | undefined;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
      if ((entry.level ?? 0) >= 50) summary = [entry.msg, entry.err?.message].filter(Boolean).join(': ');
    } catch {
      summary = line.trim(); // not a pino line: part of a crash trace
    }
    if (summary !== undefined) counts.set(summary, (counts.get(summary) ?? 0) + 1);
  }
  return [...counts].slice(0, max).map(([line, n]) => (n > 1 ? `${line} (×${n})` : line));
}

/** A bench's admin client (client_credentials, system/*.cruds), given to its servers as AROGYA_ADMIN_CLIENT_* is in production. */
export interface BenchAdmin {
  id: string;
  secret: string;
}

export function benchAdmin(): BenchAdmin {
  return { id: 'bench-admin', secret: crypto.randomBytes(24).toString('base64url') };
}

/** The server environment that makes `admin` its bootstrap admin client (SMART on, the default). */
export function adminEnv(admin: BenchAdmin): Record<string, string> {
  return { AROGYA_ADMIN_CLIENT_ID: admin.id, AROGYA_ADMIN_CLIENT_SECRET: admin.secret };
}

/** An access token of `admin` from the token endpoint of the server at `base` (its FHIR base). */
export async function adminToken(base: string, admin: BenchAdmin): Promise<string> {
  const res = await fetch(`${base.replace(/\/fhir$/, '')}/auth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${admin.id}:${admin.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials&scope=system%2F*.cruds',
  });
  const body = (await res.json()) as { access_token?: string };
  if (!res.ok || !body.access_token) throw new Error(`the token endpoint answered HTTP ${res.status}`);
  return body.access_token;
}
