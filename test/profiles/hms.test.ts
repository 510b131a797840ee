/**
 * The HMS profiles (profiles/) on the write path, over HTTP: every profile accepts its conforming example and
 * rejects each violated constraint with a 422 OperationOutcome naming the element (expression) and the rule.
 */
import { type Json, useServer } from '../harness';
import * as hms from './hms-data';

const server = useServer();
let n: hms.Network;

beforeAll(async () => {
  n = await hms.createNetwork(server);
});

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

interface Violation {
  name: string;
  mutate: (r: Json) => void;
  expression: string;
  message: RegExp;
}

async function expectRefused(resource: Json, v: Violation): Promise<void> {
  const body = clone(resource);
  v.mutate(body);
  const res = await server.request('POST', `/${body.resourceType}`, { body });
  if (res.status !== 422) throw new Error(`${v.name}: expected 422, got ${res.status} ${res.text}`);
  expect(res.body.resourceType).toBe('OperationOutcome');
  const errors = res.body.issue.filter((i: Json) => i.severity === 'error');
  const hit = errors.find((i: Json) => i.expression?.includes(v.expression) && v.message.test(i.diagnostics));
  if (!hit) throw new Error(`${v.name}: no error at ${v.expression} matching ${v.message}; got ${JSON.stringify(errors)}`);
}

const cases: [string, () => Json, Violation[]][] = [
  [
    'hms-patient',
    () => ({ ...hms.patient(), identifier: [{ system: 'https://healthid.abdm.gov.in', value: '98-7654-3210-1234' }] }),
    [
      { name: 'no NHID', mutate: (r) => (r.identifier = [{ system: 'urn:x', value: '1' }]), expression: 'Patient', message: /hms-pat-1/ },
      { name: 'NHID malformed', mutate: (r) => (r.identifier[0].value = '1234'), expression: 'Patient.identifier[0].value', message: /hms-pat-2/ },
      { name: 'no gender', mutate: (r) => delete r.gender, expression: 'Patient.gender', message: /minimum cardinality 1, found 0/ },
      {
        name: 'no birthDate',
        mutate: (r) => delete r.birthDate,
        expression: 'Patient.birthDate',
        message: /Patient\.birthDate: minimum cardinality 1/,
      },
      {
        name: 'name without text',
        mutate: (r) => delete r.name[0].text,
        expression: 'Patient.name[0].text',
        message: /Patient\.name\.text: minimum/,
      },
      {
        name: 'two NHIDs',
        mutate: (r) => r.identifier.push({ system: 'https://healthid.abdm.gov.in', value: '11112222333344' }),
        expression: 'Patient.identifier[1]',
        message: /identifier:nhid: maximum cardinality 1, found 2/,
      },
      {
        name: 'identifier without value',
        mutate: (r) => r.identifier.push({ system: 'urn:x' }),
        expression: 'Patient.identifier[1].value',
        message: /Patient\.identifier\.value: minimum cardinality 1/,
      },
    ],
  ],
  [
    'hms-practitioner',
    () => ({ ...hms.doctor(), identifier: [{ system: 'https://doctor.ndhm.gov.in', value: '21-1521-3828-3227' }] }),
    [
      {
        name: 'no HPR',
        mutate: (r) => (r.identifier = [{ system: 'https://nmc.org.in', value: 'KMC-55123' }]),
        expression: 'Practitioner',
        message: /hms-prac-1/,
      },
      { name: 'no name', mutate: (r) => delete r.name, expression: 'Practitioner.name', message: /minimum cardinality 1/ },
      {
        name: 'coded qualification without system',
        mutate: (r) => (r.qualification[0].code.coding = [{ code: 'MBBS' }]),
        expression: 'Practitioner.qualification[0].code.coding[0].system',
        message: /minimum cardinality 1/,
      },
    ],
  ],
  [
    'hms-organization',
    () => ({ ...hms.hospital(), identifier: [{ system: 'https://facility.ndhm.gov.in', value: 'IN2910000999' }] }),
    [
      { name: 'no HFR', mutate: (r) => (r.identifier = [{ system: 'urn:x', value: '1' }]), expression: 'Organization', message: /hms-org-1/ },
      {
        name: 'type from another system',
        mutate: (r) => (r.type[0].coding[0].system = 'http://example.org/types'),
        expression: 'Organization.type[0].coding[0].system',
        message: /must be exactly "http:\/\/terminology\.hl7\.org\/CodeSystem\/organization-type"/,
      },
      { name: 'no name', mutate: (r) => delete r.name, expression: 'Organization.name', message: /minimum cardinality 1/ },
    ],
  ],
  [
    'hms-dispensary',
    () => hms.dispensary(n.org),
    [
      {
        name: 'not a pharmacy',
        mutate: (r) => (r.type[0].coding[0].code = 'HOSP'),
        expression: 'Location.type[0]',
        message: /v3-RoleCode\|HOSP is not in the value set https:\/\/arogya\.dev\/fhir\/ValueSet\/hms-dispensary-type/,
      },
      {
        name: 'no hospital',
        mutate: (r) => delete r.managingOrganization,
        expression: 'Location.managingOrganization',
        message: /minimum cardinality 1/,
      },
      { name: 'kind instead of instance', mutate: (r) => (r.mode = 'kind'), expression: 'Location.mode', message: /must be exactly "instance"/ },
    ],
  ],
  [
    'hms-encounter-opd',
    () => hms.encounter(n),
    [
      { name: 'inpatient class', mutate: (r) => (r.class.code = 'IMP'), expression: 'Encounter.class', message: /must match the pattern/ },
      {
        name: 'no serviceProvider',
        mutate: (r) => delete r.serviceProvider,
        expression: 'Encounter.serviceProvider',
        message: /minimum cardinality 1/,
      },
      { name: 'no participant', mutate: (r) => delete r.participant, expression: 'Encounter.participant', message: /minimum cardinality 1/ },
      {
        name: 'subject is a Group',
        mutate: (r) => (r.subject = { reference: `Organization/${n.org}` }),
        expression: 'Encounter.subject',
        message: /a reference to Organization is not allowed here \(allowed: Patient\)/,
      },
    ],
  ],
  [
    'hms-medicationrequest',
    () => hms.medicationRequest(n),
    [
      {
        name: 'medicationReference',
        mutate: (r) => {
          delete r.medicationCodeableConcept;
          r.medicationReference = { reference: `Medication/${n.medication}` };
        },
        expression: 'MedicationRequest.medicationReference',
        message: /type Reference is not allowed here \(allowed: CodeableConcept\)/,
      },
      { name: 'no requester', mutate: (r) => delete r.requester, expression: 'MedicationRequest.requester', message: /minimum cardinality 1/ },
      {
        name: 'no dosage',
        mutate: (r) => delete r.dosageInstruction,
        expression: 'MedicationRequest.dosageInstruction',
        message: /minimum cardinality 1/,
      },
      {
        name: 'medicine coded outside SNOMED CT',
        mutate: (r) => (r.medicationCodeableConcept.coding[0].system = 'http://www.whocc.no/atc'),
        expression: 'MedicationRequest.medicationCodeableConcept.coding[0].system',
        message: /must be exactly "http:\/\/snomed\.info\/sct"/,
      },
    ],
  ],
  [
    'hms-medicationdispense',
    () => hms.dispense(n),
    [
      { name: 'no quantity', mutate: (r) => delete r.quantity, expression: 'MedicationDispense.quantity', message: /minimum cardinality 1/ },
      {
        name: 'no prescription',
        mutate: (r) => delete r.authorizingPrescription,
        expression: 'MedicationDispense.authorizingPrescription',
        message: /minimum cardinality 1/,
      },
      {
        name: 'location is an Organization',
        mutate: (r) => (r.location = { reference: `Organization/${n.org}` }),
        expression: 'MedicationDispense.location',
        message: /reference to Organization is not allowed/,
      },
    ],
  ],
  [
    'hms-observation',
    () => hms.observation(n),
    [
      {
        name: 'a coding outside LOINC and SNOMED CT (closed slicing)',
        mutate: (r) => r.code.coding.push({ system: 'http://example.org/lab', code: 'HB' }),
        expression: 'Observation.code.coding[1]',
        message: /matches none of the slices \(LOINC, SNOMEDCT\) and the slicing is closed/,
      },
      { name: 'no subject', mutate: (r) => delete r.subject, expression: 'Observation.subject', message: /minimum cardinality 1/ },
      {
        name: 'LOINC coding without code',
        mutate: (r) => (r.code.coding = [{ system: 'http://loinc.org', display: 'Hemoglobin' }]),
        expression: 'Observation.code.coding[0].code',
        message: /Observation\.code\.coding:LOINC\.code: minimum cardinality 1/,
      },
    ],
  ],
  [
    'hms-diagnosticreport',
    () => hms.report(n),
    [
      { name: 'no encounter', mutate: (r) => delete r.encounter, expression: 'DiagnosticReport.encounter', message: /minimum cardinality 1/ },
      {
        name: 'presented form without content',
        mutate: (r) => (r.presentedForm = [{ contentType: 'application/pdf', title: 'CBC' }]),
        expression: 'DiagnosticReport',
        message: /hms-dr-1/,
      },
      {
        name: 'result is not an Observation',
        mutate: (r) => (r.result = [{ reference: `MedicationRequest/${n.request}` }]),
        expression: 'DiagnosticReport.result[0]',
        message: /reference to MedicationRequest is not allowed/,
      },
    ],
  ],
  [
    'hms-chargeitem',
    () => hms.chargeItem(n),
    [
      {
        name: 'code outside the billing codes (required binding)',
        mutate: (r) => (r.code.coding[0].code = '42'),
        expression: 'ChargeItem.code',
        message: /ndhm-billing-codes\|42 is not in the value set https:\/\/nrces\.in\/ndhm\/fhir\/r4\/ValueSet\/ndhm-chargeitem-types/,
      },
      { name: 'no quantity', mutate: (r) => delete r.quantity, expression: 'ChargeItem.quantity', message: /minimum cardinality 1/ },
      { name: 'no product', mutate: (r) => delete r.productReference, expression: 'ChargeItem.product', message: /minimum cardinality 1/ },
      {
        name: 'two codings',
        mutate: (r) => r.code.coding.push({ system: 'http://snomed.info/sct', code: '11429006' }),
        expression: 'ChargeItem.code.coding[1]',
        message: /maximum cardinality 1, found 2/,
      },
    ],
  ],
  [
    'hms-chargeitemdefinition',
    () => hms.price(n.medication),
    [
      {
        name: 'tax without factor',
        mutate: (r) => delete r.propertyGroup[0].priceComponent[2].factor,
        expression: 'ChargeItemDefinition.propertyGroup[0].priceComponent[2].factor',
        message: /priceComponent:tax\.factor: minimum cardinality 1, found 0/,
      },
      {
        name: 'no base rate',
        mutate: (r) => r.propertyGroup[0].priceComponent.shift(),
        expression: 'ChargeItemDefinition.propertyGroup[0].priceComponent',
        message: /priceComponent:base: minimum cardinality 1, found 0/,
      },
      {
        name: 'tax named only in text (required binding)',
        mutate: (r) => (r.propertyGroup[0].priceComponent[3].code = { text: 'State GST' }),
        expression: 'ChargeItemDefinition.propertyGroup[0].priceComponent[3].code',
        message: /a code from https:\/\/arogya\.dev\/fhir\/ValueSet\/price-component is required \(required binding\), found none/,
      },
      {
        name: 'unknown tax code (required binding)',
        mutate: (r) => (r.propertyGroup[0].priceComponent[2].code.coding[0].code = 'VAT'),
        expression: 'ChargeItemDefinition.propertyGroup[0].priceComponent[2].code',
        message: /price-component\|VAT is not in the value set/,
      },
      {
        name: 'amount in another currency',
        mutate: (r) => (r.propertyGroup[0].priceComponent[0].amount.currency = 'USD'),
        expression: 'ChargeItemDefinition.propertyGroup[0].priceComponent[0].amount',
        message: /must match the pattern \{"currency":"INR"\}/,
      },
    ],
  ],
  [
    'hms-invoice',
    () => hms.invoice(n),
    [
      {
        name: 'invoice type outside ndhm-invoice-types (required binding)',
        mutate: (r) => (r.type.coding[0].code = '05'),
        expression: 'Invoice.type',
        message: /ndhm-billing-codes\|05 is not in the value set https:\/\/nrces\.in\/ndhm\/fhir\/r4\/ValueSet\/ndhm-invoice-types/,
      },
      { name: 'issued without totals', mutate: (r) => delete r.totalGross, expression: 'Invoice', message: /hms-inv-1/ },
      {
        name: 'bill number malformed',
        mutate: (r) => (r.identifier[0].value = 'BILL-1'),
        expression: 'Invoice.identifier[0].value',
        message: /hms-inv-3/,
      },
      {
        name: 'two bill numbers',
        mutate: (r) => r.identifier.push({ system: 'https://arogya.dev/fhir/sid/bill-id', value: 'IN2910000123/2026/000002' }),
        expression: 'Invoice.identifier[2]',
        message: /Invoice\.identifier:billNumber: maximum cardinality 1, found 2/,
      },
      { name: 'no lines', mutate: (r) => delete r.lineItem, expression: 'Invoice.lineItem', message: /minimum cardinality 1/ },
      { name: 'totals in USD', mutate: (r) => (r.totalNet.currency = 'USD'), expression: 'Invoice.totalNet', message: /must match the pattern/ },
    ],
  ],
  [
    'hms-stock-item',
    () => hms.stockItem(n),
    [
      {
        name: 'no on-hand quantity',
        mutate: (r) => (r.extension = r.extension.filter((e: Json) => !e.url.endsWith('/stock-on-hand'))),
        expression: 'Basic.extension',
        message: /Basic\.extension:onHand: minimum cardinality 1, found 0/,
      },
      {
        name: 'negative on-hand quantity (extension definition)',
        mutate: (r) => (r.extension[1].valueQuantity.value = -5),
        expression: 'Basic.extension[1]',
        message: /hms-stock-1.*stock-on-hand/,
      },
      {
        name: 'on-hand as a number (extension value type)',
        mutate: (r) => (r.extension[1] = { url: r.extension[1].url, valueInteger: 5 }),
        expression: 'Basic.extension[1].valueInteger',
        message: /type Integer is not allowed here \(allowed: Quantity\)/,
      },
      {
        name: 'stock location is an Organization',
        mutate: (r) => (r.extension[0].valueReference.reference = `Organization/${n.org}`),
        expression: 'Basic.extension[0].valueReference',
        message: /reference to Organization is not allowed here \(allowed: Location\)/,
      },
      {
        name: 'not a stock-item code',
        mutate: (r) => (r.code.coding[0].code = 'other'),
        expression: 'Basic.code',
        message: /must match the pattern/,
      },
      { name: 'no owner', mutate: (r) => delete r.author, expression: 'Basic.author', message: /minimum cardinality 1/ },
    ],
  ],
];

describe.each(cases)('%s', (id, example, violations) => {
  test('accepts the conforming example', async () => {
    const body = example();
    expect(body.meta.profile).toEqual([`${hms.SD}/${id}`]);
    const res = await server.request('POST', `/${body.resourceType}`, { body });
    expect(res.status).toBe(201);
  });

  test.each(violations.map((v) => [v.name, v] as const))('rejects: %s', async (_name, v) => {
    await expectRefused(example(), v);
  });
});

test('the network created by the fixtures conforms (each resource was created with its profile claim)', async () => {
  for (const [type, id] of [
    ['Organization', n.org],
    ['Location', n.pharmacy],
    ['Encounter', n.encounter],
    ['ChargeItem', n.chargeItem],
  ]) {
    const res = await server.request('GET', `/${type}/${id}/$validate`);
    expect(res.status).toBe(200);
    expect(res.body.issue.filter((i: Json) => i.severity === 'error')).toEqual([]);
  }
});

test('a base R4 error and a profile error together are a 400 listing both', async () => {
  const body = { ...hms.patient(), gender: 'M', identifier: [{ system: 'https://healthid.abdm.gov.in', value: '55556666777788' }] };
  delete (body as Json).birthDate;
  const res = await server.request('POST', '/Patient', { body });
  expect(res.status).toBe(400);
  const expressions = res.body.issue.map((i: Json) => i.expression?.[0]);
  expect(expressions).toEqual(expect.arrayContaining(['Patient.gender', 'Patient.birthDate']));
});

test('an update is checked like a create', async () => {
  const created = await hms.create(server, { ...hms.hospital(), identifier: [{ system: 'https://facility.abdm.gov.in', value: 'IN2910000777' }] });
  const res = await server.request('PUT', `/Organization/${created.id}`, { body: { ...created, identifier: [{ system: 'urn:x', value: '1' }] } });
  expect(res.status).toBe(422);
  expect(res.body.issue.filter((i: Json) => i.severity === 'error').map((i: Json) => i.diagnostics)).toEqual([expect.stringMatching(/hms-org-1/)]);
});
