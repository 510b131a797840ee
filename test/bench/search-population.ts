/**
 * The search benchmark's population (issue 3): a deterministic, random-access generator of an Indian hospital
 * network's records — Patients with ABHA numbers (NHID, https://healthid.abdm.gov.in, NN-NNNN-NNNN-NNNN), MRNs,
 * Indian names, addresses with PIN codes and phone numbers; their Encounters (OPD/IPD/emergency, 2019–2024, IST
 * times), vital-sign and laboratory Observations (LOINC, UCUM quantities) and MedicationRequests (SNOMED CT drugs
 * common in Indian practice), plus the Organizations and Practitioners they refer to.
 *
 * Patient group g (0 ≤ g < patients) is the Patient and its GROUP_SIZE − 1 dependants, each generated from a PRNG
 * seeded by g: the loader can write any range of groups in any order, and the benchmark can compute the value of
 * any field (an NHID, a name, a date) without reading the database.
 */
import crypto from 'node:crypto';

export const POPULATION_VERSION = 'search-population-v2'; // v2: time-ordered (v7) ids
export const NHID_SYSTEM = 'https://healthid.abdm.gov.in';
export const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';
const UCUM = 'http://unitsofmeasure.org';
const ID_TYPES = 'https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-identifier-type-code';

/** Per patient: 1 Patient, 2 Encounters, 5 Observations, 2 MedicationRequests. */
export const ENCOUNTERS_PER_PATIENT = 2;
export const OBSERVATIONS_PER_PATIENT = 5;
export const MEDREQS_PER_PATIENT = 2;
export const GROUP_SIZE = 1 + ENCOUNTERS_PER_PATIENT + OBSERVATIONS_PER_PATIENT + MEDREQS_PER_PATIENT;
export const ORGANIZATIONS = 40;
export const PRACTITIONERS = 400;

type Json = Record<string, unknown>;

/** mulberry32: a small, fast, seedable PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

/** The clock of the first patient group's ids (uuidOf): 2024-01-01T00:00:00Z. */
const POPULATION_EPOCH = Date.UTC(2024, 0, 1);

/**
 * A stable UUID for the n-th resource of a type, made as the server makes ids (repository/ids.ts, UUID v7): its
 * first 48 bits are a millisecond clock — here the position `at` of the resource's patient group in the load, so
 * a load writes ids in the order a server assigning them would — and the rest are random (here from a hash).
 */
export function uuidOf(type: string, n: number, at: number): string {
  const h = crypto.createHash('md5').update(`${type}/${n}`).digest('hex');
  const t = (POPULATION_EPOCH + at).toString(16).padStart(12, '0');
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${h.slice(13, 16)}-${'89ab'[parseInt(h[16], 16) & 3]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The ABHA number of patient g: 14 digits, distinct for every g (104729 is prime to 9·10^13), hyphenated. */
export function nhidOf(g: number): string {
  const d = String(10_0000_0000_0000 + ((g * 104_729) % 90_0000_0000_0000));
  return `${d.slice(0, 2)}-${d.slice(2, 6)}-${d.slice(6, 10)}-${d.slice(10)}`;
}

export const patientId = (g: number): string => uuidOf('Patient', g, g);
export const encounterId = (g: number, k: number): string => uuidOf('Encounter', g * ENCOUNTERS_PER_PATIENT + k, g);
const observationId = (g: number, k: number): string => uuidOf('Observation', g * OBSERVATIONS_PER_PATIENT + k, g);
const medreqId = (g: number, k: number): string => uuidOf('MedicationRequest', g * MEDREQS_PER_PATIENT + k, g);
// written first, before any patient group
export const organizationId = (n: number): string => uuidOf('Organization', n, -1);
export const practitionerId = (n: number): string => uuidOf('Practitioner', n, -1);

export const FEMALE_NAMES = [
  'Priya',
  'Lakshmi',
  'Ananya',
  'Aishwarya',
  'Deepa',
  'Divya',
  'Kavya',
  'Meera',
  'Nandini',
  'Pooja',
  'Radha',
  'Sita',
  'Sunita',
  'Anjali',
  'Asha',
  'Bhavana',
  'Chitra',
  'Durga',
  'Gayatri',
  'Geeta',
  'Harini',
  'Indira',
  'Jyoti',
  'Kamala',
  'Kiran',
  'Madhuri',
  'Neha',
  'Padma',
  'Rekha',
  'Sarita',
  'Shalini',
  'Shanti',
  'Shreya',
  'Swati',
  'Uma',
  'Vaishnavi',
  'Vidya',
  'Yamini',
  'Fatima',
  'Ayesha',
  'Zainab',
  'Mary',
  'Jessy',
  'Gurpreet',
  'Harpreet',
  'Manpreet',
  'Sneha',
  'Tanvi',
  'Ishita',
  'Riya',
] as const;
export const MALE_NAMES = [
  'Rahul',
  'Arjun',
  'Vikram',
  'Suresh',
  'Ramesh',
  'Rajesh',
  'Anil',
  'Sunil',
  'Amit',
  'Ajay',
  'Vijay',
  'Sanjay',
  'Manoj',
  'Karthik',
  'Krishna',
  'Ganesh',
  'Mahesh',
  'Naveen',
  'Pradeep',
  'Prakash',
  'Ravi',
  'Sandeep',
  'Santosh',
  'Srinivas',
  'Venkatesh',
  'Harish',
  'Dinesh',
  'Gopal',
  'Mohan',
  'Murali',
  'Nitin',
  'Rohit',
  'Sachin',
  'Tarun',
  'Varun',
  'Yash',
  'Imran',
  'Mohammed',
  'Salim',
  'Abdul',
  'Joseph',
  'Thomas',
  'George',
  'Gurdeep',
  'Harjit',
  'Jaswinder',
  'Aditya',
  'Aarav',
  'Vivaan',
  'Ishaan',
] as const;
export const FAMILY_NAMES = [
  'Sharma',
  'Verma',
  'Gupta',
  'Singh',
  'Kumar',
  'Yadav',
  'Patel',
  'Shah',
  'Mehta',
  'Desai',
  'Joshi',
  'Kulkarni',
  'Deshpande',
  'Patil',
  'Pawar',
  'Jadhav',
  'Reddy',
  'Rao',
  'Naidu',
  'Raju',
  'Iyer',
  'Iyengar',
  'Raghavan',
  'Krishnan',
  'Subramanian',
  'Pillai',
  'Nair',
  'Menon',
  'Kurup',
  'Panicker',
  'Banerjee',
  'Chatterjee',
  'Mukherjee',
  'Ghosh',
  'Das',
  'Bose',
  'Sen',
  'Dutta',
  'Mishra',
  'Tiwari',
  'Pandey',
  'Dubey',
  'Chauhan',
  'Rathore',
  'Khan',
  'Sheikh',
  'Qureshi',
  'Ansari',
  'DSouza',
  'Fernandes',
  'Gill',
  'Sandhu',
  'Dhillon',
  'Grewal',
  'Bhatt',
  'Trivedi',
  'Saxena',
  'Agarwal',
  'Bansal',
  'Goyal',
] as const;
const CITIES = [
  ['Mumbai', 'Mumbai', 'Maharashtra', '400'],
  ['Pune', 'Pune', 'Maharashtra', '411'],
  ['Nagpur', 'Nagpur', 'Maharashtra', '440'],
  ['Chennai', 'Chennai', 'Tamil Nadu', '600'],
  ['Coimbatore', 'Coimbatore', 'Tamil Nadu', '641'],
  ['Madurai', 'Madurai', 'Tamil Nadu', '625'],
  ['Bengaluru', 'Bengaluru Urban', 'Karnataka', '560'],
  ['Mysuru', 'Mysuru', 'Karnataka', '570'],
  ['Hyderabad', 'Hyderabad', 'Telangana', '500'],
  ['Visakhapatnam', 'Visakhapatnam', 'Andhra Pradesh', '530'],
  ['Kochi', 'Ernakulam', 'Kerala', '682'],
  ['Thiruvananthapuram', 'Thiruvananthapuram', 'Kerala', '695'],
  ['Kolkata', 'Kolkata', 'West Bengal', '700'],
  ['Bhubaneswar', 'Khordha', 'Odisha', '751'],
  ['Patna', 'Patna', 'Bihar', '800'],
  ['Lucknow', 'Lucknow', 'Uttar Pradesh', '226'],
  ['Kanpur', 'Kanpur Nagar', 'Uttar Pradesh', '208'],
  ['Varanasi', 'Varanasi', 'Uttar Pradesh', '221'],
  ['New Delhi', 'New Delhi', 'Delhi', '110'],
  ['Jaipur', 'Jaipur', 'Rajasthan', '302'],
  ['Ahmedabad', 'Ahmedabad', 'Gujarat', '380'],
  ['Surat', 'Surat', 'Gujarat', '395'],
  ['Bhopal', 'Bhopal', 'Madhya Pradesh', '462'],
  ['Indore', 'Indore', 'Madhya Pradesh', '452'],
  ['Chandigarh', 'Chandigarh', 'Chandigarh', '160'],
  ['Ludhiana', 'Ludhiana', 'Punjab', '141'],
  ['Guwahati', 'Kamrup Metropolitan', 'Assam', '781'],
  ['Dehradun', 'Dehradun', 'Uttarakhand', '248'],
  ['Raipur', 'Raipur', 'Chhattisgarh', '492'],
  ['Ranchi', 'Ranchi', 'Jharkhand', '834'],
] as const;
const STREETS = [
  'MG Road',
  'Gandhi Nagar',
  'Nehru Street',
  'Station Road',
  'Temple Street',
  'Market Road',
  'Church Street',
  'Lake View Road',
  'Park Street',
  'Main Bazaar',
];

export const ENCOUNTER_CLASSES = [
  ['AMB', 'ambulatory', 0.8],
  ['IMP', 'inpatient encounter', 0.12],
  ['EMER', 'emergency', 0.08],
] as const;
const ENCOUNTER_TYPES = [
  ['185349003', 'Encounter for check up'],
  ['11429006', 'Consultation'],
  ['50849002', 'Emergency room admission'],
  ['183452005', 'Emergency hospital admission'],
  ['390906007', 'Follow-up encounter'],
  ['270427003', 'Patient-initiated encounter'],
] as const;
const REASONS = [
  ['38341003', 'Hypertensive disorder'],
  ['44054006', 'Diabetes mellitus type 2'],
  ['386661006', 'Fever'],
  ['49727002', 'Cough'],
  ['25064002', 'Headache'],
  ['21522001', 'Abdominal pain'],
  ['195967001', 'Asthma'],
  ['38362002', 'Dengue'],
  ['61462000', 'Malaria'],
  ['56717001', 'Tuberculosis'],
  ['271737000', 'Anaemia'],
  ['40930008', 'Hypothyroidism'],
] as const;
/** [LOINC code, display, UCUM code, unit text, category, mean, spread, decimals] */
export const OBSERVATION_CODES = [
  ['8867-4', 'Heart rate', '/min', 'beats/minute', 'vital-signs', 80, 15, 0],
  ['8480-6', 'Systolic blood pressure', 'mm[Hg]', 'mmHg', 'vital-signs', 128, 18, 0],
  ['8462-4', 'Diastolic blood pressure', 'mm[Hg]', 'mmHg', 'vital-signs', 82, 10, 0],
  ['8310-5', 'Body temperature', 'Cel', '°C', 'vital-signs', 37, 0.7, 1],
  ['29463-7', 'Body weight', 'kg', 'kg', 'vital-signs', 64, 14, 1],
  ['8302-2', 'Body height', 'cm', 'cm', 'vital-signs', 160, 10, 0],
  ['59408-5', 'Oxygen saturation in Arterial blood by Pulse oximetry', '%', '%', 'vital-signs', 97, 2, 0],
  ['2339-0', 'Glucose [Mass/volume] in Blood', 'mg/dL', 'mg/dL', 'laboratory', 118, 35, 0],
  ['4548-4', 'Hemoglobin A1c/Hemoglobin.total in Blood', '%', '%', 'laboratory', 6.4, 1.3, 1],
  ['718-7', 'Hemoglobin [Mass/volume] in Blood', 'g/dL', 'g/dL', 'laboratory', 12.6, 1.8, 1],
  ['2093-3', 'Cholesterol [Mass/volume] in Serum or Plasma', 'mg/dL', 'mg/dL', 'laboratory', 185, 35, 0],
  ['3016-3', 'Thyrotropin [Units/volume] in Serum or Plasma', 'm[IU]/L', 'mIU/L', 'laboratory', 2.8, 1.5, 2],
] as const;
const MEDICATIONS = [
  ['322236009', 'Paracetamol 500 mg oral tablet', '1 tablet three times a day after food for 3 days', 3],
  ['325072002', 'Amoxicillin 500 mg oral capsule', '1 capsule three times a day for 5 days', 3],
  ['109081006', 'Metformin 500 mg oral tablet', '1 tablet twice a day with meals', 2],
  ['318165008', 'Amlodipine 5 mg oral tablet', '1 tablet once a day in the morning', 1],
  ['319740004', 'Atorvastatin 10 mg oral tablet', '1 tablet once a day at night', 1],
  ['317249006', 'Pantoprazole 40 mg gastro-resistant tablet', '1 tablet before breakfast for 14 days', 1],
  ['374646004', 'Azithromycin 500 mg oral tablet', '1 tablet once a day for 3 days', 1],
  ['376988009', 'Levothyroxine 50 microgram oral tablet', '1 tablet on an empty stomach every morning', 1],
  ['318851002', 'Losartan 50 mg oral tablet', '1 tablet once a day', 1],
  ['323509004', 'Cetirizine 10 mg oral tablet', '1 tablet at bedtime for 5 days', 1],
  ['412588001', 'Iron and folic acid tablet', '1 tablet once a day after lunch', 1],
  ['317896006', 'Ondansetron 4 mg oral tablet', '1 tablet when required for vomiting', 1],
] as const;

/** First and last day of the Encounters' period (UTC days since the epoch). */
export const FIRST_DAY = Date.UTC(2019, 0, 1) / 86_400_000;
export const DAYS = Date.UTC(2025, 0, 1) / 86_400_000 - FIRST_DAY;

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

/** An IST dateTime (`2023-03-04T10:15:00+05:30`) for a UTC epoch-millisecond instant. */
function ist(ms: number): string {
  const d = new Date(ms + 5.5 * 3600_000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:00+05:30`;
}

/** The name parts of patient g (exported so the benchmark can pick name prefixes that exist). */
export function patientName(g: number): { given: string[]; family: string; female: boolean } {
  const r = prng(g * 7 + 1);
  const female = r() < 0.5;
  const first = pick(r, female ? FEMALE_NAMES : MALE_NAMES);
  const middle = r() < 0.4 ? pick(r, female ? FEMALE_NAMES : MALE_NAMES) : undefined;
  return { given: middle && middle !== first ? [first, middle] : [first], family: pick(r, FAMILY_NAMES), female };
}

/** When patient g's k-th encounter started (UTC ms): a weekday OPD hour between 08:00 and 20:00 IST. */
export function encounterStart(g: number, k: number): number {
  const r = prng(g * 7 + 3 + k);
  const day = FIRST_DAY + Math.floor(r() * DAYS);
  const minutes = 8 * 60 + Math.floor(r() * 12 * 60) - 330; // IST → UTC
  return day * 86_400_000 + minutes * 60_000;
}

function patient(g: number): Json {
  const r = prng(g * 7 + 2);
  const { given, family, female } = patientName(g);
  const [city, district, state, pin] = pick(r, CITIES);
  const org = Math.floor(r() * ORGANIZATIONS);
  const born = Date.UTC(1940, 0, 1) + Math.floor(r() * 80 * 365.25) * 86_400_000;
  const bd = new Date(born);
  return {
    resourceType: 'Patient',
    id: patientId(g),
    identifier: [
      {
        type: { coding: [{ system: ID_TYPES, code: 'HIN', display: 'Health ID issued by NDHM' }] },
        system: NHID_SYSTEM,
        value: nhidOf(g),
      },
      {
        use: 'usual',
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' }] },
        system: `https://hms.arogya.example.in/fhir/sid/mrn/${org}`,
        value: `MRN-${pad(g, 7)}`,
      },
    ],
    active: true,
    name: [{ use: 'official', text: `${given.join(' ')} ${family}`, family, given }],
    telecom: [{ system: 'phone', value: `+91-9${pad(Math.floor(r() * 1e4), 4)}-${pad(Math.floor(r() * 1e5), 5)}`, use: 'mobile' }],
    gender: female ? 'female' : 'male',
    birthDate: `${bd.getUTCFullYear()}-${pad(bd.getUTCMonth() + 1, 2)}-${pad(bd.getUTCDate(), 2)}`,
    address: [
      {
        use: 'home',
        line: [`${1 + Math.floor(r() * 200)}/${1 + Math.floor(r() * 20)} ${pick(r, STREETS)}`],
        city,
        district,
        state,
        postalCode: `${pin}${pad(Math.floor(r() * 100), 3)}`,
        country: 'IN',
      },
    ],
    managingOrganization: { reference: `Organization/${organizationId(org)}` },
  };
}

function encounter(g: number, k: number): Json {
  const r = prng(g * 7 + 3 + k + 100);
  const start = encounterStart(g, k);
  const x = r();
  const cls = x < 0.8 ? ENCOUNTER_CLASSES[0] : x < 0.92 ? ENCOUNTER_CLASSES[1] : ENCOUNTER_CLASSES[2];
  const minutes = cls[0] === 'IMP' ? (1 + Math.floor(r() * 6)) * 24 * 60 : 15 + Math.floor(r() * 90);
  const [tc, td] = pick(r, ENCOUNTER_TYPES);
  const [rc, rd] = pick(r, REASONS);
  return {
    resourceType: 'Encounter',
    id: encounterId(g, k),
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: cls[0], display: cls[1] },
    type: [{ coding: [{ system: SNOMED, code: tc, display: td }], text: td }],
    subject: { reference: `Patient/${patientId(g)}` },
    participant: [{ individual: { reference: `Practitioner/${practitionerId(Math.floor(r() * PRACTITIONERS))}` } }],
    period: { start: ist(start), end: ist(start + minutes * 60_000) },
    reasonCode: [{ coding: [{ system: SNOMED, code: rc, display: rd }], text: rd }],
    serviceProvider: { reference: `Organization/${organizationId(Math.floor(r() * ORGANIZATIONS))}` },
  };
}

function gauss(r: () => number): number {
  return (r() + r() + r() + r() - 2) * 1.7;
}

/** Patient g's k-th observation: which LOINC code, and when (at one of the patient's encounters). */
export function observationOf(g: number, k: number): { code: string; enc: number; at: number } {
  const r = prng(g * 7 + 5 + k * 1000);
  const enc = k % ENCOUNTERS_PER_PATIENT;
  const code = OBSERVATION_CODES[Math.floor(r() * OBSERVATION_CODES.length)][0];
  return { code, enc, at: encounterStart(g, enc) + (5 + k) * 60_000 };
}

function observation(g: number, k: number): Json {
  const { code, enc, at } = observationOf(g, k);
  const r = prng(g * 7 + 6 + k * 1000);
  const def = OBSERVATION_CODES.find((c) => c[0] === code)!;
  const [, display, ucum, unit, category, mean, spread, decimals] = def;
  const value = Number((mean + gauss(r) * spread).toFixed(decimals));
  return {
    resourceType: 'Observation',
    id: observationId(g, k),
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
    code: { coding: [{ system: LOINC, code, display }], text: display },
    subject: { reference: `Patient/${patientId(g)}` },
    encounter: { reference: `Encounter/${encounterId(g, enc)}` },
    effectiveDateTime: ist(at),
    valueQuantity: { value, unit, system: UCUM, code: ucum },
  };
}

function medicationRequest(g: number, k: number): Json {
  const r = prng(g * 7 + 8 + k * 1000);
  const [code, display, text, frequency] = pick(r, MEDICATIONS);
  const at = encounterStart(g, k % ENCOUNTERS_PER_PATIENT) + 30 * 60_000;
  return {
    resourceType: 'MedicationRequest',
    id: medreqId(g, k),
    status: at < Date.UTC(2024, 9, 1) ? 'completed' : 'active',
    intent: 'order',
    medicationCodeableConcept: { coding: [{ system: SNOMED, code, display }], text: display },
    subject: { reference: `Patient/${patientId(g)}` },
    encounter: { reference: `Encounter/${encounterId(g, k % ENCOUNTERS_PER_PATIENT)}` },
    authoredOn: ist(at),
    requester: { reference: `Practitioner/${practitionerId(Math.floor(r() * PRACTITIONERS))}` },
    dosageInstruction: [{ text, timing: { repeat: { frequency, period: 1, periodUnit: 'd' } } }],
  };
}

/** The resources of patient group g: the Patient first, then its Encounters, Observations, MedicationRequests. */
export function patientGroup(g: number): Json[] {
  const out: Json[] = [patient(g)];
  for (let k = 0; k < ENCOUNTERS_PER_PATIENT; k++) out.push(encounter(g, k));
  for (let k = 0; k < OBSERVATIONS_PER_PATIENT; k++) out.push(observation(g, k));
  for (let k = 0; k < MEDREQS_PER_PATIENT; k++) out.push(medicationRequest(g, k));
  return out;
}

/** The Organizations (hospitals with HFR ids) and Practitioners (with HPR ids) the groups refer to. */
export function sharedResources(): Json[] {
  const out: Json[] = [];
  for (let n = 0; n < ORGANIZATIONS; n++) {
    const r = prng(900_000_000 + n);
    const [city, district, state, pin] = CITIES[n % CITIES.length];
    out.push({
      resourceType: 'Organization',
      id: organizationId(n),
      identifier: [{ system: 'https://facility.abdm.gov.in', value: `IN${pad(2700000000 + n * 7919, 10)}` }],
      active: true,
      type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov', display: 'Healthcare Provider' }] }],
      name: `${pick(r, ['Arogya', 'Sanjeevani', 'Dhanvantari', 'Jeevan', 'Sushruta'])} ${pick(r, ['Multispeciality', 'General', 'Community'])} Hospital, ${city}`,
      address: [{ city, district, state, postalCode: `${pin}001`, country: 'IN' }],
    });
  }
  for (let n = 0; n < PRACTITIONERS; n++) {
    const female = n % 2 === 0;
    const r = prng(800_000_000 + n);
    const given = pick(r, female ? FEMALE_NAMES : MALE_NAMES);
    const family = pick(r, FAMILY_NAMES);
    out.push({
      resourceType: 'Practitioner',
      id: practitionerId(n),
      identifier: [
        { system: 'https://hpr.abdm.gov.in', value: `71-${pad(1000 + n, 4)}-${pad(Math.floor(r() * 1e4), 4)}-${pad(Math.floor(r() * 1e4), 4)}` },
      ],
      active: true,
      name: [{ text: `Dr. ${given} ${family}`, family, given: [given], prefix: ['Dr.'] }],
      gender: female ? 'female' : 'male',
    });
  }
  return out;
}
