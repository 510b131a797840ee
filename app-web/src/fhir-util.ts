/** Reading FHIR values for display (pure functions). */
import type { CodeableConcept, HumanName, Identifier, Patient, Quantity, Reference } from '@medplum/fhirtypes';

export const NHID_SYSTEMS = ['https://healthid.abdm.gov.in', 'https://healthid.ndhm.gov.in'];
export const HFR_SYSTEMS = ['https://facility.abdm.gov.in', 'https://facility.ndhm.gov.in'];

export function nameOf(names: HumanName[] | undefined): string {
  const n = names?.find((x) => x.use === 'official') ?? names?.[0];
  if (!n) return '(no name)';
  if (n.text) return n.text;
  return [...(n.prefix ?? []), ...(n.given ?? []), n.family].filter(Boolean).join(' ') || '(no name)';
}

export function identifierOf(ids: Identifier[] | undefined, systems: string[]): string | undefined {
  return ids?.find((i) => i.system && systems.includes(i.system))?.value;
}

/** An NHID as 14 digits grouped 2-4-4-4 (the ABHA number's printed form). */
export function formatNhid(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const d = v.replace(/[\s-]/g, '');
  return /^\d{14}$/.test(d) ? `${d.slice(0, 2)}-${d.slice(2, 6)}-${d.slice(6, 10)}-${d.slice(10)}` : v;
}

export function phoneOf(p: Patient): string | undefined {
  return p.telecom?.find((t) => t.system === 'phone')?.value;
}

export function conceptText(c: CodeableConcept | undefined): string {
  if (!c) return '';
  return c.text ?? c.coding?.find((x) => x.display)?.display ?? c.coding?.[0]?.code ?? '';
}

export function refId(r: Reference | undefined, type?: string): string | undefined {
  const ref = r?.reference;
  if (!ref) return undefined;
  const parts = ref.split('/');
  if (parts.length < 2) return undefined;
  // absolute or relative, with or without _history
  const hist = parts.indexOf('_history');
  const end = hist > 0 ? hist : parts.length;
  const t = parts[end - 2];
  if (type && t !== type) return undefined;
  return parts[end - 1];
}

export function quantityText(q: Quantity | undefined): string {
  if (!q || q.value === undefined) return '';
  return `${q.value}${q.unit ? ` ${q.unit}` : q.code ? ` ${q.code}` : ''}`;
}

const dateFmt = new Intl.DateTimeFormat('en-IN', { day: 'numeric', month: 'short', year: 'numeric' });
const dateTimeFmt = new Intl.DateTimeFormat('en-IN', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });

export function dateText(v: string | undefined, withTime = false): string {
  if (!v) return '';
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return v;
  return (withTime && v.length > 10 ? dateTimeFmt : dateFmt).format(d);
}

const inr = new Intl.NumberFormat('en-IN', { style: 'currency', currency: 'INR' });
export function money(v: number | undefined): string {
  return v === undefined ? '' : inr.format(v);
}

/** Local date as YYYY-MM-DD (for search dates, read by the server in its time zone). */
export function isoDay(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}
