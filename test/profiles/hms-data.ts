/**
 * Realistic HMS resources that conform to the HMS profiles (profiles/): a hospital with an HFR id, its dispensary,
 * a doctor with an HPR id, a patient with the NHID 12345678901234, and builders for the visit's resources.
 */
import type { Json, TestServer } from '../harness';

export const BASE = 'https://arogya.dev/fhir';
export const SD = `${BASE}/StructureDefinition`;
export const ABDM = 'https://nrces.in/ndhm/fhir/r4';
export const SNOMED = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';
export const profile = (id: string): Json => ({ profile: [`${SD}/${id}`] });

export const hospital = (): Json => ({
  resourceType: 'Organization',
  meta: profile('hms-organization'),
  identifier: [
    {
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PRN' }] },
      system: 'https://facility.abdm.gov.in',
      value: 'IN2910000123',
    },
    { system: `${BASE}/sid/hospital-license`, value: 'KA/BLR/2019/00042' },
  ],
  active: true,
  type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov', display: 'Healthcare Provider' }] }],
  name: 'Sanjeevani Multispeciality Hospital',
  telecom: [{ system: 'phone', value: '+91-80-4123-4567', use: 'work' }],
  address: [{ line: ['12 MG Road'], city: 'Bengaluru', postalCode: '560001', country: 'IN' }],
});

export const dispensary = (orgId: string): Json => ({
  resourceType: 'Location',
  meta: profile('hms-dispensary'),
  status: 'active',
  name: 'Sanjeevani OPD Pharmacy',
  mode: 'instance',
  type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'PHARM', display: 'Pharmacy' }] }],
  managingOrganization: { reference: `Organization/${orgId}` },
});

export const doctor = (): Json => ({
  resourceType: 'Practitioner',
  meta: profile('hms-practitioner'),
  identifier: [
    {
      type: { coding: [{ system: `${ABDM}/CodeSystem/ndhm-identifier-type-code`, code: 'HPIN', display: 'Health Practitioner ID issued by NDHM' }] },
      system: 'https://hpr.abdm.gov.in',
      value: '71-1001-2233-4455',
    },
  ],
  name: [{ text: 'Dr. Meera Raghavan', prefix: ['Dr.'], given: ['Meera'], family: 'Raghavan' }],
  qualification: [{ code: { text: 'MBBS, MD (General Medicine)' } }],
});

export const patient = (): Json => ({
  resourceType: 'Patient',
  meta: profile('hms-patient'),
  identifier: [
    {
      type: { coding: [{ system: `${ABDM}/CodeSystem/ndhm-identifier-type-code`, code: 'HIN', display: 'Health ID issued by NDHM' }] },
      system: 'https://healthid.abdm.gov.in',
      value: '12345678901234',
    },
  ],
  name: [{ text: 'Ananya Iyer', given: ['Ananya'], family: 'Iyer' }],
  gender: 'female',
  birthDate: '2000-11-17',
  telecom: [{ system: 'phone', value: '+91-98450-12345', use: 'mobile' }],
});

export interface Network {
  org: string;
  pharmacy: string;
  practitioner: string;
  patient: string;
  encounter: string;
  medication: string;
  request: string;
  observation: string;
  dispense: string;
  chargeItem: string;
}

export async function create(server: TestServer, resource: Json): Promise<Json> {
  const res = await server.request('POST', `/${resource.resourceType}`, { body: resource });
  if (res.status !== 201) throw new Error(`create ${resource.resourceType}: ${res.status} ${res.text}`);
  return res.body;
}

export const encounter = (n: Pick<Network, 'org' | 'patient' | 'practitioner'>): Json => ({
  resourceType: 'Encounter',
  meta: profile('hms-encounter-opd'),
  identifier: [{ system: `${BASE}/sid/appointment-id`, value: 'APT-2026-000101' }],
  status: 'in-progress',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
  type: [{ coding: [{ system: SNOMED, code: '11429006', display: 'Consultation' }] }],
  subject: { reference: `Patient/${n.patient}` },
  participant: [
    {
      type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF' }] }],
      individual: { reference: `Practitioner/${n.practitioner}` },
    },
  ],
  period: { start: '2026-12-05T09:30:00+05:30' },
  serviceProvider: { reference: `Organization/${n.org}` },
});

export const medication = (): Json => ({
  resourceType: 'Medication',
  code: { coding: [{ system: SNOMED, code: '322236009', display: 'Paracetamol 500 mg oral tablet' }], text: 'Paracetamol 500 mg' },
  status: 'active',
  batch: { lotNumber: 'PCM2611A', expirationDate: '2027-10-31' },
});

export const medicationRequest = (n: Pick<Network, 'patient' | 'practitioner' | 'encounter' | 'org'>): Json => ({
  resourceType: 'MedicationRequest',
  meta: profile('hms-medicationrequest'),
  status: 'active',
  intent: 'order',
  medicationCodeableConcept: {
    coding: [{ system: SNOMED, code: '322236009', display: 'Paracetamol 500 mg oral tablet' }],
    text: 'Paracetamol 500 mg',
  },
  subject: { reference: `Patient/${n.patient}` },
  encounter: { reference: `Encounter/${n.encounter}` },
  authoredOn: '2026-12-05T09:45:00+05:30',
  requester: { reference: `Practitioner/${n.practitioner}` },
  dosageInstruction: [{ text: '1 tablet three times a day after food for 5 days' }],
  dispenseRequest: { quantity: { value: 15, unit: 'tablet' }, performer: { reference: `Organization/${n.org}` } },
});

export const dispense = (n: Pick<Network, 'patient' | 'encounter' | 'request' | 'pharmacy' | 'medication'>): Json => ({
  resourceType: 'MedicationDispense',
  meta: profile('hms-medicationdispense'),
  identifier: [{ system: `${BASE}/sid/dispense-key`, value: `MedicationRequest/${n.request}` }],
  status: 'preparation',
  medicationReference: { reference: `Medication/${n.medication}` },
  subject: { reference: `Patient/${n.patient}` },
  context: { reference: `Encounter/${n.encounter}` },
  authorizingPrescription: [{ reference: `MedicationRequest/${n.request}` }],
  location: { reference: `Location/${n.pharmacy}` },
  quantity: { value: 15, unit: 'tablet' },
});

export const observation = (n: Pick<Network, 'patient' | 'encounter'>): Json => ({
  resourceType: 'Observation',
  meta: profile('hms-observation'),
  status: 'final',
  code: { coding: [{ system: LOINC, code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood' }], text: 'Haemoglobin' },
  subject: { reference: `Patient/${n.patient}` },
  encounter: { reference: `Encounter/${n.encounter}` },
  valueQuantity: { value: 13.2, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
});

export const report = (n: Pick<Network, 'patient' | 'encounter' | 'observation' | 'practitioner'>): Json => ({
  resourceType: 'DiagnosticReport',
  meta: profile('hms-diagnosticreport'),
  identifier: [{ system: `${BASE}/sid/report-id`, value: 'RPT-000451' }],
  status: 'final',
  code: { coding: [{ system: LOINC, code: '58410-2', display: 'CBC panel - Blood by Automated count' }], text: 'Complete blood count' },
  subject: { reference: `Patient/${n.patient}` },
  encounter: { reference: `Encounter/${n.encounter}` },
  resultsInterpreter: [{ reference: `Practitioner/${n.practitioner}` }],
  result: [{ reference: `Observation/${n.observation}` }],
  presentedForm: [{ contentType: 'application/pdf', url: 'https://reports.example.in/RPT-000451.pdf' }],
});

export const chargeItem = (n: Pick<Network, 'patient' | 'encounter' | 'dispense' | 'medication'>): Json => ({
  resourceType: 'ChargeItem',
  meta: profile('hms-chargeitem'),
  identifier: [{ system: `${BASE}/sid/chargeitem-key`, value: `dispense:MedicationDispense/${n.dispense}` }],
  status: 'billable',
  code: { coding: [{ system: `${ABDM}/CodeSystem/ndhm-billing-codes`, code: '05', display: 'Medicines' }] },
  subject: { reference: `Patient/${n.patient}` },
  context: { reference: `Encounter/${n.encounter}` },
  quantity: { value: 15 },
  service: [{ reference: `MedicationDispense/${n.dispense}` }],
  productReference: { reference: `Medication/${n.medication}` },
});

export const price = (medicationId: string): Json => ({
  resourceType: 'ChargeItemDefinition',
  meta: profile('hms-chargeitemdefinition'),
  url: `${BASE}/ChargeItemDefinition/med-paracetamol-500`,
  status: 'active',
  instance: [{ reference: `Medication/${medicationId}` }],
  propertyGroup: [
    {
      priceComponent: [
        { type: 'base', amount: { value: 2.5, currency: 'INR' } },
        {
          type: 'informational',
          code: { coding: [{ system: `${BASE}/CodeSystem/price-component`, code: 'MRP' }] },
          amount: { value: 3, currency: 'INR' },
        },
        { type: 'tax', code: { coding: [{ system: `${BASE}/CodeSystem/price-component`, code: 'CGST' }] }, factor: 0.06 },
        { type: 'tax', code: { coding: [{ system: `${BASE}/CodeSystem/price-component`, code: 'SGST' }] }, factor: 0.06 },
      ],
    },
  ],
});

export const invoice = (n: Pick<Network, 'patient' | 'encounter' | 'org' | 'chargeItem'>): Json => ({
  resourceType: 'Invoice',
  meta: profile('hms-invoice'),
  identifier: [
    { type: { text: 'Bill number' }, system: `${BASE}/sid/bill-id`, value: 'IN2910000123/2026/000001' },
    { system: `${BASE}/sid/invoice-key`, value: `Encounter/${n.encounter}` },
  ],
  status: 'issued',
  type: { coding: [{ system: `${ABDM}/CodeSystem/ndhm-billing-codes`, code: '03', display: 'OPD' }] },
  subject: { reference: `Patient/${n.patient}` },
  recipient: { reference: `Patient/${n.patient}` },
  date: '2026-12-05T10:30:00+05:30',
  issuer: { reference: `Organization/${n.org}` },
  lineItem: [
    {
      sequence: 1,
      chargeItemReference: { reference: `ChargeItem/${n.chargeItem}` },
      priceComponent: [
        { type: 'base', amount: { value: 37.5, currency: 'INR' }, factor: 15 },
        {
          type: 'tax',
          code: { coding: [{ system: `${BASE}/CodeSystem/price-component`, code: 'CGST' }] },
          factor: 0.06,
          amount: { value: 2.25, currency: 'INR' },
        },
        {
          type: 'tax',
          code: { coding: [{ system: `${BASE}/CodeSystem/price-component`, code: 'SGST' }] },
          factor: 0.06,
          amount: { value: 2.25, currency: 'INR' },
        },
      ],
    },
  ],
  totalNet: { value: 37.5, currency: 'INR' },
  totalGross: { value: 42, currency: 'INR' },
});

export const stockItem = (n: Pick<Network, 'org' | 'pharmacy' | 'medication'>): Json => {
  const q = (value: number) => ({ value, unit: 'tablet', system: 'http://unitsofmeasure.org', code: '{tbl}' });
  return {
    resourceType: 'Basic',
    meta: profile('hms-stock-item'),
    code: { coding: [{ system: `${BASE}/CodeSystem/hms-basic-type`, code: 'stock-item' }] },
    subject: { reference: `Medication/${n.medication}` },
    author: { reference: `Organization/${n.org}` },
    extension: [
      { url: `${SD}/stock-location`, valueReference: { reference: `Location/${n.pharmacy}` } },
      { url: `${SD}/stock-on-hand`, valueQuantity: q(500) },
      { url: `${SD}/stock-reorder-level`, valueQuantity: q(50) },
      { url: `${SD}/stock-reorder-quantity`, valueQuantity: q(200) },
      { url: `${SD}/stock-consumable`, valueBoolean: false },
    ],
  };
};

/** The whole network, created over HTTP (every resource claims and conforms to its HMS profile). */
export async function createNetwork(server: TestServer): Promise<Network> {
  const org = (await create(server, hospital())).id;
  const pharmacy = (await create(server, dispensary(org))).id;
  const practitioner = (await create(server, doctor())).id;
  const pat = (await create(server, patient())).id;
  const enc = (await create(server, encounter({ org, patient: pat, practitioner }))).id;
  const med = (await create(server, medication())).id;
  const request = (await create(server, medicationRequest({ org, patient: pat, practitioner, encounter: enc }))).id;
  const obs = (await create(server, observation({ patient: pat, encounter: enc }))).id;
  const disp = (await create(server, dispense({ patient: pat, encounter: enc, request, pharmacy, medication: med }))).id;
  const ci = (await create(server, chargeItem({ patient: pat, encounter: enc, dispense: disp, medication: med }))).id;
  return { org, pharmacy, practitioner, patient: pat, encounter: enc, medication: med, request, observation: obs, dispense: disp, chargeItem: ci };
}
