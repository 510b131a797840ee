/**
 * history at instance, type and system level (http.html#history): order, _since, _at, _count and next links,
 * deletions as DELETE entries, and the guarantee that a change committing late is never missed by a later
 * `_since` query that starts from the previous bundle's meta.lastUpdated.
 */
import pg from 'pg';
import { type FhirResponse, useServer, type Json } from '../harness';

const server = useServer();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function allPages(first: string): Promise<Json[]> {
  const entries: Json[] = [];
  let url: string | undefined = first;
  while (url) {
    const res: FhirResponse = await server.request('GET', url);
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('history');
    entries.push(...(res.body.entry ?? []));
    url = res.body.link.find((l: Json) => l.relation === 'next')?.url;
  }
  return entries;
}

test('instance, type and system history, newest first, with deletes and paging', async () => {
  const start = new Date().toISOString();
  await sleep(5);
  const org = await server.request('POST', '/Organization', { body: { resourceType: 'Organization', name: 'Sahyadri Hospital' } });
  const oid = org.body.id;
  await server.request('PUT', `/Organization/${oid}`, { body: { ...org.body, name: 'Sahyadri Hospital, Nagpur' } });
  const loc = await server.request('POST', '/Location', { body: { resourceType: 'Location', name: 'Dispensary', mode: 'instance' } });
  await server.request('DELETE', `/Location/${loc.body.id}`);

  const inst = await server.request('GET', `/Organization/${oid}/_history`);
  expect(inst.body.total).toBe(2);
  expect(inst.body.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['2', '1']);
  expect(inst.body.entry.map((e: Json) => e.request.method)).toEqual(['PUT', 'POST']);
  expect(inst.body.entry[1].response.status).toBe('201 Created');

  const type = await server.request('GET', `/Location/_history?_since=${encodeURIComponent(start)}`);
  expect(type.body.entry.map((e: Json) => [e.request.method, e.response.etag])).toEqual([
    ['DELETE', 'W/"2"'],
    ['POST', 'W/"1"'],
  ]);

  const system = await allPages(`/_history?_since=${encodeURIComponent(start)}&_count=1`);
  expect(system.map((e) => `${e.request.method} ${e.fullUrl.split('/fhir/')[1]}`)).toEqual([
    `DELETE Location/${loc.body.id}`,
    `POST Location/${loc.body.id}`,
    `PUT Organization/${oid}`,
    `POST Organization/${oid}`,
  ]);
  expect((await server.request('GET', '/Organization/nope/_history')).status).toBe(404);
});

test('_at returns the versions current at that time', async () => {
  const created = await server.request('POST', '/Practitioner', { body: { resourceType: 'Practitioner', name: [{ text: 'Dr. Meera Iyer' }] } });
  await sleep(20);
  const between = new Date().toISOString();
  await sleep(20);
  await server.request('PUT', `/Practitioner/${created.body.id}`, { body: { ...created.body, active: true } });
  const at = await server.request('GET', `/Practitioner/${created.body.id}/_history?_at=${encodeURIComponent(between)}`);
  expect(at.body.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['1']);
  const now = await server.request('GET', `/Practitioner/${created.body.id}/_history?_at=${encodeURIComponent(new Date().toISOString())}`);
  expect(now.body.entry.map((e: Json) => e.resource.meta.versionId)).toEqual(['2']);
});

test('bad history parameters → 400; lenient handling ignores unknown ones', async () => {
  expect((await server.request('GET', '/_history?_since=yesterday')).status).toBe(400);
  expect((await server.request('GET', '/_history?_count=ten')).status).toBe(400);
  expect((await server.request('GET', '/_history?foo=bar')).status).toBe(400);
  expect((await server.request('GET', '/_history?foo=bar', { headers: { prefer: 'handling=lenient' } })).status).toBe(200);
});

test('a change that commits late is not missed by the next _since poll', async () => {
  // A writer opens a transaction (as a slow bundle would), then a poller reads history, then the writer commits.
  const writer = new pg.Client({ connectionString: server.databaseUrl });
  await writer.connect();
  try {
    const before = await server.request('GET', '/_history?_count=1');
    let since: string = before.body.meta.lastUpdated;
    await writer.query('BEGIN');
    // Write a version the way the repository does: lastUpdated from the clock inside the transaction.
    await writer.query(`INSERT INTO resource (id, resource_type, version_id, last_updated, method, content)
                        VALUES ('late-1', 'Basic', 1, date_trunc('milliseconds', clock_timestamp()), 'POST', '{"resourceType":"Basic","id":"late-1","code":{"text":"late"}}')`);
    await sleep(30);
    // Meanwhile an ordinary write commits, and a poller reads everything since its last horizon.
    await server.request('POST', '/Basic', { body: { resourceType: 'Basic', code: { text: 'on time' } } });
    const poll1 = await server.request('GET', `/_history?_since=${encodeURIComponent(since)}`);
    const seen1 = (poll1.body.entry ?? []).map((e: Json) => e.resource?.code?.text);
    expect(seen1).not.toContain('late'); // not committed yet
    expect(seen1).not.toContain('on time'); // held back behind the open transaction's start, not lost
    since = poll1.body.meta.lastUpdated;
    await writer.query('COMMIT');
    const poll2 = await server.request('GET', `/_history?_since=${encodeURIComponent(since)}`);
    const seen2 = (poll2.body.entry ?? []).map((e: Json) => e.resource?.code?.text);
    expect(seen2).toEqual(expect.arrayContaining(['late', 'on time']));
  } finally {
    await writer.end();
  }
});

test("an instance's history shows the client's own write while another transaction is open; type history holds it back", async () => {
  const created = await server.request('POST', '/Basic', { body: { resourceType: 'Basic', code: { text: 'mine' } } });
  expect(created.status).toBe(201);
  const id = created.body.id;
  // Another session (as a slow bundle's would) holds a transaction open across the client's delete.
  const other = new pg.Client({ connectionString: server.databaseUrl });
  await other.connect();
  try {
    await other.query('BEGIN');
    await other.query('SELECT 1');
    const del = await server.request('DELETE', `/Basic/${id}`);
    expect(del.status).toBe(204);
    const instance = await server.request('GET', `/Basic/${id}/_history`);
    expect(instance.status).toBe(200);
    expect(instance.body.total).toBe(2);
    expect(instance.body.entry.map((e: Json) => e.request.method)).toEqual(['DELETE', 'POST']);
    // the bundle's meta.lastUpdated is still the horizon: polling the instance from it sees the delete again
    // rather than ever missing a version that commits later
    const since = instance.body.meta.lastUpdated;
    const poll = await server.request('GET', `/Basic/${id}/_history?_since=${encodeURIComponent(since)}`);
    expect(poll.body.entry.map((e: Json) => e.request.method)).toContain('DELETE');
    // type level keeps its stable feed: the delete waits behind the open transaction's start
    const type = await server.request('GET', `/Basic/_history?_since=${encodeURIComponent(since)}`);
    expect((type.body.entry ?? []).filter((e: Json) => e.fullUrl?.endsWith(`/Basic/${id}`))).toEqual([]);
    await other.query('COMMIT');
    const after = await server.request('GET', `/Basic/_history?_since=${encodeURIComponent(since)}`);
    expect(after.body.entry.some((e: Json) => e.request.method === 'DELETE' && e.request.url.endsWith(`Basic/${id}`))).toBe(true);
  } finally {
    await other.end();
  }
});

test('sessions that never write a version (the event dispatcher, the queues) do not hold the horizon back', async () => {
  for (const name of ['arogya-events', 'arogya-jobs']) {
    const other = new pg.Client({ connectionString: server.databaseUrl });
    await other.connect();
    try {
      // as the outbox dispatcher opens its transactions (events/pipeline.ts): named in the same round trip as BEGIN
      await other.query(`BEGIN; SET LOCAL application_name = '${name}'`);
      const before = (await server.request('GET', '/Basic/_history?_count=1')).body.meta.lastUpdated;
      const created = await server.request('POST', '/Basic', { body: { resourceType: 'Basic', code: { text: name } } });
      const type = await server.request('GET', `/Basic/_history?_since=${encodeURIComponent(before)}`);
      expect(type.body.entry.map((e: Json) => e.resource?.id)).toContain(created.body.id);
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
  }
  // an ordinary session's open transaction does (the test above)
});
