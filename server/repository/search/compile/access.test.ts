/** Access predicates: what a restriction compiles to for one resource alias. */
import type { Criterion } from '../../../fhir/search/criteria';
import {
  compartmentParams,
  inCompartment,
  permits,
  referenceable,
  requirePermission,
  SEE,
  uniformAccess,
  unresolvedWhy,
  unrestrictedFor,
  visible,
  type AccessRestriction,
} from './access';
import { SqlBuilder } from './sql';

test('unrestricted is true, with no parameters', () => {
  const b = new SqlBuilder();
  expect(visible(b, 'r', undefined, 'Patient')).toBe('true');
  expect(b.params).toEqual([]);
});

test('resource types: decided at compile time for a known type, else a condition', () => {
  expect(visible(new SqlBuilder(), 'r', uniformAccess({ resourceTypes: ['Observation'] }), 'Patient')).toBe('false');
  expect(visible(new SqlBuilder(), 'r', uniformAccess({ resourceTypes: ['Observation'] }), 'Observation')).toBe('true');
  const b = new SqlBuilder();
  expect(visible(b, 'r', uniformAccess({ resourceTypes: ['Observation'] }))).toBe('r.resource_type = ANY($1::text[])');
  expect(b.params).toEqual([['Observation']]);
});

test('a compartment: linked by the type’s compartment parameters; shared types are open', () => {
  expect(compartmentParams('Patient', 'Observation')).toEqual(expect.arrayContaining(['subject', 'performer']));
  const b = new SqlBuilder();
  const sql = visible(b, 'o', uniformAccess({ compartment: { type: 'Patient', id: '7' } }), 'Observation');
  expect(sql).toMatch(/^EXISTS \(SELECT 1 FROM search_reference m1 WHERE m1\.id = o\.id AND m1\.resource_type = o\.resource_type/);
  expect(b.params).toEqual([compartmentParams('Patient', 'Observation'), 'Patient', '7']);
  expect(
    visible(new SqlBuilder(), 'p', uniformAccess({ compartment: { type: 'Patient', id: '7', sharedTypes: ['Practitioner'] } }), 'Practitioner'),
  ).toBe('true');
});

test('without a known type, the shared types or membership by any type’s compartment parameter', () => {
  const b = new SqlBuilder();
  const sql = visible(b, 'r', uniformAccess({ compartment: { type: 'Patient', id: '7', sharedTypes: ['Practitioner'] } }));
  expect(sql).toContain("(m1.resource_type || '.' || m1.param) = ANY(");
  expect(b.params).toEqual(expect.arrayContaining([['Practitioner'], expect.arrayContaining(['Observation.subject', 'Patient.link'])]));
});

test('a type outside the compartment definition is never in it; the compartment type is in its own', () => {
  expect(inCompartment(new SqlBuilder(), 'r', 'Patient', '7', 'Medication')).toBe('false');
  expect(inCompartment(new SqlBuilder(), 'r', 'Patient', '7', 'Patient')).toMatch(/^\(\(r\.resource_type = \$\d AND r\.id = \$\d\) OR EXISTS/);
});

test('members through another resource: the patients a RelatedPerson links to, read inside the statement', () => {
  const b = new SqlBuilder();
  const sql = inCompartment(b, 'r', 'Patient', { type: 'RelatedPerson', id: 'rp1', param: 'patient' }, 'Observation');
  expect(sql).toContain('IN (SELECT v');
  expect(b.params).toEqual(expect.arrayContaining(['rp1', 'RelatedPerson', 'patient', 'Patient']));
});

const lab: Criterion = { kind: 'token', code: 'category', values: [{ system: undefined, code: 'laboratory' }] };
const granular: AccessRestriction = {
  rules: {
    r: [{ resourceTypes: ['Observation'], filter: { type: 'Observation', criteria: [lab] } }, { resourceTypes: ['Patient'] }],
    s: [{ resourceTypes: ['Observation'], filter: { type: 'Observation', criteria: [lab] } }],
  },
  context: 'patient',
};

test('rules are per permission: each use compiles only its own rules, several are OR-ed', () => {
  expect(visible(new SqlBuilder(), 'r', granular, 'Patient', 'r')).toBe('true');
  expect(visible(new SqlBuilder(), 'r', granular, 'Patient', 's')).toBe('false');
  expect(visible(new SqlBuilder(), 'r', granular, 'Condition', SEE)).toBe('false');
  const b = new SqlBuilder();
  const any = visible(b, 'r', granular, undefined, 'r');
  expect(any).toMatch(
    /^\(\(r\.resource_type = ANY\(\$1::text\[\]\) AND EXISTS \(SELECT 1 FROM search_token t\d+ .*\) OR \(r\.resource_type = ANY\(\$\d::text\[\]\)\)\)$/s,
  );
  expect(b.params).toEqual([['Observation'], 'category', 'laboratory', ['Patient']]);
  expect(visible(new SqlBuilder(), 'r', granular, 'Observation', 'c')).toBe('false');
});

test('a granular filter compiles its criteria as the search would, on the filtered alias', () => {
  const b = new SqlBuilder();
  const sql = visible(b, 'o', granular, 'Observation', 's');
  expect(sql).toMatch(/^EXISTS \(SELECT 1 FROM search_token t1 WHERE t1\.id = o\.id AND t1\.resource_type = o\.resource_type AND t1\.param = \$1/);
  expect(b.params[0]).toBe('category');
  expect(b.params).toContain('laboratory');
});

test('a rule decided at compile time leaves no bind parameters behind', () => {
  const b = new SqlBuilder(['x']);
  const mixed: AccessRestriction = { rules: { s: [{ compartment: { type: 'Patient', id: '7' } }, {}] } };
  expect(visible(b, 'r', mixed, 'Observation')).toBe('true');
  expect(b.params).toEqual(['x']);
});

test('the type-level check: a permission without a rule for the type is a 403 naming the scope', () => {
  expect(permits(granular, 'r', 'Patient')).toBe(true);
  expect(permits(granular, 's', 'Patient')).toBe(false);
  expect(permits(granular, 's')).toBe(true);
  expect(permits(undefined, 'd', 'Patient')).toBe(true);
  expect(() => requirePermission(granular, 'c', 'Observation')).toThrow(/patient\/Observation\.c/);
  try {
    requirePermission(granular, 's', 'Patient');
  } catch (e) {
    expect(e).toMatchObject({ status: 403, issues: [{ code: 'forbidden' }] });
  }
});

test('unrestrictedFor: no row-level condition on the type for that use (what lets a write skip its row check)', () => {
  expect(unrestrictedFor(undefined, 'c', 'Patient')).toBe(true);
  // system/Patient.cruds system/Observation.rs: Patient is open to every use, Observation to reads only
  const typed: AccessRestriction = {
    rules: {
      c: [{ resourceTypes: ['Patient'] }],
      r: [{ resourceTypes: ['Patient'] }, { resourceTypes: ['Observation'] }],
      s: [{ resourceTypes: ['Patient', 'Observation'] }],
    },
  };
  expect(unrestrictedFor(typed, 'c', 'Patient')).toBe(true);
  expect(unrestrictedFor(typed, 'c', 'Observation')).toBe(false);
  expect(unrestrictedFor(typed, SEE, 'Observation')).toBe(true);
  expect(unrestrictedFor(typed, 'u', 'Patient')).toBe(false); // no rule at all for u
  // a compartment restricts the rows, except of the types shared outside it
  const patient = uniformAccess({ compartment: { type: 'Patient', id: 'p1', sharedTypes: ['Practitioner'] } });
  expect(unrestrictedFor(patient, 'c', 'Observation')).toBe(false);
  expect(unrestrictedFor(patient, 'c', 'Patient')).toBe(false);
  expect(unrestrictedFor(patient, 'r', 'Practitioner')).toBe(true);
  // a granular filter restricts the rows of its type
  const lab = uniformAccess({
    resourceTypes: ['Observation'],
    filter: { type: 'Observation', criteria: [{ kind: 'id', ids: ['o1'] } as Criterion] },
  });
  expect(unrestrictedFor(lab, 's', 'Observation')).toBe(false);
});

test('referenceable: what the caller may use in any way, its compartment’s own resource and its fhirUser', () => {
  expect(referenceable(new SqlBuilder(), 'r', undefined)).toBe('true');
  expect(referenceable(new SqlBuilder(), 'r', uniformAccess({}))).toBe('true');
  // write-only for Observations in patient 7's compartment: Patient/7 (the compartment) and the user's own resource
  const writeOnly: AccessRestriction = {
    rules: { c: [{ resourceTypes: ['Observation'], compartment: { type: 'Patient', id: '7' } }] },
    context: 'patient',
  };
  const b = new SqlBuilder();
  const sql = referenceable(b, 't', writeOnly, 'Practitioner/p1');
  expect(sql).toMatch(
    /^\(\(t\.resource_type = ANY\(\$1::text\[\]\) AND \(\(t\.resource_type = \$\d+ AND t\.id = \$\d+\) OR EXISTS .*\)\) OR \(t\.resource_type = \$\d+ AND t\.id = \$\d+\) OR \(t\.resource_type = \$\d+ AND t\.id = \$\d+\)\)$/s,
  );
  expect(b.params).toEqual(expect.arrayContaining([['Observation'], 'Patient', '7', 'Practitioner', 'p1']));
  // nothing granted at all: nothing but the user's own resource
  const none: AccessRestriction = { rules: {}, context: 'user' };
  expect(referenceable(new SqlBuilder(), 't', none)).toBe('false');
  const own = new SqlBuilder();
  expect(referenceable(own, 't', none, 'Practitioner/p1')).toBe('(t.resource_type = $1 AND t.id = $2)');
  expect(own.params).toEqual(['Practitioner', 'p1']);
  // the words of a 422: told plainly without a restriction, the same for missing and hidden with one
  expect(unresolvedWhy(undefined)).toBe('no such resource on this server');
  expect(unresolvedWhy(uniformAccess({}))).toBe('no such resource on this server');
  expect(unresolvedWhy(writeOnly)).toBe('no such resource on this server, or none your access token may reference');
});
