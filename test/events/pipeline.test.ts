/**
 * The event pipeline (server/events/): every committed create, update and delete reaches each consumer through
 * outbox → dispatcher → pg-boss; rolled-back writes never do; a failing delivery is retried with exponential
 * backoff and, after the last retry, lands in the consumer's dead-letter queue.
 */
import type { ChangeEvent, EventConsumer } from '../../server/events/event';
import { BUSY_DISPATCH_GAP_MS, deadLetterOf } from '../../server/events/pipeline';
import { startServer, type Json, type TestServer } from '../harness';

const received: ChangeEvent[] = [];
const attempts = new Map<string, number[]>();
const key = (e: Pick<ChangeEvent, 'resourceType' | 'id' | 'versionId'>) => `${e.resourceType}/${e.id}/_history/${e.versionId}`;

const recorder: EventConsumer = { name: 'recorder', handle: async (e) => void received.push(e) };
/** Fails the first two deliveries of every Basic resource's event, then accepts. */
const flaky: EventConsumer = {
  name: 'flaky',
  async handle(e) {
    if (e.resourceType !== 'Basic') return;
    const times = [...(attempts.get(key(e)) ?? []), Date.now()];
    attempts.set(key(e), times);
    if (times.length <= 2) throw new Error('receiver unavailable');
  },
};
/** Never accepts a Device event. */
const broken: EventConsumer = {
  name: 'broken',
  async handle(e) {
    if (e.resourceType === 'Device') throw new Error('always down');
  },
};

/** Wants only Location events (EventConsumer.wanted): the others queue no job for it. */
const pickyReceived: ChangeEvent[] = [];
const picky: EventConsumer = {
  name: 'picky',
  wanted: async (events) => events.filter((e) => e.resourceType === 'Location'),
  handle: async (e) => void pickyReceived.push(e),
};

/**
 * Reads the database clock in the dispatcher's first round trip (EventConsumer.probe) and records what `wanted` was
 * given with each batch: the probe runs after the batch was taken, so it is later than every event in it.
 */
const probedBatches: { at: number; events: ChangeEvent[] }[] = [];
const probing: EventConsumer = {
  name: 'probing',
  probe: `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS at, 'probe' AS marker`,
  wanted: async (events, _client, probed) => {
    expect(probed?.rows[0]?.marker).toBe('probe');
    probedBatches.push({ at: Number(probed?.rows[0]?.at), events: [...events] });
    return [];
  },
  handle: async () => undefined,
};

let server: TestServer;
beforeAll(async () => {
  server = await startServer(
    { eventPollMs: 50, eventRetryLimit: 2, eventRetryDelaySeconds: 1, eventExpireSeconds: 30 },
    { events: { consumers: [recorder, flaky, broken, picky, probing] } },
  );
});
afterAll(async () => server?.close());

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const eventsOf = (type: string, id: string) => received.filter((e) => e.resourceType === type && e.id === id);

test('create, update and delete each reach the consumer once the write committed, with who wrote it', async () => {
  const created = await server.request('POST', '/Patient', {
    body: { resourceType: 'Patient', gender: 'female' },
    headers: { 'x-request-id': 'ev-1' },
  });
  expect(created.status).toBe(201);
  const id = created.body.id as string;
  expect((await server.request('PUT', `/Patient/${id}`, { body: { resourceType: 'Patient', id, gender: 'male' } })).status).toBe(200);
  expect((await server.request('DELETE', `/Patient/${id}`)).status).toBe(204);
  const events = await until('3 events', () => (eventsOf('Patient', id).length >= 3 ? eventsOf('Patient', id) : undefined));
  events.sort((a, b) => a.versionId - b.versionId);
  expect(events.map((e) => [e.versionId, e.interaction])).toEqual([
    [1, 'create'],
    [2, 'update'],
    [3, 'delete'],
  ]);
  expect(events[0].requestId).toBe('ev-1');
  expect(events[0].actor.kind).toBe(server.config.auth === 'smart' ? 'client' : 'anonymous');
  expect(Number.isNaN(Date.parse(events[0].recorded))).toBe(false);
});

test('a transaction Bundle delivers all its entries; a rolled-back one delivers none', async () => {
  const entry = (fullUrl: string, resource: Json) => ({ fullUrl, resource, request: { method: 'POST', url: resource.resourceType } });
  const ok = await server.request('POST', '', {
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        entry('urn:uuid:5b2a3c1e-0000-4000-8000-000000000001', { resourceType: 'Patient', gender: 'other' }),
        entry('urn:uuid:5b2a3c1e-0000-4000-8000-000000000002', {
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'pulse' },
          subject: { reference: 'urn:uuid:5b2a3c1e-0000-4000-8000-000000000001' },
        }),
      ],
    },
  });
  expect(ok.status).toBe(200);
  const ids = (ok.body.entry as Json[]).map((e) => (e.response.location as string).split('/').slice(0, 2));
  const failed = await server.request('POST', '', {
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        entry('urn:uuid:5b2a3c1e-0000-4000-8000-000000000003', { resourceType: 'Patient', gender: 'unknown' }),
        entry('urn:uuid:5b2a3c1e-0000-4000-8000-000000000004', { resourceType: 'Observation', status: 'not-a-status', code: { text: 'x' } }),
      ],
    },
  });
  expect(failed.status).toBeGreaterThanOrEqual(400);
  for (const [type, id] of ids) await until(`${type}/${id}`, () => eventsOf(type, id).length > 0);
  // A write after the failed bundle is delivered: had the bundle's Patient leaked, it would have been dispatched before it.
  const after = await server.request('POST', '/Patient', { body: { resourceType: 'Patient', gender: 'unknown' } });
  await until('the later create', () => eventsOf('Patient', after.body.id).length > 0);
  // nothing of the rolled-back bundle: every event received names a version that exists
  const { rows } = await server.pool.query<{ k: string }>(
    `SELECT resource_type || '/' || id || '/_history/' || version_id AS k FROM resource_history WHERE version_id > 0`,
  );
  const stored = new Set(rows.map((r) => r.k));
  expect(received.filter((e) => !stored.has(key(e)))).toEqual([]);
  expect(new Set(received.map(key)).size).toBe(received.length);
});

test('a failing delivery is retried with growing delays until the consumer accepts it', async () => {
  const res = await server.request('POST', '/Basic', { body: { resourceType: 'Basic', code: { text: 'retry me' } } });
  expect(res.status).toBe(201);
  const k = `Basic/${res.body.id}/_history/1`;
  const times = await until('3 attempts', () => ((attempts.get(k)?.length ?? 0) >= 3 ? attempts.get(k) : undefined));
  // retryDelay 1 s with backoff: the first retry waits ≥ 1 s, the second ≥ 2 s (jittered up to twice that).
  expect(times[1] - times[0]).toBeGreaterThanOrEqual(950);
  expect(times[2] - times[1]).toBeGreaterThanOrEqual(1950);
  await new Promise((r) => setTimeout(r, 1000));
  expect(attempts.get(k)).toHaveLength(3);
});

test('a delivery that fails every retry goes to the dead-letter queue', async () => {
  const res = await server.request('POST', '/Device', { body: { resourceType: 'Device', status: 'active' } });
  expect(res.status).toBe(201);
  const dead = await until('the dead letter', async () => {
    const { rows } = await server.pool.query<{ data: string }>(`SELECT data::text FROM pgboss.job WHERE name = $1 AND data->>'id' = $2`, [
      deadLetterOf('broken'),
      res.body.id,
    ]);
    return rows[0];
  });
  expect(JSON.parse(dead.data)).toMatchObject({ resourceType: 'Device', versionId: 1, interaction: 'create' });
  const failed = await server.pool.query<{ state: string; retry_count: number }>(
    `SELECT state, retry_count FROM pgboss.job WHERE name = 'arogya-event-broken' AND data->>'id' = $1`,
    [res.body.id],
  );
  expect(failed.rows).toEqual([{ state: 'failed', retry_count: 2 }]);
  // the other consumers had it at once
  expect(eventsOf('Device', res.body.id)).toHaveLength(1);
});

test('a consumer that passes over events (wanted) gets a job only for the ones it wants', async () => {
  const patient = await server.request('POST', '/Patient', { body: { resourceType: 'Patient', gender: 'female' } });
  const location = await server.request('POST', '/Location', { body: { resourceType: 'Location', name: 'Dispensary' } });
  expect([patient.status, location.status]).toEqual([201, 201]);
  await until('the Location event', () => pickyReceived.find((e) => e.id === location.body.id));
  await until('the Patient event at the recorder', () => eventsOf('Patient', patient.body.id)[0]);
  const { rows } = await server.pool.query<{ id: string }>(`SELECT data->>'id' AS id FROM pgboss.job WHERE name = 'arogya-event-picky'`);
  expect(rows.map((r) => r.id)).toContain(location.body.id);
  expect(rows.map((r) => r.id)).not.toContain(patient.body.id);
  expect(pickyReceived.some((e) => e.resourceType !== 'Location')).toBe(false);
});

test("a consumer's probe is read with the batch, after it was taken, and its result is passed to wanted", async () => {
  const created = await server.request('POST', '/Observation', {
    body: { resourceType: 'Observation', status: 'final', code: { text: 'probe me' } },
  });
  expect(created.status).toBe(201);
  const batch = await until('the batch with the Observation', () => probedBatches.find((b) => b.events.some((e) => e.id === created.body.id)));
  for (const e of batch.events) expect(batch.at).toBeGreaterThanOrEqual(Date.parse(e.recorded));
  // the probing consumer wanted none: no job was queued for it
  const { rows } = await server.pool.query(`SELECT 1 FROM pgboss.job WHERE name = 'arogya-event-probing'`);
  expect(rows).toHaveLength(0);
});

test('writes following each other closely share dispatches: at most one per busy interval', async () => {
  const before = probedBatches.length;
  const ids: string[] = [];
  const started = Date.now();
  for (let i = 0; i < 40; i++) {
    const res = await server.request('POST', '/Basic', { body: { resourceType: 'Basic', code: { text: `burst ${i}` } } });
    expect(res.status).toBe(201);
    ids.push(res.body.id as string);
  }
  const elapsed = Date.now() - started;
  await until('every write of the burst handed on', () =>
    ids.every((id) => probedBatches.slice(before).some((b) => b.events.some((e) => e.id === id))),
  );
  // each write wakes the dispatcher, but a dispatch that found rows is followed by the next one no sooner than
  // BUSY_DISPATCH_GAP_MS later: the burst's events arrive in about one batch per gap, not one per write
  const batches = probedBatches.slice(before).filter((b) => b.events.some((e) => ids.includes(e.id)));
  expect(batches.length).toBeLessThanOrEqual(Math.ceil(elapsed / BUSY_DISPATCH_GAP_MS) + 2);
  expect(batches.length).toBeLessThan(ids.length);
});
