/**
 * Issue 12's workflow figure (part of `npm run bench`): visit conclusions per second end to end — `PUT Encounter`
 * to `finished`, which prepares the visit's dispense (stock reserved) and issues its invoice in the same
 * transaction, then `GET Invoice?identifier=…invoice-key|Encounter/{id}` reads the bill — as a ratio of plain
 * Encounter updates per second (a PUT that changes the visit without concluding it), in the same run, same server,
 * same concurrency. The server runs as deployed (SMART on with the audit log, workflows on, one worker per core).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './server';

const BASE = 'https://arogya.dev/fhir';
const SID = `${BASE}/sid`;
const SNOMED = 'http://snomed.info/sct';

export interface WorkflowBenchOptions {
  databaseUrl: string;
  workers: number;
  /** Visits per measured phase. */
  visits: number;
  /** Requests in flight at once. */
  concurrency: number;
  say: (line: string) => void;
}

export interface WorkflowBenchResult {
  updatesPerSecond: number;
  conclusionsPerSecond: number;
  ratio: number;
}

type Json = Record<string, any>;

export async function benchWorkflows(opts: WorkflowBenchOptions): Promise<WorkflowBenchResult> {
  const admin = { id: 'bench-workflows', secret: crypto.randomBytes(24).toString('base64url') };
  const logFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'arogya-bench-wf-')), 'server.log');
  const server = await startServer({
    databaseUrl: opts.databaseUrl,
    workers: opts.workers,
    logFile,
    env: { AROGYA_AUTH: 'smart', AROGYA_ADMIN_CLIENT_ID: admin.id, AROGYA_ADMIN_CLIENT_SECRET: admin.secret, AROGYA_ACCESS_TOKEN_TTL: '3600' },
  });
  try {
    const origin = server.base.replace(/\/fhir$/, '');
    const tokenRes = await fetch(`${origin}/auth/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${admin.id}:${admin.secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials&scope=system%2F*.cruds',
    });
    const token = ((await tokenRes.json()) as { access_token?: string }).access_token;
    if (!token) throw new Error(`no token for the workflow bench (HTTP ${tokenRes.status})`);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' };
    const call = async (method: string, url: string, body?: Json): Promise<Json> => {
      const res = await fetch(`${server.base}/${url}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text.slice(0, 300)}`);
      return text ? (JSON.parse(text) as Json) : {};
    };
    const create = (resource: Json) => call('POST', resource.resourceType, resource);

    // A hospital with a dispensary, a doctor with a fee, a stocked and priced medicine (HMS-DOMAIN.md §0).
    const org = await create({
      resourceType: 'Organization',
      identifier: [{ system: 'https://facility.abdm.gov.in', value: `IN27BENCH${crypto.randomInt(1e6)}` }],
      name: 'Arogya Bench Hospital, Nashik',
      type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov' }] }],
    });
    const pharmacy = await create({
      resourceType: 'Location',
      status: 'active',
      name: 'OPD dispensary',
      mode: 'instance',
      type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'PHARM', display: 'Pharmacy' }] }],
      managingOrganization: { reference: `Organization/${org.id}` },
    });
    const doctor = await create({
      resourceType: 'Practitioner',
      identifier: [{ system: 'https://hpr.abdm.gov.in', value: `7100${crypto.randomInt(1e9)}` }],
      name: [{ text: 'Dr. Meenakshi Kulkarni' }],
    });
    const role = await create({
      resourceType: 'PractitionerRole',
      practitioner: { reference: `Practitioner/${doctor.id}` },
      organization: { reference: `Organization/${org.id}` },
    });
    const patient = await create({
      resourceType: 'Patient',
      identifier: [{ system: 'https://healthid.abdm.gov.in', value: `9${String(crypto.randomInt(1e13)).padStart(13, '0')}` }],
      name: [{ text: 'Prakash Deshmukh' }],
      gender: 'male',
      birthDate: '1968-11-02',
    });
    const med = await create({
      resourceType: 'Medication',
      code: { coding: [{ system: SNOMED, code: '322236009', display: 'Paracetamol 500 mg tablet' }], text: 'Paracetamol 500 mg tablet' },
      batch: { lotNumber: 'B-1', expirationDate: '2030-01-31' },
    });
    const qty = (value: number) => ({ value, unit: 'tablet', system: 'http://unitsofmeasure.org', code: '{tbl}' });
    await create({
      resourceType: 'Basic',
      code: { coding: [{ system: `${BASE}/CodeSystem/hms-basic-type`, code: 'stock-item' }] },
      subject: { reference: `Medication/${med.id}` },
      author: { reference: `Organization/${org.id}` },
      extension: [
        { url: `${BASE}/StructureDefinition/stock-location`, valueReference: { reference: `Location/${pharmacy.id}` } },
        { url: `${BASE}/StructureDefinition/stock-on-hand`, valueQuantity: qty(10_000_000) },
        { url: `${BASE}/StructureDefinition/stock-reorder-quantity`, valueQuantity: qty(100) },
      ],
    });
    const price = (url: string, amount: number, extra: Json, tax: boolean) => ({
      resourceType: 'ChargeItemDefinition',
      url,
      status: 'active',
      ...extra,
      propertyGroup: [
        {
          priceComponent: [
            { type: 'base', amount: { value: amount, currency: 'INR' } },
            ...(tax
              ? ['CGST', 'SGST'].map((code) => ({
                  type: 'tax',
                  code: { coding: [{ system: `${BASE}/CodeSystem/price-component`, code }] },
                  factor: 0.06,
                }))
              : []),
          ],
        },
      ],
    });
    await create(price(`${BASE}/ChargeItemDefinition/consult-${role.id}`, 500, {}, false));
    await create(price(`${BASE}/ChargeItemDefinition/medicine-${med.id}`, 2.35, { instance: [{ reference: `Medication/${med.id}` }] }, true));

    const visit = async (): Promise<Json> => {
      const encounter = await create({
        resourceType: 'Encounter',
        status: 'in-progress',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject: { reference: `Patient/${patient.id}` },
        participant: [{ individual: { reference: `PractitionerRole/${role.id}` } }],
        serviceProvider: { reference: `Organization/${org.id}` },
        period: { start: '2026-12-05T09:00:00+05:30' },
      });
      await create({
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        medicationCodeableConcept: { coding: [{ system: SNOMED, code: '322236009' }], text: 'Paracetamol 500 mg' },
        subject: { reference: `Patient/${patient.id}` },
        encounter: { reference: `Encounter/${encounter.id}` },
        authoredOn: '2026-12-05T09:10:00+05:30',
        dispenseRequest: { quantity: qty(10) },
      });
      return encounter;
    };
    const prepare = async (n: number): Promise<Json[]> => {
      const out: Json[] = [];
      await pool(n, opts.concurrency, async () => void out.push(await visit()));
      return out;
    };

    const updates = await prepare(opts.visits);
    const concluded = await prepare(opts.visits);
    // Warm-up: a few of each, not measured.
    for (const e of await prepare(5)) {
      await call('PUT', `Encounter/${e.id}`, { ...e, status: 'finished' });
    }

    let next = 0;
    const t0 = performance.now();
    await pool(updates.length, opts.concurrency, async () => {
      const e = updates[next++];
      await call('PUT', `Encounter/${e.id}`, { ...e, period: { start: '2026-12-05T09:00:00+05:30', end: '2026-12-05T09:25:00+05:30' } });
    });
    const updateSeconds = (performance.now() - t0) / 1000;

    next = 0;
    const t1 = performance.now();
    await pool(concluded.length, opts.concurrency, async () => {
      const e = concluded[next++];
      await call('PUT', `Encounter/${e.id}`, { ...e, status: 'finished' });
      const bill = await call('GET', `Invoice?identifier=${encodeURIComponent(`${SID}/invoice-key|Encounter/${e.id}`)}`);
      if (bill.total === 0 || !Array.isArray(bill.entry) || bill.entry.length !== 1) throw new Error(`no invoice readable for Encounter/${e.id}`);
    });
    const concludeSeconds = (performance.now() - t1) / 1000;

    const result = {
      updatesPerSecond: updates.length / updateSeconds,
      conclusionsPerSecond: concluded.length / concludeSeconds,
      ratio: updates.length / updateSeconds === 0 ? 0 : concluded.length / concludeSeconds / (updates.length / updateSeconds),
    };
    opts.say(
      `Visit conclusions (issue 12): ${opts.visits} visits each, ${opts.concurrency} in flight, ${opts.workers} worker(s): ` +
        `plain Encounter updates ${result.updatesPerSecond.toFixed(1)}/s; conclusions end to end (PUT finished → dispense + invoice → ` +
        `GET invoice) ${result.conclusionsPerSecond.toFixed(1)}/s = ${result.ratio.toFixed(2)} × the plain update rate`,
    );
    return result;
  } finally {
    await server.stop();
  }
}

/** Runs `task` `n` times with at most `concurrency` at once. */
async function pool(n: number, concurrency: number, task: () => Promise<void>): Promise<void> {
  let started = 0;
  const lanes = Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (started < n) {
      started++;
      await task();
    }
  });
  await Promise.all(lanes);
}
