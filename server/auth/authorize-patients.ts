/**
 * The patients a signed-in user may work with, for the patient picker and for checking a launch's or a choice's
 * patient: found through the repository's search with the user's access (DESIGN.md §1.1 "user access": a
 * Practitioner sees every patient of the network, a Patient only themself, a RelatedPerson the patients it is
 * linked to), never by reading the table directly.
 */
import { OperationOutcomeError } from '../fhir/outcome';
import type { Caller } from '../repository/caller';
import { SYSTEM_CALLER } from '../repository/caller';
import type { Repository } from '../repository/repository';
import type { PickerPatient } from './pages/picker';
import type { AuthUser } from './users';

/** Up to this many patients are listed (DESIGN.md §1.1 "picker search"). */
export const PICKER_LIMIT = 20;
const NHID_SYSTEMS = ['https://healthid.abdm.gov.in', 'https://healthid.ndhm.gov.in'];

interface PatientJson {
  id?: string;
  name?: { text?: string; given?: string[]; family?: string; prefix?: string[] }[];
  birthDate?: string;
  identifier?: { system?: string; value?: string }[];
  patient?: { reference?: string };
}

/** The user's view of the patients: the picker's caller. */
async function patientsCaller(repo: Repository, user: AuthUser): Promise<{ caller: Caller; only?: string[] }> {
  const caller: Caller = { actor: { kind: 'user', reference: user.fhirUser } };
  const [type, id = ''] = user.fhirUser.split('/');
  if (type === 'Patient') return { caller, only: [id] };
  if (type === 'RelatedPerson') {
    // a RelatedPerson is linked to one patient (RelatedPerson.patient)
    try {
      const rp = JSON.parse((await repo.read(SYSTEM_CALLER, 'RelatedPerson', id)).content ?? '{}') as PatientJson;
      const ref = rp.patient?.reference?.match(/(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})$/);
      return { caller, only: ref ? [ref[1]] : [] };
    } catch (e) {
      if (e instanceof OperationOutcomeError) return { caller, only: [] };
      throw e;
    }
  }
  return { caller };
}

function label(p: PatientJson): PickerPatient {
  const n = p.name?.[0];
  const name = n?.text || [...(n?.prefix ?? []), ...(n?.given ?? []), n?.family].filter(Boolean).join(' ') || `Patient ${p.id}`;
  const nhid = p.identifier?.find((i) => i.system && NHID_SYSTEMS.includes(i.system))?.value;
  return { id: p.id ?? '', name, ...(p.birthDate ? { birthDate: p.birthDate } : {}), ...(nhid ? { nhid } : {}) };
}

/** A search value as one literal (search.html#escaping): `,` `$` `|` `\` escaped. */
const literal = (v: string): string => v.replace(/[\\,$|]/g, (c) => `\\${c}`);

/** Patients the user may see matching `q` by name or identifier (NHID) — the first ones when `q` is empty. */
export async function findPatients(repo: Repository, user: AuthUser, q: string): Promise<PickerPatient[]> {
  const { caller, only } = await patientsCaller(repo, user);
  const term = q.trim().slice(0, 200);
  const searches: [string, string][][] = term ? [[['name', literal(term)]], [['identifier', literal(term)]]] : [[]];
  const found = new Map<string, PickerPatient>();
  for (const params of searches) {
    const query = new URLSearchParams(params);
    if (only) query.set('_id', only.length ? only.join(',') : 'none');
    const criteria = await repo.criteria('Patient', query, 'the patient search');
    const result = await repo.searchResources(caller, { types: ['Patient'], criteria, sort: [], count: PICKER_LIMIT, include: [], total: 'none' });
    for (const m of result.matches) if (!found.has(m.id)) found.set(m.id, label(JSON.parse(m.content) as PatientJson));
  }
  return [...found.values()].slice(0, PICKER_LIMIT);
}

/** The patient if the user may see it; undefined otherwise (unknown, deleted or outside the user's access). */
export async function visiblePatient(repo: Repository, user: AuthUser, id: string): Promise<PickerPatient | undefined> {
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) return undefined;
  const { caller, only } = await patientsCaller(repo, user);
  if (only && !only.includes(id)) return undefined;
  try {
    return label(JSON.parse((await repo.read(caller, 'Patient', id)).content ?? '{}') as PatientJson);
  } catch (e) {
    if (e instanceof OperationOutcomeError) return undefined;
    throw e;
  }
}
