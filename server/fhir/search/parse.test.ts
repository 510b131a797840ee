/** The search grammar: parameters, modifiers, chains, `_has`, handling modes and the errors they raise. */
import { OperationOutcomeError } from '../outcome';
import { criteriaKey, type Criterion } from './criteria';
import { SearchParameterNotReady, UnsupportedParameter } from './errors';
import { parseCriteria, parseSearch, type ParseOptions } from './parse';
import { setCustomParameters, searchParam, type ActiveSearchParam } from './registry';

const opts: ParseOptions = { timeZone: 'UTC', baseUrl: 'https://fhir.example.org/fhir' };

function criteria(type: string, query: string, o: Partial<ParseOptions> = {}): Criterion[] {
  return parseSearch([type], [...new URLSearchParams(query)], { ...opts, ...o }).criteria;
}

function one(type: string, query: string): Criterion {
  const cs = criteria(type, query);
  expect(cs).toHaveLength(1);
  return cs[0];
}

/** The single issue of the 400 parsing `query` raises. */
function refusal(
  type: string,
  query: string,
  o: Partial<ParseOptions> = {},
): { status: number; code: string; diagnostics: string; expression?: string[]; error: unknown } {
  try {
    criteria(type, query, o);
  } catch (e) {
    if (!(e instanceof OperationOutcomeError)) throw e;
    expect(e.issues).toHaveLength(1);
    return { status: e.status, code: e.issues[0].code, diagnostics: e.issues[0].diagnostics ?? '', expression: e.issues[0].expression, error: e };
  }
  throw new Error(`expected '${query}' to be refused`);
}

describe('parameters by type', () => {
  test('values of one parameter are OR-ed, repeated parameters AND-ed', () => {
    expect(criteria('Patient', 'gender=male,female&gender:not=unknown')).toEqual([
      {
        kind: 'token',
        code: 'gender',
        values: [
          { system: undefined, code: 'male' },
          { system: undefined, code: 'female' },
        ],
        not: false,
      },
      { kind: 'token', code: 'gender', values: [{ system: undefined, code: 'unknown' }], not: true },
    ]);
  });

  test('string: prefix by default, :exact, :contains — folded, and exact for :exact', () => {
    expect(one('Patient', 'name=Zoë')).toEqual({ kind: 'string', code: 'name', mode: 'start', values: [{ folded: 'zoe', exact: 'Zoë' }] });
    expect(one('Patient', 'name:exact=Zoë')).toMatchObject({ mode: 'exact' });
    expect(one('Patient', 'name:contains=oë')).toMatchObject({ mode: 'contains', values: [{ folded: 'oe' }] });
  });

  test('token modifiers: :text searches the display as a string; :of-type, :in, :above', () => {
    expect(one('Observation', 'code:text=blood')).toEqual({
      kind: 'string',
      code: 'code:text',
      mode: 'start',
      values: [{ folded: 'blood', exact: 'blood' }],
    });
    expect(one('Patient', 'identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345')).toEqual({
      kind: 'token',
      code: 'identifier:of-type',
      values: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203|MR', code: '12345' }],
    });
    expect(one('Observation', 'code:in=http://example.org/ValueSet/vitals')).toMatchObject({ kind: 'terminology', modifier: 'in' });
    expect(one('Condition', 'code:below=http://snomed.info/sct|73211009')).toMatchObject({ kind: 'terminology', modifier: 'below' });
  });

  test('date, number, quantity and uri carry their parsed values', () => {
    expect(one('Patient', 'birthdate=ge1980')).toEqual({
      kind: 'date',
      code: 'birthdate',
      values: [{ prefix: 'ge', range: { low: '1980-01-01T00:00:00.000Z', high: '1981-01-01T00:00:00.000Z' } }],
    });
    expect(one('RiskAssessment', 'probability=gt0.5')).toMatchObject({ kind: 'number', values: [{ prefix: 'gt', value: '0.5' }] });
    expect(one('Observation', 'value-quantity=5.4|http://unitsofmeasure.org|mg')).toMatchObject({ kind: 'quantity', values: [{ code: 'mg' }] });
    expect(one('ValueSet', 'url:below=http://example.org/fhir')).toEqual({
      kind: 'uri',
      code: 'url',
      mode: 'below',
      values: ['http://example.org/fhir'],
    });
  });

  test('reference: every form, a type modifier, :identifier', () => {
    expect(one('Observation', 'subject=Patient/1,https://fhir.example.org/fhir/Patient/2,urn:uuid:x')).toMatchObject({
      kind: 'reference',
      code: 'subject',
      values: [{ type: 'Patient', id: '1' }, { type: 'Patient', id: '2' }, { url: 'urn:uuid:x' }],
    });
    expect(one('Observation', 'subject:Patient=7')).toMatchObject({ kind: 'reference', values: [{ type: 'Patient', id: '7' }] });
    expect(one('Observation', 'subject:identifier=https://healthid.abdm.gov.in|12-3456-7890-1234')).toEqual({
      kind: 'token',
      code: 'subject:identifier',
      values: [{ system: 'https://healthid.abdm.gov.in', code: '12345678901234' }],
    });
    expect(refusal('Observation', 'subject:Medication=1').diagnostics).toContain("'subject' cannot refer to a Medication");
  });

  test(':missing names the value type it is indexed as, never storage', () => {
    expect(one('Patient', 'birthdate:missing=true')).toEqual({ kind: 'missing', code: 'birthdate', valueType: 'date', missing: true });
    expect(one('Patient', 'phonetic:missing=false')).toEqual({ kind: 'missing', code: 'phonetic', valueType: 'token', missing: false });
    expect(refusal('Patient', 'birthdate:missing=maybe').diagnostics).toContain(":missing takes true or false, got 'maybe'");
  });

  test('_id, _lastUpdated, _list, phonetic, _text, composite, near', () => {
    expect(one('Patient', '_id=a,b')).toEqual({ kind: 'id', ids: ['a', 'b'] });
    expect(one('Patient', '_lastUpdated=lt2024-01-01')).toMatchObject({ kind: 'lastUpdated', values: [{ prefix: 'lt' }] });
    expect(one('Patient', '_list=L1')).toEqual({ kind: 'list', ids: ['L1'] });
    expect(one('Patient', 'phonetic=Robert')).toEqual({ kind: 'token', code: 'phonetic', values: [{ system: null, code: 'R163' }] });
    expect(one('Patient', '_text=chest pain')).toEqual({ kind: 'text', code: '_text', values: [['chest', 'pain']] });
    expect(one('Observation', 'code-value-quantity=8480-6$gt140')).toMatchObject({ kind: 'composite', values: [{ first: { code: '8480-6' } }] });
    expect(one('Location', 'near=12.97|77.59|1|km')).toEqual({ kind: 'near', code: 'near', values: [{ lat: 12.97, lng: 77.59, meters: 1000 }] });
  });
});

describe('chains and _has (search.html#chaining, #has)', () => {
  test('a typed chain', () => {
    expect(one('Observation', 'subject:Patient.name=smith')).toEqual({
      kind: 'chain',
      code: 'subject',
      targets: [{ type: 'Patient', criterion: { kind: 'string', code: 'name', mode: 'start', values: [{ folded: 'smith', exact: 'smith' }] } }],
    });
  });

  test('an untyped chain goes through every target type that has the parameter', () => {
    const c = one('Observation', 'subject.birthdate=2000');
    expect(c.kind).toBe('chain');
    const types = (c as Criterion & { kind: 'chain' }).targets.map((t) => t.type);
    expect(types).toContain('Patient');
    expect(types).not.toContain('Group'); // Group has no birthdate
    expect(refusal('Observation', 'subject.nosuch=1').diagnostics).toBe("No target type of 'subject' has a search parameter 'nosuch'");
  });

  test('chains nest, and may end in a modifier', () => {
    const c = one('Observation', 'encounter:Encounter.subject:Patient.identifier:not=x') as Criterion & { kind: 'chain' };
    const inner = c.targets[0].criterion as Criterion & { kind: 'chain' };
    expect(inner).toMatchObject({
      kind: 'chain',
      code: 'subject',
      targets: [{ type: 'Patient', criterion: { kind: 'token', code: 'identifier', not: true } }],
    });
  });

  test('only reference parameters chain', () => {
    expect(refusal('Patient', 'gender.name=x')).toMatchObject({
      status: 400,
      code: 'not-supported',
      diagnostics: "'gender' is a token parameter and cannot be chained",
    });
  });

  test('_has:Type:reference:parameter, nested', () => {
    expect(one('Patient', '_has:Observation:subject:code=8302-2')).toEqual({
      kind: 'has',
      type: 'Observation',
      code: 'subject',
      criterion: { kind: 'token', code: 'code', values: [{ system: undefined, code: '8302-2' }], not: false },
    });
    const nested = one('Patient', '_has:Observation:subject:_has:Provenance:target:agent=Practitioner/1') as Criterion & { kind: 'has' };
    expect(nested.criterion).toMatchObject({ kind: 'has', type: 'Provenance', code: 'target' });
  });

  test('_has errors name what is wrong', () => {
    expect(refusal('Patient', '_has:Observation:subject=x').diagnostics).toContain('_has takes _has:Type:reference:parameter');
    expect(refusal('Patient', '_has:Nothing:subject:code=x').diagnostics).toBe("_has: unknown resource type 'Nothing'");
    expect(refusal('Patient', '_has:Observation:code:code=x').diagnostics).toBe("_has: 'code' is not a reference parameter of Observation");
    expect(refusal('Practitioner', '_has:Observation:patient:code=x').diagnostics).toBe(
      "Invalid value for search parameter '_has:Observation:patient:code': Observation.patient does not refer to Practitioner",
    );
  });

  test('more than four levels of chains or _has are refused', () => {
    const deep = 'subject:Patient.link:Patient.link:Patient.link:Patient.link:Patient.name=x';
    expect(refusal('Observation', deep).diagnostics).toContain('nests chains or _has deeper than 4 levels');
  });
});

describe('strict and lenient handling', () => {
  test('an unknown parameter or modifier is a 400 not-supported, naming the parameter', () => {
    const r = refusal('Patient', 'nosuch=1');
    expect(r).toMatchObject({
      status: 400,
      code: 'not-supported',
      diagnostics: "Unknown search parameter 'nosuch' for Patient",
      expression: ['nosuch'],
    });
    expect(r.error).toBeInstanceOf(UnsupportedParameter);
    expect(refusal('Patient', 'birthdate:exact=2000').diagnostics).toBe(
      "Modifier ':exact' is not supported on date parameter 'birthdate' (supported: :missing)",
    );
  });

  test('lenient: unknown parameters are ignored and reported, malformed values still refused', () => {
    const parsed = parseSearch(
      ['Patient'],
      [
        ['nosuch', '1'],
        ['gender', 'male'],
      ],
      { ...opts, lenient: true },
    );
    expect(parsed.criteria).toHaveLength(1);
    expect(parsed.ignored).toEqual([
      expect.objectContaining({ severity: 'warning', code: 'not-supported', diagnostics: "Ignored: Unknown search parameter 'nosuch' for Patient" }),
    ]);
    expect(refusal('Patient', 'birthdate=notadate', { lenient: true }).status).toBe(400);
  });

  test('an empty value and a NUL character are refused', () => {
    expect(refusal('Patient', 'gender=').diagnostics).toBe("Invalid value for search parameter 'gender': the value is empty");
    expect(refusal('Patient', 'gender=ma%00le').diagnostics).toContain('NUL');
  });

  test('_format and _pretty are no criteria', () => {
    expect(criteria('Patient', '_format=json&_pretty=true')).toEqual([]);
  });

  test('a system search needs the parameter on every type searched, with one type', () => {
    const p = parseSearch(['Patient', 'Practitioner'], [['name', 'x']], opts);
    expect(p.criteria).toEqual([expect.objectContaining({ kind: 'string', code: 'name' })]);
    expect(() => parseSearch(['Patient', 'Observation'], [['gender', 'x']], opts)).toThrow(
      "Search parameter 'gender' is not defined for Observation",
    );
  });
});

describe('conditional criteria', () => {
  test('criteria only: a result parameter is refused, every error says what the criteria were for', () => {
    const q = new URLSearchParams('identifier=x&_count=1');
    expect(() => parseCriteria('Patient', q, 'If-None-Exist')).toThrow("'_count' is a result parameter, not a criterion (If-None-Exist)");
    expect(() => parseCriteria('Patient', new URLSearchParams('birthdate=x'), 'conditional update')).toThrow(
      /is not a FHIR date.*\(conditional update\)$/,
    );
  });

  test('the lock key is the same whatever the order or spelling of equal criteria', () => {
    const a = parseCriteria('Patient', new URLSearchParams('identifier=https://healthid.ndhm.gov.in|12-3456-7890-1234&gender=male'), 'x');
    const b = parseCriteria('Patient', new URLSearchParams('gender=male&identifier=https://healthid.abdm.gov.in|12345678901234'), 'x');
    expect(criteriaKey('Patient', a)).toBe(criteriaKey('Patient', b));
    expect(criteriaKey('Patient', a)).not.toBe(criteriaKey('Practitioner', a));
    expect(criteriaKey('Patient', a)).not.toBe(criteriaKey('Patient', parseCriteria('Patient', new URLSearchParams('gender=female'), 'x')));
  });
});

describe('custom search parameters', () => {
  const base = searchParam('Patient', 'gender')!;
  const custom = (status: 'active' | 'pending' | 'failed'): ActiveSearchParam => ({
    ...base,
    code: 'ward',
    custom: { id: 'sp1', versionId: 1, status, percent: 40, error: status === 'failed' ? 'disk full' : undefined },
  });
  afterEach(() => setCustomParameters([]));

  test('one not yet reindexed is refused in every mode, saying how far its reindex is', () => {
    setCustomParameters([{ type: 'Patient', param: custom('pending') }]);
    const r = refusal('Patient', 'ward=x', { lenient: true });
    expect(r.error).toBeInstanceOf(SearchParameterNotReady);
    expect(r.diagnostics).toContain('reindex in progress (40 %)');
    setCustomParameters([{ type: 'Patient', param: custom('failed') }]);
    expect(refusal('Patient', 'ward=x').diagnostics).toContain('its reindex failed (disk full)');
    setCustomParameters([{ type: 'Patient', param: custom('active') }]);
    expect(one('Patient', 'ward=x')).toMatchObject({ kind: 'token', code: 'ward' });
  });
});
