/**
 * Micro-benchmark of write-time validation (server/fhir/validation): µs per resource for a ~2-4 KB Patient and for
 * every resource of a Synthea patient bundle, structural pass alone and whole validation (with invariants).
 *
 * Baselines, from the issue: fhirpath.js interpreting every invariant costs ~2,900 µs per resource; targets are
 * ≤ 200 µs structural for a ~2 KB Patient and well under 1,000 µs for the whole validation.
 *
 * Run: `npm run build && node dist/test/bench/validation.js [bundle.json]`. Each figure is the best of several
 * rounds, so that a busy machine disturbs it less.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseFhirJson } from '../../server/fhir/json';
import { validateResource } from '../../server/fhir/validation';
import { ValidationContext } from '../../server/fhir/validation/context';
import { StructureWalker } from '../../server/fhir/validation/structure';

const BASELINE_US = 2900;
const STRUCTURAL_TARGET_US = 200;
const WHOLE_TARGET_US = 1000;
const ROUNDS = 7;

type Json = Record<string, unknown>;

const SAMPLE_PATIENT: Json = {
  resourceType: 'Patient',
  id: 'example-1',
  meta: { versionId: '1', lastUpdated: '2024-05-01T10:00:00Z' },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>Asha Rao, female, born 1984-03-12</p></div>' },
  extension: [{ url: 'http://example.org/fhir/StructureDefinition/religion', valueCodeableConcept: { text: 'Hindu' } }],
  identifier: [
    {
      use: 'official',
      type: { coding: [{ system: 'https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-identifier-type-code', code: 'ABHA' }] },
      system: 'https://healthid.abdm.gov.in',
      value: '91-1234-5678-9012',
    },
    { system: 'urn:oid:2.16.840.1.113883.2.4.6.3', value: 'MRN-000123' },
  ],
  active: true,
  name: [
    { use: 'official', family: 'Rao', given: ['Asha', 'K'], prefix: ['Mrs.'], period: { start: '2005-01-01' } },
    { use: 'maiden', family: 'Iyer', given: ['Asha'], period: { start: '1984-03-12', end: '2004-12-31' } },
  ],
  telecom: [
    { system: 'phone', value: '+91 98450 00000', use: 'mobile', rank: 1 },
    { system: 'email', value: 'asha@example.org' },
  ],
  gender: 'female',
  birthDate: '1984-03-12',
  address: [
    {
      use: 'home',
      line: ['12 MG Road', 'Indiranagar'],
      city: 'Bengaluru',
      district: 'Bengaluru Urban',
      state: 'Karnataka',
      postalCode: '560038',
      country: 'IN',
    },
    {
      use: 'old',
      type: 'postal',
      line: ['4 Temple Street'],
      city: 'Mysuru',
      state: 'Karnataka',
      postalCode: '570001',
      country: 'IN',
      period: { end: '2010-06-30' },
    },
  ],
  maritalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M', display: 'Married' }] },
  contact: [
    {
      relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0131', code: 'N' }] }],
      name: { family: 'Rao', given: ['Vikram'] },
      telecom: [{ system: 'phone', value: '+91 98450 11111' }],
    },
  ],
  communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'kn' }] }, preferred: true }],
  managingOrganization: { reference: 'Organization/1', display: 'City Hospital' },
};

function structural(resource: unknown): void {
  new StructureWalker(new ValidationContext()).resource(resource, false);
}

/** Best-of-rounds µs per resource for `fn` over `resources`, each round running at least ~100 ms. */
function measure(resources: unknown[], fn: (r: unknown) => unknown): number {
  for (const r of resources) fn(r); // warm-up: compile definitions, invariants and JIT
  const perRound = Math.max(1, Math.ceil(2000 / resources.length));
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) for (const r of resources) fn(r);
    const us = Number(process.hrtime.bigint() - start) / 1000 / (perRound * resources.length);
    best = Math.min(best, us);
  }
  return best;
}

function syntheaBundle(arg: string | undefined): string | undefined {
  if (arg) return arg;
  const dir = path.resolve(__dirname, '../../../../shared/fixtures/synthea/smart-generated-sample-data-r4');
  const alt = path.resolve(__dirname, '../../../shared/fixtures/synthea/smart-generated-sample-data-r4');
  for (const d of [dir, alt])
    if (fs.existsSync(d))
      return path.join(
        d,
        fs
          .readdirSync(d)
          .filter((f) => f.endsWith('.json'))
          .sort()[0],
      );
  return undefined;
}

function report(label: string, structuralUs: number, wholeUs: number): void {
  console.log(
    `${label.padEnd(34)} structural ${structuralUs.toFixed(1).padStart(7)} µs (${(structuralUs / STRUCTURAL_TARGET_US).toFixed(2)}× target)` +
      `   whole ${wholeUs.toFixed(1).padStart(7)} µs (${(wholeUs / WHOLE_TARGET_US).toFixed(2)}× target, ${(BASELINE_US / wholeUs).toFixed(0)}× faster than the ${BASELINE_US} µs baseline)`,
  );
}

export function runValidationBench(bundleFile?: string): void {
  const patientSize = JSON.stringify(SAMPLE_PATIENT).length;
  report(`Patient (${(patientSize / 1024).toFixed(1)} KB)`, measure([SAMPLE_PATIENT], structural), measure([SAMPLE_PATIENT], validateResource));

  const file = syntheaBundle(bundleFile);
  if (!file) {
    console.log('Synthea fixtures not found: bundle figures skipped');
    return;
  }
  const bundle = parseFhirJson(fs.readFileSync(file, 'utf8')) as { entry: { resource: Json }[] };
  const resources = bundle.entry.map((e) => e.resource);
  const patient = resources.find((r) => r.resourceType === 'Patient');
  if (patient) {
    const kb = (JSON.stringify(patient).length / 1024).toFixed(1);
    report(`Synthea Patient (${kb} KB)`, measure([patient], structural), measure([patient], validateResource));
  }
  report(`${path.basename(file).slice(0, 20)}… (${resources.length} res.)`, measure(resources, structural), measure(resources, validateResource));
}

if (require.main === module) runValidationBench(process.argv[2]);
