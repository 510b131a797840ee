/**
 * Composite search parameters with three components (search.html#composite): R4's MolecularSequence coordinates
 * — chromosome-/referenceseqid-variant-/window-coordinate, token $ number (start) $ number (end). Every component
 * is matched on the same element (one variant, or the referenceSeq), prefixes apply to the number components, and
 * the search region is 1-based (the parameters' R4 definitions): a 0-based sequence's start counts one higher.
 * Expected result sets are computed by hand from the resources below.
 */
import { useServer, type Json } from '../harness';
import { loadFixtures, matchIds } from './fixtures';

const CHROMOSOME = 'http://terminology.hl7.org/CodeSystem/chromosome-human';
const NUCCORE = 'http://www.ncbi.nlm.nih.gov/nuccore';

function onChromosome(id: string, coordinateSystem: 0 | 1, chromosome: string, window: [number, number], variants: [number, number][]): Json {
  return {
    resourceType: 'MolecularSequence',
    id,
    type: 'dna',
    coordinateSystem,
    referenceSeq: {
      chromosome: { coding: [{ system: CHROMOSOME, code: chromosome }] },
      genomeBuild: 'GRCh37',
      windowStart: window[0],
      windowEnd: window[1],
    },
    variant: variants.map(([start, end]) => ({ start, end })),
  };
}

function onReferenceSeq(id: string, coordinateSystem: 0 | 1, seqId: string, window: [number, number], variants: [number, number][]): Json {
  return {
    resourceType: 'MolecularSequence',
    id,
    type: 'dna',
    coordinateSystem,
    referenceSeq: { referenceSeqId: { coding: [{ system: NUCCORE, code: seqId }] }, strand: 'watson', windowStart: window[0], windowEnd: window[1] },
    variant: variants.map(([start, end]) => ({ start, end })),
  };
}

// 1-based (as searched):  window                      variants
// ms1 chr 1, 1-based      [22125500, 22125510]        [22125503, 22125504], [22125600, 22125610]
// ms2 chr 1, 0-based      [22125500, 22125510]        [22125500, 22125500]
// ms3 chr 2, 1-based      [22125500, 22125510]        [22125505, 22125506]
// ms4 chr 1, 1-based      [22125000, 22126000]        [22125490, 22125520]
// ms5 NC_000009.11 0-based [22125501, 22125510]       [22125504, 22125504]
// ms6 NC_000009.11 1-based [22125500, 22125510]       [22125503, 22125504]
const sequences: Json[] = [
  onChromosome(
    'ms1',
    1,
    '1',
    [22125500, 22125510],
    [
      [22125503, 22125504],
      [22125600, 22125610],
    ],
  ),
  onChromosome('ms2', 0, '1', [22125499, 22125510], [[22125499, 22125500]]),
  onChromosome('ms3', 1, '2', [22125500, 22125510], [[22125505, 22125506]]),
  onChromosome('ms4', 1, '1', [22125000, 22126000], [[22125490, 22125520]]),
  onReferenceSeq('ms5', 0, 'NC_000009.11', [22125500, 22125510], [[22125503, 22125504]]),
  onReferenceSeq('ms6', 1, 'NC_000009.11', [22125500, 22125510], [[22125503, 22125504]]),
];

const server = useServer();
beforeAll(async () => {
  await loadFixtures(server, sequences);
});

const q = (query: string) => matchIds(server, query);
const enc = encodeURIComponent;
const variant = (v: string) => q(`/MolecularSequence?chromosome-variant-coordinate=${enc(v)}`);

describe('chromosome-variant-coordinate', () => {
  test('prefixes on start and end, matched on the same variant', async () => {
    expect(await variant('1$ge22125500$le22125510')).toEqual(['ms1', 'ms2']);
    expect(await variant(`${CHROMOSOME}|1$ge22125500$le22125510`)).toEqual(['ms1', 'ms2']);
    expect(await variant('http://other|1$ge22125500$le22125510')).toEqual([]);
    expect(await variant('2$ge22125500$le22125510')).toEqual(['ms3']);
    // the spec's overlap form (start < b, end > a): variants overlapping position 22125503.5
    expect(await variant('1$lt22125504$gt22125503')).toEqual(['ms1', 'ms4']);
    // ms1 has a variant starting at or after 22125600 and another ending at or before 22125504, never both
    expect(await variant('1$ge22125600$le22125504')).toEqual([]);
    expect(await variant('1$ge22125600$le22125610')).toEqual(['ms1']);
  });
  test('without prefixes: equality (a number stands for its precision range)', async () => {
    expect(await variant('1$22125503$22125504')).toEqual(['ms1']);
    expect(await variant('1$22125503$22125505')).toEqual([]);
    expect(await variant('1$22125500$22125500')).toEqual(['ms2']); // 0-based [22125499, 22125500) is 1-based 22125500..22125500
    expect(await variant('1$22125499$22125500')).toEqual([]);
  });
  test('comma is OR, repetition is AND (each value on its own element)', async () => {
    expect(await variant('1$22125503$22125504,2$22125505$22125506')).toEqual(['ms1', 'ms3']);
    expect(
      await q(
        `/MolecularSequence?chromosome-variant-coordinate=${enc('1$ge22125600$le22125610')}&chromosome-variant-coordinate=${enc('1$le22125503$ge22125504')}`,
      ),
    ).toEqual(['ms1']);
    expect(
      await q(
        `/MolecularSequence?chromosome-variant-coordinate=${enc('1$ge22125400$le22125700')}&chromosome-window-coordinate=${enc('1$le22125000$ge22126000')}`,
      ),
    ).toEqual(['ms4']);
  });
  test(':missing', async () => {
    expect(await q('/MolecularSequence?chromosome-variant-coordinate:missing=true')).toEqual(['ms5', 'ms6']);
    expect(await q('/MolecularSequence?chromosome-variant-coordinate:missing=false')).toEqual(['ms1', 'ms2', 'ms3', 'ms4']);
  });
});

describe('the other three-component composites', () => {
  test('chromosome-window-coordinate', async () => {
    const window = (v: string) => q(`/MolecularSequence?chromosome-window-coordinate=${enc(v)}`);
    expect(await window('1$le22125500$ge22125510')).toEqual(['ms1', 'ms2', 'ms4']);
    expect(await window('1$22125500$22125510')).toEqual(['ms1', 'ms2']);
    expect(await window('1$gt22125500$ge22125510')).toEqual([]);
    expect(await window('2$le22125500$ge22125510')).toEqual(['ms3']);
  });
  test('referenceseqid-variant-coordinate', async () => {
    const variantOn = (v: string) => q(`/MolecularSequence?referenceseqid-variant-coordinate=${enc(v)}`);
    expect(await variantOn('NC_000009.11$ge22125504$le22125504')).toEqual(['ms5']);
    expect(await variantOn(`${NUCCORE}|NC_000009.11$22125503$22125504`)).toEqual(['ms6']);
    expect(await variantOn('NC_000009.11$ge22125503$le22125504')).toEqual(['ms5', 'ms6']);
    expect(await variantOn('NC_000001.11$ge1$le99999999')).toEqual([]);
  });
  test('referenceseqid-window-coordinate', async () => {
    const windowOn = (v: string) => q(`/MolecularSequence?referenceseqid-window-coordinate=${enc(v)}`);
    expect(await windowOn(`${NUCCORE}|NC_000009.11$ge22125501$le22125510`)).toEqual(['ms5']);
    expect(await windowOn('NC_000009.11$le22125500$ge22125510')).toEqual(['ms6']);
    expect(await windowOn('NC_000009.11$ap22125500$22125510')).toEqual(['ms5', 'ms6']);
  });
});

describe('index rows follow the resource', () => {
  test('an update replaces the coordinates, a deletion removes them', async () => {
    const moved = onChromosome('ms7', 1, '3', [100, 200], [[150, 160]]);
    await loadFixtures(server, [moved]);
    expect(await variant('3$150$160')).toEqual(['ms7']);
    await loadFixtures(server, [{ ...moved, variant: [{ start: 170, end: 180 }] }]);
    expect(await variant('3$150$160')).toEqual([]);
    expect(await variant('3$ge170$le180')).toEqual(['ms7']);
    expect([200, 204]).toContain((await server.request('DELETE', '/MolecularSequence/ms7')).status);
    expect(await variant('3$ge170$le180')).toEqual([]);
  });
});

describe('errors', () => {
  test.each([
    ['two parts', '1$ge22125500'],
    ['four parts', '1$ge1$le2$3'],
    ['a non-number', '1$abc$22125510'],
    ['an unknown prefix', '1$xx5$22125510'],
  ])('%s is a 400 naming the parameter', async (_what, value) => {
    const res = await server.request('GET', `/MolecularSequence?chromosome-variant-coordinate=${enc(value)}`);
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toContain('chromosome-variant-coordinate');
  });
  test('sorting by a composite is refused with a clear 400', async () => {
    const res = await server.request('GET', '/MolecularSequence?_sort=chromosome-variant-coordinate');
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/Sorting by composite parameter 'chromosome-variant-coordinate' is not supported/);
  });
});

describe('the CapabilityStatement lists them', () => {
  test('MolecularSequence has the four coordinate composites', async () => {
    const res = await server.request('GET', '/metadata');
    const ms = (res.body.rest[0].resource as Json[]).find((r) => r.type === 'MolecularSequence')!;
    const composites = (ms.searchParam as Json[])
      .filter((p) => p.type === 'composite')
      .map((p) => p.name)
      .sort();
    expect(composites).toEqual([
      'chromosome-variant-coordinate',
      'chromosome-window-coordinate',
      'referenceseqid-variant-coordinate',
      'referenceseqid-window-coordinate',
    ]);
  });
});
