/**
 * Concurrent bundles (http.html#trules, DESIGN.md §3 race-free conditional writes): transactions and batches that
 * share conditional creates and conditional references, in different orders, never duplicate a resource and never
 * deadlock; transactions updating the same resources in opposite entry orders all succeed.
 */
import { useServer, type Json } from '../harness';

const server = useServer({ config: { poolSize: 20 } });

const HFR = 'https://facility.abdm.gov.in';
const HPR = 'https://hpr.abdm.gov.in';

function shuffled<T>(list: T[], seed: number): T[] {
  const out = [...list];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function facility(code: string): Json {
  return {
    fullUrl: `urn:uuid:${crypto.randomUUID()}`,
    resource: { resourceType: 'Organization', name: `Facility ${code}`, identifier: [{ system: HFR, value: code }] },
    request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${HFR}|${code}` },
  };
}

function doctor(code: string): Json {
  return {
    fullUrl: `urn:uuid:${crypto.randomUUID()}`,
    resource: { resourceType: 'Practitioner', identifier: [{ system: HPR, value: code }] },
    request: { method: 'POST', url: 'Practitioner', ifNoneExist: `identifier=${HPR}|${code}` },
  };
}

async function count(type: string, system: string, code: string): Promise<number> {
  const { rows } = await server.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM resource WHERE resource_type = $1 AND NOT deleted
        AND content -> 'identifier' @> jsonb_build_array(jsonb_build_object('system', $2::text, 'value', $3::text))`,
    [type, system, code],
  );
  return rows[0].n;
}

test('12 concurrent transactions sharing conditional creates (in different orders) make each resource once', async () => {
  const codes = ['IN-C-01', 'IN-C-02', 'IN-C-03', 'IN-C-04', 'IN-C-05', 'IN-C-06'];
  const doctors = ['71-0001', '71-0002', '71-0003'];
  const results = await Promise.all(
    Array.from({ length: 12 }, (_, k) => {
      const entries = shuffled([...codes.map(facility), ...doctors.map(doctor)], k + 1);
      const patient = {
        fullUrl: `urn:uuid:${crypto.randomUUID()}`,
        resource: {
          resourceType: 'Patient',
          managingOrganization: { reference: entries.find((e) => e.resource.resourceType === 'Organization')!.fullUrl },
          generalPractitioner: [{ reference: entries.find((e) => e.resource.resourceType === 'Practitioner')!.fullUrl }],
        },
        request: { method: 'POST', url: 'Patient' },
      };
      return server.request('POST', '/', { body: { resourceType: 'Bundle', type: 'transaction', entry: [...entries, patient] } });
    }),
  );
  expect(results.map((r) => [r.status, r.body.issue?.[0]?.diagnostics])).toEqual(results.map(() => [200, undefined]));
  for (const c of codes) expect(await count('Organization', HFR, c)).toBe(1);
  for (const d of doctors) expect(await count('Practitioner', HPR, d)).toBe(1);
  // Every transaction's Patient points at the one Organization of its criteria.
  const created = results.map((r) => r.body.entry.filter((e: Json) => e.response.status === '201 Created').length);
  expect(created.reduce((a, b) => a + b, 0)).toBe(codes.length + doctors.length + 12);
});

test('batches, transactions and conditional references racing on the same criteria: no duplicates, no deadlocks', async () => {
  const codes = ['IN-R-01', 'IN-R-02', 'IN-R-03', 'IN-R-04'];
  // The first facility exists beforehand: conditional references to it are valid from the start.
  await server.request('POST', '/Organization', { body: facility(codes[0]).resource });
  const jobs = Array.from({ length: 16 }, (_, k) => {
    if (k % 3 === 0) {
      return server.request('POST', '/', { body: { resourceType: 'Bundle', type: 'batch', entry: shuffled(codes.map(facility), k) } });
    }
    if (k % 3 === 1) {
      return server.request('POST', '/', { body: { resourceType: 'Bundle', type: 'transaction', entry: shuffled(codes.map(facility), k) } });
    }
    return server.request('POST', '/', {
      body: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          {
            resource: {
              resourceType: 'Location',
              name: `Ward ${k}`,
              managingOrganization: { reference: `Organization?identifier=${HFR}|${codes[0]}` },
            },
            request: { method: 'POST', url: 'Location' },
          },
          facility(codes[1 + (k % 3)]),
        ],
      },
    });
  });
  const results = await Promise.all(jobs);
  for (const r of results) {
    expect(r.status).toBe(200);
    for (const e of r.body.entry) expect(e.response.status).toMatch(/^20[01] /);
  }
  for (const c of codes) expect(await count('Organization', HFR, c)).toBe(1);
});

test('transactions updating the same resources in opposite orders all succeed (row locks in id order)', async () => {
  for (const id of ['lock-a', 'lock-b', 'lock-c']) {
    await server.request('PUT', `/Patient/${id}`, { body: { resourceType: 'Patient', id, gender: 'unknown' } });
  }
  const results = await Promise.all(
    Array.from({ length: 10 }, (_, k) => {
      const ids = k % 2 ? ['lock-a', 'lock-b', 'lock-c'] : ['lock-c', 'lock-b', 'lock-a'];
      return server.request('POST', '/', {
        body: {
          resourceType: 'Bundle',
          type: 'transaction',
          entry: ids.map((id) => ({
            resource: { resourceType: 'Patient', id, birthDate: `19${50 + k}-01-01` },
            request: { method: 'PUT', url: `Patient/${id}` },
          })),
        },
      });
    }),
  );
  expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
  for (const id of ['lock-a', 'lock-b', 'lock-c']) {
    expect((await server.request('GET', `/Patient/${id}`)).headers.get('etag')).toBe('W/"11"');
  }
});
