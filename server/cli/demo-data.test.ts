/**
 * The demo network's data (demo-data.ts), without a database: the same day gives the same network (the PRNG is
 * seeded), ids and national identifiers are unique, every reference points into the network, and the shape the
 * issue asks for (3 hospitals, 10 doctors, 200 patients, visits today and before).
 */
import { type Json, dayIn, demoNetwork } from './demo-data';

const DAY = new Date('2026-12-05T06:00:00Z');

const all = (n: ReturnType<typeof demoNetwork>): Json[] => [...n.reference.flat(), ...n.visits.flatMap((v) => v.resources)];

test('the same day gives the same network; another day moves only the dates', () => {
  const a = demoNetwork(DAY);
  expect(JSON.stringify(demoNetwork(new Date(DAY))).length).toBe(JSON.stringify(a).length);
  expect(demoNetwork(new Date(DAY))).toEqual(a);
  const b = demoNetwork(new Date('2026-12-06T06:00:00Z'));
  expect(all(b).map((r) => `${r.resourceType}/${r.id}`)).toEqual(all(a).map((r) => `${r.resourceType}/${r.id}`));
  expect(b.visits[0].resources[0].period.start).not.toBe(a.visits[0].resources[0].period.start);
});

test('3 hospitals, 10 doctors, 200 patients with unique NHIDs; unique ids; references resolve inside the network', () => {
  const n = demoNetwork(DAY);
  const resources = all(n);
  const ids = resources.map((r) => `${r.resourceType}/${r.id}`);
  expect(new Set(ids).size).toBe(ids.length);
  const of = (t: string) => resources.filter((r) => r.resourceType === t);
  expect(of('Organization').filter((o) => o.identifier.some((i: Json) => i.system === 'https://facility.abdm.gov.in'))).toHaveLength(3);
  expect(of('Practitioner')).toHaveLength(10);
  expect(of('Patient')).toHaveLength(200);
  const nhids = of('Patient').map((p) => p.identifier[0].value.replace(/-/g, ''));
  expect(new Set(nhids).size).toBe(200);
  const hprs = of('Practitioner').map((p) => p.identifier[0].value);
  expect(new Set(hprs).size).toBe(10);
  const known = new Set(ids);
  const refs: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'reference' && typeof x === 'string') refs.push(x);
        else walk(x);
      }
    }
  };
  resources.forEach(walk);
  expect(refs.filter((r) => !known.has(r))).toEqual([]);
});

test('visits: most concluded, some open today, handover only for concluded ones two days old or more', () => {
  const { visits } = demoNetwork(DAY);
  expect(visits.length).toBeGreaterThan(250);
  const today = visits.filter((v) => v.daysAgo === 0);
  expect(today.filter((v) => v.status === 'in-progress').length).toBeGreaterThan(0);
  expect(today.filter((v) => v.status === 'finished').length).toBeGreaterThan(0);
  expect(visits.filter((v) => v.status === 'finished').length).toBeGreaterThan(visits.length * 0.8);
  for (const v of visits) {
    expect(v.handedOver).toBe(v.status === 'finished' && v.daysAgo >= 2);
    expect(v.concluded?.status).toBe(v.status === 'finished' ? 'finished' : undefined);
    expect(v.resources.filter((r) => r.resourceType === 'MedicationRequest').length).toBeGreaterThan(0);
  }
  expect(visits.filter((v) => v.resources.some((r) => r.resourceType === 'DiagnosticReport')).length).toBeGreaterThan(30);
});

test("today is the calendar date in the server's zone (AROGYA_TIMEZONE): late evening UTC is already tomorrow in India", () => {
  const evening = new Date('2026-12-05T20:00:00Z'); // 01:30 on 6 December in India
  expect(dayIn(evening, 'UTC')).toBe('2026-12-05');
  expect(dayIn(evening, 'Asia/Kolkata')).toBe('2026-12-06');
  const todays = (zone: string) =>
    demoNetwork(evening, zone)
      .visits.filter((v) => v.daysAgo === 0)
      .map((v) => (v.resources[0].period.start as string).slice(0, 10));
  expect(new Set(todays('UTC'))).toEqual(new Set(['2026-12-05']));
  expect(new Set(todays('Asia/Kolkata'))).toEqual(new Set(['2026-12-06']));
  // the default zone is UTC; the day is counted in dates across a DST change (New York, 1 November 2026)
  expect(demoNetwork(evening)).toEqual(demoNetwork(evening, 'UTC'));
  const nov = demoNetwork(new Date('2026-11-03T12:00:00Z'), 'America/New_York').visits;
  for (const v of nov) {
    const start = v.resources[0].period.start as string;
    expect(Date.parse(`${start.slice(0, 10)}T00:00:00Z`)).toBe(Date.parse('2026-11-03T00:00:00Z') - v.daysAgo * 86_400_000);
  }
});
