/**
 * Reads by id on the pool are batched (server/repository/reads.ts readBatcher): reads that arrive while one runs
 * leave together as one `unnest` probe. Each read must get exactly its own answer — its resource, 404 for an id
 * never written, 410 for a deleted one, the same resource twice when two reads ask for it — and a read of a
 * caller whose access conditions the statement never joins a batch.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SYSTEM_CALLER, type Caller } from '../../server/repository/caller';
import { Repository } from '../../server/repository/repository';
import { uniformAccess } from '../../server/repository/search/compile/access';
import { FIXTURES_DIR, fixturesAvailable, useServer } from '../harness';

const DIR = path.join(FIXTURES_DIR, 'synthea', 'fhir-data-pipes-synthea-hiv');
const INFRASTRUCTURE = ['hospitalInformation1633536936158.json', 'practitionerInformation1633536936158.json'];
const enabled = fixturesAvailable('batched reads');

const server = useServer({
  setup: async (s) => {
    if (!enabled) return;
    for (const f of INFRASTRUCTURE) {
      const res = await s.request('POST', '/', { body: fs.readFileSync(path.join(DIR, f), 'utf8') });
      if (res.status !== 200) throw new Error(`${f}: ${res.status}`);
    }
  },
});

/**
 * The names of the read-by-id statements (`arogya_read…`) the pool ran while `fn` ran; the server's own background
 * work on the same pool (dispatcher, audit log, job runners) is left out.
 */
async function statementsDuring<T>(fn: () => Promise<T>): Promise<{ result: T; names: string[] }> {
  const names: string[] = [];
  const pool = server.pool as unknown as { query: (...args: unknown[]) => unknown };
  const query = pool.query;
  pool.query = function (this: unknown, ...args: unknown[]) {
    const q = args[0] as { name?: string } | string;
    names.push(typeof q === 'object' && q.name ? q.name : '(unnamed)');
    return query.apply(this, args);
  };
  try {
    const result = await fn();
    return { result, names: names.filter((n) => n.startsWith('arogya_read')) };
  } finally {
    pool.query = query;
  }
}

(enabled ? describe : describe.skip)('batched reads by id', () => {
  let repo: Repository;
  let stored: { resourceType: string; id: string; content: string }[];
  let deleted: { resourceType: string; id: string };

  beforeAll(async () => {
    repo = new Repository(server.pool, { referentialIntegrity: true, baseUrl: server.base, timeZone: 'UTC' });
    const { rows } = await server.pool.query<{ resource_type: string; id: string; content: string }>(
      `SELECT resource_type, id, content FROM (
         SELECT resource_type, id, content, row_number() OVER (PARTITION BY resource_type ORDER BY id) AS n FROM resource
          WHERE NOT deleted AND resource_type IN ('Organization', 'Location', 'Practitioner', 'PractitionerRole')) r
        WHERE n <= 15 ORDER BY id`,
    );
    stored = rows.map((r) => ({ resourceType: r.resource_type, id: r.id, content: r.content }));
    expect(new Set(stored.map((s) => s.resourceType)).size).toBeGreaterThanOrEqual(3);
    // a resource that is then deleted (its own, referenced by nothing)
    const made = await repo.create(SYSTEM_CALLER, { resourceType: 'Basic', code: { text: 'to be deleted' } }, 'Basic');
    await repo.delete(SYSTEM_CALLER, 'Basic', made.id);
    deleted = { resourceType: 'Basic', id: made.id };
  });

  test('concurrent reads share statements, and each gets its own answer: resource, 404, 410, duplicates', async () => {
    const keys = [
      ...stored,
      { resourceType: 'Practitioner', id: 'no-such-practitioner' },
      deleted,
      stored[3],
      { resourceType: 'Organization', id: stored.find((s) => s.resourceType === 'Practitioner')!.id }, // an id of another type
      stored[0],
    ];
    const { result, names } = await statementsDuring(() => Promise.allSettled(keys.map((k) => repo.read(SYSTEM_CALLER, k.resourceType, k.id))));
    // fewer statements than reads: the reads after the first waited for it and went together
    expect(names.length).toBeLessThan(keys.length / 2);
    expect(names).toContain('arogya_read_many');
    result.forEach((r, i) => {
      const k = keys[i];
      const known = stored.find((s) => s.resourceType === k.resourceType && s.id === k.id);
      if (known) {
        expect(r.status).toBe('fulfilled');
        const v = (r as PromiseFulfilledResult<Awaited<ReturnType<Repository['read']>>>).value;
        expect([v.resourceType, v.id]).toEqual([k.resourceType, k.id]);
        expect(JSON.parse(v.content!).id).toBe(k.id);
        expect(JSON.parse(v.content!)).toEqual(JSON.parse(known.content)); // its own stored body
      } else if (k === deleted) {
        expect(r).toMatchObject({ status: 'rejected', reason: { status: 410 } });
      } else {
        expect(r).toMatchObject({ status: 'rejected', reason: { status: 404 } });
      }
    });
  });

  test('a lone read is the single-row probe; a read with access conditions never joins a batch', async () => {
    const lone = await statementsDuring(() => repo.read(SYSTEM_CALLER, stored[1].resourceType, stored[1].id));
    expect(lone.names).toEqual(['arogya_read']);
    expect(lone.result.id).toBe(stored[1].id);
    const practitioners = stored.filter((s) => s.resourceType === 'Practitioner');
    const onlyOne: Caller = {
      actor: { kind: 'client', clientId: 'test' },
      access: uniformAccess({
        resourceTypes: ['Practitioner'],
        filter: { type: 'Practitioner', criteria: [{ kind: 'id', ids: [practitioners[0].id] }] },
      }),
    };
    const { result, names } = await statementsDuring(() =>
      Promise.allSettled(practitioners.slice(0, 5).map((p) => repo.read(onlyOne, 'Practitioner', p.id))),
    );
    expect(names).not.toContain('arogya_read_many');
    expect(result.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected', 'rejected']);
  });
});
