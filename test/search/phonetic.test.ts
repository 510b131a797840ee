/**
 * `phonetic` by phonetic key: the SQL twin of phoneticKey (arogya_phonetic_key, migration 20261127000930, which
 * converted phonetic rows written before) gives the same key as the extraction for every name of the Synthea
 * patients and a set of Indian names; a Synthea patient is found by a misspelt family name.
 */
import fs from 'node:fs';
import { fixturesAvailable, syntheaBundles, useServer } from '../harness';
import { fold, phoneticKey } from '../../server/fhir/search/normalise';

const server = useServer();

const INDIAN = ['Raghavan', 'Priya', 'Lakshmi', 'Venkataraman', 'Chaudhary', 'Bhattacharya', 'Iyer', 'Nair', "D'Souza", 'Kavita Deshpande', 'Müller'];

test('the SQL key equals the extraction key for every Synthea and sample name', async () => {
  const names = new Set<string>(INDIAN);
  if (fixturesAvailable('phonetic keys of Synthea names')) {
    for (const file of syntheaBundles()) {
      const bundle = JSON.parse(fs.readFileSync(file, 'utf8')) as {
        entry?: { resource?: { resourceType?: string; name?: { family?: string; given?: string[] }[] } }[];
      };
      for (const e of bundle.entry ?? []) {
        if (e.resource?.resourceType !== 'Patient' && e.resource?.resourceType !== 'Practitioner') continue;
        for (const n of e.resource.name ?? []) {
          if (n.family) names.add(n.family);
          for (const g of n.given ?? []) names.add(g);
        }
      }
    }
    expect(names.size).toBeGreaterThan(50);
  }
  const list = [...names];
  const { rows } = await server.pool.query<{ name: string; key: string | null }>(
    'SELECT n AS name, arogya_phonetic_key(f) AS key FROM unnest($1::text[], $2::text[]) AS t(n, f)',
    [list, list.map(fold)],
  );
  for (const r of rows) expect({ name: r.name, key: r.key }).toEqual({ name: r.name, key: phoneticKey(r.name) ?? null });
});

test('a Synthea patient is found by a misspelt family name', async () => {
  if (!fixturesAvailable('phonetic search on a Synthea patient')) return;
  const file = syntheaBundles().find((f) =>
    JSON.parse(fs.readFileSync(f, 'utf8')).entry?.some((e: { resource?: { resourceType?: string } }) => e.resource?.resourceType === 'Patient'),
  )!;
  const bundle = JSON.parse(fs.readFileSync(file, 'utf8')) as { entry: { resource: { resourceType: string; name?: { family?: string }[] } }[] };
  const patient = bundle.entry.find((e) => e.resource.resourceType === 'Patient')!.resource as Record<string, unknown> & {
    name: { family: string }[];
  };
  const { id: _id, ...body } = patient;
  const created = await server.request('POST', '/Patient', { body: { ...body, managingOrganization: undefined, generalPractitioner: undefined } });
  expect(created.status).toBe(201);
  const family = patient.name[0].family.replace(/\d+/g, '');
  // a vowel changed and a letter doubled: the same Soundex key
  const misspelt = family[0] + family.slice(1).replace(/[aeiou]/, (v) => (v === 'a' ? 'e' : 'a')) + family.slice(-1);
  expect(phoneticKey(misspelt)).toBe(phoneticKey(family));
  const found = await server.request('GET', `/Patient?phonetic=${encodeURIComponent(misspelt)}`);
  expect(found.body.entry.map((e: { resource: { id: string } }) => e.resource.id)).toContain(created.body.id);
});
