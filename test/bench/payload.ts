/**
 * The benchmark payload: a Patient as an Indian hospital management system registers one — ABHA number (NHID,
 * https://healthid.abdm.gov.in, typed HIN + MR as HMS-DOMAIN.md §3.2 recommends), hospital MRN, names in two
 * forms, phone/email, address with district and PIN, emergency contact, languages, a narrative and an extension.
 * About 2 KB of compact JSON, no references (a create is then the single-statement write path).
 *
 * The NHID is unique across the server in the HMS model (HMS-DOMAIN.md §4.3), so every created Patient gets its
 * own: `bodyWithNhid(n)` splices a distinct 14-digit number into the same text.
 */

import type { Patient } from '@medplum/fhirtypes';

const NHID_PLACEHOLDER = '@@NHID@@';

/** Typed with @medplum/fhirtypes so a misspelt element fails the type check before the server's validator sees it. */
const patient: Patient = {
  resourceType: 'Patient',
  text: {
    status: 'generated',
    div:
      '<div xmlns="http://www.w3.org/1999/xhtml"><p><b>Priya Lakshmi Raghavan</b>, female, born 14 Aug 1987</p>' +
      '<p>ABHA ' +
      NHID_PLACEHOLDER +
      ', MRN KMH-2024-0047311</p><p>12/3 Gandhi Nagar 2nd Cross, Adyar, Chennai 600020</p></div>',
  },
  extension: [
    {
      url: 'http://hl7.org/fhir/StructureDefinition/patient-religion',
      valueCodeableConcept: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ReligiousAffiliation', code: '1020', display: 'Hinduism' }],
      },
    },
  ],
  identifier: [
    {
      type: {
        coding: [
          { system: 'https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-identifier-type-code', code: 'HIN', display: 'Health ID issued by NDHM' },
          { system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' },
        ],
      },
      system: 'https://healthid.abdm.gov.in',
      value: NHID_PLACEHOLDER,
    },
    {
      use: 'usual',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR', display: 'Medical record number' }] },
      system: 'https://hms.kauveri-hospital.in/fhir/sid/mrn',
      value: 'KMH-2024-0047311',
    },
  ],
  active: true,
  name: [
    { use: 'official', text: 'Priya Lakshmi Raghavan', family: 'Raghavan', given: ['Priya', 'Lakshmi'] },
    { use: 'usual', text: 'Priya R' },
  ],
  telecom: [
    { system: 'phone', value: '+91-98410-23456', use: 'mobile', rank: 1 },
    { system: 'email', value: 'priya.raghavan87@example.in', use: 'home' },
  ],
  gender: 'female',
  birthDate: '1987-08-14',
  address: [
    {
      use: 'home',
      type: 'physical',
      line: ['12/3 Gandhi Nagar 2nd Cross', 'Adyar'],
      city: 'Chennai',
      district: 'Chennai',
      state: 'Tamil Nadu',
      postalCode: '600020',
      country: 'IN',
      period: { start: '2019-04-01' },
    },
  ],
  maritalStatus: {
    coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus', code: 'M', display: 'Married' }],
  },
  contact: [
    {
      relationship: [
        { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0131', code: 'C', display: 'Emergency Contact' }] },
        { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleCode', code: 'HUSB', display: 'husband' }] },
      ],
      name: { text: 'Karthik Raghavan', family: 'Raghavan', given: ['Karthik'] },
      telecom: [{ system: 'phone', value: '+91-98400-77821', use: 'mobile' }],
      gender: 'male',
    },
  ],
  communication: [
    { language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'ta', display: 'Tamil' }], text: 'Tamil' }, preferred: true },
    { language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en-IN', display: 'English (India)' }], text: 'English' } },
  ],
};

const [HEAD, MIDDLE, TAIL] = JSON.stringify(patient).split(NHID_PLACEHOLDER);

/** A 14-digit ABHA number in its NN-NNNN-NNNN-NNNN form, distinct for each n. */
export function nhid(n: number): string {
  const d = String(91_0000_0000_0000 + (n % 1_0000_0000_0000));
  return `${d.slice(0, 2)}-${d.slice(2, 6)}-${d.slice(6, 10)}-${d.slice(10)}`;
}

/** The Patient JSON text (compact), with the n-th NHID in its identifier and narrative. */
export function bodyWithNhid(n: number): string {
  const id = nhid(n);
  return HEAD + id + MIDDLE + id + TAIL;
}

/** The payload as used for the raw baseline and the in-process measurements (one fixed NHID). */
export const PATIENT_JSON = bodyWithNhid(0);

/** The HMS Patient profile (profiles/StructureDefinition-hms-patient.json); the payload conforms to it. */
export const HMS_PATIENT_PROFILE = 'https://arogya.dev/fhir/StructureDefinition/hms-patient';
const PROFILED_HEAD = HEAD.replace('{"resourceType":"Patient",', `{"resourceType":"Patient","meta":{"profile":["${HMS_PATIENT_PROFILE}"]},`);

/** The same Patient claiming the HMS Patient profile (validated against it on write). */
export function profiledBodyWithNhid(n: number): string {
  const id = nhid(n);
  return PROFILED_HEAD + id + MIDDLE + id + TAIL;
}
