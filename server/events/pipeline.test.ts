import { dispatchStart } from './pipeline';

test('a dispatch starts in one simple query: PREPAREs only on a new connection, then BEGIN, SET LOCAL, the DELETE and the probes', () => {
  const fresh = dispatchStart(500, ['SELECT 1 AS a', 'SELECT 2 AS b'], true).split(';\n');
  expect(fresh.slice(0, 3).every((s) => s.startsWith('PREPARE arogya_dispatch_'))).toBe(true);
  expect(fresh[0]).toContain('DELETE FROM event_outbox');
  expect(fresh[0]).toContain('LIMIT 500 FOR UPDATE SKIP LOCKED');
  expect(fresh[1]).toBe('PREPARE arogya_dispatch_1 AS SELECT 1 AS a');
  expect(fresh.slice(3)).toEqual([
    'BEGIN',
    "SET LOCAL application_name = 'arogya-events'",
    'EXECUTE arogya_dispatch_0',
    'EXECUTE arogya_dispatch_1',
    'EXECUTE arogya_dispatch_2',
  ]);
  const again = dispatchStart(500, ['SELECT 1 AS a', 'SELECT 2 AS b'], false).split(';\n');
  expect(again).toEqual(fresh.slice(3));
});

test('the batch size must be a positive integer (it is written into the statement)', () => {
  expect(() => dispatchStart(0)).toThrow(/positive integer/);
  expect(() => dispatchStart(1.5)).toThrow(/positive integer/);
  expect(dispatchStart(1, [], true)).toContain('LIMIT 1 ');
});
