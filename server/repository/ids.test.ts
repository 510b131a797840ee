/** Server-assigned ids are UUID v7: well-formed, FHIR ids, distinct, and ordered by the millisecond they were made in. */
import { newResourceId } from './ids';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('a UUID v7 whose first 48 bits are the milliseconds it was made in', () => {
  const at = Date.UTC(2026, 11, 5, 4, 30, 0, 123);
  const id = newResourceId(at);
  expect(id).toMatch(V7);
  expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
  expect(id).toMatch(/^[A-Za-z0-9\-.]{1,64}$/); // a FHIR id
});

test('distinct, and in byte order across milliseconds (what keeps id-keyed indexes growing at one edge)', () => {
  const ids: string[] = [];
  const start = Date.now();
  for (let i = 0; i < 20_000; i++) ids.push(newResourceId(start + Math.floor(i / 100)));
  expect(new Set(ids).size).toBe(ids.length);
  for (let i = 100; i < ids.length; i += 100) expect(ids[i - 1] < ids[i]).toBe(true);
  expect(ids.every((id) => V7.test(id))).toBe(true);
});
