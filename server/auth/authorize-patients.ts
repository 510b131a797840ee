/**
 * The patients a signed-in user may work with, for the patient picker and for checking a launch's or a choice's
 * patient: found through the repository's search with the user's access (DESIGN.md §1.1 "user access": a
 * Practitioner sees every patient of the network, a Patient only themself, a RelatedPerson the patients it is
 * linked to), never by reading the table directly.
 */
import { OperationOutcomeError } from '../fhir/outcome';
import type { Caller } from '../repository/caller';
import type { Repository } from '../repository/repository';
import { type AccessOptions, accessOf } from './access';
import type { AuthContext } from './context';
import type { PickerPatient } from './pages/picker';
import { parseScopes } from './scopes';
import type { AuthUser } from './users';

/** Up to this many patients are listed (DESIGN.md §1.1 "picker search"). */
export const PICKER_LIMIT = 20;
const NHID_SYSTEMS = ['https://healthid.abdm.gov.in', 'https://healthid.ndhm.gov.in'];

interface PatientJson {
  id?: string;
  name?: { text?: string; given?: string[]; family?: string; prefix?: string[] }[];
  birthDate?: string;
  identifier?: { system?: string; value?: string }[];
}

/** The grant the picker reads with: the user's own view of Patient resources. */
const PICKER_SCOPE = 'user/Patient.rs';
const PICKER_GRANTS = parseScopes(PICKER_SCOPE).grants;

/**
 * The user's view of the patients: a caller whose access is what a `user/Patient.rs` token of this user would
 * have (access.ts) — the same rules as every FHIR request, compiled into the search's SQL.
 */
function patientsCaller(user: AuthUser, opts: AccessOptions): Caller {
  const auth: AuthContext = {
    jti: '',
    clientId: 'arogya-authorize',
    sub: user.id,
    scope: PICKER_SCOPE,
    grants: PICKER_GRANTS,
    fhirUser: user.fhirUser,
    admin: false,
    exp: 0,
  };
  return { actor: { kind: 'user', reference: user.fhirUser }, access: accessOf(auth, opts) };
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
  const caller = patientsCaller(user, repo.options);
  const term = q.trim().slice(0, 200);
  const searches: [string, string][][] = term ? [[['name', literal(term)]], [['identifier', literal(term)]]] : [[]];
  const found = new Map<string, PickerPatient>();
  for (const params of searches) {
    const query = new URLSearchParams(params);
    const criteria = await repo.criteria('Patient', query, 'the patient search');
    const result = await repo.searchResources(caller, { types: ['Patient'], criteria, sort: [], count: PICKER_LIMIT, include: [], total: 'none' });
    for (const m of result.matches) if (!found.has(m.id)) found.set(m.id, label(JSON.parse(m.content) as PatientJson));
  }
  return [...found.values()].slice(0, PICKER_LIMIT);
}

/** The patient if the user may see it; undefined otherwise (unknown, deleted or outside the user's access). */
export async function visiblePatient(repo: Repository, user: AuthUser, id: string): Promise<PickerPatient | undefined> {
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) return undefined;
  const caller = patientsCaller(user, repo.options);
  try {
    return label(JSON.parse((await repo.read(caller, 'Patient', id)).content ?? '{}') as PatientJson);
  } catch (e) {
    if (e instanceof OperationOutcomeError) return undefined;
    throw e;
  }
}
