/**
 * One request's audit trail (repository/caller.ts CallerAudit): what the read path and the write engine handed the
 * caller, boiled down to what the AuditEvent keeps — the patients involved, the first few resources, the count of
 * a search page. The patients of a resource come from the JSON already in hand (its own id for a Patient, else the
 * Patient references it holds): nothing is read again.
 */
import type { AuthContext } from '../auth/context';
import type { CallerAudit } from '../repository/caller';
import { MAX_ENTITIES, MAX_PATIENTS } from './event';
import { isAuditReader } from './scope';

/** `"reference":"Patient/123"`, also absolute (`…/fhir/Patient/123`) and versioned (`…/_history/2`). */
const PATIENT_REFERENCE = /"reference"\s*:\s*"(?:[^"]*\/)?Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^"]*)?"/g;

export class RequestTrail implements CallerAudit {
  readonly patients = new Set<string>();
  morePatients = false;
  readonly entities: string[] = [];
  moreEntities = false;
  count: number | undefined;
  total: number | undefined;

  /** `req`: the request, whose verified token (`auth`) says whether the caller may read the audit log. */
  constructor(private readonly req: { readonly auth: AuthContext | null }) {}

  get auditReader(): boolean {
    return isAuditReader(this.req.auth);
  }

  patient(id: string): void {
    if (this.patients.has(id)) return;
    if (this.patients.size >= MAX_PATIENTS) this.morePatients = true;
    else this.patients.add(id);
  }

  touched(resourceType: string, id: string, versionId: number, content: string | undefined): void {
    if (this.entities.length < MAX_ENTITIES) this.entities.push(`${resourceType}/${id}/_history/${versionId}`);
    else this.moreEntities = true;
    if (resourceType === 'Patient') this.patient(id);
    else if (content !== undefined && !this.morePatients && content.includes('Patient/')) {
      for (const m of content.matchAll(PATIENT_REFERENCE)) this.patient(m[1]);
    }
  }

  counted(matches: number, total?: number): void {
    this.count = (this.count ?? 0) + matches;
    if (total !== undefined) this.total = (this.total ?? 0) + total;
  }
}
