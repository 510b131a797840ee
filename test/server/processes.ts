/**
 * The compiled server (`node dist/server/main.js …`, npm test builds dist/) as a child process, for tests of its
 * process behaviour: start, wait until ready (event-driven on its output and /readyz), collect output, exit code.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { TEST_AUTH, adminTokens, authorizedFetch, basicAuth, testAdminClient } from '../harness';

export const ROOT = path.resolve(__dirname, '..', '..');
export const MAIN = path.join(ROOT, 'dist', 'server', 'main.js');

export interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** The admin client every spawned server is given (SMART on), or AROGYA_AUTH=off when the suite runs without auth. */
export const PROC_ADMIN = testAdminClient();
const AUTH_ENV: Record<string, string> =
  TEST_AUTH === 'off'
    ? { AROGYA_AUTH: 'off' }
    : { AROGYA_ADMIN_CLIENT_ID: PROC_ADMIN.adminClientId, AROGYA_ADMIN_CLIENT_SECRET: PROC_ADMIN.adminClientSecret };

/** Admin tokens of a spawned server at `origin` (undefined with auth off), and fetch that sends them. */
export function procAuth(origin: string): {
  token: () => Promise<string | undefined>;
  fetch: (url: string, init?: RequestInit) => Promise<Response>;
} {
  const token: () => Promise<string | undefined> =
    TEST_AUTH === 'off' ? async () => undefined : adminTokens(origin, basicAuth(PROC_ADMIN.adminClientId, PROC_ADMIN.adminClientSecret));
  return { token, fetch: (url, init) => authorizedFetch(token, url, init) };
}

/** Starts `node <main> args…` with only PATH, HOME, the test admin client (or AROGYA_AUTH=off) and `env` set. */
export function start(args: string[], env: Record<string, string | undefined>, opts: SpawnOptions & { main?: string; node?: string } = {}): Proc {
  const { main = MAIN, node = process.execPath, ...spawnOpts } = opts;
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` (npm test does it)`);
  const child = spawn(node, [main, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...AUTH_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...spawnOpts,
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Resolves once GET /readyz answers 200; rejects if the process exits first or the time is up. */
export async function waitReady(port: number, proc: Proc, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`server exited early:\n${proc.output()}`);
    const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    // Polling the port: no event announces it. A short pause between tries keeps a busy machine free.
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server not ready in ${timeoutMs} ms:\n${proc.output()}`);
}

/** What a client saw of one request: a complete response, or the error that ended it. */
export interface Outcome {
  status: number;
  body: string;
  /** Set when no complete response arrived: the socket error code (ECONNREFUSED: the request never reached a server). */
  error?: string;
}

/** One request on a fresh connection (no keep-alive reuse, so a closing server cannot race a reused socket). */
export function send(url: string, method: string, body?: string, token?: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = body
      ? { 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(body) }
      : {};
    if (token) headers.authorization = `Bearer ${token}`;
    const req = http.request(url, { method, agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ status: res.statusCode ?? 0, body: text, error: e.code ?? e.message }));
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, body: text, error: 'aborted' }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, body: '', error: e.code ?? e.message }));
    req.end(body);
  });
}

/** Ends a server a test left running (after a failure): SIGKILL, and waits for its exit. */
export async function killIfRunning(proc: Proc | undefined): Promise<void> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGKILL');
  await proc.exited;
}
