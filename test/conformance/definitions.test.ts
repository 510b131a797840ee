/**
 * conformance/: the built-in OperationDefinitions and SearchParameters against what the server does — every
 * routed operation has a definition and every definition an operation, at the levels and on the types it claims;
 * every definition the CapabilityStatement names resolves on the server; the server-defined SearchParameters are
 * the ones the search engine indexes (fhir/search/hms.ts); the built-ins are valid R4 and read-only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { useServer, type Json } from '../harness';
import { operations } from '../../server/rest/operations';
import { HMS_SEARCH_PARAMS } from '../../server/fhir/search/hms';
import { conformanceDir } from '../../server/conformance-load';

const server = useServer();
const dir = conformanceDir();
const files = (sub: string): Json[] =>
  fs
    .readdirSync(path.join(dir, sub))
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, sub, f), 'utf8')));
const operationDefinitions = files('OperationDefinition');
const searchParameters = files('SearchParameter');
const lastSegment = (url: string) => url.slice(url.lastIndexOf('/') + 1);

async function inBatches<T>(items: T[], size: number, f: (t: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(f));
}

test('every operation the server routes has its OperationDefinition, and every OperationDefinition an operation', () => {
  expect(operations.map((o) => o.definition).sort()).toEqual(operationDefinitions.map((od) => od.url).sort());
  for (const op of operations) {
    const od = operationDefinitions.find((d) => d.url === op.definition)!;
    expect({ id: od.id, url: od.url }).toEqual({ id: od.id, url: `https://arogya.dev/fhir/OperationDefinition/${od.id}` });
    expect({ url: od.url, code: od.code, system: od.system, type: od.type, instance: od.instance, resource: od.resource ?? [] }).toEqual({
      url: op.definition,
      code: op.name,
      system: op.system,
      type: op.type,
      instance: op.instance,
      resource: op.system && !op.type && !op.instance ? (od.resource ?? []) : (op.types ?? ['Resource']),
    });
    // an operation that changes nothing may be invoked with GET (operations.html#request); one that does may not
    expect({ url: od.url, affectsState: od.affectsState }).toEqual({ url: od.url, affectsState: !op.methods.includes('GET') });
  }
});

test('each OperationDefinition is served read-only at [base]/OperationDefinition/[id], valid R4', async () => {
  for (const od of operationDefinitions) {
    const res = await server.request('GET', `/OperationDefinition/${od.id}`);
    expect({ id: od.id, status: res.status }).toEqual({ id: od.id, status: 200 });
    expect(res.body).toEqual(od);
    const v = await server.request('POST', '/OperationDefinition/$validate', { body: od });
    expect({ id: od.id, errors: v.body.issue.filter((i: Json) => i.severity === 'error' || i.severity === 'fatal') }).toEqual({
      id: od.id,
      errors: [],
    });
  }
  const put = await server.request('PUT', '/OperationDefinition/import', { body: operationDefinitions.find((d) => d.id === 'import') });
  expect(put.status).toBe(405);
  expect(put.body.resourceType).toBe('OperationOutcome');
  expect((await server.request('DELETE', '/SearchParameter/Basic-stock-location')).status).toBe(405);
  expect((await server.request('GET', '/OperationDefinition/no-such-operation')).status).toBe(404);
});

/** The levels an OperationDefinition claims answer (whatever the outcome: a missing parameter, an unknown id) and the others are unknown. */
test('each operation answers at exactly the levels and on the types its definition claims', async () => {
  const unknown = /Unknown operation|is not defined on/;
  const probe = async (url: string, op: (typeof operations)[number]) => {
    const method = op.methods.includes('GET') ? 'GET' : 'POST';
    const res = await server.request(method, url, method === 'POST' ? { body: { resourceType: 'Parameters' } } : undefined);
    return { status: res.status, text: JSON.stringify(res.body?.issue?.map((i: Json) => i.diagnostics) ?? '') };
  };
  for (const od of operationDefinitions) {
    const op = operations.find((o) => o.definition === od.url)!;
    const types: string[] = !od.resource || od.resource[0] === 'Resource' ? ['Basic'] : od.resource;
    const urls = {
      system: [`/$${od.code}`],
      type: types.map((t) => `/${t}/$${od.code}`),
      instance: types.map((t) => `/${t}/no-such-id/$${od.code}`),
    };
    for (const level of ['system', 'type', 'instance'] as const) {
      for (const url of urls[level]) {
        const r = await probe(url, op);
        if (od[level]) expect({ url, unknown: unknown.test(r.text) }).toEqual({ url, unknown: false });
        else if (!operations.some((o) => o.name === od.code && o[level] && (!o.types || o.types.some((t) => url.startsWith(`/${t}/`)))))
          expect({ url, status: r.status, unknown: unknown.test(r.text) }).toEqual({ url, status: 404, unknown: true });
      }
    }
    // a type the definition does not name
    if (od.resource && od.resource[0] !== 'Resource' && (od.type || od.instance)) {
      const url = od.type ? `/Basic/$${od.code}` : `/Basic/no-such-id/$${od.code}`;
      const r = await probe(url, op);
      expect({ url, status: r.status, unknown: unknown.test(r.text) }).toEqual({ url, status: 404, unknown: true });
    }
  }
});

test('every definition the CapabilityStatement names resolves on this server', async () => {
  const cs = (await server.request('GET', '/metadata')).body;
  const rest = cs.rest[0];
  expect(cs.publisher).toBe('Arogya');
  expect(cs.software.name).toBe('Arogya');
  expect(cs.implementation.url).toBe(server.config.baseUrl);
  const opRefs: { type?: string; name: string; definition: string }[] = [
    ...rest.operation.map((o: Json) => ({ name: o.name, definition: o.definition })),
    ...rest.resource.flatMap((r: Json) => r.operation.map((o: Json) => ({ type: r.type, name: o.name, definition: o.definition }))),
  ];
  expect(opRefs.length).toBeGreaterThan(500); // $validate and $meta on every type
  const ods = new Map<string, Json>();
  for (const url of new Set(opRefs.map((o) => o.definition))) {
    expect(url.startsWith('https://arogya.dev/fhir/OperationDefinition/')).toBe(true);
    const res = await server.request('GET', `/OperationDefinition/${lastSegment(url)}`);
    expect({ url, status: res.status, served: res.body.url }).toEqual({ url, status: 200, served: url });
    ods.set(url, res.body);
  }
  for (const ref of opRefs) {
    const od = ods.get(ref.definition)!;
    expect({ ref, code: od.code }).toEqual({ ref, code: ref.name });
    if (ref.type) expect({ ref, on: od.resource.includes(ref.type) || od.resource.includes('Resource') }).toEqual({ ref, on: true });
    else expect({ ref, system: od.system }).toEqual({ ref, system: true });
  }
  // every operation is listed somewhere
  expect(new Set(opRefs.map((o) => o.definition))).toEqual(new Set(operations.map((o) => o.definition)));

  const spRefs: { type: string; name: string; definition: string }[] = rest.resource.flatMap((r: Json) =>
    r.searchParam.filter((p: Json) => p.definition).map((p: Json) => ({ type: r.type, name: p.name, definition: p.definition })),
  );
  const sps = new Map<string, Json>();
  await inBatches([...new Set(spRefs.map((p) => p.definition))], 16, async (url) => {
    const res = await server.request('GET', `/SearchParameter/${lastSegment(url)}`);
    expect({ url, status: res.status, served: res.body?.url }).toEqual({ url, status: 200, served: url });
    sps.set(url, res.body);
  });
  for (const ref of spRefs) {
    const sp = sps.get(ref.definition)!;
    const onType = sp.base.includes(ref.type) || sp.base.includes('Resource') || sp.base.includes('DomainResource');
    expect({ ref, code: sp.code, onType }).toEqual({ ref, code: ref.name, onType: true });
  }
  // the server's own parameters are among them
  for (const p of HMS_SEARCH_PARAMS) expect(spRefs).toContainEqual({ type: p.base, name: p.code, definition: p.url });
});

test('the server-defined SearchParameters are the ones the search engine indexes (hms.ts), served and valid', async () => {
  expect(searchParameters.map((sp) => sp.url).sort()).toEqual(HMS_SEARCH_PARAMS.map((p) => p.url).sort());
  for (const p of HMS_SEARCH_PARAMS) {
    const sp = searchParameters.find((s) => s.url === p.url)!;
    expect({ id: sp.id, code: sp.code, base: sp.base, type: sp.type, expression: sp.expression, target: sp.target }).toEqual({
      id: lastSegment(p.url),
      code: p.code,
      base: [p.base],
      type: p.type,
      expression: p.expression,
      target: p.target,
    });
    const res = await server.request('GET', `/SearchParameter/${sp.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(sp);
    const v = await server.request('POST', '/SearchParameter/$validate', { body: sp });
    expect({ id: sp.id, errors: v.body.issue.filter((i: Json) => i.severity === 'error') }).toEqual({ id: sp.id, errors: [] });
  }
  // an R4 core parameter is served as the R4 definitions give it
  const gender = await server.request('GET', '/SearchParameter/individual-gender');
  expect(gender.body).toMatchObject({ url: 'http://hl7.org/fhir/SearchParameter/individual-gender', code: 'gender', type: 'token' });
  expect(gender.body.base).toEqual(expect.arrayContaining(['Patient', 'Person', 'Practitioner', 'RelatedPerson']));
});
