/**
 * $validate (resource-operation-validate.html) at type and instance level; every resource of every Synthea bundle
 * in ../shared/fixtures validates without errors (their US Core profile claims only give warnings).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fixturesAvailable, syntheaBundles, useServer, type Json } from '../harness';

const server = useServer();

const errors = (oo: Json) => oo.issue.filter((i: Json) => i.severity === 'error' || i.severity === 'fatal');

test('type-level $validate reports errors with paths, and passes a valid resource', async () => {
  const bad = await server.request('POST', '/Patient/$validate', { body: { resourceType: 'Patient', gender: 'unknown-gender', foo: 1 } });
  expect(bad.status).toBe(200);
  expect(errors(bad.body).map((i: Json) => i.expression[0])).toEqual(expect.arrayContaining(['Patient.gender', 'Patient.foo']));
  const good = await server.request('POST', '/Patient/$validate', {
    body: {
      resourceType: 'Parameters',
      parameter: [
        { name: 'resource', resource: { resourceType: 'Patient', gender: 'male' } },
        { name: 'mode', valueCode: 'create' },
      ],
    },
  });
  expect(errors(good.body)).toEqual([]);
  expect(
    (
      await server.request('POST', '/Patient/$validate', {
        body: { resourceType: 'Parameters', parameter: [{ name: 'mode', valueCode: 'sideways' }] },
      })
    ).status,
  ).toBe(400);
});

test('an unknown meta.profile is a warning, not an error', async () => {
  const res = await server.request('POST', '/Patient/$validate', {
    body: { resourceType: 'Patient', meta: { profile: ['http://example.org/StructureDefinition/unknown'] }, gender: 'male' },
  });
  expect(errors(res.body)).toEqual([]);
  expect(res.body.issue.some((i: Json) => i.severity === 'warning' && /unknown/.test(i.diagnostics))).toBe(true);
});

test('instance-level $validate validates the stored resource; mode=delete reports referrers', async () => {
  const org = await server.request('POST', '/Organization', { body: { resourceType: 'Organization', name: 'Arogya Clinic' } });
  await server.request('POST', '/Patient', { body: { resourceType: 'Patient', managingOrganization: { reference: `Organization/${org.body.id}` } } });
  const stored = await server.request('GET', `/Organization/${org.body.id}/$validate`);
  expect(errors(stored.body)).toEqual([]);
  const del = await server.request('GET', `/Organization/${org.body.id}/$validate?mode=delete`);
  expect(errors(del.body)[0].diagnostics).toMatch(/referenced by Patient\//);
});

(fixturesAvailable('$validate of the Synthea bundles') ? test : test.skip)(
  'every Synthea resource passes $validate without errors',
  async () => {
    let checked = 0;
    for (const file of syntheaBundles()) {
      const bundle = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
      for (const entry of bundle.entry as Json[]) {
        const r = entry.resource as Json;
        const res = await server.request('POST', `/${r.resourceType}/$validate`, { body: r });
        expect({ file: path.basename(file), resource: `${r.resourceType}/${r.id}`, errors: errors(res.body) }).toEqual({
          file: path.basename(file),
          resource: `${r.resourceType}/${r.id}`,
          errors: [],
        });
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(6000);
  },
  300_000,
);
