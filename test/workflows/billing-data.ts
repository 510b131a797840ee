/**
 * Realistic HMS data for the billing tests: a hospital with an HFR id and a dispensary, a doctor with a
 * PractitionerRole and a consultation fee (500 INR, GST-exempt), medicines with rate + CGST 6% + SGST 6% + MRP, a
 * priced lab test (CBC), and a patient with an NHID. Everything is created over HTTP.
 */
import type { Json, TestServer } from '../harness';

export const SID = 'https://arogya.dev/fhir/sid';
export const BASE = 'https://arogya.dev/fhir';
export const PRICE = `${BASE}/CodeSystem/price-component`;
export const LOINC = 'http://loinc.org';
export const CBC = { system: LOINC, code: '58410-2', display: 'CBC panel - Blood by Automated count' };
export const LIPID = { system: LOINC, code: '57698-3', display: 'Lipid panel with direct LDL - Serum or Plasma' };

export async function create(server: TestServer, resource: Json): Promise<Json> {
  const r = await server.request('POST', `/${resource.resourceType}`, { body: resource });
  if (r.status !== 201) throw new Error(`create ${resource.resourceType}: ${r.status} ${r.text}`);
  return r.body as Json;
}

export async function search(server: TestServer, query: string): Promise<Json[]> {
  const r = await server.request('GET', `/${query}`);
  if (r.status !== 200) throw new Error(`search ${query}: ${r.status} ${r.text}`);
  return ((r.body.entry as Json[] | undefined) ?? []).map((e) => e.resource as Json);
}

const inr = (value: number): Json => ({ value, currency: 'INR' });
const tax = (code: 'CGST' | 'SGST', factor: number): Json => ({
  type: 'tax',
  code: { coding: [{ system: PRICE, code, display: code === 'CGST' ? 'Central GST' : 'State GST' }] },
  factor,
});

export interface Hospital {
  org: Json;
  dispensary: Json;
  practitioner: Json;
  role: Json;
}

/** A hospital (HFR id unless `hfr` is null), its dispensary, a doctor and the doctor's consultation fee. */
export async function hospital(server: TestServer, name: string, hfr: string | null, fee: number | null = 500): Promise<Hospital> {
  const org = await create(server, {
    resourceType: 'Organization',
    active: true,
    ...(hfr
      ? {
          identifier: [
            {
              type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PRN', display: 'Provider number' }] },
              system: 'https://facility.abdm.gov.in',
              value: hfr,
            },
          ],
        }
      : {}),
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov', display: 'Healthcare Provider' }] }],
    name,
    telecom: [{ system: 'phone', value: '+91-80-4123-4567', use: 'work' }],
    address: [{ line: ['12 MG Road'], city: 'Bengaluru', postalCode: '560001', country: 'IN' }],
  });
  const dispensary = await create(server, {
    resourceType: 'Location',
    status: 'active',
    name: `${name} dispensary`,
    mode: 'instance',
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'PHARM', display: 'Pharmacy' }] }],
    managingOrganization: { reference: `Organization/${org.id}` },
  });
  const practitioner = await create(server, {
    resourceType: 'Practitioner',
    identifier: [
      {
        system: 'https://hpr.abdm.gov.in',
        value: `71-${Math.floor(Math.random() * 9000 + 1000)}-${Math.floor(Math.random() * 9000 + 1000)}-${Math.floor(Math.random() * 9000 + 1000)}`,
      },
    ],
    name: [{ text: 'Dr. Rajesh Iyer', family: 'Iyer', given: ['Rajesh'], prefix: ['Dr.'] }],
    qualification: [{ code: { text: 'MBBS, MD (General Medicine)' } }],
  });
  const role = await create(server, {
    resourceType: 'PractitionerRole',
    active: true,
    practitioner: { reference: `Practitioner/${practitioner.id}` },
    organization: { reference: `Organization/${org.id}` },
    code: [{ coding: [{ system: 'http://snomed.info/sct', code: '158965000', display: 'Medical practitioner' }] }],
    specialty: [{ coding: [{ system: 'http://snomed.info/sct', code: '419192003', display: 'Internal medicine' }] }],
  });
  if (fee !== null) {
    await create(server, {
      resourceType: 'ChargeItemDefinition',
      url: `${BASE}/ChargeItemDefinition/consult-${role.id}`,
      title: `Consultation, ${name}`,
      status: 'active',
      code: { coding: [{ system: 'https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-billing-codes', code: '00', display: 'Consultation' }] },
      // Clinical consultation is GST-exempt: base only.
      propertyGroup: [{ priceComponent: [{ type: 'base', code: { text: 'Consultation fee' }, amount: inr(fee) }] }],
    });
  }
  return { org, dispensary, practitioner, role };
}

/** A medicine, and (unless `rate` is null) its price: rate, MRP, CGST and SGST at `gst` each. */
export async function medicine(server: TestServer, name: string, rate: number | null, mrp = 0, gst = 0.06): Promise<Json> {
  const medication = await create(server, {
    resourceType: 'Medication',
    code: { text: name },
    status: 'active',
    form: { coding: [{ system: 'http://snomed.info/sct', code: '385055001', display: 'Tablet' }] },
  });
  if (rate !== null) await medicinePrice(server, medication, rate, mrp, gst);
  return medication;
}

export async function medicinePrice(server: TestServer, medication: Json, rate: number, mrp: number, gst = 0.06): Promise<Json> {
  return create(server, {
    resourceType: 'ChargeItemDefinition',
    url: `${BASE}/ChargeItemDefinition/medication-${medication.id}`,
    status: 'active',
    instance: [{ reference: `Medication/${medication.id}` }],
    propertyGroup: [
      {
        priceComponent: [
          { type: 'base', code: { text: 'Rate per unit' }, amount: inr(rate) },
          { type: 'informational', code: { coding: [{ system: PRICE, code: 'MRP', display: 'Maximum retail price' }] }, amount: inr(mrp) },
          tax('CGST', gst),
          tax('SGST', gst),
        ],
      },
    ],
  });
}

/** A lab test's price (matched by the DiagnosticReport's code). */
export async function labPrice(server: TestServer, code: Json, amount: number): Promise<Json> {
  return create(server, {
    resourceType: 'ChargeItemDefinition',
    url: `${BASE}/ChargeItemDefinition/lab-${code.code}`,
    status: 'active',
    code: { coding: [code] },
    propertyGroup: [{ priceComponent: [{ type: 'base', amount: inr(amount) }] }],
  });
}

export async function patient(server: TestServer, nhid = '12345678901234'): Promise<Json> {
  return create(server, {
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
    name: [{ text: 'Asha Verma', family: 'Verma', given: ['Asha'] }],
    gender: 'female',
    birthDate: '1990-04-12',
    telecom: [{ system: 'phone', value: '+91-98450-12345', use: 'mobile' }],
  });
}

export function encounter(status: string, patientId: string, h: Hospital | undefined, extra: Json = {}): Json {
  return {
    resourceType: 'Encounter',
    status,
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
    type: [{ coding: [{ system: 'http://snomed.info/sct', code: '11429006', display: 'Consultation' }] }],
    subject: { reference: `Patient/${patientId}` },
    ...(h
      ? {
          participant: [
            {
              type: [
                { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' }] },
              ],
              individual: { reference: `PractitionerRole/${h.role.id}` },
            },
          ],
          serviceProvider: { reference: `Organization/${h.org.id}` },
        }
      : {}),
    period: { start: '2026-12-05T09:00:00+05:30' },
    ...extra,
  };
}

/** A dispense of `quantity` of `medication` prepared for the visit (as the dispensary workflow would). */
export function dispense(encounterId: string, patientId: string, medication: Json, quantity: number, h: Hospital, status = 'preparation'): Json {
  return {
    resourceType: 'MedicationDispense',
    status,
    medicationReference: { reference: `Medication/${medication.id}`, display: (medication.code as Json).text },
    subject: { reference: `Patient/${patientId}` },
    context: { reference: `Encounter/${encounterId}` },
    quantity: { value: quantity, unit: 'tablet', system: 'http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm', code: 'TAB' },
    location: { reference: `Location/${h.dispensary.id}` },
    performer: [{ actor: { reference: `Organization/${h.org.id}` } }],
  };
}

export function report(encounterId: string, patientId: string, code: Json, status: string): Json {
  return {
    resourceType: 'DiagnosticReport',
    status,
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB', display: 'Laboratory' }] }],
    code: { coding: [code], text: code.display },
    subject: { reference: `Patient/${patientId}` },
    encounter: { reference: `Encounter/${encounterId}` },
    effectiveDateTime: '2026-12-05T10:00:00+05:30',
  };
}

/** The visit's invoices, by invoice-key (`Encounter/{id}`, `Encounter/{id}#2`, …). */
export async function invoicesOf(server: TestServer, encounterId: string): Promise<Json[]> {
  const [account] = await search(server, `Account?identifier=${encodeURIComponent(`${SID}/encounter-account|${encounterId}`)}`);
  if (!account) return [];
  const all = await search(server, `Invoice?account=Account/${account.id}`);
  return all.sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
}

export function keyOf(invoice: Json): string {
  return ((invoice.identifier as Json[]).find((i) => i.system === `${SID}/invoice-key`) as Json).value as string;
}

export function billNumberOf(invoice: Json): string {
  return ((invoice.identifier as Json[]).find((i) => i.system === `${SID}/bill-id`) as Json).value as string;
}

/** ChargeItem ids of an invoice's lines. */
export function lineItems(invoice: Json): string[] {
  return ((invoice.lineItem as Json[] | undefined) ?? []).map((l) =>
    ((l.chargeItemReference as Json).reference as string).replace('ChargeItem/', ''),
  );
}

/** totalPriceComponent as `type code` → amount. */
export function totals(invoice: Json): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of invoice.totalPriceComponent as Json[]) {
    const code = ((c.code as Json | undefined)?.coding as Json[] | undefined)?.[0]?.code ?? '';
    out[`${c.type}${code ? ` ${code}` : ''}`] = (c.amount as Json).value as number;
  }
  return out;
}
