/**
 * The demo network for the clinician app's tests: seeded once per test file with the real CLI (`arogya seed-demo`,
 * as the README tells a new user, its printed credentials parsed), the demo patients the tests use (picked from
 * demo-data.ts, the seed's own data), and one demo patient given a long past at the network's hospitals — years of
 * generated diabetes reviews (vital signs, HbA1c and glucose with reference ranges, lipids, prescriptions, a lab
 * report), so their record holds well over 1,000 resources — for the first-view measurement.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DOCTORS, HOSPITALS, type PatientSpec, type VisitSpec, demoNetwork, hospitalId, practitionerId, roleId } from '../../server/cli/demo-data';
import { type CliRun, type Json, TEST_AUTH, type TestServer, runCli } from '../harness';

export interface SeededDemo {
  run: CliRun;
  dataDir: string;
  /** The password the seed printed for a demo user. */
  password(username: string): string;
  patients: PatientSpec[];
  visits: VisitSpec[];
}

/** `arogya seed-demo` into the test server's database (about 1.5–2 minutes); fails loudly when the seed fails. */
export async function seedDemoNetwork(server: TestServer): Promise<SeededDemo> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-app-demo-'));
  const run = await runCli(['seed-demo'], {
    DATABASE_URL: server.databaseUrl,
    AROGYA_DATA_DIR: dataDir,
    AROGYA_BASE_URL: server.base,
    AROGYA_AUTH: TEST_AUTH,
  });
  if (run.code !== 0) throw new Error(`seed-demo failed (${run.code}): ${run.stderr.slice(-2000)}`);
  const network = demoNetwork(new Date(), server.config.timeZone); // the seed's own zone (AROGYA_TIMEZONE)
  return {
    run,
    dataDir,
    password(username) {
      const m = new RegExp(`^\\s+${username.replace(/\./g, '\\.')}\\s+password: (\\S+)`, 'm').exec(run.stdout);
      if (!m) throw new Error(`the seed printed no password for ${username}`);
      return m[1];
    },
    patients: network.patients,
    visits: network.visits,
  };
}

const DIABETES = '44054006';
const isDiabetic = (v: VisitSpec) => v.resources.some((r) => r.resourceType === 'Condition' && r.code.coding[0].code === DIABETES);

/** Demo patients whose every visit is a concluded diabetes review with an HbA1c report, with at least `visits` visits. */
export function diabeticPatients(demo: SeededDemo, visits: number): PatientSpec[] {
  return demo.patients.filter((p) => {
    const own = demo.visits.filter((v) => v.patient.id === p.id);
    return own.length >= visits && own.every((v) => isDiabetic(v) && v.status === 'finished');
  });
}

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const quantity = (value: number, unit: string, code = unit): Json => ({ value: Math.round(value * 10) / 10, unit, system: UCUM, code });
const category = (code: string): Json[] => [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code }] }];
const range = (low: number | undefined, high: number, unit: string, code = unit): Json => ({
  referenceRange: [{ ...(low !== undefined ? { low: quantity(low, unit, code) } : {}), high: quantity(high, unit, code) }],
});
const wobble = (seed: number) => {
  const x = Math.sin(seed) * 10000;
  return x - Math.floor(x);
};

/**
 * `visits` earlier OPD reviews of a demo patient, every three weeks from January 2019, at the network's three
 * hospitals with their own doctors (PractitionerRoles), written through the API as a hospital's client would (in
 * transactions of 10 visits; the HMS workflows bill each concluded visit and its lab report). The prescriptions
 * are `completed` (those medicines were handed over long ago), so today's stock is untouched. Returns how many
 * resources were written.
 */
export async function addLongHistory(server: TestServer, patientId: string, visits = 80): Promise<number> {
  let written = 0;
  const subject = { reference: `Patient/${patientId}` };
  for (let b = 0; b < visits; b += 10) {
    const entries: Json[] = [];
    const add = (fullUrl: string, resource: Json) => entries.push({ fullUrl, resource, request: { method: 'POST', url: resource.resourceType } });
    for (let i = b; i < Math.min(visits, b + 10); i++) {
      const h = HOSPITALS[i % HOSPITALS.length];
      const doctor = DOCTORS.find((d) => d.at.some((a) => a.hospital === h.key) && d.specialty.display !== 'Cardiology')!;
      const when = new Date(Date.UTC(2019, 0, 10, 4, 30) + i * 21 * 86_400_000 + (i % 5) * 3_600_000);
      const at = when.toISOString();
      const uuid = (n: number) => `urn:uuid:0a0f0000-0000-4000-8000-${String(i * 100 + n).padStart(12, '0')}`;
      const enc = uuid(0);
      const doctorRef = { reference: `Practitioner/${practitionerId(doctor)}`, display: `Dr. ${doctor.given} ${doctor.family}` };
      add(enc, {
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
        type: [{ coding: [{ system: 'http://snomed.info/sct', code: '11429006', display: 'Consultation' }] }],
        subject,
        participant: [{ individual: { reference: `PractitionerRole/${roleId(doctor, h.key)}`, display: doctorRef.display } }],
        period: { start: at, end: new Date(when.getTime() + 1_200_000).toISOString() },
        reasonCode: [{ text: 'Diabetes follow-up' }],
        serviceProvider: { reference: `Organization/${hospitalId(h)}`, display: h.name },
      });
      const encounter = { reference: enc };
      const obs = (n: number, code: string, display: string, value: Json, extra: Json) => {
        add(uuid(n), {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: LOINC, code, display }], text: display },
          subject,
          encounter,
          effectiveDateTime: at,
          ...value,
          ...extra,
        });
        return { reference: uuid(n) };
      };
      const vital = { category: category('vital-signs'), performer: [doctorRef] };
      const lab = { category: category('laboratory') };
      obs(1, '29463-7', 'Body weight', { valueQuantity: quantity(84 - i * 0.1 + wobble(i) * 2, 'kg') }, vital);
      obs(
        2,
        '85354-9',
        'Blood pressure',
        {
          component: [
            {
              code: { coding: [{ system: LOINC, code: '8480-6', display: 'Systolic blood pressure' }] },
              valueQuantity: quantity(128 + wobble(i + 1) * 20, 'mmHg', 'mm[Hg]'),
            },
            {
              code: { coding: [{ system: LOINC, code: '8462-4', display: 'Diastolic blood pressure' }] },
              valueQuantity: quantity(78 + wobble(i + 2) * 12, 'mmHg', 'mm[Hg]'),
            },
          ],
        },
        vital,
      );
      obs(3, '8867-4', 'Heart rate', { valueQuantity: quantity(64 + wobble(i + 3) * 20, '/min') }, vital);
      obs(4, '39156-5', 'Body mass index', { valueQuantity: quantity(28 + wobble(i + 4) * 2, 'kg/m2') }, vital);
      const results = [
        obs(
          5,
          '4548-4',
          'Hemoglobin A1c/Hemoglobin.total in Blood',
          { valueQuantity: quantity(8.6 - i * 0.03 + wobble(i + 5), '%') },
          { ...lab, ...range(4, 5.6, '%') },
        ),
        obs(
          6,
          '2339-0',
          'Glucose [Mass/volume] in Blood',
          { valueQuantity: quantity(150 - i * 0.5 + wobble(i + 6) * 30, 'mg/dL') },
          { ...lab, ...range(70, 99, 'mg/dL') },
        ),
        obs(
          7,
          '2093-3',
          'Cholesterol [Mass/volume] in Serum or Plasma',
          { valueQuantity: quantity(205 + wobble(i + 7) * 30, 'mg/dL') },
          { ...lab, ...range(undefined, 200, 'mg/dL') },
        ),
        obs(
          8,
          '18262-6',
          'Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay',
          { valueQuantity: quantity(115 + wobble(i + 8) * 30, 'mg/dL') },
          { ...lab, ...range(undefined, 130, 'mg/dL') },
        ),
      ];
      add(uuid(9), {
        resourceType: 'DiagnosticReport',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB', display: 'Laboratory' }] }],
        code: { coding: [{ system: LOINC, code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood' }], text: 'HbA1c, glucose and lipids' },
        subject,
        encounter,
        effectiveDateTime: at,
        issued: at,
        performer: [{ reference: `Organization/${hospitalId(h)}`, display: `${h.name} laboratory` }],
        result: results,
      });
      add(uuid(10), {
        resourceType: 'Condition',
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
        verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis' }] }],
        code: {
          coding: [{ system: 'http://snomed.info/sct', code: DIABETES, display: 'Diabetes mellitus type 2' }],
          text: 'Diabetes mellitus type 2',
        },
        subject,
        encounter,
        recordedDate: at,
        recorder: doctorRef,
      });
      add(uuid(11), {
        resourceType: 'MedicationRequest',
        status: 'completed',
        intent: 'order',
        medicationCodeableConcept: {
          coding: [{ system: 'http://snomed.info/sct', code: '325278007', display: 'Metformin hydrochloride 500 mg oral tablet' }],
          text: 'Metformin 500 mg',
        },
        subject,
        encounter,
        authoredOn: at,
        requester: doctorRef,
        dosageInstruction: [{ text: '1 tablet twice a day after food for 21 days' }],
        dispenseRequest: { quantity: { value: 42, unit: 'tablet' } },
      });
    }
    const res = await server.request('POST', '/', { body: { resourceType: 'Bundle', type: 'transaction', entry: entries } });
    if (res.status !== 200) throw new Error(`long history, visits ${b}–${b + 9}: ${res.status} ${res.text.slice(0, 500)}`);
    written += entries.length;
  }
  return written + (await dateBillsAtVisitEnd(server, patientId));
}

async function everything(server: TestServer, query: string): Promise<Json[]> {
  const out: Json[] = [];
  let res = await server.request('GET', `/${query}&_count=1000`);
  for (;;) {
    if (res.status !== 200) throw new Error(`${query}: ${res.status} ${res.text.slice(0, 500)}`);
    out.push(...(res.body.entry ?? []).map((e: Json) => e.resource));
    const next = (res.body.link ?? []).find((l: Json) => l.relation === 'next')?.url;
    if (!next) return out;
    res = await server.request('GET', next);
  }
}

/**
 * The billing workflow dates a bill when it issues it (now, HMS-DOMAIN.md §5.1), and these visits of years ago are
 * concluded today: as the demo seed does for its past visits, their invoices and ChargeItems are then dated at the
 * visit's end by If-Match PUTs, so the hospitals' "invoices issued today" stays the demo's. Returns how many.
 */
async function dateBillsAtVisitEnd(server: TestServer, patientId: string): Promise<number> {
  const ends = new Map((await everything(server, `Encounter?patient=${patientId}`)).map((e) => [`Encounter/${e.id}`, e.period?.end as string]));
  const later = (when: string | undefined, end: string | undefined) => !!when && !!end && Date.parse(when) > Date.parse(end);
  const corrected: Json[] = [];
  for (const i of await everything(server, `Invoice?subject=Patient/${patientId}`)) {
    const end = ends.get(String(i.identifier.find((x: Json) => x.system === 'https://arogya.dev/fhir/sid/invoice-key')?.value).split('#')[0]);
    if (later(i.date, end)) corrected.push({ ...i, date: end });
  }
  for (const c of await everything(server, `ChargeItem?subject=Patient/${patientId}`)) {
    const end = ends.get(c.context?.reference);
    if (later(c.enteredDate, end)) corrected.push({ ...c, enteredDate: end });
  }
  for (let i = 0; i < corrected.length; i += 100) {
    const entry = corrected.slice(i, i + 100).map((r) => ({
      resource: r,
      request: { method: 'PUT', url: `${r.resourceType}/${r.id}`, ifMatch: `W/"${r.meta.versionId}"` },
    }));
    const res = await server.request('POST', '/', { body: { resourceType: 'Bundle', type: 'transaction', entry } });
    if (res.status !== 200) throw new Error(`long history, bill dates: ${res.status} ${res.text.slice(0, 500)}`);
  }
  return corrected.length;
}
