/**
 * A stored audit event as a FHIR R4 AuditEvent in the IHE Basic Audit Log Patterns shape (BALP,
 * https://profiles.ihe.net/ITI/BALP/): who = agents (the client application with its network address, the user,
 * the server), what = entities (the patients as role Patient, the resources touched as Domain Resource, a search's
 * query as role Query), when = recorded, outcome. Built when read, never stored (log.ts keeps rows lean).
 */
import type { AuditDetail } from './event';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const BALP = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit';

/** A stored event as the store reads it (the columns of the audit_event view). */
export interface AuditRowRead {
  id: string;
  recorded: string;
  type: string;
  subtype: string;
  action: string;
  outcome: number;
  client_id: string | null;
  who: string | null;
  address: string | null;
  patient: string[] | null;
  request_id: string | null;
  detail: AuditDetail | null;
}

const SUBTYPE_PROFILE: Record<string, string> = {
  create: 'Create',
  read: 'Read',
  vread: 'Read',
  update: 'Update',
  patch: 'Update',
  delete: 'Delete',
  'search-type': 'Query',
  'search-system': 'Query',
  'history-instance': 'Query',
  'history-type': 'Query',
  'history-system': 'Query',
};

function profileOf(r: AuditRowRead): string | undefined {
  if (r.type === '110114') return r.subtype === 'login' ? 'Login' : r.subtype === 'logout' ? 'Logout' : undefined;
  const kind = SUBTYPE_PROFILE[r.subtype];
  if (!kind) return undefined;
  return r.patient?.length ? `Patient${kind}` : kind;
}

const coding = (system: string, code: string, display?: string): Record<string, string> => (display ? { system, code, display } : { system, code });

/** The AuditEvent resource of one row; `authBase` names the authorization server (the clients' identifier system). */
export function renderAuditEvent(r: AuditRowRead, opts: { baseUrl: string; authBase: string }): Record<string, unknown> {
  const d = r.detail ?? {};
  const profile = profileOf(r);
  const subtype =
    r.type === 'rest'
      ? [coding('http://hl7.org/fhir/restful-interaction', r.subtype)]
      : [
          r.subtype === 'login'
            ? coding(DCM, '110122', 'Login')
            : r.subtype === 'logout'
              ? coding(DCM, '110123', 'Logout')
              : coding(`${opts.authBase}/audit-subtype`, r.subtype),
        ];
  if (d.operation)
    subtype.push(coding('urn:ietf:rfc:3986', `http://hl7.org/fhir/OperationDefinition/${d.operation.replace(/^\$/, '')}`, d.operation));

  const agent: Record<string, unknown>[] = [];
  const network = r.address ? { network: { address: r.address, type: '2' } } : {};
  const policy = d.jti ? { policy: [`urn:uuid:${d.jti}`] } : {};
  if (r.client_id) {
    agent.push({
      type: { coding: [coding(DCM, '110153', 'Source Role ID')] },
      who: { identifier: { system: `${opts.authBase}/clients`, value: r.client_id } },
      requestor: !r.who,
      ...network,
      ...(r.who ? {} : policy),
    });
  } else if (r.address) {
    agent.push({ type: { coding: [coding(DCM, '110153', 'Source Role ID')] }, who: { display: 'unidentified client' }, requestor: true, ...network });
  }
  if (r.who || d.user) {
    agent.push({
      type: { coding: [coding('http://terminology.hl7.org/CodeSystem/v3-ParticipationType', 'IRCP', 'information recipient')] },
      who: r.who ? { reference: r.who } : { identifier: { system: `${opts.authBase}/users`, value: d.user } },
      requestor: true,
      ...policy,
    });
  }
  agent.push({
    type: { coding: [coding(DCM, '110152', 'Destination Role ID')] },
    who: { identifier: { system: 'urn:ietf:rfc:3986', value: r.type === 'rest' ? opts.baseUrl : opts.authBase } },
    requestor: false,
  });

  const entity: Record<string, unknown>[] = [];
  for (const p of r.patient ?? []) {
    entity.push({ what: { reference: `Patient/${p}` }, type: coding(ENTITY_TYPE, '1', 'Person'), role: coding(OBJECT_ROLE, '1', 'Patient') });
  }
  for (const e of d.entities ?? []) {
    entity.push({ what: { reference: e }, type: coding(ENTITY_TYPE, '2', 'System Object'), role: coding(OBJECT_ROLE, '4', 'Domain Resource') });
  }
  if (d.query !== undefined || d.count !== undefined) {
    const detail: { type: string; valueString: string }[] = [];
    if (d.count !== undefined) detail.push({ type: 'count', valueString: String(d.count) });
    if (d.total !== undefined) detail.push({ type: 'total', valueString: String(d.total) });
    if (d.path) detail.push({ type: 'path', valueString: d.path });
    entity.push({
      type: coding(ENTITY_TYPE, '2', 'System Object'),
      role: coding(OBJECT_ROLE, '24', 'Query'),
      ...(d.query !== undefined ? { query: Buffer.from(d.query).toString('base64'), description: d.query } : {}),
      ...(detail.length ? { detail } : {}),
    });
  }
  if (r.type === '110114' && (d.scope || d.grantType)) {
    const detail: { type: string; valueString: string }[] = [];
    if (d.grantType) detail.push({ type: 'grant_type', valueString: d.grantType });
    if (d.scope) detail.push({ type: 'scope', valueString: d.scope });
    entity.push({ type: coding(ENTITY_TYPE, '4', 'Other'), role: coding(OBJECT_ROLE, '13', 'Security Resource'), detail });
  }

  const out: Record<string, unknown> = {
    resourceType: 'AuditEvent',
    id: r.id,
    meta: { versionId: '1', lastUpdated: r.recorded, ...(profile ? { profile: [`${BALP}.${profile}`] } : {}) },
    type:
      r.type === 'rest'
        ? coding('http://terminology.hl7.org/CodeSystem/audit-event-type', 'rest', 'Restful Operation')
        : coding(DCM, '110114', 'User Authentication'),
    subtype,
    action: r.action,
    recorded: r.recorded,
    outcome: String(r.outcome),
  };
  const desc = [d.reason, d.status !== undefined && r.outcome !== 0 ? `HTTP ${d.status}` : undefined].filter(Boolean).join('; ');
  if (desc) out.outcomeDesc = desc;
  out.agent = agent;
  out.source = {
    observer: { display: 'Arogya FHIR server' },
    type: [coding('http://terminology.hl7.org/CodeSystem/security-source-type', '4', 'Application Server')],
  };
  if (r.request_id) {
    entity.push({
      what: { identifier: { value: r.request_id } },
      type: coding('https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType', 'XrequestId', 'X-Request-Id'),
    });
  }
  if (entity.length) out.entity = entity;
  return out;
}
