import { dispatchResults, dispatchStart } from './pipeline';

test('a dispatch starts in one simple query: PREPAREs only on a new connection, then BEGIN, SET LOCAL, the DELETE and the probes', () => {
  const fresh = dispatchStart(500, ['SELECT 1 AS a', 'SELECT 2 AS b'], true).split(';\n');
  expect(fresh.slice(0, 3).every((s) => s.startsWith('PREPARE arogya_dispatch_'))).toBe(true);
  expect(fresh[0]).toContain('DELETE FROM event_outbox');
  expect(fresh[0]).toContain('LIMIT 500 FOR UPDATE SKIP LOCKED');
  expect(fresh[1]).toBe('PREPARE arogya_dispatch_1 AS SELECT 1 AS a');
  expect(fresh.slice(3)).toEqual([
    'BEGIN',
    "SET LOCAL application_name = 'arogya-events'",
    // the DELETE alone is planned without sequential or bitmap scans (a queue table full of dead rows)
    'SET LOCAL enable_seqscan = off',
    'SET LOCAL enable_bitmapscan = off',
    'EXECUTE arogya_dispatch_0',
    'SET LOCAL enable_seqscan TO DEFAULT',
    'SET LOCAL enable_bitmapscan TO DEFAULT',
    'EXECUTE arogya_dispatch_1',
    'EXECUTE arogya_dispatch_2',
  ]);
  const again = dispatchStart(500, ['SELECT 1 AS a', 'SELECT 2 AS b'], false).split(';\n');
  expect(again).toEqual(fresh.slice(3));
});

test("dispatchResults picks the DELETE's and the probes' results, with or without the PREPAREs before them", () => {
  for (const prepare of [true, false]) {
    for (const probes of [[], ['SELECT 1 AS a', 'SELECT 2 AS b']]) {
      const statements = dispatchStart(500, probes, prepare).split(';\n');
      const { deleted, probed } = dispatchResults(statements, probes.length);
      expect(deleted).toBe('EXECUTE arogya_dispatch_0');
      expect(probed).toEqual(probes.map((_, i) => `EXECUTE arogya_dispatch_${i + 1}`));
    }
  }
});

test('the batch size must be a positive integer (it is written into the statement)', () => {
  expect(() => dispatchStart(0)).toThrow(/positive integer/);
  expect(() => dispatchStart(1.5)).toThrow(/positive integer/);
  expect(dispatchStart(1, [], true)).toContain('LIMIT 1 ');
});
