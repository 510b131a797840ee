import { parseFhirJson, type JsonObject } from '../json';
import { OperationOutcomeError } from '../outcome';
import type { OperationRef } from './errors';
import { locate, quoteKeywordMembers, splitListPath } from './fhirPathLocations';

const ref: OperationRef = { format: 'FHIRPath Patch', index: 0 };

const patient: JsonObject = {
  resourceType: 'Patient',
  name: [{ family: 'A', given: ['a', 'b'], _given: [null, { id: 'g', extension: [{ url: 'u', valueString: 'x' }] }] }, { family: 'B' }],
  birthDate: '2000-01-01',
  _birthDate: { extension: [{ url: 'http://example.org/t', valueTime: '10:00:00' }] },
  deceasedBoolean: false,
  contained: [{ resourceType: 'Organization', id: 'o', name: 'Org' }],
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' },
};

describe('locate', () => {
  test('member access, indexers, first()/last(), where()', () => {
    expect(locate(patient, 'Patient', ref)).toEqual([[]]);
    expect(locate(patient, 'Patient.name', ref)).toEqual([[{ key: 'name', index: 0 }], [{ key: 'name', index: 1 }]]);
    expect(locate(patient, 'Patient.name[1].family', ref)).toEqual([[{ key: 'name', index: 1 }, { key: 'family' }]]);
    expect(locate(patient, 'Patient.name.last()', ref)).toEqual([[{ key: 'name', index: 1 }]]);
    expect(locate(patient, "name.where(family = 'A').given.first()", ref)).toEqual([
      [
        { key: 'name', index: 0 },
        { key: 'given', index: 0 },
      ],
    ]);
    expect(locate(patient, "Patient.name.where(family = 'C')", ref)).toEqual([]);
  });

  test('choice elements resolve to their JSON key', () => {
    expect(locate(patient, 'Patient.deceased', ref)).toEqual([[{ key: 'deceasedBoolean' }]]);
    expect(locate(patient, 'Patient.deceased.ofType(boolean)', ref)).toEqual([[{ key: 'deceasedBoolean' }]]);
    expect(locate(patient, 'Patient.deceased.ofType(dateTime)', ref)).toEqual([]);
  });

  test("a primitive's id and extensions are found in its _ companion", () => {
    expect(locate(patient, 'Patient.birthDate.extension', ref)).toEqual([[{ key: '_birthDate' }, { key: 'extension', index: 0 }]]);
    expect(locate(patient, "Patient.birthDate.extension('http://example.org/t').value", ref)).toEqual([
      [{ key: '_birthDate' }, { key: 'extension', index: 0 }, { key: 'valueTime' }],
    ]);
    expect(locate(patient, 'Patient.name[0].given[1].extension.value', ref)).toEqual([
      [{ key: 'name', index: 0 }, { key: '_given', index: 1 }, { key: 'extension', index: 0 }, { key: 'valueString' }],
    ]);
  });

  test('contained resources, %resource, duplicates collapse', () => {
    expect(locate(patient, 'Patient.contained.ofType(Organization).name', ref)).toEqual([[{ key: 'contained', index: 0 }, { key: 'name' }]]);
    expect(locate(patient, '%resource.birthDate', ref)).toEqual([[{ key: 'birthDate' }]]);
    expect(locate(patient, 'Patient.name.first() | Patient.name[0]', ref)).toEqual([[{ key: 'name', index: 0 }]]);
    expect(locate(patient, 'Patient.name[0].combine(Patient.name[0])', ref)).toEqual([[{ key: 'name', index: 0 }]]);
  });

  test('`div` as a member name (a FHIRPath operator elsewhere)', () => {
    expect(locate(patient, 'Patient.text.div', ref)).toEqual([[{ key: 'text' }, { key: 'div' }]]);
  });

  test('decimals written losslessly are compared by value', () => {
    const obs = parseFhirJson(
      '{"resourceType":"Observation","component":[{"valueQuantity":{"value":1.50}},{"valueQuantity":{"value":2.500}}]}',
    ) as JsonObject;
    expect(locate(obs, 'Observation.component.where(value.value > 2)', ref)).toEqual([[{ key: 'component', index: 1 }]]);
    expect(locate(obs, 'Observation.component.value.value', ref)).toHaveLength(2);
  });

  test('refuses results that are not elements of the resource', () => {
    for (const expression of [
      "Patient.name.family + 'x'",
      'Patient.name.count()',
      "'Patient'",
      'Patient.name.given.substring(1)',
      'Patient.birthDate.toString()',
    ]) {
      expect(() => locate(patient, expression, ref)).toThrow(OperationOutcomeError);
    }
    try {
      locate(patient, 'Patient.name[0].family.upper()', ref);
    } catch (e) {
      expect((e as OperationOutcomeError).status).toBe(400);
      expect((e as OperationOutcomeError).message).toMatch(/not an element of this resource/);
    }
  });
});

describe('quoteKeywordMembers', () => {
  test('quotes div/mod after a dot, never inside literals', () => {
    expect(quoteKeywordMembers('Patient.text.div')).toBe('Patient.text.`div`');
    expect(quoteKeywordMembers("Patient.name.where(text = 'a.div').divx")).toBe("Patient.name.where(text = 'a.div').divx");
    expect(quoteKeywordMembers('Observation.value.value div 2')).toBe('Observation.value.value div 2');
    expect(quoteKeywordMembers('a.`div`.mod')).toBe('a.`div`.`mod`');
  });
});

describe('splitListPath', () => {
  test('splits a trailing member access', () => {
    expect(splitListPath('Patient.identifier')).toEqual({ parent: 'Patient', name: 'identifier' });
    expect(splitListPath("Patient.name.where(use = 'a.b').given")).toEqual({ parent: "Patient.name.where(use = 'a.b')", name: 'given' });
    expect(splitListPath('identifier')).toEqual({ name: 'identifier' });
    expect(splitListPath('Patient.name[0].`given`')).toEqual({ parent: 'Patient.name[0]', name: 'given' });
  });

  test('refuses anything else', () => {
    for (const expression of [
      'Patient.name[0]',
      'Patient.name.first()',
      "Patient.name.where(use = 'x')",
      'Patient.a + Patient.b',
      '.name',
      'Patient.',
    ]) {
      expect(splitListPath(expression)).toBeUndefined();
    }
  });
});
