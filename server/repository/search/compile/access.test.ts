/** Access predicates: what a restriction compiles to for one resource alias. */
import { compartmentParams, inCompartment, visible } from './access';
import { SqlBuilder } from './sql';

test('unrestricted is true, with no parameters', () => {
  const b = new SqlBuilder();
  expect(visible(b, 'r', undefined, 'Patient')).toBe('true');
  expect(b.params).toEqual([]);
});

test('resource types: decided at compile time for a known type, else a condition', () => {
  expect(visible(new SqlBuilder(), 'r', { resourceTypes: ['Observation'] }, 'Patient')).toBe('false');
  expect(visible(new SqlBuilder(), 'r', { resourceTypes: ['Observation'] }, 'Observation')).toBe('true');
  const b = new SqlBuilder();
  expect(visible(b, 'r', { resourceTypes: ['Observation'] })).toBe('r.resource_type = ANY($1::text[])');
  expect(b.params).toEqual([['Observation']]);
});

test('a compartment: linked by the type’s compartment parameters; shared types are open', () => {
  expect(compartmentParams('Patient', 'Observation')).toEqual(expect.arrayContaining(['subject', 'performer']));
  const b = new SqlBuilder();
  const sql = visible(b, 'o', { compartment: { type: 'Patient', id: '7' } }, 'Observation');
  expect(sql).toMatch(/^EXISTS \(SELECT 1 FROM search_reference m1 WHERE m1\.id = o\.id AND m1\.resource_type = o\.resource_type/);
  expect(b.params).toEqual([compartmentParams('Patient', 'Observation'), 'Patient', '7']);
  expect(visible(new SqlBuilder(), 'p', { compartment: { type: 'Patient', id: '7', sharedTypes: ['Practitioner'] } }, 'Practitioner')).toBe('true');
});

test('without a known type, the shared types or membership by any type’s compartment parameter', () => {
  const b = new SqlBuilder();
  const sql = visible(b, 'r', { compartment: { type: 'Patient', id: '7', sharedTypes: ['Practitioner'] } });
  expect(sql).toContain("(m1.resource_type || '.' || m1.param) = ANY(");
  expect(b.params).toEqual(expect.arrayContaining([['Practitioner'], expect.arrayContaining(['Observation.subject', 'Patient.link'])]));
});

test('a type outside the compartment definition is never in it; the compartment type is in its own', () => {
  expect(inCompartment(new SqlBuilder(), 'r', 'Patient', '7', 'Medication')).toBe('false');
  expect(inCompartment(new SqlBuilder(), 'r', 'Patient', '7', 'Patient')).toMatch(/^\(\(r\.resource_type = \$\d AND r\.id = \$\d\) OR EXISTS/);
});
