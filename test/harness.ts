/**
 * Integration-test harness: boots the real app on a fresh PostgreSQL database (cloned from the migrated
 * template that globalSetup prepared) and talks to it over real HTTP.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../server/app';
import { bootstrapAdminClient, ADMIN_SCOPE } from '../server/auth/bootstrap';
import { loadConfig, type Config } from '../server/config';
import { freePort } from '../server/database/embedded';
import { createPool, servingLimits, type Pool } from '../server/database/pool';

/** A parsed JSON body in tests, where the shape is what is being checked. */
export type Json = Record<string, any>;

export interface FhirResponse<T = any> {
  status: number;
  headers: Headers;
  text: string;
  body: T;
}

export interface TestServer {
  base: string;
  /** The server's origin (http://127.0.0.1:port), where /auth lives. */
  origin: string;
  /** A current admin access token (system/*.cruds) that `request` sends; undefined with AROGYA_AUTH=off. */
  token(): Promise<string | undefined>;
  /** `Authorization: Basic …` of the test's admin client; undefined with AROGYA_AUTH=off. */
  adminAuth: string | undefined;
  config: Config;
  pool: Pool;
  app: FastifyInstance;
  databaseUrl: string;
  request<T = any>(method: string, path: string, init?: { body?: unknown; headers?: Record<string, string> }): Promise<FhirResponse<T>>;
  /** `fetch` with the server's admin token (unless init sets its own Authorization): for URLs the server handed out. */
  fetch(url: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/** A new empty database (migrated) for one test file; returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const adminUrl = process.env.AROGYA_TEST_ADMIN_URL;
  const template = process.env.AROGYA_TEST_TEMPLATE;
  if (!adminUrl || !template) throw new Error('jest globalSetup did not run (AROGYA_TEST_ADMIN_URL unset)');
  const name = `${template.replace('_template_', '_')}_${crypto.randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * `url` reaching its database over TCP: the embedded database's URL goes through its Unix socket, in a folder only
 * its OS user (and root) may enter; it listens on TCP loopback at the same port too, which any user may reach.
 */
export function tcpDatabaseUrl(url: string): string {
  const u = new URL(url);
  if (decodeURIComponent(u.hostname).startsWith('/')) u.hostname = '127.0.0.1';
  return u.toString();
}

/**
 * Requests against a FHIR base URL (a path is taken relative to it); the body parsed as JSON when it is JSON. With
 * `token`, every request carries `Authorization: Bearer <token>` unless it sets its own Authorization header.
 */
export function fhirClient(base: string, token?: () => Promise<string | undefined>): Pick<TestServer, 'request'> {
  return {
    async request(method, p, init = {}) {
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      const bearer = await token?.();
      if (bearer && !Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')) headers.authorization = `Bearer ${bearer}`;
      let body: string | undefined;
      if (init.body !== undefined) {
        body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/fhir+json';
      }
      const res = await fetch(p.startsWith('http') ? p : `${base}${p.startsWith('/') ? '' : '/'}${p}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, text, body: parsed as any };
    },
  };
}

export interface StartOptions extends Omit<AppOptions, 'logger'> {
  /** The database URL the app's pool connects to, given the test database's (e.g. through a proxy the test cuts). */
  poolUrl?: (databaseUrl: string) => string;
  /** Called before the app listens (e.g. to add a route for a test). */
  beforeListen?: (app: FastifyInstance) => void;
}

/** `fetch` with `Authorization: Bearer <token>` added unless the request sets its own. */
export async function authorizedFetch(token: () => Promise<string | undefined>, url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const t = await token();
  if (t && !headers.has('authorization')) headers.set('authorization', `Bearer ${t}`);
  return fetch(url, { ...init, headers });
}

/** The suite runs with SMART on (the default) unless AROGYA_AUTH=off is in the environment (.ci/run runs both). */
export const TEST_AUTH: 'smart' | 'off' = process.env.AROGYA_AUTH === 'off' ? 'off' : 'smart';

/** Admin credentials for a test server: a fixed id, a fresh secret. */
export function testAdminClient(): { adminClientId: string; adminClientSecret: string } {
  return { adminClientId: 'test-admin', adminClientSecret: crypto.randomBytes(24).toString('base64url') };
}

/** `Authorization: Basic` for a client id and secret (RFC 6749 §2.3.1: each form-urlencoded). */
export function basicAuth(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/**
 * Gets admin tokens from a server's real token endpoint (client_credentials, client_secret_basic), a new one
 * shortly before the current one expires.
 */
export function adminTokens(origin: string, basic: string, scope = ADMIN_SCOPE): () => Promise<string> {
  let current: { token: string; until: number } | undefined;
  return async () => {
    if (current && current.until > Date.now()) return current.token;
    const res = await fetch(`${origin}/auth/token`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
    });
    const body = (await res.json()) as { access_token?: string; expires_in?: number; error_description?: string };
    if (!res.ok || !body.access_token) throw new Error(`admin token refused (${res.status}): ${body.error_description ?? ''}`);
    current = { token: body.access_token, until: Date.now() + Math.max(1, (body.expires_in ?? 60) - 30) * 1000 };
    return current.token;
  };
}

/** `opts.logStream` receives the app's pino log lines; without it the app logs nothing. */
export async function startServer(overrides: Partial<Config> = {}, opts: StartOptions = {}): Promise<TestServer> {
  const databaseUrl = await createTestDatabase();
  const port = await freePort();
  const config: Config = {
    ...loadConfig({}),
    port,
    host: '127.0.0.1',
    databaseUrl,
    baseUrl: `http://127.0.0.1:${port}/fhir`,
    workers: 1,
    logLevel: 'silent',
    auth: TEST_AUTH,
    ...testAdminClient(),
    // The HMS workflows stay off unless a test asks for them: most tests load Synthea bundles, whose finished
    // encounters would otherwise each set off dispensing and billing (test/workflows/ turns them on).
    workflows: false,
    ...overrides,
  };
  const { poolUrl, beforeListen, ...appOptions } = opts;
  const pool = createPool(poolUrl?.(databaseUrl) ?? databaseUrl, config.poolSize, 'arogya', servingLimits(config));
  const app = await buildApp(config, pool, { ...appOptions, logger: appOptions.logStream ? undefined : false });
  beforeListen?.(app);
  await app.listen({ port, host: '127.0.0.1' });
  const origin = `http://127.0.0.1:${port}`;
  const base = `${origin}/fhir`;
  let token: () => Promise<string | undefined> = async () => undefined;
  let adminAuth: string | undefined;
  if (config.auth === 'smart' && config.adminClientId && config.adminClientSecret) {
    await bootstrapAdminClient(pool, config);
    adminAuth = basicAuth(config.adminClientId, config.adminClientSecret);
    token = adminTokens(origin, adminAuth);
  }
  return {
    base,
    origin,
    token,
    adminAuth,
    config,
    pool,
    app,
    databaseUrl,
    ...fhirClient(base, token),
    fetch: (url, init) => authorizedFetch(token, url, init),
    async close() {
      await app.close();
      await pool.end();
    },
  };
}

/**
 * The test file's server: registers a beforeAll that starts it (with `config` overrides) and runs `setup` (loading
 * fixtures), and an afterAll that closes it. The handle it returns reaches the started server from inside tests and
 * hooks (a proxy: using it before beforeAll has run is an error saying so).
 */
export function useServer(opts: { config?: Partial<Config>; setup?: (server: TestServer) => Promise<unknown> } = {}): TestServer {
  let started: TestServer | undefined;
  beforeAll(async () => {
    started = await startServer(opts.config);
    await opts.setup?.(started);
  });
  afterAll(async () => started?.close());
  return new Proxy({} as TestServer, {
    get(_target, key) {
      if (!started) throw new Error(`useServer: the test server starts in beforeAll; '${String(key)}' was used before it ran`);
      const value = started[key as keyof TestServer];
      return typeof value === 'function' ? value.bind(started) : value;
    },
  });
}

/** ../shared/fixtures (beside the project). Tests needing it skip when absent — but fail under CI=true. */
export const FIXTURES_DIR = path.resolve(__dirname, '..', '..', 'shared', 'fixtures');

export function fixturesAvailable(what: string): boolean {
  if (fs.existsSync(FIXTURES_DIR)) return true;
  if (process.env.CI === 'true') throw new Error(`${what} needs ${FIXTURES_DIR}, which is missing (CI=true: failing instead of skipping)`);
  console.warn(`skipping ${what}: ${FIXTURES_DIR} is not present`);
  return false;
}

export function syntheaBundles(): string[] {
  const dir = path.join(FIXTURES_DIR, 'synthea');
  return fs
    .readdirSync(dir)
    .flatMap((sub) =>
      fs.statSync(path.join(dir, sub)).isDirectory()
        ? fs
            .readdirSync(path.join(dir, sub))
            .filter((f) => f.endsWith('.json'))
            .map((f) => path.join(dir, sub, f))
        : [],
    )
    .sort();
}

/** The compiled CLI (`npm test` builds it first), as a separate process. */
const CLI = path.resolve(__dirname, '..', 'dist', 'server', 'main.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `arogya <args…>` with only PATH, HOME, LOG_LEVEL=warn and `env` set; resolves when it exits. */
export function runCli(args: string[], env: Record<string, string>): Promise<CliRun> {
  if (!fs.existsSync(CLI)) return Promise.reject(new Error(`${CLI} is missing: run \`npm run build\` (npm test does it)`));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
