/** Shared steps of the bulk data tests: kick-off, polling the status URL, downloading NDJSON, counting. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Pool } from '../../server/database/pool';
import { startServer, type FhirResponse, type TestServer } from '../harness';
import { syntheaResources } from '../fixtures';

type Json = Record<string, any>;

export const ASYNC = { prefer: 'respond-async', accept: 'application/fhir+json' };

/** The token getter of each bulk test server, by origin: raw requests (files, uploads) carry its bearer token. */
const tokens = new Map<string, () => Promise<string | undefined>>();

/** fetch with the bearer token of the test server the URL belongs to (none with AROGYA_AUTH=off). */
export async function bulkFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const token = await tokens.get(new URL(url).origin)?.();
  const headers = new Headers(init.headers);
  if (token && !headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
  return fetch(url, { ...init, headers });
}

/** A test server with its own data dir (exports and uploads land there), removed by close(). */
export async function startBulkServer(overrides: Parameters<typeof startServer>[0] = {}): Promise<TestServer & { dataDir: string }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-bulk-'));
  const server = await startServer({ dataDir, ...overrides });
  tokens.set(server.origin, server.token);
  const close = server.close.bind(server);
  return Object.assign(server, {
    dataDir,
    async close() {
      await close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

export async function kickOff(
  server: Pick<TestServer, 'request'>,
  p: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<FhirResponse> {
  return server.request(init.method ?? 'GET', p, { body: init.body, headers: { ...ASYNC, ...(init.headers ?? {}) } });
}

/** Polls a status URL until it stops answering 202; returns the final response and the progress texts seen. */
export async function waitForJob(
  server: Pick<TestServer, 'request'>,
  statusUrl: string,
  timeoutMs = 60_000,
): Promise<FhirResponse & { progress: string[] }> {
  const deadline = Date.now() + timeoutMs;
  const progress: string[] = [];
  for (;;) {
    const res = await server.request('GET', statusUrl);
    if (res.status !== 202) return { ...res, progress };
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    progress.push(res.headers.get('x-progress') ?? '');
    if (Date.now() > deadline) throw new Error(`job ${statusUrl} not done within ${timeoutMs} ms (last progress: ${progress.at(-1)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Kick-off + wait; expects success and returns the manifest. */
export async function runExport(server: TestServer, p: string, init: Parameters<typeof kickOff>[2] = {}): Promise<Json> {
  const res = await kickOff(server, p, init);
  expect(res.status).toBe(202);
  const done = await waitForJob(server, res.headers.get('content-location')!);
  expect(done.status).toBe(200);
  return done.body as Json;
}

export async function download(url: string): Promise<{ contentType: string | null; lines: string[] }> {
  const res = await bulkFetch(url);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { contentType: res.headers.get('content-type'), lines: text.split('\n').filter((l) => l !== '') };
}

/** Output files of a manifest → resource type → parsed resources. */
export async function exportedResources(manifest: Json): Promise<Map<string, Json[]>> {
  const out = new Map<string, Json[]>();
  for (const o of manifest.output as Json[]) {
    const { lines } = await download(o.url);
    expect(lines.length).toBe(o.count);
    const resources = lines.map((l) => JSON.parse(l) as Json);
    for (const r of resources) expect(r.resourceType).toBe(o.type);
    out.set(o.type, [...(out.get(o.type) ?? []), ...resources]);
  }
  return out;
}

export async function countsByType(pool: Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ resource_type: string; n: number }>(
    'SELECT resource_type, count(*)::int AS n FROM resource WHERE NOT deleted GROUP BY resource_type ORDER BY resource_type',
  );
  return Object.fromEntries(rows.map((r) => [r.resource_type, r.n]));
}

/** PUTs Synthea patients' resources (dependency order) and returns them. */
export async function loadSynthea(server: TestServer, names: string[]): Promise<Json[]> {
  const all: Json[] = [];
  for (const name of names) {
    for (const r of syntheaResources(name)) {
      const res = await server.request('PUT', `/${r.resourceType}/${r.id}`, { body: r });
      if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${r.resourceType}/${r.id}: ${res.status} ${res.text}`);
      all.push(r);
    }
  }
  return all;
}

export const ALFREDA = 'Alfreda_Wyman_3287b938-4670-47eb-91e5-e0ce3df71405.json';
export const LUIGI = 'Luigi_Wiegand_e27d88b0-c5e5-4042-ad49-184f6a900ee3.json';
