/** Unit tests of validateResource: one block per rule, asserting severity, code and location of each issue. */
import { LosslessNumber, parseFhirJson } from '../json';
import type { Issue } from '../outcome';
import { validateResource } from './index';
import { skippedInvariants } from './invariants';

const XHTML = 'http://www.w3.org/1999/xhtml';
const narrative = (html = 'A patient') => ({ status: 'generated', div: `<div xmlns="${XHTML}">${html}</div>` });

/** A valid Patient (with narrative, so no dom-6 warning) plus the given overrides. */
function patient(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { resourceType: 'Patient', id: 'p1', text: narrative(), name: [{ family: 'Rao', given: ['Asha'] }], gender: 'female', ...extra };
}

function observation(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { resourceType: 'Observation', text: narrative('An observation'), status: 'final', code: { text: 'weight' }, ...extra };
}

const errors = (issues: Issue[]) => issues.filter((i) => i.severity === 'error');

/** Exactly one issue at `expression` matching the rest; returns it. */
function expectIssue(
  issues: Issue[],
  expected: { severity: Issue['severity']; code: Issue['code']; expression: string; diagnostics?: RegExp },
): Issue {
  const at = issues.filter((i) => i.expression?.[0] === expected.expression);
  expect(at).toHaveLength(1);
  expect(at[0]).toMatchObject({ severity: expected.severity, code: expected.code });
  if (expected.diagnostics) expect(at[0].diagnostics).toMatch(expected.diagnostics);
  return at[0];
}

function expectOnlyError(resource: unknown, code: Issue['code'], expression: string, diagnostics?: RegExp): Issue {
  const issues = validateResource(resource);
  expect(errors(issues)).toHaveLength(1);
  return expectIssue(issues, { severity: 'error', code, expression, diagnostics });
}

describe('valid content', () => {
  it('accepts a plain valid Patient with no issues at all', () => {
    expect(validateResource(patient())).toEqual([]);
  });

  it('accepts primitive arrays with null alignment (json.html#primitive)', () => {
    const ext = { extension: [{ url: 'http://example.org/x', valueString: 'y' }] };
    const p = patient({ name: [{ given: ['Asha', null], _given: [null, ext] }] });
    expect(validateResource(p)).toEqual([]);
  });

  it('accepts an extension-only primitive (no value, `_x` with extensions)', () => {
    const absent = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] };
    expect(validateResource(patient({ _birthDate: absent }))).toEqual([]);
  });

  it('accepts lossless decimals with their exact text (235.40, 66.899999999999991)', () => {
    const body = parseFhirJson(
      JSON.stringify(observation()).replace(
        /}$/,
        ',"valueQuantity":{"value":235.40,"unit":"mg"},"component":[{"code":{"text":"c"},"valueQuantity":{"value":66.899999999999991}}]}',
      ),
    );
    const obs = body as { valueQuantity: { value: unknown }; component: { valueQuantity: { value: unknown } }[] };
    expect(obs.valueQuantity.value).toBeInstanceOf(LosslessNumber);
    expect(obs.component[0].valueQuantity.value).toBeInstanceOf(LosslessNumber);
    expect(validateResource(body)).toEqual([]);
  });

  it('evaluates invariants on resources holding lossless numbers (rng-2 with 235.40 > 10.5)', () => {
    const body = parseFhirJson(
      JSON.stringify(observation()).replace(
        /}$/,
        ',"valueRange":{"low":{"value":235.40,"system":"http://unitsofmeasure.org","code":"mg"},"high":{"value":10.5,"system":"http://unitsofmeasure.org","code":"mg"}}}',
      ),
    );
    expectIssue(validateResource(body), { severity: 'error', code: 'invariant', expression: 'Observation.valueRange', diagnostics: /^rng-2/ });
  });

  it('accepts a known R4 profile claim silently, with or without a version', () => {
    const meta = { profile: ['http://hl7.org/fhir/StructureDefinition/vitalsigns', 'http://hl7.org/fhir/StructureDefinition/bodyweight|4.0.1'] };
    expect(validateResource(observation({ meta }))).toEqual([]);
  });
});

describe('resourceType', () => {
  it('rejects non-objects, a missing resourceType, unknown, abstract and logical types', () => {
    expectOnlyError(42, 'structure', 'Resource', /JSON object/);
    expectOnlyError({ id: 'x' }, 'structure', 'Resource', /no resourceType/);
    expectOnlyError({ resourceType: 'Foo' }, 'structure', 'Foo', /Unknown resource type 'Foo'/);
    expectOnlyError({ resourceType: 'DomainResource' }, 'structure', 'DomainResource', /Unknown resource type/);
    expectOnlyError({ resourceType: 'Definition' }, 'structure', 'Definition', /Unknown resource type/); // a logical model
  });

  it('rejects a resource of another type than the endpoint expects', () => {
    const issues = validateResource(patient(), { expectedType: 'Observation' });
    expectIssue(issues, { severity: 'error', code: 'invalid', expression: 'Patient', diagnostics: /Patient.*Observation/ });
    expect(validateResource(patient(), { expectedType: 'Patient' })).toEqual([]);
  });

  it('never throws, whatever it is given', () => {
    for (const bad of [null, undefined, 'Patient', [], [patient()], { resourceType: 7 }, { resourceType: 'Patient', name: [[[]]] }]) {
      expect(() => validateResource(bad)).not.toThrow();
      expect(errors(validateResource(bad)).length).toBeGreaterThan(0);
    }
    let deep: Record<string, unknown> = { url: 'http://x', valueString: 'y' };
    for (let i = 0; i < 5000; i++) deep = { url: 'http://x', extension: [deep] };
    const issues = validateResource(patient({ extension: [deep] }));
    expect(issues.some((i) => /nested more than/.test(i.diagnostics))).toBe(true);
  });
});

describe('outcome size', () => {
  it('stops at 500 errors, and reports at most 100 warnings plus a count of the rest', () => {
    const garbage = patient(Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`junk${i}`, i])));
    const issues = validateResource(garbage);
    expect(issues).toHaveLength(501);
    expect(issues[500]).toMatchObject({ severity: 'error', code: 'too-costly', expression: ['Patient'] });

    const p = patient();
    delete p.text; // dom-6 warning on each of 150 entries
    const bundle = { resourceType: 'Bundle', type: 'collection', entry: Array.from({ length: 150 }, () => ({ resource: p })) };
    const warnings = validateResource(bundle);
    expect(warnings.filter((i) => i.severity === 'warning')).toHaveLength(100);
    expect(warnings[100]).toMatchObject({ severity: 'information', code: 'informational', diagnostics: '50 more warnings were not reported' });
  });
});

describe('JSON structure and types', () => {
  it('rejects a string where a boolean is required', () => {
    expectOnlyError(patient({ active: 'true' }), 'structure', 'Patient.active', /boolean/);
  });

  it('rejects an object where an array is required, and an array where a single value is', () => {
    expectOnlyError(patient({ name: { family: 'Rao' } }), 'structure', 'Patient.name', /repeating/);
    expectOnlyError(patient({ name: [{ family: ['Rao'] }] }), 'structure', 'Patient.name[0].family', /not repeating/);
    expectOnlyError(patient({ maritalStatus: [{ text: 'x' }] }), 'structure', 'Patient.maritalStatus', /not repeating/);
  });

  it('rejects primitives where objects are required, and the reverse', () => {
    expectOnlyError(patient({ maritalStatus: 'married' }), 'structure', 'Patient.maritalStatus', /JSON object/);
    expectOnlyError(patient({ birthDate: { value: '2000-01-01' } }), 'structure', 'Patient.birthDate', /JSON string/);
    expectOnlyError(patient({ birthDate: 20000101 }), 'structure', 'Patient.birthDate', /JSON string/);
  });

  it('rejects unknown elements, naming their path', () => {
    expectOnlyError(patient({ foo: 1 }), 'structure', 'Patient.foo', /Unknown element 'foo'/);
    expectOnlyError(patient({ name: [{ family: 'Rao', nickname: 'A' }] }), 'structure', 'Patient.name[0].nickname', /Unknown element/);
    expectOnlyError(patient({ _name: [{ id: 'x' }] }), 'structure', 'Patient._name', /Unknown element '_name'/);
    expectOnlyError(observation({ valueFoo: 'x' }), 'structure', 'Observation.valueFoo', /Unknown element 'valueFoo'/);
    // Element.id and Extension.url are plain JSON properties, without a `_` companion
    expectOnlyError(patient({ name: [{ family: 'Rao', _id: { extension: [] } }] }), 'structure', 'Patient.name[0]._id');
  });

  it('rejects empty arrays, empty objects and nulls', () => {
    expectOnlyError(patient({ identifier: [] }), 'structure', 'Patient.identifier', /Empty arrays/);
    expectOnlyError(patient({ maritalStatus: {} }), 'structure', 'Patient.maritalStatus', /Empty objects/);
    expectOnlyError(patient({ identifier: [{}] }), 'structure', 'Patient.identifier[0]', /Empty objects/);
    expectOnlyError(patient({ birthDate: null }), 'structure', 'Patient.birthDate', /null/);
    expectOnlyError(patient({ telecom: [null] }), 'structure', 'Patient.telecom[0]', /null/);
    expectOnlyError(patient({ name: [{ given: ['A', null] }] }), 'structure', 'Patient.name[0].given[1]', /null/);
    expectOnlyError(patient({ _birthDate: {} }), 'structure', 'Patient.birthDate', /Empty objects/);
  });

  it('rejects misaligned primitive arrays', () => {
    const p = patient({ name: [{ given: ['A', 'B'], _given: [null] }] });
    expectOnlyError(p, 'structure', 'Patient.name[0].given', /same number of items/);
  });

  it('rejects empty strings', () => {
    expectOnlyError(patient({ name: [{ family: '' }] }), 'value', 'Patient.name[0].family', /empty string/);
  });

  it('rejects a string longer than 1 MB (1024*1024 characters)', () => {
    expectOnlyError(patient({ name: [{ text: 'x'.repeat(1024 * 1024 + 1) }] }), 'too-long', 'Patient.name[0].text');
    expect(errors(validateResource(patient({ name: [{ text: 'x'.repeat(1024 * 1024) }] })))).toEqual([]);
  });

  it('warns about whitespace-only strings and control characters (datatypes.html#string: SHOULD)', () => {
    const issues = validateResource(patient({ name: [{ family: '   ', given: ['A\u0001'] }] }));
    expect(errors(issues)).toEqual([]);
    expectIssue(issues, { severity: 'warning', code: 'value', expression: 'Patient.name[0].family', diagnostics: /whitespace/ });
    expectIssue(issues, { severity: 'warning', code: 'value', expression: 'Patient.name[0].given[0]', diagnostics: /control/ });
  });
});

describe('cardinality and choice elements', () => {
  it('reports missing required elements', () => {
    const obs = observation();
    delete obs.status;
    expectOnlyError(obs, 'required', 'Observation.status', /Missing required element 'status'/);
    expectOnlyError(patient({ link: [{ type: 'seealso' }] }), 'required', 'Patient.link[0].other');
    expectOnlyError(patient({ extension: [{ valueString: 'x' }] }), 'required', 'Patient.extension[0].url');
  });

  it('counts an extension-only primitive as present for min 1', () => {
    const obs = observation();
    delete obs.status;
    obs._status = { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] };
    expect(errors(validateResource(obs))).toEqual([]);
  });

  it('allows exactly one type of a choice element', () => {
    expect(validateResource(observation({ valueQuantity: { value: 5, unit: 'kg' } }))).toEqual([]);
    const issues = validateResource(observation({ valueString: 'a', valueInteger: 1 }));
    expect(errors(issues)).toHaveLength(1);
    expectIssue(issues, {
      severity: 'error',
      code: 'structure',
      expression: 'Observation.valueInteger',
      diagnostics: /Only one of valueString, valueInteger/,
    });
  });

  it('checks a required choice element (UsageContext.value[x])', () => {
    const vs = { resourceType: 'ValueSet', text: narrative(), status: 'draft', useContext: [{ code: { code: 'venue' } }] };
    expectOnlyError(vs, 'required', 'ValueSet.useContext[0].value', /value\[x\]/);
  });

  it('follows contentReference elements (Questionnaire.item.item)', () => {
    const q = {
      resourceType: 'Questionnaire',
      text: narrative(),
      status: 'draft',
      item: [{ linkId: '1', type: 'group', item: [{ linkId: '1.1', type: 'string', bogus: true }, { type: 'string' }] }],
    };
    const issues = validateResource(q);
    expect(errors(issues)).toHaveLength(2);
    expectIssue(issues, { severity: 'error', code: 'structure', expression: 'Questionnaire.item[0].item[0].bogus' });
    expectIssue(issues, { severity: 'error', code: 'required', expression: 'Questionnaire.item[0].item[1].linkId' });
  });
});

describe('primitive formats', () => {
  it.each([
    ['date', { birthDate: '1980-13-01' }, 'Patient.birthDate'],
    ['impossible date', { birthDate: '2023-02-29' }, 'Patient.birthDate'],
    ['dateTime without zone', { deceasedDateTime: '2020-01-01T10:00:00' }, 'Patient.deceasedDateTime'],
    ['id', { id: 'not an id!' }, 'Patient.id'],
    ['id longer than 64', { id: 'a'.repeat(65) }, 'Patient.id'],
    ['base64Binary', { photo: [{ contentType: 'image/png', data: 'abc' }] }, 'Patient.photo[0].data'],
    ['uri with spaces', { implicitRules: 'http://x y' }, 'Patient.implicitRules'],
    ['code with double space', { language: 'en  US' }, 'Patient.language'],
    ['integer above 2^31-1', { multipleBirthInteger: 2147483648 }, 'Patient.multipleBirthInteger'],
    ['integer as decimal', { multipleBirthInteger: 1.5 }, 'Patient.multipleBirthInteger'],
    ['unsignedInt below 0', { photo: [{ contentType: 'image/png', size: -1 }] }, 'Patient.photo[0].size'],
  ])('rejects a bad %s', (_name, extra, expression) => {
    expectOnlyError(patient(extra), 'value', expression);
  });

  it('rejects a bad instant, decimal as string, and a positiveInt of 0', () => {
    expectOnlyError(observation({ issued: '2020-01-01' }), 'value', 'Observation.issued', /instant/);
    expectOnlyError(observation({ valueQuantity: { value: '1.0' } }), 'structure', 'Observation.valueQuantity.value', /JSON number/);
    expectOnlyError(observation({ valueQuantity: { value: Number.NaN } }), 'structure', 'Observation.valueQuantity.value', /JSON number/);
    const timing = { repeat: { count: 0 } };
    expectOnlyError(observation({ effectiveTiming: timing }), 'value', 'Observation.effectiveTiming.repeat.count', /positiveInt/);
  });

  it('accepts lossless integers in range and rejects out-of-range ones', () => {
    const ok = parseFhirJson(
      '{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">x</div>"},"multipleBirthInteger":2147483647}',
    );
    expect(validateResource(ok)).toEqual([]);
    const big = parseFhirJson(
      '{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">x</div>"},"multipleBirthInteger":123456789012345678901}',
    );
    expectOnlyError(big, 'value', 'Patient.multipleBirthInteger', /out of range/);
  });
});

describe('required bindings', () => {
  it('rejects Patient.gender "M", naming the allowed codes', () => {
    const issue = expectOnlyError(patient({ gender: 'M' }), 'code-invalid', 'Patient.gender');
    expect(issue.diagnostics).toMatch(/administrative-gender/);
    expect(issue.diagnostics).toMatch(/male, female, other, unknown/);
  });

  it('checks codes inside complex types (ContactPoint.system)', () => {
    expectOnlyError(patient({ telecom: [{ system: 'mobile', value: '123' }] }), 'code-invalid', 'Patient.telecom[0].system');
  });
});

describe('narrative XHTML', () => {
  const withDiv = (div: string) => patient({ text: { status: 'generated', div } });
  const div = (html: string) => `<div xmlns="${XHTML}">${html}</div>`;

  it.each([
    ['a script element', div('<script>alert(1)</script>Hi'), 'invariant', /<script>/],
    ['an onclick attribute', div('<p onclick="steal()">Hi</p>'), 'invariant', /onclick/],
    ['a javascript: href', div('<a href="javascript:alert(1)">Hi</a>'), 'value', /javascript/],
    ['an external image', div('<img src="https://tracker.example.com/p.png"/>'), 'value', /image/],
    ['an iframe', div('<iframe src="#x"></iframe>Hi'), 'invariant', /iframe/],
    ['a root that is not a div', `<p xmlns="${XHTML}">Hi</p>`, 'structure', /single <div>/],
    ['a div without the XHTML namespace', '<div>Hi</div>', 'structure', /xmlns/],
    ['malformed XML', div('<p>Hi'), 'structure', /well-formed/],
    ['an HTML entity', div('Hi&nbsp;there'), 'structure', /entity/],
    ['whitespace-only content', div(' \n '), 'invariant', /txt-2/],
  ])('rejects %s', (_name, html, code, diagnostics) => {
    expectOnlyError(withDiv(html), code as Issue['code'], 'Patient.text.div', diagnostics);
  });

  it('accepts internal images, tables, styles and XML character references', () => {
    const html = div(
      '<table class="grid"><tr><td style="color: red" colspan="2">x &amp; &#x3b1;</td></tr></table><img src="#pic"/><img src="data:image/png;base64,AAAA"/>',
    );
    const p = patient({
      text: { status: 'generated', div: html },
      contained: [{ resourceType: 'Binary', id: 'pic', contentType: 'image/png' }],
      photo: [{ url: '#pic' }],
    });
    expect(validateResource(p)).toEqual([]);
  });
});

describe('invariants', () => {
  it('ele-1: an element with only an id has neither value nor children', () => {
    expectOnlyError(patient({ maritalStatus: { id: 'm1' } }), 'invariant', 'Patient.maritalStatus', /^ele-1/);
    expectOnlyError(patient({ _birthDate: { id: 'b1' } }), 'invariant', 'Patient.birthDate', /^ele-1/);
  });

  it('ext-1: an extension has a value or sub-extensions, not both and not neither', () => {
    const both = { url: 'http://example.org/a', valueString: 'x', extension: [{ url: 'b', valueInteger: 1 }] };
    expectOnlyError(patient({ extension: [both] }), 'invariant', 'Patient.extension[0]', /^ext-1/);
    expectOnlyError(patient({ modifierExtension: [{ url: 'http://example.org/a' }] }), 'invariant', 'Patient.modifierExtension[0]', /^ext-1/);
    const nested = {
      url: 'http://example.org/a',
      extension: [
        { url: 'b', valueInteger: 1 },
        { url: 'c', valueCodeableConcept: { text: 'x' } },
      ],
    };
    expect(validateResource(patient({ extension: [nested] }))).toEqual([]);
  });

  it('reports an error invariant: pat-1 on Patient.contact and obs-6 on Observation', () => {
    expectOnlyError(patient({ contact: [{ gender: 'male' }] }), 'invariant', 'Patient.contact[0]', /^pat-1/);
    const obs = observation({ valueString: 'x', dataAbsentReason: { text: 'unknown' } });
    expectOnlyError(obs, 'invariant', 'Observation', /^obs-6/);
  });

  it('reports datatype invariants where the value is (per-1 on a Period)', () => {
    const obs = observation({ effectivePeriod: { start: '2020-02-01', end: '2020-01-01' } });
    expectOnlyError(obs, 'invariant', 'Observation.effectivePeriod', /^per-1/);
  });

  it('reports dom-6 (no narrative) as a warning, not an error', () => {
    const p = patient();
    delete p.text;
    const issues = validateResource(p);
    expect(issues).toHaveLength(1);
    expectIssue(issues, { severity: 'warning', code: 'invariant', expression: 'Patient', diagnostics: /^dom-6/ });
  });

  it('skips, without rejecting the resource, an invariant fhirpath.js cannot evaluate (ctm-1 needs resolve())', () => {
    const careTeam = {
      resourceType: 'CareTeam',
      text: narrative('A care team'),
      participant: [{ member: { reference: 'Practitioner/1' }, onBehalfOf: { reference: 'Organization/1' } }],
    };
    expect(validateResource(careTeam)).toEqual([]);
    expect(skippedInvariants().get('ctm-1')).toMatch(/resolve/);
  });

  it('applies the contained-resource rules dom-2, dom-3, dom-4, dom-5 and ref-1', () => {
    const contained = [
      { resourceType: 'Practitioner', id: 'used', meta: { versionId: '1', security: [{ code: 'R' }] } },
      { resourceType: 'Practitioner', id: 'unused' },
      { resourceType: 'Organization', id: 'nested', name: 'Ward 7', contained: [{ resourceType: 'Patient', id: 'x' }], partOf: { reference: '#' } },
    ];
    const p = patient({ contained, generalPractitioner: [{ reference: '#used' }, { reference: '#missing' }] });
    const issues = validateResource(p);
    expectIssue(issues, { severity: 'error', code: 'invariant', expression: 'Patient.contained[0].meta', diagnostics: /^dom-4/ });
    expectIssue(issues, { severity: 'error', code: 'invariant', expression: 'Patient.contained[0].meta.security', diagnostics: /^dom-5/ });
    expectIssue(issues, { severity: 'error', code: 'invariant', expression: 'Patient.contained[1]', diagnostics: /^dom-3/ });
    expectIssue(issues, { severity: 'error', code: 'invariant', expression: 'Patient.contained[2].contained', diagnostics: /^dom-2/ });
    expectIssue(issues, { severity: 'error', code: 'invariant', expression: 'Patient.generalPractitioner[1].reference', diagnostics: /^ref-1/ });
    // contained[2] refers to its container with '#'; the (illegally) nested Patient is referenced by nothing
    expect(issues.filter((i) => i.expression?.[0] === 'Patient.contained[2]')).toEqual([]);
    expectIssue(issues, { severity: 'error', code: 'invariant', expression: 'Patient.contained[2].contained[0]', diagnostics: /^dom-3/ });
    expect(errors(issues)).toHaveLength(6);
  });
});

describe('embedded resources', () => {
  it('validates Bundle.entry.resource by its own type, with locations inside the Bundle', () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'urn:uuid:1', resource: patient() },
        { fullUrl: 'urn:uuid:2', resource: patient({ gender: 'M' }) },
      ],
    };
    expectOnlyError(bundle, 'code-invalid', 'Bundle.entry[1].resource.gender');
  });

  it('validates Parameters.parameter.resource and rejects a non-resource there', () => {
    const params = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'a', resource: patient({ active: 1 }) },
        { name: 'b', resource: { family: 'x' } },
      ],
    };
    const issues = validateResource(params);
    expect(errors(issues)).toHaveLength(2);
    expectIssue(issues, { severity: 'error', code: 'structure', expression: 'Parameters.parameter[0].resource.active' });
    expectIssue(issues, { severity: 'error', code: 'structure', expression: 'Parameters.parameter[1].resource', diagnostics: /resourceType/ });
  });
});

describe('meta.profile', () => {
  it('warns that an unknown profile was not checked', () => {
    const issues = validateResource(patient({ meta: { profile: ['http://example.org/StructureDefinition/my-patient'] } }));
    expect(issues).toHaveLength(1);
    expectIssue(issues, { severity: 'warning', code: 'not-supported', expression: 'Patient.meta.profile[0]', diagnostics: /my-patient.*not known/ });
  });
});
