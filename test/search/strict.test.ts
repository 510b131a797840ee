/**
 * Strictness (search.html#errors): unknown or unsupported parameters and modifiers are a 400 by default, ignored and
 * reported under `Prefer: handling=lenient`; malformed values are a 400 naming the parameter in both modes;
 * conditional writes never act on a parameter they did not understand; hostile values stay data.
 */
import { useServer, type Json } from '../harness';
import { loadFixtures, matchIds } from './fixtures';

const server = useServer({ setup: loadFixtures });

const lenient = { prefer: 'handling=lenient' };

test('unknown parameters and modifiers are refused with an OperationOutcome naming them', async () => {
  for (const query of ['bogus=1', 'family:fuzzy=x', 'gender:exact=male', 'birthdate:contains=1980', '_query=x', '_filter=x', 'name:missing=maybe']) {
    const res = await server.request('GET', `/Patient?${query}`);
    expect({ query, status: res.status }).toEqual({ query, status: 400 });
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].expression[0]).toBe(query.split('=')[0]);
  }
  expect((await server.request('GET', '/Location?_filter=name%20eq%20x')).status).toBe(400); // near: test/search/near.test.ts
  expect((await server.request('GET', '/Patient?_contained=maybe')).status).toBe(400); // true|false|both: test/search/contained.test.ts
});

test('Prefer: handling=lenient ignores them and reports them in an outcome entry', async () => {
  const res = await server.request('GET', '/Patient?bogus=1&family=mu&gender:fuzzy=x', { headers: lenient });
  expect(res.status).toBe(200);
  const matches = res.body.entry
    .filter((e: Json) => e.search.mode === 'match')
    .map((e: Json) => e.resource.id)
    .sort();
  expect(matches).toEqual(['p1', 'p2']); // only family=mu applied
  const outcome = res.body.entry.find((e: Json) => e.search.mode === 'outcome').resource;
  expect(outcome.resourceType).toBe('OperationOutcome');
  expect(outcome.issue.map((i: Json) => i.expression[0]).sort()).toEqual(['bogus', 'gender:fuzzy']);
});

test('malformed values are a 400 naming the parameter, lenient or not', async () => {
  const bad = [
    'birthdate=1980-13-01',
    'birthdate=xx1980',
    'birthdate=yesterday',
    'family=',
    '_count=-1',
    '_count=abc',
    '_total=maybe',
    '_summary=nope',
    '_id=not%20an%20id',
  ];
  for (const query of bad) {
    for (const headers of [{}, lenient]) {
      const res = await server.request('GET', `/Patient?${query}`, { headers });
      expect({ query, headers, status: res.status }).toEqual({ query, headers, status: 400 });
    }
  }
  const num = await server.request('GET', '/RiskAssessment?probability=abc');
  expect(num.status).toBe(400);
  expect(num.body.issue[0].diagnostics).toContain("'probability'");
  expect((await server.request('GET', '/Observation?value-quantity=zz5')).status).toBe(400);
  expect((await server.request('GET', '/Observation?subject=not%20a%20ref')).status).toBe(400);
});

test('conditional writes stay strict even under lenient handling', async () => {
  const body = { resourceType: 'Patient', name: [{ family: 'Strict' }] };
  const res = await server.request('POST', '/Patient', { body, headers: { ...lenient, 'if-none-exist': 'bogus=1' } });
  expect(res.status).toBe(400);
  const del = await server.request('DELETE', '/Patient?family:fuzzy=m', { headers: lenient });
  expect(del.status).toBe(400);
  expect(await matchIds(server, '/Patient?family=mu')).toEqual(['p1', 'p2']); // nothing was deleted
  // the full grammar works in conditional operations: chains, modifiers, dates
  const ok = await server.request('POST', '/Patient', {
    body,
    headers: { 'if-none-exist': 'family:exact=Müller&birthdate=1980&organization.name=ruby' },
  });
  expect(ok.status).toBe(200);
  expect(ok.body.id).toBe('p1');
});

test('hostile values are data, never SQL', async () => {
  const hostile = ["x'; DROP TABLE resource; --", 'a%_\\', "') OR 1=1 --", '$1', 'ä\u0301'];
  for (const v of hostile) {
    for (const param of ['family', 'family:contains', 'identifier', '_content', 'url:below']) {
      const type = param === 'url:below' ? 'ValueSet' : 'Patient';
      const res = await server.request('GET', `/${type}?${param}=${encodeURIComponent(v)}`);
      expect({ v, param, status: [200, 400].includes(res.status) }).toEqual({ v, param, status: true });
    }
  }
  expect((await server.request('GET', '/Patient?_id=p1')).body.total).toBe(1);
  expect(await matchIds(server, `/Patient?family=${encodeURIComponent("x'; DROP TABLE resource; --")}`)).toEqual([]);
  expect(await matchIds(server, `/Patient?family:contains=${encodeURIComponent('%')}`)).toEqual([]); // % is literal
});
