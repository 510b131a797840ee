/**
 * Scopes → access at the repository (issue 11 point 5), with Callers built by server/auth/access.ts from token
 * contexts: the write engine refuses writes outside the scopes — type-level (403), rows the caller cannot see (404),
 * and rows a write would put outside the caller's compartment or granular scope (403, rolled back) — and the read
 * path serves granular scopes and user kinds (Patient, RelatedPerson, Practitioner) inside its SQL.
 */
import { accessOf } from '../../server/auth/access';
import type { AuthContext } from '../../server/auth/context';
import { parseScopes } from '../../server/auth/scopes';
import { parseSearch } from '../../server/fhir/search/parse';
import { SYSTEM_CALLER, type Caller } from '../../server/repository/caller';
import { Repository } from '../../server/repository/repository';
import { TransactionProcessor } from '../../server/repository/transaction';
import { useServer, type Json } from '../harness';

const server = useServer();
let repo: Repository;

const LAB = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] };
const VITAL = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] };
const obs = (id: string, patient: string, category: Json): Json => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  category: [category],
  code: { text: id },
  subject: { reference: `Patient/${patient}` },
});

/** An Observation in no patient's compartment. */
const withoutSubject = ({ subject: _subject, ...rest }: Json): Json => rest;

beforeAll(async () => {
  repo = new Repository(server.pool, { referentialIntegrity: true, baseUrl: server.base, timeZone: 'UTC' });
  const data: Json[] = [
    { resourceType: 'Practitioner', id: 'dr' },
    { resourceType: 'Patient', id: 'a', gender: 'female' },
    { resourceType: 'Patient', id: 'b', gender: 'male' },
    { resourceType: 'RelatedPerson', id: 'rp', patient: { reference: 'Patient/a' } },
    obs('a-lab', 'a', LAB),
    obs('a-vital', 'a', VITAL),
    obs('b-lab', 'b', LAB),
    obs('b-vital', 'b', VITAL),
    obs('a-target', 'a', LAB),
    { ...obs('b-ref', 'b', LAB), hasMember: [{ reference: 'Observation/a-target' }] },
  ];
  for (const r of data) await repo.update(SYSTEM_CALLER, r.resourceType, r.id, r);
});

function caller(scope: string, extra: Partial<AuthContext> = {}): Caller {
  const auth: AuthContext = { jti: 'j', clientId: 'app', sub: 's', scope, grants: parseScopes(scope).grants, admin: false, exp: 0, ...extra };
  return { actor: { kind: auth.fhirUser ? 'user' : 'client', reference: auth.fhirUser, clientId: 'app' }, access: accessOf(auth) };
}

async function ids(c: Caller, type: string, query = ''): Promise<string[]> {
  const parsed = parseSearch([type], [...new URLSearchParams(query)], { timeZone: 'UTC', baseUrl: server.base });
  const r = await repo.searchResources(c, { types: [type], criteria: parsed.criteria, sort: [], count: 100, include: [], total: 'accurate' });
  expect(r.total).toBe(r.matches.length);
  return r.matches.map((m) => m.id).sort();
}

const patientA = () => caller('patient/*.cruds', { patient: 'a' });

describe('writes of a patient-scoped token', () => {
  test('create inside the compartment; outside it refused and nothing written', async () => {
    const made = await repo.create(patientA(), obs('x', 'a', LAB), 'Observation');
    expect(made.outcome).toBe('created');
    // naming another patient: that reference does not resolve for this caller (422, as if b did not exist)
    await expect(repo.create(patientA(), obs('x', 'b', LAB), 'Observation')).rejects.toMatchObject({ status: 422, issues: [{ code: 'not-found' }] });
    // naming no patient at all: outside the compartment (403)
    await expect(repo.create(patientA(), withoutSubject(obs('x', 'a', LAB)), 'Observation')).rejects.toMatchObject({ status: 403 });
    expect(await ids(SYSTEM_CALLER, 'Observation', 'subject=Patient/b')).toEqual(['b-lab', 'b-ref', 'b-vital']);
  });

  test('an update may not move a resource out of the compartment (old and new version inside)', async () => {
    const moved = { ...obs('a-vital', 'b', VITAL) };
    await expect(repo.update(patientA(), 'Observation', 'a-vital', moved)).rejects.toMatchObject({ status: 422 });
    const orphaned = withoutSubject(obs('a-vital', 'a', VITAL));
    await expect(repo.update(patientA(), 'Observation', 'a-vital', orphaned)).rejects.toMatchObject({ status: 403 });
    expect(JSON.parse((await repo.read(SYSTEM_CALLER, 'Observation', 'a-vital')).content!).subject.reference).toBe('Patient/a');
    // nor by patch
    await expect(
      repo.patch(patientA(), 'Observation', { id: 'a-vital' }, (cur) => ({ ...cur, subject: { reference: 'Patient/b' } })),
    ).rejects.toMatchObject({ status: 422 });
    await expect(repo.patch(patientA(), 'Observation', { id: 'a-vital' }, ({ subject: _s, ...cur }) => cur)).rejects.toMatchObject({ status: 403 });
    // an update that stays inside is fine
    expect((await repo.update(patientA(), 'Observation', 'a-vital', { ...obs('a-vital', 'a', VITAL), status: 'amended' })).outcome).toBe('updated');
  });

  test('shared types: readable, never writable through a compartment scope', async () => {
    expect((await repo.read(patientA(), 'Practitioner', 'dr')).id).toBe('dr');
    await expect(repo.create(patientA(), { resourceType: 'Practitioner' }, 'Practitioner')).rejects.toMatchObject({ status: 403 });
    await expect(repo.update(patientA(), 'Practitioner', 'dr', { resourceType: 'Practitioner', id: 'dr', active: false })).rejects.toMatchObject({
      status: 403,
    });
    await expect(repo.delete(patientA(), 'Practitioner', 'dr')).rejects.toMatchObject({ status: 403 });
  });

  test("another patient's resources: update, patch and delete answer 404 (never seen), and change nothing", async () => {
    await expect(repo.update(patientA(), 'Observation', 'b-lab', obs('b-lab', 'a', LAB))).rejects.toMatchObject({ status: 404 });
    await expect(repo.patch(patientA(), 'Observation', { id: 'b-lab' }, (cur) => cur)).rejects.toMatchObject({ status: 404 });
    await expect(repo.delete(patientA(), 'Observation', 'b-lab')).rejects.toMatchObject({ status: 404 });
    // If-Match on a resource the caller cannot see: 404, never a 412 telling its version
    await expect(repo.delete(patientA(), 'Observation', 'b-lab', { ifMatch: 'W/"7"' })).rejects.toMatchObject({ status: 404 });
    await expect(repo.update(patientA(), 'Observation', 'b-lab', obs('b-lab', 'a', LAB), { ifMatch: 'W/"7"' })).rejects.toMatchObject({
      status: 404,
    });
    await expect(repo.update(patientA(), 'Patient', 'b', { resourceType: 'Patient', id: 'b' })).rejects.toMatchObject({ status: 404 });
    expect((await repo.read(SYSTEM_CALLER, 'Observation', 'b-lab')).versionId).toBe(1);
  });

  test('a hidden referrer blocks a delete (409) but is not named', async () => {
    const conflict = await repo.delete(patientA(), 'Observation', 'a-target').catch((e) => e);
    expect(conflict).toMatchObject({ status: 409 });
    expect(conflict.issues[0].diagnostics).toContain('resources outside your access');
    expect(conflict.issues[0].diagnostics).not.toContain('b-ref');
  });

  test('conditional writes match only what the caller may see', async () => {
    // b's lab observation is invisible: the conditional delete finds nothing of b's to delete
    const deleted = await repo.conditionalDelete(patientA(), 'Observation', 'code:text=b-lab');
    expect(deleted).toEqual([]);
    // conditional update whose criteria match only b's resource: no match for this caller, so it creates in a's compartment
    const r = await repo.conditionalUpdate(patientA(), 'Observation', 'code:text=b-vital', { ...obs('new-1', 'a', VITAL), id: undefined });
    expect(r.outcome).toBe('created');
    expect(await ids(SYSTEM_CALLER, 'Observation', 'subject=Patient/b')).toEqual(['b-lab', 'b-ref', 'b-vital']);
  });

  test('scope escalation: a read-only token writing is a 403 naming the scope it lacks', async () => {
    const reader = caller('patient/*.read', { patient: 'a' });
    await expect(repo.create(reader, obs('y', 'a', LAB), 'Observation')).rejects.toMatchObject({
      status: 403,
      issues: [{ code: 'forbidden', diagnostics: expect.stringContaining('patient/Observation.c') }],
    });
    await expect(repo.delete(reader, 'Observation', 'a-lab')).rejects.toMatchObject({ status: 403 });
    const noDelete = caller('patient/Observation.cru', { patient: 'a' });
    await expect(repo.delete(noDelete, 'Observation', 'a-lab')).rejects.toMatchObject({ status: 403 });
    // writes allowed but not reads: searching is refused
    await expect(ids(caller('patient/Observation.c', { patient: 'a' }), 'Observation')).rejects.toMatchObject({ status: 403 });
  });

  test('a transaction with one entry outside the compartment fails as a whole; a batch fails only that entry', async () => {
    const processor = new TransactionProcessor(repo);
    const bundle = (type: string): Json => ({
      resourceType: 'Bundle',
      type,
      entry: [
        { resource: obs('t1', 'a', LAB), request: { method: 'PUT', url: 'Observation/t1' } },
        // in no patient's compartment (naming b would be a 422: a reference this caller may not make)
        { resource: withoutSubject(obs('t2', 'b', LAB)), request: { method: 'PUT', url: 'Observation/t2' } },
        { request: { method: 'GET', url: 'Observation?subject=Patient/b' } },
      ],
    });
    await expect(processor.process(patientA(), bundle('transaction'))).rejects.toMatchObject({ status: 403 });
    await expect(repo.read(SYSTEM_CALLER, 'Observation', 't1')).rejects.toMatchObject({ status: 404 });
    const { results } = await processor.process(patientA(), bundle('batch'), { prefer: 'minimal' });
    expect(results.map((r) => r.status)).toEqual(['201 Created', '403 Forbidden', '400 Bad Request']);
    await expect(repo.read(SYSTEM_CALLER, 'Observation', 't2')).rejects.toMatchObject({ status: 404 });
    expect((await repo.read(SYSTEM_CALLER, 'Observation', 't1')).versionId).toBe(1);
  });
});

describe('granular scopes', () => {
  const labOnly = () => caller('patient/Observation.rs?category=laboratory patient/Patient.r', { patient: 'a' });

  test('search and read see only what the query selects, in both spellings of the code', async () => {
    const some = '_id=a-lab,a-vital,b-lab,b-vital';
    expect(await ids(labOnly(), 'Observation', some)).toEqual(['a-lab']);
    const full = caller('patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory', { patient: 'a' });
    expect(await ids(full, 'Observation', some)).toEqual(['a-lab']);
    await expect(repo.read(labOnly(), 'Observation', 'a-vital')).rejects.toMatchObject({ status: 404 });
    expect((await repo.read(labOnly(), 'Observation', 'a-lab')).id).toBe('a-lab');
    expect((await repo.read(labOnly(), 'Patient', 'a')).id).toBe('a');
    await expect(ids(labOnly(), 'Patient')).rejects.toMatchObject({ status: 403 }); // r without s
  });

  test('several granular scopes are OR-ed; a system-level granular scope has no compartment', async () => {
    const both = caller('patient/Observation.rs?category=laboratory patient/Observation.rs?category=vital-signs', { patient: 'a' });
    expect(await ids(both, 'Observation')).toEqual(expect.arrayContaining(['a-lab', 'a-vital']));
    expect(await ids(both, 'Observation')).not.toEqual(expect.arrayContaining(['b-lab']));
    expect(await ids(caller('system/Observation.rs?category=laboratory'), 'Observation', '_id=a-lab,b-lab,a-vital')).toEqual(['a-lab', 'b-lab']);
  });

  test('a granular write scope: the written resource must match it', async () => {
    const labWriter = caller('patient/Observation.cru?category=laboratory', { patient: 'a' });
    expect((await repo.create(labWriter, obs('g1', 'a', LAB), 'Observation')).outcome).toBe('created');
    await expect(repo.create(labWriter, obs('g2', 'a', VITAL), 'Observation')).rejects.toMatchObject({ status: 403 });
    // turning a lab result into a vital sign takes it out of the scope
    await expect(repo.update(labWriter, 'Observation', 'a-lab', obs('a-lab', 'a', VITAL))).rejects.toMatchObject({ status: 403 });
  });
});

describe('user kinds', () => {
  test('a Practitioner user sees every patient; a Patient user their own compartment', async () => {
    expect(await ids(caller('user/Observation.rs', { fhirUser: 'Practitioner/dr' }), 'Observation', '_id=a-lab,b-lab')).toEqual(['a-lab', 'b-lab']);
    expect(await ids(caller('user/Observation.rs', { fhirUser: 'Patient/b' }), 'Observation', '_id=a-lab,b-lab')).toEqual(['b-lab']);
  });

  test('a RelatedPerson user sees the patients it links to, following a change of that link', async () => {
    const rp = caller('user/*.rs', { fhirUser: 'RelatedPerson/rp' });
    expect(await ids(rp, 'Observation', '_id=a-lab,b-lab')).toEqual(['a-lab']);
    expect(await ids(rp, 'Patient')).toEqual(['a']);
    expect(await ids(rp, 'Practitioner')).toEqual(['dr']); // shared type
    await repo.update(SYSTEM_CALLER, 'RelatedPerson', 'rp', { resourceType: 'RelatedPerson', id: 'rp', patient: { reference: 'Patient/b' } });
    expect(await ids(rp, 'Observation', '_id=a-lab,b-lab')).toEqual(['b-lab']);
    await repo.update(SYSTEM_CALLER, 'RelatedPerson', 'rp', { resourceType: 'RelatedPerson', id: 'rp', patient: { reference: 'Patient/a' } });
  });
});
