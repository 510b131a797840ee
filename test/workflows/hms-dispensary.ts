/**
 * Realistic HMS data for the dispensing tests (HMS-DOMAIN §0, §4.1–4.6, §4.10–4.11): a hospital Organization with
 * an HFR id, its dispensary Location (v3-RoleCode PHARM), a doctor (Practitioner + PractitionerRole), a patient with
 * an NHID, Medications (batches with expiry) and stock items — all created over HTTP.
 */
import type { Json, TestServer } from '../harness';

export const BASE = 'https://arogya.dev/fhir';
export const SID = `${BASE}/sid`;
export const SNOMED = 'http://snomed.info/sct';
export const STATUS_REASON = 'http://terminology.hl7.org/CodeSystem/medicationdispense-status-reason';
export const EXT = {
  location: `${BASE}/StructureDefinition/stock-location`,
  onHand: `${BASE}/StructureDefinition/stock-on-hand`,
  reserved: `${BASE}/StructureDefinition/stock-reserved`,
  reorderLevel: `${BASE}/StructureDefinition/stock-reorder-level`,
  reorderQuantity: `${BASE}/StructureDefinition/stock-reorder-quantity`,
  consumable: `${BASE}/StructureDefinition/stock-consumable`,
};
export const STOCK_ITEM = `${BASE}/CodeSystem/hms-basic-type|stock-item`;

export async function create(server: TestServer, resource: Json): Promise<Json> {
  const res = await server.request('POST', `/${resource.resourceType}`, { body: resource });
  if (res.status !== 201) throw new Error(`create ${resource.resourceType}: ${res.status} ${res.text}`);
  return res.body;
}

export async function read(server: TestServer, ref: string): Promise<Json> {
  const res = await server.request('GET', `/${ref}`);
  if (res.status !== 200) throw new Error(`read ${ref}: ${res.status} ${res.text}`);
  return res.body;
}

/** PUT with If-Match of the current version (a pharmacist's or a doctor's update). */
export async function update(server: TestServer, resource: Json, headers: Record<string, string> = {}): Promise<Json> {
  const res = await server.request('PUT', `/${resource.resourceType}/${resource.id}`, {
    body: resource,
    headers: { 'if-match': `W/"${resource.meta.versionId}"`, ...headers },
  });
  if (res.status !== 200) throw new Error(`update ${resource.resourceType}/${resource.id}: ${res.status} ${res.text}`);
  return res.body;
}

export async function search(server: TestServer, query: string): Promise<Json[]> {
  const res = await server.request('GET', `/${query}${query.includes('?') ? '&' : '?'}_count=500`);
  if (res.status !== 200) throw new Error(`search ${query}: ${res.status} ${res.text}`);
  return (res.body.entry ?? []).map((e: Json) => e.resource);
}

export interface Hospital {
  org: Json;
  pharmacy: Json;
  practitioner: Json;
  role: Json;
  patient: Json;
}

let seq = 0;
/** A hospital with a dispensary (unless `dispensary: false`), a doctor and a patient; each call a new hospital. */
export async function hospital(server: TestServer, opts: { dispensary?: boolean; nhid?: string } = {}): Promise<Hospital> {
  seq++;
  const hfr = `IN29${String(1000000 + seq * 7919 + Math.floor(Math.random() * 1000)).slice(0, 7)}`;
  const org = await create(server, {
    resourceType: 'Organization',
    identifier: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PRN' }] },
        system: 'https://facility.abdm.gov.in',
        value: hfr,
      },
    ],
    active: true,
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov', display: 'Healthcare Provider' }] }],
    name: `Sanjeevani Multispeciality Hospital ${seq}`,
    telecom: [{ system: 'phone', value: '+91-80-4123-4567', use: 'work' }],
    address: [{ line: ['12 MG Road'], city: 'Bengaluru', postalCode: '560001', country: 'IN' }],
  });
  const pharmacy =
    opts.dispensary === false
      ? {}
      : await create(server, {
          resourceType: 'Location',
          status: 'active',
          name: `${org.name} — OPD Pharmacy`,
          mode: 'instance',
          type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'PHARM', display: 'Pharmacy' }] }],
          managingOrganization: { reference: `Organization/${org.id}` },
        });
  const practitioner = await create(server, {
    resourceType: 'Practitioner',
    identifier: [{ system: 'https://hpr.abdm.gov.in', value: `71-${String(1000 + seq)}-2233-4455` }],
    name: [{ text: 'Dr. Meera Raghavan' }],
    qualification: [{ code: { text: 'MBBS, MD (General Medicine)' } }],
  });
  const role = await create(server, {
    resourceType: 'PractitionerRole',
    active: true,
    practitioner: { reference: `Practitioner/${practitioner.id}` },
    organization: { reference: `Organization/${org.id}` },
    code: [{ coding: [{ system: SNOMED, code: '158965000', display: 'Medical practitioner' }] }],
  });
  const nhid = opts.nhid ?? '12345678901234';
  const existing = await search(server, `Patient?identifier=https://healthid.abdm.gov.in|${nhid}`);
  const patient =
    existing[0] ??
    (await create(server, {
      resourceType: 'Patient',
      identifier: [
        {
          type: {
            coding: [
              { system: 'https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-identifier-type-code', code: 'HIN', display: 'Health ID issued by NDHM' },
            ],
          },
          system: 'https://healthid.abdm.gov.in',
          value: nhid,
        },
      ],
      name: [{ text: 'Ananya Iyer', given: ['Ananya'], family: 'Iyer' }],
      gender: 'female',
      birthDate: '2000-11-17',
      telecom: [{ system: 'phone', value: '+91-98450-12345', use: 'mobile' }],
    }));
  return { org, pharmacy, practitioner, role, patient };
}

/** A Medication (one batch) of a product. */
export async function medication(
  server: TestServer,
  product: { code?: string; text: string },
  batch: { lot: string; expiry: string },
): Promise<Json> {
  return create(server, {
    resourceType: 'Medication',
    code: { ...(product.code ? { coding: [{ system: SNOMED, code: product.code, display: product.text }] } : {}), text: product.text },
    status: 'active',
    form: { coding: [{ system: SNOMED, code: '385055001', display: 'Tablet' }] },
    batch: { lotNumber: batch.lot, expirationDate: batch.expiry },
  });
}

export function stockItemBody(h: Hospital, med: Json, onHand: number, opts: { reorderQuantity?: number; reserved?: number } = {}): Json {
  const q = (value: number) => ({ value, unit: 'tablet', system: 'http://unitsofmeasure.org', code: '{tbl}' });
  return {
    resourceType: 'Basic',
    meta: { profile: [`${BASE}/StructureDefinition/hms-stock-item`] },
    code: { coding: [{ system: `${BASE}/CodeSystem/hms-basic-type`, code: 'stock-item' }] },
    subject: { reference: `Medication/${med.id}` },
    author: { reference: `Organization/${h.org.id}` },
    extension: [
      { url: EXT.location, valueReference: { reference: `Location/${h.pharmacy.id}` } },
      { url: EXT.onHand, valueQuantity: q(onHand) },
      ...(opts.reserved !== undefined ? [{ url: EXT.reserved, valueQuantity: q(opts.reserved) }] : []),
      { url: EXT.reorderLevel, valueQuantity: q(20) },
      { url: EXT.reorderQuantity, valueQuantity: q(opts.reorderQuantity ?? 100) },
      { url: EXT.consumable, valueBoolean: false },
    ],
  };
}

export async function stockItem(server: TestServer, h: Hospital, med: Json, onHand: number, opts: { reorderQuantity?: number } = {}): Promise<Json> {
  return create(server, stockItemBody(h, med, onHand, opts));
}

export function quantityExt(item: Json, url: string): number | undefined {
  return item.extension?.find((e: Json) => e.url === url)?.valueQuantity?.value;
}

/** On-hand and reserved of a stock item, read now. */
export async function stockOf(server: TestServer, item: Json): Promise<{ onHand: number; reserved: number }> {
  const cur = await read(server, `Basic/${item.id}`);
  return { onHand: quantityExt(cur, EXT.onHand) ?? 0, reserved: quantityExt(cur, EXT.reserved) ?? 0 };
}
