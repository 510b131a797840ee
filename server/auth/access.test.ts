/** Scopes, launch context and user → the repository's access restriction (pure: what the SQL is made of). */
import { permits, requirePermission } from '../repository/search/compile/access';
import { accessOf, sharedTypes } from './access';
import type { AuthContext } from './context';
import { parseScopes } from './scopes';

function token(scope: string, extra: Partial<AuthContext> = {}): AuthContext {
  return { jti: 'j', clientId: 'app', sub: 's', scope, grants: parseScopes(scope).grants, admin: false, exp: 0, ...extra };
}

test('no token (AROGYA_AUTH=off) and system/*.* are unrestricted', () => {
  expect(accessOf(null)).toBeUndefined();
  expect(accessOf(token('system/*.*'))).toBeUndefined();
  expect(accessOf(token('system/*.cruds'))).toBeUndefined();
  expect(accessOf(token('system/*.read system/*.write'))).toBeUndefined();
});

test('system/ scopes: by type and permission, no compartment', () => {
  const a = accessOf(token('system/Patient.rs system/Observation.read'))!;
  expect(a.rules.r).toEqual([{ resourceTypes: ['Patient'] }, { resourceTypes: ['Observation'] }]);
  expect(a.rules.c).toBeUndefined();
  expect(permits(a, 'c', 'Patient')).toBe(false);
  expect(a.context).toBe('system');
});

test('patient/ scopes: the compartment of the launch patient, shared types open; nothing without a patient', () => {
  const a = accessOf(token('patient/*.read', { patient: 'p1' }))!;
  expect(a.rules.r).toEqual([{ compartment: { type: 'Patient', id: 'p1', sharedTypes: sharedTypes() } }]);
  expect(a.rules.s![0]).toBe(a.rules.r![0]); // one rule object per grant: united uses (r or s) take it once
  expect(a.rules.c).toBeUndefined();
  expect(sharedTypes()).toEqual(expect.arrayContaining(['Practitioner', 'Organization', 'Location', 'Medication', 'ValueSet']));
  expect(sharedTypes()).not.toEqual(expect.arrayContaining(['Binary']));
  expect(sharedTypes()).not.toContain('Observation');
  expect(sharedTypes()).not.toContain('Task');
  const none = accessOf(token('patient/*.read'))!;
  expect(permits(none, 'r', 'Observation')).toBe(false);
  expect(() => requirePermission(none, 'r', 'Observation')).toThrow(/patient\/\*\.read without a launch patient/);
});

test('shared types are open to a compartment rule’s reads, never to its writes', () => {
  const a = accessOf(token('patient/*.cruds', { patient: 'p1' }))!;
  expect(a.rules.r![0].compartment!.sharedTypes).toEqual(sharedTypes());
  expect(a.rules.c![0].compartment).toEqual({ type: 'Patient', id: 'p1' });
  expect(a.rules.u![0]).toBe(a.rules.d![0]);
});

test('v1 write is c+u+d; v2 letters as written', () => {
  const a = accessOf(token('patient/Observation.write patient/Condition.cu', { patient: 'p1' }))!;
  expect(permits(a, 'c', 'Observation') && permits(a, 'u', 'Observation') && permits(a, 'd', 'Observation')).toBe(true);
  expect(permits(a, 'r', 'Observation')).toBe(false);
  expect(permits(a, 'u', 'Condition')).toBe(true);
  expect(permits(a, 'd', 'Condition')).toBe(false);
});

test('user/ scopes by kind of user: Practitioner every patient, Patient their own, RelatedPerson the linked ones', () => {
  expect(accessOf(token('user/*.cruds', { fhirUser: 'Practitioner/dr' }))).toBeUndefined();
  expect(accessOf(token('user/Observation.rs', { fhirUser: 'Practitioner/dr' }))!.rules.s).toEqual([{ resourceTypes: ['Observation'] }]);
  expect(accessOf(token('user/*.rs', { fhirUser: 'Patient/p9' }))!.rules.s![0].compartment).toMatchObject({ type: 'Patient', id: 'p9' });
  expect(accessOf(token('user/*.rs', { fhirUser: 'RelatedPerson/rp' }))!.rules.s![0].compartment).toMatchObject({
    type: 'Patient',
    via: { type: 'RelatedPerson', id: 'rp', param: 'patient' },
  });
  // a user scope without a user (or of another kind) grants nothing
  expect(permits(accessOf(token('user/*.rs'))!, 's', 'Observation')).toBe(false);
  expect(permits(accessOf(token('user/*.rs', { fhirUser: 'Device/d' }))!, 's', 'Observation')).toBe(false);
});

test('granular scopes: the query parsed as a search, its codes normalised as the search would', () => {
  const short = accessOf(token('patient/Observation.rs?category=laboratory', { patient: 'p1' }))!;
  expect(short.rules.s![0]).toMatchObject({
    resourceTypes: ['Observation'],
    filter: { type: 'Observation', criteria: [{ kind: 'token', code: 'category', values: [{ code: 'laboratory' }] }] },
  });
  const full = accessOf(
    token('patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory', { patient: 'p1' }),
  )!;
  expect(full.rules.s![0].filter!.criteria[0]).toMatchObject({
    kind: 'token',
    values: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }],
  });
});

test('a granular query that is not a plain search of the resource grants nothing (fail closed)', () => {
  for (const q of ['nonsense=1', 'subject:Patient.name=x', '_has:Observation:subject:code=1', 'code:in=http://vs', '_lastUpdated=gt2020', '']) {
    const a = accessOf(token(`patient/Observation.rs?${q}`, { patient: 'p1' }));
    expect(a && permits(a, 's', 'Observation')).toBe(false);
  }
});

test('several grants are OR-ed per permission; an open grant makes the others moot', () => {
  const a = accessOf(token('patient/Observation.rs?category=laboratory patient/Observation.rs?category=vital-signs', { patient: 'p1' }))!;
  expect(a.rules.s).toHaveLength(2);
  const b = accessOf(token('patient/Observation.rs?category=laboratory system/*.rs', { patient: 'p1' }))!;
  expect(b.rules.s).toEqual([{}]);
  expect(permits(b, 'c', 'Observation')).toBe(false);
});

test('the restriction is built once per scope and context', () => {
  const t = token('patient/*.rs', { patient: 'p1' });
  expect(accessOf(t)).toBe(accessOf({ ...t, jti: 'other' }));
});
