/**
 * The demo hospital network of `arogya seed-demo` (issue 13 part 5), as plain FHIR JSON with fixed ids: a chain
 * Organization, 3 hospitals (HFR ids) each with a dispensary Location and stock, a price list (consultation fees per
 * doctor and per hospital, medicines with CGST/SGST 6 % and MRP, lab tests by LOINC code), 10 doctors (HPR ids)
 * with their PractitionerRoles, 200 patients with NHIDs and their OPD visits (Conditions, prescriptions, lab
 * reports and vital signs). Pure: no I/O. Everything is drawn from a PRNG with a fixed seed, so the same `today`
 * gives the same network; dates are relative to `today`, its calendar date in the server's zone (AROGYA_TIMEZONE,
 * as the search reads `date=` and the app's dashboard its "today"), so some visits are today's. Clock times are the
 * hospitals' own, India Standard Time (+05:30).
 */

// biome-ignore lint/suspicious/noExplicitAny: demo resources are built as loose JSON literals and read back field by field
export type Json = Record<string, any>;

export const BASE = 'https://arogya.dev/fhir';
const SID = `${BASE}/sid`;
const SD = `${BASE}/StructureDefinition`;
const ABDM = 'https://nrces.in/ndhm/fhir/r4';
const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const PRICE = `${BASE}/CodeSystem/price-component`;
export const NHID_SYSTEM = 'https://healthid.abdm.gov.in';
export const HFR_SYSTEM = 'https://facility.abdm.gov.in';
export const HPR_SYSTEM = 'https://hpr.abdm.gov.in';

const profile = (name: string): Json => ({ profile: [`${SD}/${name}`] });

/** mulberry32: a small, fast, well-distributed 32-bit PRNG; the same seed gives the same sequence everywhere. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Draw {
  constructor(readonly next: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String(this.int(0, 9));
    return s;
  }
}

// ---- the chain, its hospitals and their dispensaries -------------------------------------------------------------

export interface HospitalSpec {
  key: string;
  name: string;
  hfr: string;
  licence: string;
  phone: string;
  line: string[];
  city: string;
  district: string;
  state: string;
  postalCode: string;
  localities: { name: string; pin: string }[];
}

export const HOSPITALS: HospitalSpec[] = [
  {
    key: 'blr',
    name: 'Arogya Multispeciality Hospital, Bengaluru',
    hfr: 'IN2910000101',
    licence: 'KA/BLR/2014/00217',
    phone: '+91-80-4567-1200',
    line: ['14 Cunningham Road', 'Vasanth Nagar'],
    city: 'Bengaluru',
    district: 'Bengaluru Urban',
    state: 'Karnataka',
    postalCode: '560052',
    localities: [
      { name: 'Jayanagar 4th Block', pin: '560011' },
      { name: 'Indiranagar', pin: '560038' },
      { name: 'Malleshwaram', pin: '560003' },
      { name: 'Koramangala 5th Block', pin: '560095' },
      { name: 'Basavanagudi', pin: '560004' },
      { name: 'Whitefield', pin: '560066' },
    ],
  },
  {
    key: 'pune',
    name: 'Arogya Hospital, Pune',
    hfr: 'IN2710000102',
    licence: 'MH/PUN/2016/01144',
    phone: '+91-20-2553-7800',
    line: ['22 Fergusson College Road', 'Shivajinagar'],
    city: 'Pune',
    district: 'Pune',
    state: 'Maharashtra',
    postalCode: '411004',
    localities: [
      { name: 'Kothrud', pin: '411038' },
      { name: 'Aundh', pin: '411007' },
      { name: 'Hadapsar', pin: '411028' },
      { name: 'Viman Nagar', pin: '411014' },
      { name: 'Deccan Gymkhana', pin: '411004' },
    ],
  },
  {
    key: 'hyd',
    name: 'Arogya Hospital, Hyderabad',
    hfr: 'IN3610000103',
    licence: 'TS/HYD/2018/00562',
    phone: '+91-40-2335-9100',
    line: ['Road No. 12', 'Banjara Hills'],
    city: 'Hyderabad',
    district: 'Hyderabad',
    state: 'Telangana',
    postalCode: '500034',
    localities: [
      { name: 'Ameerpet', pin: '500016' },
      { name: 'Kukatpally', pin: '500072' },
      { name: 'Madhapur', pin: '500081' },
      { name: 'Secunderabad', pin: '500003' },
      { name: 'Dilsukhnagar', pin: '500060' },
    ],
  },
];

export const CHAIN_ID = 'demo-chain';
export const hospitalId = (h: HospitalSpec): string => `demo-hosp-${h.key}`;
export const dispensaryId = (h: HospitalSpec): string => `demo-pharm-${h.key}`;

function chain(): Json {
  return {
    resourceType: 'Organization',
    id: CHAIN_ID,
    identifier: [{ system: `${SID}/hospital-id`, value: 'AROGYA-CHAIN' }],
    active: true,
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov', display: 'Healthcare Provider' }] }],
    name: 'Arogya Health Network',
    telecom: [
      { system: 'phone', value: '+91-80-4567-1000', use: 'work' },
      { system: 'email', value: 'care@arogya.example.in', use: 'work' },
    ],
    address: [{ line: ['14 Cunningham Road'], city: 'Bengaluru', state: 'Karnataka', postalCode: '560052', country: 'IN' }],
  };
}

function hospital(h: HospitalSpec): Json {
  return {
    resourceType: 'Organization',
    id: hospitalId(h),
    meta: profile('hms-organization'),
    identifier: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'PRN', display: 'Provider number' }] },
        system: HFR_SYSTEM,
        value: h.hfr,
      },
      { system: `${SID}/hospital-license`, value: h.licence },
      { system: `${SID}/hospital-id`, value: `AROGYA-${h.key.toUpperCase()}` },
    ],
    active: true,
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/organization-type', code: 'prov', display: 'Healthcare Provider' }] }],
    name: h.name,
    telecom: [{ system: 'phone', value: h.phone, use: 'work' }],
    address: [{ line: h.line, city: h.city, district: h.district, state: h.state, postalCode: h.postalCode, country: 'IN' }],
    partOf: { reference: `Organization/${CHAIN_ID}`, display: 'Arogya Health Network' },
  };
}

function dispensary(h: HospitalSpec): Json {
  return {
    resourceType: 'Location',
    id: dispensaryId(h),
    meta: profile('hms-dispensary'),
    status: 'active',
    name: `${h.name} — OPD Pharmacy`,
    mode: 'instance',
    type: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'PHARM', display: 'Pharmacy' }] }],
    telecom: [{ system: 'phone', value: h.phone.replace(/\d{2}$/, '55'), use: 'work' }],
    address: { line: h.line, city: h.city, state: h.state, postalCode: h.postalCode, country: 'IN' },
    managingOrganization: { reference: `Organization/${hospitalId(h)}` },
    hoursOfOperation: [{ daysOfWeek: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'], openingTime: '08:00:00', closingTime: '21:00:00' }],
  };
}

// ---- medicines, batches, stock and prices -------------------------------------------------------------------------

export interface ProductSpec {
  key: string;
  snomed: string;
  display: string;
  text: string;
  form: { code: string; display: string };
  unit: string;
  /** Rate per unit and MRP per unit, in INR. */
  rate: number;
  mrp: number;
}

export const PRODUCTS: ProductSpec[] = [
  {
    key: 'paracetamol',
    snomed: '322236009',
    display: 'Paracetamol 500 mg oral tablet',
    text: 'Paracetamol 500 mg',
    form: { code: '385055001', display: 'Tablet' },
    unit: 'tablet',
    rate: 1.6,
    mrp: 2.1,
  },
  {
    key: 'amoxicillin',
    snomed: '323509004',
    display: 'Amoxicillin 500 mg oral capsule',
    text: 'Amoxicillin 500 mg',
    form: { code: '385049006', display: 'Capsule' },
    unit: 'capsule',
    rate: 6.8,
    mrp: 8.5,
  },
  {
    key: 'metformin',
    snomed: '325278007',
    display: 'Metformin hydrochloride 500 mg oral tablet',
    text: 'Metformin 500 mg',
    form: { code: '385055001', display: 'Tablet' },
    unit: 'tablet',
    rate: 1.9,
    mrp: 2.4,
  },
  {
    key: 'amlodipine',
    snomed: '319283006',
    display: 'Amlodipine 5 mg oral tablet',
    text: 'Amlodipine 5 mg',
    form: { code: '385055001', display: 'Tablet' },
    unit: 'tablet',
    rate: 2.2,
    mrp: 3.0,
  },
  {
    key: 'atorvastatin',
    snomed: '320000009',
    display: 'Atorvastatin 10 mg oral tablet',
    text: 'Atorvastatin 10 mg',
    form: { code: '385055001', display: 'Tablet' },
    unit: 'tablet',
    rate: 5.25,
    mrp: 6.9,
  },
  {
    key: 'pantoprazole',
    snomed: '317301006',
    display: 'Pantoprazole 40 mg gastro-resistant oral tablet',
    text: 'Pantoprazole 40 mg',
    form: { code: '385055001', display: 'Tablet' },
    unit: 'tablet',
    rate: 4.4,
    mrp: 5.8,
  },
];

/** Two batches of every product: the older one expires first (FEFO uses it first). */
const BATCHES = [
  { key: 'a', lot: (p: ProductSpec) => `${p.key.slice(0, 3).toUpperCase()}2603A`, expiry: '2027-03-31' },
  { key: 'b', lot: (p: ProductSpec) => `${p.key.slice(0, 3).toUpperCase()}2609B`, expiry: '2028-09-30' },
];
export const medicationId = (p: ProductSpec, batch: string): string => `demo-med-${p.key}-${batch}`;

function medication(p: ProductSpec, b: (typeof BATCHES)[number]): Json {
  return {
    resourceType: 'Medication',
    id: medicationId(p, b.key),
    code: { coding: [{ system: SNOMED, code: p.snomed, display: p.display }], text: p.text },
    status: 'active',
    manufacturer: { display: b.key === 'a' ? 'Cipla Ltd.' : 'Sun Pharmaceutical Industries Ltd.' },
    form: { coding: [{ system: SNOMED, code: p.form.code, display: p.form.display }] },
    batch: { lotNumber: b.lot(p), expirationDate: b.expiry },
  };
}

/**
 * On-hand per hospital and product (batch a, batch b), reorder level and quantity. A few are short on purpose:
 * atorvastatin in Pune and amoxicillin in Hyderabad sit below their reorder level, so prescriptions there wait
 * (`on-hold`, with a SupplyRequest); Hyderabad does not stock pantoprazole (its prescriptions are `declined`).
 */
const STOCK: Record<string, Record<string, [number, number, number, number] | null>> = {
  blr: {
    paracetamol: [600, 2000, 300, 1000],
    amoxicillin: [300, 900, 150, 500],
    metformin: [800, 2400, 400, 1200],
    amlodipine: [500, 1500, 250, 800],
    atorvastatin: [400, 1200, 200, 600],
    pantoprazole: [300, 800, 150, 400],
  },
  pune: {
    paracetamol: [500, 1800, 300, 1000],
    amoxicillin: [250, 800, 150, 500],
    metformin: [700, 2000, 400, 1200],
    amlodipine: [400, 1400, 250, 800],
    atorvastatin: [12, 0, 200, 600],
    pantoprazole: [250, 700, 150, 400],
  },
  hyd: {
    paracetamol: [500, 1800, 300, 1000],
    amoxicillin: [18, 0, 150, 500],
    metformin: [700, 2200, 400, 1200],
    amlodipine: [400, 1400, 250, 800],
    atorvastatin: [300, 1000, 200, 600],
    pantoprazole: null,
  },
};

export const stockItemId = (h: HospitalSpec, p: ProductSpec, batch: string): string => `demo-stock-${h.key}-${p.key}-${batch}`;

function stockItems(h: HospitalSpec): Json[] {
  const out: Json[] = [];
  for (const p of PRODUCTS) {
    const s = STOCK[h.key][p.key];
    if (!s) continue;
    const q = (value: number): Json => ({ value, unit: p.unit, system: UCUM, code: p.unit === 'tablet' ? '{tbl}' : '{capsule}' });
    BATCHES.forEach((b, i) => {
      out.push({
        resourceType: 'Basic',
        id: stockItemId(h, p, b.key),
        meta: profile('hms-stock-item'),
        code: { coding: [{ system: `${BASE}/CodeSystem/hms-basic-type`, code: 'stock-item', display: 'Stock item' }] },
        subject: { reference: `Medication/${medicationId(p, b.key)}`, display: `${p.text} (batch ${b.lot(p)})` },
        author: { reference: `Organization/${hospitalId(h)}` },
        created: '2026-01-15',
        extension: [
          { url: `${SD}/stock-location`, valueReference: { reference: `Location/${dispensaryId(h)}` } },
          { url: `${SD}/stock-on-hand`, valueQuantity: q(s[i]) },
          { url: `${SD}/stock-reorder-level`, valueQuantity: q(s[2]) },
          { url: `${SD}/stock-reorder-quantity`, valueQuantity: q(s[3]) },
          { url: `${SD}/stock-consumable`, valueBoolean: false },
        ],
      });
    });
  }
  return out;
}

const inr = (value: number): Json => ({ value, currency: 'INR' });
const gst = (code: 'CGST' | 'SGST'): Json => ({
  type: 'tax',
  code: { coding: [{ system: PRICE, code, display: code === 'CGST' ? 'Central GST' : 'State GST' }] },
  factor: 0.06,
});

function medicinePrice(p: ProductSpec): Json {
  return {
    resourceType: 'ChargeItemDefinition',
    id: `demo-price-${p.key}`,
    meta: profile('hms-chargeitemdefinition'),
    url: `${BASE}/ChargeItemDefinition/medicine-${p.key}`,
    title: `${p.text}, per ${p.unit}`,
    status: 'active',
    code: { coding: [{ system: SNOMED, code: p.snomed, display: p.display }] },
    instance: BATCHES.map((b) => ({ reference: `Medication/${medicationId(p, b.key)}` })),
    propertyGroup: [
      {
        priceComponent: [
          { type: 'base', amount: inr(p.rate) },
          { type: 'informational', code: { coding: [{ system: PRICE, code: 'MRP', display: 'Maximum retail price' }] }, amount: inr(p.mrp) },
          gst('CGST'),
          gst('SGST'),
        ],
      },
    ],
  };
}

export interface LabSpec {
  key: string;
  code: string;
  display: string;
  price: number;
}

export const LABS: Record<string, LabSpec> = {
  hba1c: { key: 'hba1c', code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood', price: 450 },
  lipid: { key: 'lipid', code: '57698-3', display: 'Lipid panel with direct LDL - Serum or Plasma', price: 700 },
  cbc: { key: 'cbc', code: '58410-2', display: 'CBC panel - Blood by Automated count', price: 350 },
};

function labPrice(l: LabSpec): Json {
  return {
    resourceType: 'ChargeItemDefinition',
    id: `demo-price-lab-${l.key}`,
    meta: profile('hms-chargeitemdefinition'),
    url: `${BASE}/ChargeItemDefinition/lab-${l.code}`,
    title: l.display,
    status: 'active',
    code: { coding: [{ system: LOINC, code: l.code, display: l.display }] },
    // Diagnostic services are GST-exempt (healthcare services): base only.
    propertyGroup: [{ priceComponent: [{ type: 'base', amount: inr(l.price) }] }],
  };
}

function consultationPrice(id: string, url: string, title: string, fee: number): Json {
  return {
    resourceType: 'ChargeItemDefinition',
    id,
    meta: profile('hms-chargeitemdefinition'),
    url,
    title,
    status: 'active',
    code: { coding: [{ system: `${ABDM}/CodeSystem/ndhm-billing-codes`, code: '00', display: 'Consultation' }] },
    // Clinical consultation is GST-exempt: base only.
    propertyGroup: [{ priceComponent: [{ type: 'base', amount: inr(fee) }] }],
  };
}

// ---- doctors -----------------------------------------------------------------------------------------------------

export interface DoctorSpec {
  n: number;
  given: string;
  family: string;
  gender: 'male' | 'female';
  qualification: string;
  specialty: { code: string; display: string };
  hpr: string;
  /** Hospitals (keys) the doctor consults at, with the fee there. */
  at: { hospital: string; fee: number }[];
}

export const DOCTORS: DoctorSpec[] = [
  {
    n: 1,
    given: 'Kavya',
    family: 'Menon',
    gender: 'female',
    qualification: 'MBBS, MD (General Medicine)',
    specialty: { code: '419192003', display: 'Internal medicine' },
    hpr: '71-4420-1835-0917',
    at: [
      { hospital: 'blr', fee: 800 },
      { hospital: 'hyd', fee: 900 },
    ],
  },
  {
    n: 2,
    given: 'Arjun',
    family: 'Rao',
    gender: 'male',
    qualification: 'MBBS, DNB (Family Medicine)',
    specialty: { code: '394814009', display: 'General practice' },
    hpr: '71-4420-2291-3346',
    at: [{ hospital: 'blr', fee: 500 }],
  },
  {
    n: 3,
    given: 'Shalini',
    family: 'Hegde',
    gender: 'female',
    qualification: 'MBBS, MD, DM (Endocrinology)',
    specialty: { code: '394583002', display: 'Endocrinology' },
    hpr: '71-4420-3904-5518',
    at: [{ hospital: 'blr', fee: 1200 }],
  },
  {
    n: 4,
    given: 'Vikram',
    family: 'Kulkarni',
    gender: 'male',
    qualification: 'MBBS, MD, DM (Cardiology)',
    specialty: { code: '394579002', display: 'Cardiology' },
    hpr: '71-2730-1148-2075',
    at: [{ hospital: 'pune', fee: 1100 }],
  },
  {
    n: 5,
    given: 'Sneha',
    family: 'Deshpande',
    gender: 'female',
    qualification: 'MBBS, MD (General Medicine)',
    specialty: { code: '419192003', display: 'Internal medicine' },
    hpr: '71-2730-2267-8431',
    at: [{ hospital: 'pune', fee: 700 }],
  },
  {
    n: 6,
    given: 'Rohan',
    family: 'Joshi',
    gender: 'male',
    qualification: 'MBBS, DNB (Family Medicine)',
    specialty: { code: '394814009', display: 'General practice' },
    hpr: '71-2730-3552-6104',
    at: [
      { hospital: 'pune', fee: 450 },
      { hospital: 'blr', fee: 500 },
    ],
  },
  {
    n: 7,
    given: 'Farhan',
    family: 'Siddiqui',
    gender: 'male',
    qualification: 'MBBS, MD (Pulmonary Medicine)',
    specialty: { code: '418112009', display: 'Pulmonary medicine' },
    hpr: '71-3640-1409-7762',
    at: [{ hospital: 'hyd', fee: 850 }],
  },
  {
    n: 8,
    given: 'Lakshmi',
    family: 'Reddy',
    gender: 'female',
    qualification: 'MBBS, MD (General Medicine)',
    specialty: { code: '419192003', display: 'Internal medicine' },
    hpr: '71-3640-2871-0395',
    at: [{ hospital: 'hyd', fee: 650 }],
  },
  {
    n: 9,
    given: 'Srinivas',
    family: 'Goud',
    gender: 'male',
    qualification: 'MBBS (General Practice)',
    specialty: { code: '394814009', display: 'General practice' },
    hpr: '71-3640-3326-4158',
    at: [{ hospital: 'hyd', fee: 400 }],
  },
  {
    n: 10,
    given: 'Meera',
    family: 'Iyer',
    gender: 'female',
    qualification: 'MBBS, MD, DM (Endocrinology)',
    specialty: { code: '394583002', display: 'Endocrinology' },
    hpr: '71-2730-4419-9283',
    at: [{ hospital: 'pune', fee: 1000 }],
  },
];

export const practitionerId = (d: DoctorSpec): string => `demo-doc-${String(d.n).padStart(2, '0')}`;
export const roleId = (d: DoctorSpec, hospital: string): string => `demo-role-${String(d.n).padStart(2, '0')}-${hospital}`;

function practitioner(d: DoctorSpec): Json {
  const home = HOSPITALS.find((h) => h.key === d.at[0].hospital)!;
  return {
    resourceType: 'Practitioner',
    id: practitionerId(d),
    meta: profile('hms-practitioner'),
    identifier: [
      {
        type: {
          coding: [{ system: `${ABDM}/CodeSystem/ndhm-identifier-type-code`, code: 'HPIN', display: 'Health Practitioner ID issued by NDHM' }],
        },
        system: HPR_SYSTEM,
        value: d.hpr,
      },
      { system: `${SID}/docid`, value: String(1000 + d.n) },
    ],
    active: true,
    name: [{ text: `Dr. ${d.given} ${d.family}`, prefix: ['Dr.'], given: [d.given], family: d.family }],
    telecom: [
      { system: 'phone', value: `+91-98860-${41000 + d.n * 137}`, use: 'work' },
      { system: 'email', value: `${d.given.toLowerCase()}.${d.family.toLowerCase()}@arogya.example.in`, use: 'work' },
    ],
    gender: d.gender,
    address: [{ city: home.city, state: home.state, country: 'IN' }],
    qualification: [{ code: { text: d.qualification } }],
  };
}

function role(d: DoctorSpec, at: { hospital: string }): Json {
  const h = HOSPITALS.find((x) => x.key === at.hospital)!;
  const days = d.at.length > 1 && at !== d.at[0] ? ['sat'] : ['mon', 'tue', 'wed', 'thu', 'fri'];
  return {
    resourceType: 'PractitionerRole',
    id: roleId(d, at.hospital),
    active: true,
    practitioner: { reference: `Practitioner/${practitionerId(d)}`, display: `Dr. ${d.given} ${d.family}` },
    organization: { reference: `Organization/${hospitalId(h)}`, display: h.name },
    code: [{ coding: [{ system: SNOMED, code: '158965000', display: 'Medical practitioner' }] }],
    specialty: [{ coding: [{ system: SNOMED, code: d.specialty.code, display: d.specialty.display }] }],
    availableTime: [{ daysOfWeek: days, availableStartTime: '09:30:00', availableEndTime: '17:00:00' }],
  };
}

// ---- patients ----------------------------------------------------------------------------------------------------

const FEMALE = [
  'Aarti',
  'Ananya',
  'Bhavana',
  'Deepa',
  'Divya',
  'Fatima',
  'Gauri',
  'Geeta',
  'Harini',
  'Ishita',
  'Jyoti',
  'Kavitha',
  'Lata',
  'Madhuri',
  'Nandini',
  'Neha',
  'Pooja',
  'Priya',
  'Radha',
  'Rekha',
  'Sakshi',
  'Shabnam',
  'Sunita',
  'Swati',
  'Uma',
  'Vaishnavi',
  'Zainab',
];
const MALE = [
  'Aditya',
  'Ajay',
  'Amit',
  'Anil',
  'Arvind',
  'Deepak',
  'Ganesh',
  'Harish',
  'Imran',
  'Karthik',
  'Mahesh',
  'Manoj',
  'Mohammed',
  'Naveen',
  'Prakash',
  'Rahul',
  'Rajesh',
  'Ramesh',
  'Sandeep',
  'Sanjay',
  'Suresh',
  'Tushar',
  'Venkatesh',
  'Vijay',
  'Yusuf',
];
const FAMILY: Record<string, string[]> = {
  blr: ['Gowda', 'Shetty', 'Rao', 'Hegde', 'Nayak', 'Kamath', 'Bhat', 'Murthy', 'Krishnan', 'Khan', 'Pai', 'Reddy'],
  pune: ['Patil', 'Kulkarni', 'Deshmukh', 'Joshi', 'Pawar', 'Shinde', 'Gokhale', 'Bhosale', 'Shaikh', 'Jadhav', 'Apte', 'More'],
  hyd: ['Reddy', 'Naidu', 'Rao', 'Goud', 'Chary', 'Varma', 'Ali', 'Hussain', 'Yadav', 'Raju', 'Sharma', 'Kumar'],
};
const STREETS = [
  '1st Cross',
  '2nd Main',
  'Temple Street',
  'Station Road',
  'Gandhi Nagar',
  'Nehru Road',
  'Lake View Layout',
  'MG Road',
  'Park Street',
];

export interface PatientSpec {
  n: number;
  id: string;
  nhid: string;
  home: HospitalSpec;
  resource: Json;
}

export const patientId = (n: number): string => `demo-pat-${String(n).padStart(3, '0')}`;
export const PATIENT_COUNT = 200;

function patients(draw: Draw): PatientSpec[] {
  const out: PatientSpec[] = [];
  const nhids = new Set<string>();
  for (let n = 1; n <= PATIENT_COUNT; n++) {
    const home = HOSPITALS[(n - 1) % HOSPITALS.length];
    const gender = draw.chance(0.5) ? 'female' : 'male';
    const given = draw.pick(gender === 'female' ? FEMALE : MALE);
    const family = draw.pick(FAMILY[home.key]);
    let nhid: string;
    do nhid = `91-${draw.digits(4)}-${draw.digits(4)}-${draw.digits(4)}`;
    while (nhids.has(nhid));
    nhids.add(nhid);
    const year = draw.int(1948, 2016);
    const birthDate = `${year}-${String(draw.int(1, 12)).padStart(2, '0')}-${String(draw.int(1, 28)).padStart(2, '0')}`;
    const loc = draw.pick(home.localities);
    const phone = `+91-${draw.pick(['98', '97', '99', '90', '88', '70'])}${draw.digits(3)}-${draw.digits(5)}`;
    const kin = draw.pick(gender === 'female' ? MALE : FEMALE);
    const id = patientId(n);
    out.push({
      n,
      id,
      nhid,
      home,
      resource: {
        resourceType: 'Patient',
        id,
        meta: profile('hms-patient'),
        identifier: [
          {
            type: {
              coding: [
                { system: `${ABDM}/CodeSystem/ndhm-identifier-type-code`, code: 'HIN', display: 'Health ID issued by NDHM' },
                { system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' },
              ],
            },
            system: NHID_SYSTEM,
            value: nhid,
          },
        ],
        active: true,
        name: [{ text: `${given} ${family}`, given: [given], family }],
        telecom: [{ system: 'phone', value: phone, use: 'mobile' }],
        gender,
        birthDate,
        address: [
          {
            line: [`${draw.int(1, 240)}, ${draw.pick(STREETS)}`, loc.name],
            city: home.city,
            district: home.district,
            state: home.state,
            postalCode: loc.pin,
            country: 'IN',
          },
        ],
        contact: [
          {
            relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0131', code: 'C', display: 'Emergency Contact' }] }],
            name: { text: `${kin} ${family}` },
            telecom: [{ system: 'phone', value: `+91-${draw.pick(['98', '94', '96', '81'])}${draw.digits(3)}-${draw.digits(5)}`, use: 'mobile' }],
          },
        ],
        managingOrganization: { reference: `Organization/${hospitalId(home)}` },
      },
    });
  }
  return out;
}

// ---- visits ------------------------------------------------------------------------------------------------------

interface CaseSpec {
  key: string;
  condition: { code: string; display: string };
  reason: string;
  /** [product, quantity, dosage text] */
  prescriptions: [string, number, string][];
  lab?: LabSpec;
}

const CASES: CaseSpec[] = [
  {
    key: 'diabetes',
    condition: { code: '44054006', display: 'Diabetes mellitus type 2' },
    reason: 'Diabetes follow-up',
    prescriptions: [['metformin', 60, '1 tablet twice a day after food for 30 days']],
    lab: LABS.hba1c,
  },
  {
    key: 'hypertension',
    condition: { code: '38341003', display: 'Hypertensive disorder, systemic arterial' },
    reason: 'Blood pressure review',
    prescriptions: [['amlodipine', 30, '1 tablet once a day in the morning for 30 days']],
  },
  {
    key: 'dyslipidaemia',
    condition: { code: '55822004', display: 'Hyperlipidemia' },
    reason: 'High cholesterol',
    prescriptions: [['atorvastatin', 30, '1 tablet at bedtime for 30 days']],
    lab: LABS.lipid,
  },
  {
    key: 'uri',
    condition: { code: '54150009', display: 'Upper respiratory infection' },
    reason: 'Cough and sore throat',
    prescriptions: [
      ['amoxicillin', 15, '1 capsule three times a day for 5 days'],
      ['paracetamol', 10, '1 tablet up to three times a day when feverish'],
    ],
  },
  {
    key: 'fever',
    condition: { code: '386661006', display: 'Fever' },
    reason: 'Fever for three days',
    prescriptions: [['paracetamol', 15, '1 tablet three times a day after food for 5 days']],
    lab: LABS.cbc,
  },
  {
    key: 'gastritis',
    condition: { code: '4556007', display: 'Gastritis' },
    reason: 'Acidity and epigastric pain',
    prescriptions: [['pantoprazole', 14, '1 tablet before breakfast for 14 days']],
  },
];

export interface VisitSpec {
  id: string;
  patient: PatientSpec;
  hospital: HospitalSpec;
  doctor: DoctorSpec;
  /** Days before today. */
  daysAgo: number;
  /** The status the seed leaves it in. */
  status: 'in-progress' | 'finished';
  /** The pharmacist has handed over its medicines (dispenses `completed`). */
  handedOver: boolean;
  /** Written first (the visit in progress, with what the doctor recorded). */
  resources: Json[];
  /** The Encounter as concluded (status finished, period.end), when `status` is finished. */
  concluded?: Json;
}

export const visitId = (n: number): string => `demo-enc-${String(n).padStart(4, '0')}`;

/** The calendar date (YYYY-MM-DD) of `when` in `timeZone`. */
export function dayIn(when: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(when);
  const part = (type: string) => parts.find((x) => x.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')}`;
}
/** `daysAgo` calendar days before `today` (YYYY-MM-DD): counted on dates, so a DST change never skips or repeats one. */
const isoDay = (today: string, daysAgo: number): string =>
  new Date(Date.parse(`${today}T00:00:00Z`) - daysAgo * 86_400_000).toISOString().slice(0, 10);
const at = (day: string, minutes: number): string =>
  `${day}T${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}:00+05:30`;

function quantity(value: number, unit: string, code: string): Json {
  return { value, unit, system: UCUM, code };
}

const OBS_CATEGORY = (code: 'vital-signs' | 'laboratory', display: string): Json[] => [
  { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code, display }] },
];

function visits(draw: Draw, pts: PatientSpec[], today: string): VisitSpec[] {
  const out: VisitSpec[] = [];
  let n = 0;
  for (const p of pts) {
    const count = draw.chance(0.45) ? 2 : 1;
    // about one visit in twelve is today's (the day's OPD queue), the others spread over the last two months
    const day = (): number => (draw.chance(0.08) ? 0 : draw.int(1, 60));
    const days = [day(), day()].slice(0, count).sort((a, b) => b - a);
    // Every patient has a "usual" case, so a second visit is a follow-up of the first.
    const kase = draw.pick(CASES);
    for (const daysAgo of days) {
      n++;
      const h = draw.chance(0.9) ? p.home : draw.pick(HOSPITALS);
      const doctors = DOCTORS.filter((d) => d.at.some((a) => a.hospital === h.key));
      const d = draw.pick(doctors);
      const id = visitId(n);
      const day = isoDay(today, daysAgo);
      const start = draw.int(9 * 60 + 30, 16 * 60 + 30);
      const end = start + draw.int(10, 25);
      // today's queue: some still with the doctor; one visit in 20 of the last week is left open as well
      const open = daysAgo === 0 ? draw.chance(0.55) : daysAgo <= 7 && draw.chance(0.05);
      const status = open ? 'in-progress' : 'finished';
      const roleRef = { reference: `PractitionerRole/${roleId(d, h.key)}`, display: `Dr. ${d.given} ${d.family}` };
      const subject = { reference: `Patient/${p.id}`, display: p.resource.name[0].text };
      const encounter: Json = {
        resourceType: 'Encounter',
        id,
        meta: profile('hms-encounter-opd'),
        identifier: [{ system: `${SID}/appointment-id`, value: `APT-${h.key.toUpperCase()}-${day.replace(/-/g, '')}-${String(n).padStart(4, '0')}` }],
        status: 'in-progress',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
        type: [{ coding: [{ system: SNOMED, code: '11429006', display: 'Consultation' }] }],
        subject,
        participant: [
          {
            type: [
              { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' }] },
            ],
            individual: roleRef,
          },
        ],
        period: { start: at(day, start) },
        reasonCode: [{ coding: [{ system: SNOMED, code: kase.condition.code, display: kase.condition.display }], text: kase.reason }],
        serviceProvider: { reference: `Organization/${hospitalId(h)}`, display: h.name },
      };
      const encRef = { reference: `Encounter/${id}` };
      const practitionerRef = { reference: `Practitioner/${practitionerId(d)}`, display: `Dr. ${d.given} ${d.family}` };
      const resources: Json[] = [encounter];
      resources.push({
        resourceType: 'Condition',
        id: `${id}-cond`,
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
        verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
        category: [
          {
            coding: [
              { system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis', display: 'Encounter Diagnosis' },
            ],
          },
        ],
        code: { coding: [{ system: SNOMED, code: kase.condition.code, display: kase.condition.display }], text: kase.condition.display },
        subject: { reference: `Patient/${p.id}` },
        encounter: encRef,
        recordedDate: at(day, start + 5),
        recorder: practitionerRef,
      });
      // vital signs: weight and blood pressure at every visit
      const age = Number(day.slice(0, 4)) - Number(p.resource.birthDate.slice(0, 4));
      const weight = age < 14 ? draw.int(18, 45) : draw.int(48, 96);
      const hypertensive = kase.key === 'hypertension' || kase.key === 'dyslipidaemia';
      const sys = hypertensive ? draw.int(136, 168) : draw.int(108, 134);
      const dia = hypertensive ? draw.int(86, 102) : draw.int(68, 86);
      resources.push({
        resourceType: 'Observation',
        id: `${id}-weight`,
        meta: profile('hms-observation'),
        status: 'final',
        category: OBS_CATEGORY('vital-signs', 'Vital Signs'),
        code: { coding: [{ system: LOINC, code: '29463-7', display: 'Body weight' }], text: 'Body weight' },
        subject: { reference: `Patient/${p.id}` },
        encounter: encRef,
        effectiveDateTime: at(day, start),
        performer: [practitionerRef],
        valueQuantity: quantity(weight, 'kg', 'kg'),
      });
      resources.push({
        resourceType: 'Observation',
        id: `${id}-bp`,
        meta: profile('hms-observation'),
        status: 'final',
        category: OBS_CATEGORY('vital-signs', 'Vital Signs'),
        code: { coding: [{ system: LOINC, code: '85354-9', display: 'Blood pressure panel with all children optional' }], text: 'Blood pressure' },
        subject: { reference: `Patient/${p.id}` },
        encounter: encRef,
        effectiveDateTime: at(day, start),
        performer: [practitionerRef],
        interpretation: sys >= 140 || dia >= 90 ? [hl7Interpretation('H', 'High')] : [hl7Interpretation('N', 'Normal')],
        component: [
          {
            code: { coding: [{ system: LOINC, code: '8480-6', display: 'Systolic blood pressure' }] },
            valueQuantity: quantity(sys, 'mmHg', 'mm[Hg]'),
            referenceRange: [{ low: quantity(90, 'mmHg', 'mm[Hg]'), high: quantity(139, 'mmHg', 'mm[Hg]') }],
          },
          {
            code: { coding: [{ system: LOINC, code: '8462-4', display: 'Diastolic blood pressure' }] },
            valueQuantity: quantity(dia, 'mmHg', 'mm[Hg]'),
            referenceRange: [{ low: quantity(60, 'mmHg', 'mm[Hg]'), high: quantity(89, 'mmHg', 'mm[Hg]') }],
          },
        ],
      });
      kase.prescriptions.forEach(([productKey, qty, dosage], i) => {
        const product = PRODUCTS.find((x) => x.key === productKey)!;
        resources.push({
          resourceType: 'MedicationRequest',
          id: `${id}-rx${i + 1}`,
          meta: profile('hms-medicationrequest'),
          identifier: [{ system: `${SID}/prescription-id`, value: `RX-${id.slice(9)}-${i + 1}` }],
          groupIdentifier: { system: `${SID}/appointment-id`, value: encounter.identifier[0].value },
          status: 'active',
          intent: 'order',
          medicationCodeableConcept: { coding: [{ system: SNOMED, code: product.snomed, display: product.display }], text: product.text },
          subject: { reference: `Patient/${p.id}` },
          encounter: encRef,
          authoredOn: at(day, start + 8),
          requester: practitionerRef,
          reasonReference: [{ reference: `Condition/${id}-cond` }],
          dosageInstruction: [{ text: dosage }],
          dispenseRequest: { quantity: { value: qty, unit: product.unit } },
        });
      });
      if (kase.lab) resources.push(...labReport(draw, kase.lab, id, p, day, start, practitionerRef, h));
      const finished = status === 'finished';
      out.push({
        id,
        patient: p,
        hospital: h,
        doctor: d,
        daysAgo,
        status,
        handedOver: finished && daysAgo >= 2,
        resources,
        concluded: finished ? { ...encounter, status: 'finished', period: { start: at(day, start), end: at(day, end) } } : undefined,
      });
    }
  }
  return out;
}

function hl7Interpretation(code: string, display: string): Json {
  return { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code, display }] };
}

function labReport(draw: Draw, lab: LabSpec, id: string, p: PatientSpec, day: string, start: number, doctor: Json, h: HospitalSpec): Json[] {
  const encRef = { reference: `Encounter/${id}` };
  const obs = (suffix: string, code: string, display: string, value: Json, range: Json, high: boolean): Json => ({
    resourceType: 'Observation',
    id: `${id}-${suffix}`,
    meta: profile('hms-observation'),
    status: 'final',
    category: OBS_CATEGORY('laboratory', 'Laboratory'),
    code: { coding: [{ system: LOINC, code, display }], text: display },
    subject: { reference: `Patient/${p.id}` },
    encounter: encRef,
    effectiveDateTime: at(day, start - 60),
    issued: `${at(day, start - 20).slice(0, 19)}+05:30`,
    valueQuantity: value,
    interpretation: [high ? hl7Interpretation('H', 'High') : hl7Interpretation('N', 'Normal')],
    referenceRange: [range],
  });
  const results: Json[] = [];
  if (lab.key === 'hba1c') {
    const v = draw.int(56, 98) / 10;
    results.push(
      obs(
        'hba1c',
        '4548-4',
        'Hemoglobin A1c/Hemoglobin.total in Blood',
        quantity(v, '%', '%'),
        { low: quantity(4, '%', '%'), high: quantity(5.6, '%', '%') },
        v > 5.6,
      ),
    );
  } else if (lab.key === 'lipid') {
    const tc = draw.int(170, 280);
    const ldl = draw.int(90, 190);
    results.push(
      obs(
        'chol',
        '2093-3',
        'Cholesterol [Mass/volume] in Serum or Plasma',
        quantity(tc, 'mg/dL', 'mg/dL'),
        { high: quantity(200, 'mg/dL', 'mg/dL') },
        tc > 200,
      ),
      obs(
        'ldl',
        '18262-6',
        'Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay',
        quantity(ldl, 'mg/dL', 'mg/dL'),
        { high: quantity(130, 'mg/dL', 'mg/dL') },
        ldl > 130,
      ),
    );
  } else {
    const hb = draw.int(98, 156) / 10;
    const female = p.resource.gender === 'female';
    const lo = female ? 12 : 13;
    results.push(
      obs(
        'hb',
        '718-7',
        'Hemoglobin [Mass/volume] in Blood',
        quantity(hb, 'g/dL', 'g/dL'),
        { low: quantity(lo, 'g/dL', 'g/dL'), high: quantity(female ? 15.5 : 17, 'g/dL', 'g/dL') },
        false,
      ),
    );
    if (hb < lo) results[0].interpretation = [hl7Interpretation('L', 'Low')];
  }
  return [
    ...results,
    {
      resourceType: 'DiagnosticReport',
      id: `${id}-lab`,
      meta: profile('hms-diagnosticreport'),
      identifier: [{ system: `${SID}/report-id`, value: `RPT-${id.slice(9)}` }],
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB', display: 'Laboratory' }] }],
      code: { coding: [{ system: LOINC, code: lab.code, display: lab.display }], text: lab.display },
      subject: { reference: `Patient/${p.id}` },
      encounter: encRef,
      effectiveDateTime: at(day, start - 60),
      issued: `${at(day, start - 20).slice(0, 19)}+05:30`,
      performer: [{ reference: `Organization/${hospitalId(h)}`, display: `${h.name} laboratory` }],
      resultsInterpreter: [doctor],
      result: results.map((r) => ({ reference: `Observation/${r.id}` })),
    },
  ];
}

// ---- the whole network -------------------------------------------------------------------------------------------

export interface DemoNetwork {
  /** Written first, in this order (each list one transaction): places, products and prices, people. */
  reference: Json[][];
  patients: PatientSpec[];
  visits: VisitSpec[];
}

/**
 * The demo network for `today`'s calendar date in `timeZone` (the server's AROGYA_TIMEZONE; default UTC); the same
 * date gives the same network.
 */
export function demoNetwork(today: Date, timeZone = 'UTC', seed = 13_2026): DemoNetwork {
  const draw = new Draw(prng(seed));
  const places = [chain(), ...HOSPITALS.flatMap((h) => [hospital(h), dispensary(h)])];
  const products = [
    ...PRODUCTS.flatMap((p) => BATCHES.map((b) => medication(p, b))),
    ...PRODUCTS.map(medicinePrice),
    ...Object.values(LABS).map(labPrice),
    ...HOSPITALS.flatMap(stockItems),
    ...HOSPITALS.map((h) =>
      consultationPrice(
        `demo-price-consult-${h.key}`,
        `${BASE}/ChargeItemDefinition/consult-org-${hospitalId(h)}`,
        `OPD consultation, ${h.name}`,
        500,
      ),
    ),
  ];
  const people = DOCTORS.flatMap((d) => [
    practitioner(d),
    ...d.at.flatMap((a) => [
      role(d, a),
      consultationPrice(
        `demo-price-consult-${roleId(d, a.hospital).slice(10)}`,
        `${BASE}/ChargeItemDefinition/consult-${roleId(d, a.hospital)}`,
        `Consultation, Dr. ${d.given} ${d.family}, ${HOSPITALS.find((h) => h.key === a.hospital)!.name}`,
        a.fee,
      ),
    ]),
  ]);
  const pts = patients(draw);
  return { reference: [places, products, people, pts.map((p) => p.resource)], patients: pts, visits: visits(draw, pts, dayIn(today, timeZone)) };
}
