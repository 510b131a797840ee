/** The paging cursor codec: what goes in comes out, and anything else is a 400 naming _cursor. */
import { OperationOutcomeError } from '../fhir/outcome';
import { decodeCursor, encodeCursor, type PagePosition } from './cursor';

/** The OperationOutcomeError a refused cursor raises; anything else fails the test. */
function refusal(decode: () => unknown): OperationOutcomeError {
  try {
    decode();
  } catch (e) {
    expect(e).toBeInstanceOf(OperationOutcomeError);
    return e as OperationOutcomeError;
  }
  throw new Error('expected the cursor to be refused');
}

test('a position round-trips, with nulls, direction and pin', () => {
  const positions: PagePosition[] = [
    { section: 0, keys: [] },
    { section: 1, keys: ['2026-01-01T00:00:00.123456+00', null, 'id-1', 'Patient'] },
    { section: 0, keys: ['x'], backward: true },
    { section: 2, keys: ['a', 'b', '3'], pin: '2026-12-05T04:00:00.000Z' },
    { section: 0, keys: ['ünïcødé ✓', '"quoted" \\ text'] },
  ];
  for (const p of positions) expect(decodeCursor(encodeCursor(p))).toEqual(p);
});

test('the text is URL-safe', () => {
  expect(encodeCursor({ section: 0, keys: ['???>>>~~~'.repeat(10)] })).toMatch(/^[A-Za-z0-9_-]+$/);
});

test('garbage and wrong shapes are a 400', () => {
  const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  for (const bad of [
    'garbage',
    '',
    enc({ s: 0, k: [] }),
    enc([0, [], 0, 1]),
    enc([-1, [], 0]),
    enc([0.5, [], 0]),
    enc([0, [1], 0]),
    enc([0, [], 2]),
    enc([0, 'k', 0]),
    enc([0, [], 0, 'p', 'x']),
  ]) {
    expect(refusal(() => decodeCursor(bad)).status).toBe(400);
  }
});

test('a cursor that does not fit the reader is a 400 that says so', () => {
  const text = encodeCursor({ section: 3, keys: ['a'] });
  expect(refusal(() => decodeCursor(text, (p) => p.section < 2)).status).toBe(400);
  const error = refusal(() => decodeCursor(text, (p) => p.keys.length === 2));
  expect(error.issues[0].diagnostics).toMatch(/does not belong to this search/);
  expect(error.issues[0].expression).toEqual(['_cursor']);
  expect(decodeCursor(text, (p) => p.section === 3)).toEqual({ section: 3, keys: ['a'] });
});
