/** Search values by type (search.html#ptypes): escaping, prefixes, precision ranges, units, references. */
import { OperationOutcomeError } from '../outcome';
import { searchParam } from './registry';
import {
  parseCompositeValue,
  parseDateValue,
  parseNearValue,
  parseNumberValue,
  parsePrefix,
  parseQuantityValue,
  parseReferenceValue,
  parseToken,
  splitOr,
  splitUnescaped,
  stringValue,
  unescapeValue,
} from './values';

const ctx = { timeZone: 'UTC', baseUrl: 'https://fhir.example.org/fhir' };

/** The 400 a call throws, with its single issue. */
function refusal(f: () => unknown): { status: number; code: string; diagnostics: string; expression?: string[] } {
  try {
    f();
  } catch (e) {
    if (!(e instanceof OperationOutcomeError)) throw e;
    expect(e.issues).toHaveLength(1);
    return { status: e.status, code: e.issues[0].code, diagnostics: e.issues[0].diagnostics ?? '', expression: e.issues[0].expression };
  }
  throw new Error('expected an OperationOutcomeError');
}

describe('escaping (search.html#escaping)', () => {
  test('commas split values unless escaped; the other escapes survive the split for the next level', () => {
    expect(splitOr('a,b,,c')).toEqual(['a', 'b', '', 'c']);
    expect(splitOr('a\\,b,c')).toEqual(['a\\,b', 'c']);
    expect(splitOr('x\\|y,z\\$w')).toEqual(['x\\|y', 'z\\$w']);
    expect(splitOr('a\\\\,b')).toEqual(['a\\\\', 'b']); // an escaped backslash does not escape the comma
  });

  test('unescapeValue removes exactly the four escapes', () => {
    expect(unescapeValue('a\\,b\\|c\\$d\\\\e')).toBe('a,b|c$d\\e');
    expect(unescapeValue('a\\nb')).toBe('a\\nb');
  });

  test('splitting on | or $ skips escaped separators', () => {
    expect(splitUnescaped('s\\|x|c', '|')).toEqual(['s\\|x', 'c']);
    expect(splitUnescaped('a$b\\$c$d', '$')).toEqual(['a', 'b\\$c', 'd']);
  });
});

describe('tokens', () => {
  test.each([
    ['code', { system: undefined, code: 'code' }],
    ['|code', { system: null, code: 'code' }],
    ['http://loinc.org|8302-2', { system: 'http://loinc.org', code: '8302-2' }],
    ['http://loinc.org|', { system: 'http://loinc.org', code: null }],
    ['http://x\\|y|a\\|b', { system: 'http://x|y', code: 'a|b' }],
    ['a\\,b', { system: undefined, code: 'a,b' }],
  ])('%s', (raw, expected) => {
    expect(parseToken(raw)).toEqual(expected);
  });

  test('the legacy NDHM health-id system becomes the ABDM one, its number without hyphens', () => {
    expect(parseToken('https://healthid.ndhm.gov.in|12-3456-7890-1234')).toEqual({ system: 'https://healthid.abdm.gov.in', code: '12345678901234' });
  });
});

describe('prefixes', () => {
  test.each(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'])('%s', (p) => {
    expect(parsePrefix('date', `${p}2024`)).toEqual({ prefix: p, rest: '2024' });
  });

  test('no prefix is eq; a number or an exponent is not taken for one', () => {
    expect(parsePrefix('n', '100')).toEqual({ prefix: 'eq', rest: '100' });
    expect(parsePrefix('n', '-5')).toEqual({ prefix: 'eq', rest: '-5' });
  });

  test('an unknown prefix is a 400 naming it', () => {
    const r = refusal(() => parsePrefix('birthdate', 'xx2024'));
    expect(r).toMatchObject({ status: 400, code: 'invalid', expression: ['birthdate'] });
    expect(r.diagnostics).toContain("unknown prefix 'xx'");
  });
});

describe('numbers: the range their precision implies (search.html#number)', () => {
  test.each([
    ['100', '99.5', '100.5'],
    ['100.0', '99.95', '100.05'],
    ['1e2', '50', '150'],
    ['1.5e-3', '0.00145', '0.00155'],
    ['-2', '-2.5', '-1.5'],
  ])('%s → [%s, %s)', (raw, low, high) => {
    expect(parseNumberValue('n', raw)).toEqual({ prefix: 'eq', value: raw, low, high });
  });

  test('prefixed, and refused when not a number', () => {
    expect(parseNumberValue('n', 'gt0.8')).toMatchObject({ prefix: 'gt', value: '0.8' });
    expect(refusal(() => parseNumberValue('probability', 'gtabc')).diagnostics).toBe(
      "Invalid value for search parameter 'probability': 'abc' is not a number",
    );
  });
});

describe('quantities', () => {
  test('a bare number matches any unit', () => {
    expect(parseQuantityValue('value-quantity', 'le5.4')).toEqual({ prefix: 'le', value: '5.4', low: '5.35', high: '5.45' });
  });

  test('a UCUM unit gets its canonical value and bounds: 1 g is 1000 mg', () => {
    const g = parseQuantityValue('value-quantity', '1|http://unitsofmeasure.org|g');
    const mg = parseQuantityValue('value-quantity', '1000|http://unitsofmeasure.org|mg');
    expect(g).toMatchObject({ system: 'http://unitsofmeasure.org', code: 'g', value: '1' });
    expect(g.canonical?.unit).toBe(mg.canonical?.unit);
    expect(Number(g.canonical?.value)).toBeCloseTo(Number(mg.canonical?.value), 9);
    expect(Number(g.canonical!.low)).toBeLessThan(Number(g.canonical!.value));
    expect(Number(g.canonical!.high)).toBeGreaterThan(Number(g.canonical!.value));
  });

  test('a unit without a system is tried as UCUM; another system is matched as written', () => {
    expect(parseQuantityValue('q', '5||mg').canonical).toBeDefined();
    const other = parseQuantityValue('q', '5|http://snomed.info/sct|258684004');
    expect(other).toMatchObject({ system: 'http://snomed.info/sct', code: '258684004' });
    expect(other.canonical).toBeUndefined();
  });

  test('a unit that is not UCUM keeps its code and has no canonical form', () => {
    const q = parseQuantityValue('q', '5||tablets');
    expect(q.code).toBe('tablets');
    expect(q.canonical).toBeUndefined();
  });

  test('two parts are refused with the expected form', () => {
    expect(refusal(() => parseQuantityValue('value-quantity', '5|mg')).diagnostics).toContain('expected [prefix]number|system|code');
  });
});

describe('dates: [low, high) at each precision (search.html#date)', () => {
  test.each([
    ['2024', '2024-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z'],
    ['2024-02', '2024-02-01T00:00:00.000Z', '2024-03-01T00:00:00.000Z'],
    ['2024-02-29', '2024-02-29T00:00:00.000Z', '2024-03-01T00:00:00.000Z'],
    ['2024-03-01T10:00Z', '2024-03-01T10:00:00.000Z', '2024-03-01T10:01:00.000Z'],
    ['2024-03-01T10:00:30Z', '2024-03-01T10:00:30.000Z', '2024-03-01T10:00:31.000Z'],
    ['2024-03-01T10:00:30.250Z', '2024-03-01T10:00:30.250Z', '2024-03-01T10:00:30.251Z'],
    ['2024-03-01T10:00:00+05:30', '2024-03-01T04:30:00.000Z', '2024-03-01T04:30:01.000Z'],
  ])('%s', (raw, low, high) => {
    expect(parseDateValue('date', raw, 'UTC')).toEqual({ prefix: 'eq', range: { low, high } });
  });

  test('a date without a zone is taken in the server zone', () => {
    expect(parseDateValue('date', 'ge2024-03-01', 'Asia/Kolkata')).toEqual({
      prefix: 'ge',
      range: { low: '2024-02-29T18:30:00.000Z', high: '2024-03-01T18:30:00.000Z' },
    });
  });

  test.each(['2024-13', '2024-02-30', '2024/03/01', '2024-03-01T25:00Z'])('%s is a 400 with an example of a good value', (raw) => {
    const r = refusal(() => parseDateValue('birthdate', raw, 'UTC'));
    expect(r).toMatchObject({ status: 400, expression: ['birthdate'] });
    expect(r.diagnostics).toContain(`'${raw}' is not a FHIR date`);
    expect(r.diagnostics).toContain('2024-03-01');
  });
});

describe('references (search.html#reference)', () => {
  const base = ctx.baseUrl;
  test.each([
    ['Patient/123', undefined, { type: 'Patient', id: '123' }],
    ['Patient/123/_history/2', undefined, { type: 'Patient', id: '123' }],
    [`${base}/Patient/123`, undefined, { type: 'Patient', id: '123' }],
    ['123', undefined, { id: '123' }],
    ['123', 'Patient', { type: 'Patient', id: '123' }],
    ['https://other.example.org/fhir/Patient/123', undefined, { url: 'https://other.example.org/fhir/Patient/123' }],
    ['urn:uuid:2c6a1d3e-0000-4000-8000-000000000001', undefined, { url: 'urn:uuid:2c6a1d3e-0000-4000-8000-000000000001' }],
  ])('%s (type modifier %s)', (raw, type, expected) => {
    expect(parseReferenceValue(raw, base, type, 'subject')).toEqual(expected);
  });

  test('a reference of another type than the modifier, and a value that is no reference, are 400s', () => {
    expect(refusal(() => parseReferenceValue('Group/1', base, 'Patient', 'subject:Patient')).diagnostics).toContain(
      "'Group/1' is not a Patient reference",
    );
    expect(refusal(() => parseReferenceValue('not an id!', base, undefined, 'subject')).diagnostics).toContain(
      'is not an id, Type/id or absolute URL',
    );
  });
});

describe('near (Location-near)', () => {
  test('latitude|longitude|distance|units, km by default, the default distance when none is given', () => {
    expect(parseNearValue('near', '12.97|77.59|2|km')).toEqual({ lat: 12.97, lng: 77.59, meters: 2000 });
    expect(parseNearValue('near', '12.97|77.59|500|m')).toEqual({ lat: 12.97, lng: 77.59, meters: 500 });
    expect(parseNearValue('near', '12.97|77.59|3')).toEqual({ lat: 12.97, lng: 77.59, meters: 3000 });
    expect(parseNearValue('near', '12.97|77.59')).toEqual({ lat: 12.97, lng: 77.59, meters: 10_000 });
    expect(parseNearValue('near', '0|0|1|[mi_i]').meters).toBeCloseTo(1609.344, 3);
  });

  test.each([
    ['12.97', 'expected latitude|longitude'],
    ['91|0', 'outside -90..90'],
    ['0|181', 'outside -180..180'],
    ['0|0|-1', 'negative'],
    ['0|0|1|kg', "'kg' is not a UCUM unit of length"],
    ['0|0||km', "units 'km' without a distance"],
    ['north|0', "the latitude 'north' is not a number"],
  ])('%s is refused: %s', (raw, message) => {
    expect(refusal(() => parseNearValue('near', raw)).diagnostics).toContain(message);
  });
});

describe('strings', () => {
  test('folded for matching (accents and case), exact as given', () => {
    expect(stringValue('Ångström')).toEqual({ folded: 'angstrom', exact: 'Ångström' });
  });
});

describe('composite values (search.html#composite)', () => {
  const codeValueQuantity = searchParam('Observation', 'code-value-quantity')!;
  const coordinate = searchParam('MolecularSequence', 'chromosome-variant-coordinate')!;

  test('token$quantity, with the quantity prefixed and its escapes honoured', () => {
    expect(
      parseCompositeValue(codeValueQuantity, 'code-value-quantity', 'http://loinc.org|8480-6$gt140|http://unitsofmeasure.org|mm[Hg]', ctx),
    ).toMatchObject({
      first: { system: 'http://loinc.org', code: '8480-6' },
      second: { type: 'quantity', value: { prefix: 'gt', value: '140', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
    });
    expect(parseCompositeValue(codeValueQuantity, 'code-value-quantity', 'a\\$b$5', ctx).first).toEqual({ system: undefined, code: 'a$b' });
  });

  test('three components', () => {
    const v = parseCompositeValue(coordinate, 'chromosome-variant-coordinate', '1$ge100$lt200', ctx);
    expect(v.first).toEqual({ system: undefined, code: '1' });
    expect(v.second).toMatchObject({ type: 'number', value: { prefix: 'ge', value: '100' } });
    expect(v.third).toMatchObject({ type: 'number', value: { prefix: 'lt', value: '200' } });
  });

  test('the wrong number of parts is a 400 naming the components', () => {
    const r = refusal(() => parseCompositeValue(codeValueQuantity, 'code-value-quantity', '8480-6', ctx));
    expect(r.diagnostics).toContain("a value of 'code-value-quantity' has two parts joined by $ (code$value-quantity)");
    expect(refusal(() => parseCompositeValue(coordinate, 'chromosome-variant-coordinate', '1$2', ctx)).diagnostics).toContain('three parts');
  });
});
