/** Search result parameters (search.html#return): what a search returns, never criteria. */
import { OperationOutcomeError } from '../outcome';
import { defaultControls, parseControl, parseTypes } from './controls';
import type { SearchControls } from './criteria';
import { parseSearch } from './parse';

function controls(type: string, query: string): SearchControls {
  return parseSearch([type], [...new URLSearchParams(query)], { timeZone: 'UTC', baseUrl: '' }).controls;
}

function diagnostics(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!(e instanceof OperationOutcomeError)) throw e;
    expect(e.status).toBe(400);
    return e.issues[0].diagnostics ?? '';
  }
  throw new Error('expected a 400');
}

test('no result parameters: the defaults', () => {
  expect(controls('Patient', 'gender=male')).toEqual(defaultControls());
  expect(defaultControls()).toEqual({ sort: [], include: [], contained: 'false', containedType: 'container' });
});

test('_sort: keys in order, - for descending, typed; unsortable parameters refused', () => {
  expect(controls('Observation', '_sort=-date,code,_id,-_lastUpdated').sort).toEqual([
    { code: 'date', descending: true, type: 'date' },
    { code: 'code', descending: false, type: 'token' },
    { code: '_id', descending: false, type: 'id' },
    { code: '_lastUpdated', descending: true, type: 'lastUpdated' },
  ]);
  expect(diagnostics(() => controls('Observation', '_sort=code-value-quantity'))).toContain(
    "Sorting by composite parameter 'code-value-quantity' is not supported",
  );
  expect(diagnostics(() => controls('Patient', '_sort=phonetic'))).toContain('is not supported');
  expect(diagnostics(() => controls('Patient', '_sort:desc=name'))).toContain('_sort takes no modifier');
});

test('_count: a non-negative integer', () => {
  expect(controls('Patient', '_count=0').count).toBe(0);
  expect(controls('Patient', '_count=50').count).toBe(50);
  expect(diagnostics(() => controls('Patient', '_count=-1'))).toContain("_count takes a non-negative integer, got '-1'");
  expect(diagnostics(() => controls('Patient', '_count=ten'))).toContain('non-negative integer');
});

test('_include and _revinclude, with :iterate, a target type and *', () => {
  expect(controls('Observation', '_include=Observation:subject:Patient&_revinclude:iterate=Provenance:target').include).toEqual([
    { sourceType: 'Observation', params: ['subject'], targetType: 'Patient', iterate: false, reverse: false },
    { sourceType: 'Provenance', params: ['target'], targetType: undefined, iterate: true, reverse: true },
  ]);
  const star = controls('Observation', '_include=Observation:*').include[0];
  expect(star.params).toEqual(expect.arrayContaining(['subject', 'patient', 'encounter', 'performer']));
  expect(star.params.length).toBe(new Set(star.params).size);
  expect(controls('Observation', '_include=*').include).toEqual([{ sourceType: '*', params: ['*'], iterate: false, reverse: false }]);
});

test('_include errors name what is wrong', () => {
  expect(diagnostics(() => controls('Observation', '_include=Observation'))).toContain("expected Type:parameter[:targetType], got 'Observation'");
  expect(diagnostics(() => controls('Observation', '_include=Patient:organization'))).toContain('Patient is not a type being searched');
  expect(diagnostics(() => controls('Observation', '_include=Observation:code'))).toBe("'code' is not a reference parameter of Observation");
  expect(diagnostics(() => controls('Observation', '_include=Observation:subject:Nothing'))).toContain("'Nothing' is not a resource type");
  expect(diagnostics(() => controls('Observation', '_include:deep=Observation:subject'))).toBe("Modifier ':deep' is not supported on _include");
  expect(diagnostics(() => controls('Observation', '_revinclude=*'))).toBe('_revinclude=* is not supported');
});

test('_total, _summary, _elements, _contained, _containedType take their listed values', () => {
  expect(controls('Patient', '_total=accurate&_summary=count&_elements=name,birthDate').total).toBe('accurate');
  expect(controls('Patient', '_summary=count').summary).toBe('count');
  expect(controls('Patient', '_elements=name, identifier.system').elements).toEqual(['name', 'identifier.system']);
  expect(controls('Patient', '_contained=both&_containedType=contained')).toMatchObject({ contained: 'both', containedType: 'contained' });
  expect(diagnostics(() => controls('Patient', '_total=some'))).toContain('_total takes none, estimate or accurate');
  expect(diagnostics(() => controls('Patient', '_summary=short'))).toContain('_summary takes true, text, data, count or false');
  expect(diagnostics(() => controls('Patient', '_elements=na-me'))).toContain("'na-me' is not an element name");
  expect(diagnostics(() => controls('Patient', '_contained=maybe'))).toContain('_contained takes true, false or both');
  expect(diagnostics(() => controls('Patient', '_containedType=self'))).toContain('_containedType takes container or contained');
});

test('a search of contained resources refuses what it cannot answer', () => {
  expect(diagnostics(() => controls('Observation', '_contained=true&_sort=date'))).toContain('_sort is not supported with _contained=true');
  expect(diagnostics(() => controls('Observation', '_contained=true&_include=Observation:subject'))).toContain(
    '_include and _revinclude are not supported',
  );
  expect(diagnostics(() => controls('Patient', '_contained=both&_has:Observation:subject:code=x'))).toContain(
    '_has is not supported with _contained=both',
  );
  expect(diagnostics(() => parseSearch(['Patient', 'Practitioner'], [['_contained', 'true']], { timeZone: 'UTC', baseUrl: '' }))).toContain(
    'needs a single resource type',
  );
});

test('parseControl sets one control', () => {
  const c = defaultControls();
  parseControl(['Patient'], '_cursor', 'abc', c);
  expect(c.cursor).toBe('abc');
});

test('_type: resource types, repeated or comma-separated, deduplicated', () => {
  expect(parseTypes([['name', 'x']])).toBeUndefined();
  expect(
    parseTypes([
      ['_type', 'Patient, Practitioner'],
      ['_type', 'Patient'],
    ]),
  ).toEqual(['Patient', 'Practitioner']);
  expect(diagnostics(() => parseTypes([['_type', 'Patient,Nothing']]))).toContain("'Nothing' is not a resource type");
});
