/**
 * Test data for the clinician app, created over HTTP: a small hospital network (three hospitals with HFR ids,
 * dispensaries, doctors and consultation fees; a medicine with a price and a low stock item), patients with NHIDs,
 * and one patient with a long history across the hospitals — a real Synthea patient bundle plus 70 generated OPD
 * visits with diagnoses, prescriptions, lab reports (HbA1c, glucose, lipids) and vital signs — well over 1,000
 * resources.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Json, TestServer } from '../harness';
import { FIXTURES_DIR } from '../harness';
import { type Hospital, LOINC, create, encounter, hospital, labPrice, medicine } from '../workflows/billing-data';

export const BASE = 'https://arogya.dev/fhir';
const EXT = `${BASE}/StructureDefinition/`;
const HBA1C = { system: LOINC, code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood' };
const SNOMED = 'http://snomed.info/sct';

let counter = 0;
/** A 14-digit NHID unique in this run (HMS-DOMAIN: one Patient per NHID). */
export function nhid(): string {
  counter++;
  return `91${String(Date.now() % 1e8).padStart(8, '0')}${String(counter).padStart(4, '0')}`;
}

export async function hmsPatient(server: TestServer, name: { family: string; given: string }, id = nhid(), phone?: string): Promise<Json> {
  return create(server, {
    resourceType: 'Patient',
    identifier: [{ system: 'https://healthid.abdm.gov.in', value: id }],
    name: [{ family: name.family, given: [name.given] }],
    gender: 'female',
    birthDate: '1978-06-02',
    ...(phone ? { telecom: [{ system: 'phone', value: phone, use: 'mobile' }] } : {}),
  });
}

export interface Network {
  hospitals: Hospital[];
  medicine: Json;
  stockItem: Json;
}

export async function network(server: TestServer): Promise<Network> {
  const stamp = String(Date.now()).slice(-6);
  const hospitals = [
    await hospital(server, 'Sanjeevani Multispeciality Hospital', `IN2910${stamp}`),
    await hospital(server, 'Arogya Nagar District Hospital', `IN2920${stamp}`),
    await hospital(server, 'Lotus Diabetes Centre', `IN2930${stamp}`),
  ];
  const med = await medicine(server, 'Metformin 500 mg tablet', 2.5, 4);
  // a low stock item at the first hospital's dispensary (10 on hand, reorder at 20)
  const q = (value: number) => ({ value, unit: 'tablet', system: 'http://unitsofmeasure.org', code: '{tbl}' });
  const stockItem = await create(server, {
    resourceType: 'Basic',
    code: { coding: [{ system: `${BASE}/CodeSystem/hms-basic-type`, code: 'stock-item' }] },
    subject: { reference: `Medication/${med.id}` },
    author: { reference: `Organization/${hospitals[0].org.id}` },
    extension: [
      { url: `${EXT}stock-location`, valueReference: { reference: `Location/${hospitals[0].dispensary.id}` } },
      { url: `${EXT}stock-on-hand`, valueQuantity: q(10) },
      { url: `${EXT}stock-reorder-level`, valueQuantity: q(20) },
      { url: `${EXT}stock-reorder-quantity`, valueQuantity: q(100) },
      { url: `${EXT}stock-consumable`, valueBoolean: false },
    ],
  });
  await labPrice(server, HBA1C, 350);
  return { hospitals, medicine: med, stockItem };
}

/** An OPD visit in progress today at a hospital, with an active prescription of the network's medicine. */
export async function visitToday(server: TestServer, net: Network, patientId: string): Promise<{ encounter: Json; request: Json }> {
  const h = net.hospitals[0];
  const enc = await create(server, encounter('in-progress', patientId, h, { period: { start: new Date().toISOString() } }));
  const request = await create(server, {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: { text: 'Metformin 500 mg tablet' },
    subject: { reference: `Patient/${patientId}` },
    encounter: { reference: `Encounter/${enc.id}` },
    requester: { reference: `PractitionerRole/${h.role.id}` },
    dosageInstruction: [{ text: '1 tablet twice a day after food' }],
    dispenseRequest: { quantity: { value: 4, unit: 'tablet' } },
  });
  return { encounter: enc, request };
}

const rand = (seed: number) => {
  const x = Math.sin(seed) * 10000;
  return x - Math.floor(x);
};

function quantity(value: number, unit: string, code = unit): Json {
  return { value: Math.round(value * 10) / 10, unit, system: 'http://unitsofmeasure.org', code };
}

/**
 * The largest smart-generated Synthea patient, loaded as its transaction, plus `visits` generated OPD visits over
 * the years before today at the network's hospitals. Returns the Patient's id and how many resources were written.
 */
export async function patientWithLongHistory(server: TestServer, net: Network, visits = 70): Promise<{ id: string; resources: number }> {
  const file = path.join(FIXTURES_DIR, 'synthea', 'smart-generated-sample-data-r4', 'Rickey_Becker_f7b1ad4f-8063-4bfa-8b0d-f5245077ae05.json');
  const bundle = JSON.parse(fs.readFileSync(file, 'utf8'));
  const res = await server.request('POST', '/', { body: bundle });
  if (res.status !== 200) throw new Error(`Synthea bundle: ${res.status} ${res.text.slice(0, 500)}`);
  const location = (res.body.entry as Json[]).map((e) => e.response.location as string).find((l) => l.startsWith('Patient/'))!;
  const id = location.split('/')[1];
  let resources = bundle.entry.length;
  const perBatch = 10;
  for (let b = 0; b < visits; b += perBatch) {
    const entries: Json[] = [];
    for (let i = b; i < Math.min(visits, b + perBatch); i++) {
      const h = net.hospitals[i % net.hospitals.length];
      const when = new Date(Date.UTC(2019, 0, 10) + i * 21 * 86_400_000 + (i % 5) * 3_600_000);
      const at = when.toISOString();
      const enc = `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
      const ref = (type: string, n: number) => `urn:uuid:00000000-0000-4${type}-8000-${String(i * 100 + n).padStart(12, '0')}`;
      const subject = { reference: `Patient/${id}` };
      const e: Json = encounter('finished', id, h, { period: { start: at, end: new Date(when.getTime() + 1_800_000).toISOString() } });
      entries.push({ fullUrl: enc, resource: e, request: { method: 'POST', url: 'Encounter' } });
      const obs = (n: number, code: Json, value: Json, extra: Json = {}) => {
        const full = ref('001', n);
        entries.push({
          fullUrl: full,
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { coding: [code], text: code.display },
            subject,
            encounter: { reference: enc },
            effectiveDateTime: at,
            ...value,
            ...extra,
          },
          request: { method: 'POST', url: 'Observation' },
        });
        return full;
      };
      const vital = { category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }] };
      const lab = { category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }] };
      obs(1, { system: LOINC, code: '29463-7', display: 'Body weight' }, { valueQuantity: quantity(82 - i * 0.12 + rand(i) * 2, 'kg') }, vital);
      obs(
        2,
        { system: LOINC, code: '85354-9', display: 'Blood pressure panel' },
        {
          component: [
            {
              code: { coding: [{ system: LOINC, code: '8480-6', display: 'Systolic blood pressure' }] },
              valueQuantity: quantity(128 + rand(i + 1) * 20, 'mm[Hg]'),
            },
            {
              code: { coding: [{ system: LOINC, code: '8462-4', display: 'Diastolic blood pressure' }] },
              valueQuantity: quantity(78 + rand(i + 2) * 12, 'mm[Hg]'),
            },
          ],
        },
        vital,
      );
      obs(3, { system: LOINC, code: '8867-4', display: 'Heart rate' }, { valueQuantity: quantity(64 + rand(i + 3) * 20, '/min') }, vital);
      obs(4, { system: LOINC, code: '39156-5', display: 'Body mass index' }, { valueQuantity: quantity(27 + rand(i + 4) * 3, 'kg/m2') }, vital);
      const range = (low: number | undefined, high: number, unit: string) => ({
        referenceRange: [{ ...(low !== undefined ? { low: quantity(low, unit) } : {}), high: quantity(high, unit) }],
      });
      const results = [
        obs(5, HBA1C, { valueQuantity: quantity(8.4 - i * 0.03 + rand(i + 5), '%') }, { ...lab, ...range(4, 5.6, '%') }),
        obs(
          6,
          { system: LOINC, code: '2339-0', display: 'Glucose [Mass/volume] in Blood' },
          { valueQuantity: quantity(150 - i * 0.5 + rand(i + 6) * 30, 'mg/dL') },
          { ...lab, ...range(70, 99, 'mg/dL') },
        ),
        obs(
          7,
          { system: LOINC, code: '2093-3', display: 'Cholesterol [Mass/volume] in Serum or Plasma' },
          { valueQuantity: quantity(210 + rand(i + 7) * 30, 'mg/dL') },
          { ...lab, ...range(undefined, 200, 'mg/dL') },
        ),
        obs(8, { system: LOINC, code: '2085-9', display: 'HDL Cholesterol' }, { valueQuantity: quantity(42 + rand(i + 8) * 10, 'mg/dL') }, lab),
        obs(9, { system: LOINC, code: '18262-6', display: 'LDL Cholesterol' }, { valueQuantity: quantity(120 + rand(i + 9) * 30, 'mg/dL') }, lab),
        obs(10, { system: LOINC, code: '2571-8', display: 'Triglycerides' }, { valueQuantity: quantity(160 + rand(i + 10) * 60, 'mg/dL') }, lab),
      ];
      entries.push({
        fullUrl: ref('002', 1),
        resource: {
          resourceType: 'DiagnosticReport',
          status: 'final',
          category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB', display: 'Laboratory' }] }],
          code: { coding: [HBA1C], text: 'HbA1c and metabolic panel' },
          subject,
          encounter: { reference: enc },
          effectiveDateTime: at,
          issued: at,
          result: results.map((r) => ({ reference: r })),
        },
        request: { method: 'POST', url: 'DiagnosticReport' },
      });
      entries.push({
        fullUrl: ref('003', 1),
        resource: {
          resourceType: 'Condition',
          clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
          verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
          category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis' }] }],
          code: { coding: [{ system: SNOMED, code: '44054006', display: 'Diabetes mellitus type 2' }], text: 'Type 2 diabetes mellitus' },
          subject,
          encounter: { reference: enc },
          recordedDate: at,
        },
        request: { method: 'POST', url: 'Condition' },
      });
      entries.push({
        fullUrl: ref('004', 1),
        resource: {
          resourceType: 'MedicationRequest',
          status: 'completed',
          intent: 'order',
          medicationCodeableConcept: { text: 'Metformin 500 mg tablet' },
          subject,
          encounter: { reference: enc },
          authoredOn: at,
          requester: { reference: `PractitionerRole/${h.role.id}` },
          dosageInstruction: [{ text: '1 tablet twice a day after food' }],
        },
        request: { method: 'POST', url: 'MedicationRequest' },
      });
    }
    const r = await server.request('POST', '/', { body: { resourceType: 'Bundle', type: 'transaction', entry: entries } });
    if (r.status !== 200) throw new Error(`history batch: ${r.status} ${r.text.slice(0, 500)}`);
    resources += entries.length;
  }
  return { id, resources };
}
