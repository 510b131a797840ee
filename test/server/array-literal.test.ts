/**
 * The write statement sends its arrays as literals built by writes.ts arrayLiteral (one pass, instead of pg's
 * per-element escaping): every awkward string must come back from PostgreSQL exactly as sent.
 */
import { useServer } from '../harness';
import { arrayLiteral } from '../../server/repository/writes';

const server = useServer();

test('text, bool, int and numeric arrays round-trip through PostgreSQL', async () => {
  const texts = ['a', 'b"c', 'd\\e', null, '{x,y}', 'NULL', '', ' padded ', '{"k":"v\\n"}', 'ü€😀', "it's", 'a,b', '\t\n'];
  const { rows } = await server.pool.query<{ t: (string | null)[]; b: (boolean | null)[]; i: number[]; n: string[] }>(
    'SELECT $1::text[] AS t, $2::bool[] AS b, $3::int[] AS i, $4::numeric[]::text[] AS n',
    [arrayLiteral(texts), arrayLiteral([true, false, null]), arrayLiteral([1, 22, 333]), arrayLiteral(['235.40', '66.899999999999991', '-1E-22'])],
  );
  expect(rows[0].t).toEqual(texts);
  expect(rows[0].b).toEqual([true, false, null]);
  expect(rows[0].i).toEqual([1, 22, 333]);
  expect(rows[0].n).toEqual(['235.40', '66.899999999999991', '-0.0000000000000000000001']);
  expect(arrayLiteral([])).toBe('{}');
});
