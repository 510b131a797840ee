import { parseFhirJson, toJson, type JsonObject, type JsonValue } from '../json';
import { OperationOutcomeError } from '../outcome';
import { applyFhirPathPatch } from './fhirPathPatch';

function expectError(fn: () => unknown, status: number, diagnostics: RegExp): OperationOutcomeError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(OperationOutcomeError);
  const error = caught as OperationOutcomeError;
  expect({ status: error.status, diagnostics: error.issues[0].diagnostics }).toEqual({ status, diagnostics: expect.stringMatching(diagnostics) });
  return error;
}

function frozen<T extends JsonValue>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) frozen(v as JsonValue);
    Object.freeze(value);
  }
  return value;
}

/** One `operation` parameter: its type and path, then any other parts. */
function op(type: string, path: string, ...parts: JsonObject[]): JsonObject {
  return { name: 'operation', part: [{ name: 'type', valueCode: type }, { name: 'path', valueString: path }, ...parts] };
}
const params = (...operations: JsonObject[]): JsonObject => ({ resourceType: 'Parameters', parameter: operations });
const name = (n: string): JsonObject => ({ name: 'name', valueString: n });
const value = (v: JsonObject): JsonObject => ({ name: 'value', ...v });
const parts = (...p: JsonObject[]): JsonObject => ({ name: 'value', part: p });
const index = (i: JsonValue): JsonObject => ({ name: 'index', valueInteger: i });
const patch = (resource: JsonObject, ...operations: JsonObject[]): JsonObject => applyFhirPathPatch(resource, params(...operations));

const patient = (): JsonObject =>
  frozen<JsonObject>({
    resourceType: 'Patient',
    id: 'p1',
    identifier: [
      { system: 'https://healthid.abdm.gov.in', value: '91-1111-2222-3333' },
      { system: 'urn:mrn', value: 'MRN-1' },
      { system: 'urn:mrn', value: 'MRN-2' },
      { system: 'urn:old', value: 'OLD-9' },
    ],
    active: true,
    name: [
      { use: 'official', family: 'Sharma', given: ['Asha', 'Devi'], _given: [null, { id: 'g2' }] },
      { use: 'nickname', given: ['Ashu'] },
    ],
    telecom: [
      { system: 'phone', value: '+91 98000 00001', use: 'mobile' },
      { system: 'email', value: 'asha@example.in' },
    ],
    gender: 'female',
    birthDate: '1990-04-01',
    _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1990-04-01T06:30:00+05:30' }] },
    deceasedBoolean: false,
    address: [{ city: 'Pune' }],
    contact: [{ name: { text: 'Ravi Sharma' }, gender: 'male' }],
  });

describe('add', () => {
  test('appends to a repeating element (a telecom)', () => {
    const out = patch(
      patient(),
      op('add', 'Patient', name('telecom'), value({ valueContactPoint: { system: 'phone', value: '020 1234', use: 'home' } })),
    );
    expect(out.telecom).toEqual([...(patient().telecom as JsonValue[]), { system: 'phone', value: '020 1234', use: 'home' }]);
  });

  test('adds a missing single element, and refuses one that exists', () => {
    const input = { resourceType: 'Patient', id: 'x' };
    expect(patch(input, op('add', 'Patient', name('birthDate'), value({ valueDate: '1930-01-01' })))).toEqual({ ...input, birthDate: '1930-01-01' });
    expectError(
      () => patch(patient(), op('add', 'Patient', name('birthDate'), value({ valueDate: '1930-01-01' }))),
      422,
      /already has birthDate \(use replace/,
    );
  });

  test('a choice element gets the JSON name of the value type', () => {
    const out = patch({ resourceType: 'Patient' }, op('add', 'Patient', name('deceased'), value({ valueDateTime: '2024-01-01' })));
    expect(out).toEqual({ resourceType: 'Patient', deceasedDateTime: '2024-01-01' });
    expectError(() => patch(patient(), op('add', 'Patient', name('deceased'), value({ valueDateTime: '2024-01-01' }))), 422, /already has deceased/);
  });

  test('adds to a nested element found by where()', () => {
    const out = patch(patient(), op('add', "Patient.name.where(use = 'nickname')", name('family'), value({ valueString: 'S.' })));
    expect((out.name as JsonObject[])[1]).toEqual({ use: 'nickname', given: ['Ashu'], family: 'S.' });
  });

  test('adds an extension to a primitive, in its _ companion', () => {
    const input = { resourceType: 'Patient', gender: 'other' };
    const ext = { url: 'http://example.org/gender-detail', valueString: 'non-binary' };
    const out = patch(input, op('add', 'Patient.gender', name('extension'), value({ valueExtension: ext })));
    // Extension is not a Parameters value type in R4; parts build it field by field, as below.
    expect(out).toEqual({ resourceType: 'Patient', gender: 'other', _gender: { extension: [ext] } });
  });

  test('builds complex values from nested parts: a BackboneElement with a HumanName and a list', () => {
    const out = patch(
      { resourceType: 'Patient' },
      op(
        'add',
        'Patient',
        name('contact'),
        parts(
          { name: 'name', valueHumanName: { text: 'Meena Rao' } },
          { name: 'telecom', valueContactPoint: { system: 'phone', value: '1' } },
          { name: 'telecom', valueContactPoint: { system: 'phone', value: '2' } },
          { name: 'gender', valueCode: 'female' },
        ),
      ),
    );
    expect(out.contact).toEqual([
      {
        name: { text: 'Meena Rao' },
        telecom: [
          { system: 'phone', value: '1' },
          { system: 'phone', value: '2' },
        ],
        gender: 'female',
      },
    ]);
  });

  test('builds a HumanName, a Coding and an Extension part by part', () => {
    const out = patch(
      { resourceType: 'Patient', maritalStatus: { text: 'married' } },
      op(
        'add',
        'Patient',
        name('name'),
        parts({ name: 'family', valueString: 'Iyer' }, { name: 'given', valueString: 'Lakshmi' }, { name: 'given', valueString: 'K' }),
      ),
      op(
        'add',
        'Patient.maritalStatus',
        name('coding'),
        parts(
          { name: 'system', valueUri: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus' },
          { name: 'code', valueCode: 'M' },
          { name: 'display', valueString: 'Married', _valueString: { extension: [{ url: 'http://example.org/lang', valueCode: 'en' }] } },
        ),
      ),
      op(
        'add',
        'Patient',
        name('extension'),
        parts({ name: 'url', valueUri: 'http://example.org/religion' }, { name: 'value', valueCodeableConcept: { text: 'none' } }),
      ),
    );
    expect(out).toEqual({
      resourceType: 'Patient',
      maritalStatus: {
        text: 'married',
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus',
            code: 'M',
            display: 'Married',
            _display: { extension: [{ url: 'http://example.org/lang', valueCode: 'en' }] },
          },
        ],
      },
      name: [{ family: 'Iyer', given: ['Lakshmi', 'K'] }],
      extension: [{ url: 'http://example.org/religion', valueCodeableConcept: { text: 'none' } }],
    });
  });

  test('a choice element may be named by its JSON key, which then fixes the type; a subtype fills its base type', () => {
    expect(patch({ resourceType: 'Patient' }, op('add', 'Patient', name('deceasedDateTime'), value({ valueDateTime: '2024' })))).toEqual({
      resourceType: 'Patient',
      deceasedDateTime: '2024',
    });
    expectError(
      () => patch({ resourceType: 'Patient' }, op('add', 'Patient', name('deceasedDateTime'), value({ valueBoolean: true }))),
      400,
      /boolean is not allowed/,
    );
    const age = { value: 42, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' };
    expect(patch({ resourceType: 'Observation' }, op('add', 'Observation', name('value'), value({ valueAge: age })))).toEqual({
      resourceType: 'Observation',
      valueQuantity: age,
    });
  });

  test('adds a contained resource', () => {
    const org = { resourceType: 'Organization', id: 'o1', name: 'Clinic' };
    const out = patch({ resourceType: 'Patient' }, op('add', 'Patient', name('contained'), { name: 'value', resource: org }));
    expect(out.contained).toEqual([org]);
  });

  test('errors: no match, several matches, unknown element, wrong value type, parts for a primitive', () => {
    expectError(
      () => patch(patient(), op('add', "Patient.identifier.where(system = 'urn:none').period", name('end'), value({ valueDateTime: '2021' }))),
      422,
      /^FHIRPath Patch operation 0 \(add at .*\): no element matches Patient\.identifier\.where\(system = 'urn:none'\)\.period/,
    );
    expectError(
      () => patch(patient(), op('add', 'Patient.name', name('text'), value({ valueString: 'x' }))),
      422,
      /matches 2 elements \(Patient\.name\[0\], Patient\.name\[1\]\); add needs exactly one/,
    );
    expectError(
      () => patch(patient(), op('add', 'Patient', name('nickname'), value({ valueString: 'x' }))),
      400,
      /Patient has no element "nickname"/,
    );
    expectError(
      () => patch(patient(), op('add', 'Patient', name('multipleBirth'), value({ valueString: 'twin' }))),
      400,
      /type string is not allowed for Patient\.multipleBirth\[x\] \(allowed: boolean, integer\)/,
    );
    expectError(
      () => patch(patient(), op('add', 'Patient', name('photo'), value({ valueHumanName: { text: 'x' } }))),
      400,
      /HumanName is not allowed for Patient\.photo/,
    );
    expectError(
      () => patch(patient(), op('add', 'Patient', name('multipleBirth'), parts({ name: 'x', valueString: 'y' }))),
      400,
      /choice element: give its value as a typed value\[x\]/,
    );
    expectError(
      () => patch({ resourceType: 'Patient' }, op('add', 'Patient', name('gender'), parts({ name: 'id', valueString: 'y' }))),
      400,
      /primitive/,
    );
    expectError(
      () => patch({ resourceType: 'Patient' }, op('add', 'Patient', name('contact'), parts({ name: 'nope', valueString: 'y' }))),
      400,
      /Patient\.contact has no element "nope"/,
    );
    expectError(
      () =>
        patch(
          { resourceType: 'Patient' },
          op('add', 'Patient', name('contact'), parts({ name: 'gender', valueCode: 'male' }, { name: 'gender', valueCode: 'female' })),
        ),
      400,
      /does not repeat but is given more than once/,
    );
    expectError(
      () => patch({ resourceType: 'Patient' }, op('add', 'Patient', name('active'), value({ valueInteger: 1 }))),
      400,
      /integer is not allowed for Patient\.active/,
    );
    expectError(
      () => patch({ resourceType: 'Patient' }, op('add', 'Patient', name('active'), value({ valueFoo: 1 }))),
      400,
      /"valueFoo" does not name a FHIR data type/,
    );
    expectError(
      () => patch({ resourceType: 'Patient' }, op('add', 'Patient', name('active'), value({}))),
      400,
      /has no value\[x\], resource or parts/,
    );
    expectError(
      () => patch({ resourceType: 'Patient' }, op('add', 'Patient', name('active'), value({ valueBoolean: true, part: [] }))),
      400,
      /only one of a value\[x\], a resource or parts/,
    );
    expectError(
      () => patch({ resourceType: 'Patient' }, op('add', 'Patient', name('gender'), value({ valueCode: { code: 'male' } }))),
      400,
      /"valueCode" must be a JSON string, number or boolean/,
    );
    expectError(
      () => patch({ resourceType: 'Patient' }, op('add', 'Patient', name('maritalStatus'), value({ valueCodeableConcept: 'M' }))),
      400,
      /must be a JSON object/,
    );
    expectError(
      () => patch({ resourceType: 'Patient' }, op('add', 'Patient', name('contained'), parts({ name: 'id', valueId: 'x' }))),
      400,
      /give a value\[x\] or resource, not parts/,
    );
    expectError(
      () => patch({ resourceType: 'Patient' }, op('add', 'Patient', name('link'), { name: 'value', resource: { resourceType: 'Patient' } })),
      400,
      /a Patient resource is not allowed for Patient\.link/,
    );
  });
});

describe('insert', () => {
  test('inserts a name at index 0 and at the end', () => {
    const out = patch(
      patient(),
      op('insert', 'Patient.name', index(0), value({ valueHumanName: { use: 'maiden', family: 'Kulkarni' } })),
      op('insert', 'Patient.name', index(3), value({ valueHumanName: { text: 'last' } })),
    );
    expect((out.name as JsonObject[]).map((n) => n.use ?? n.text)).toEqual(['maiden', 'official', 'nickname', 'last']);
  });

  test('inserts into a list that does not exist yet', () => {
    expect(patch({ resourceType: 'Patient' }, op('insert', 'Patient.identifier', index(0), value({ valueIdentifier: { value: '1' } })))).toEqual({
      resourceType: 'Patient',
      identifier: [{ value: '1' }],
    });
  });

  test('keeps a primitive list and its _ companion aligned', () => {
    const out = patch(patient(), op('insert', 'Patient.name[0].given', index(0), value({ valueString: 'Dr', _valueString: { id: 'g0' } })));
    expect((out.name as JsonObject[])[0]).toMatchObject({ given: ['Dr', 'Asha', 'Devi'], _given: [{ id: 'g0' }, null, { id: 'g2' }] });
    const plain = patch(patient(), op('insert', 'Patient.name[0].given', index(2), value({ valueString: 'K' })));
    expect((plain.name as JsonObject[])[0]).toMatchObject({ given: ['Asha', 'Devi', 'K'], _given: [null, { id: 'g2' }, null] });
  });

  test('inserts into the extensions of a primitive', () => {
    const out = patch(
      patient(),
      op(
        'insert',
        'Patient.birthDate.extension',
        index(0),
        parts({ name: 'url', valueUri: 'http://example.org/a' }, { name: 'value', valueBoolean: true }),
      ),
    );
    expect((out._birthDate as JsonObject).extension).toEqual([
      { url: 'http://example.org/a', valueBoolean: true },
      { url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1990-04-01T06:30:00+05:30' },
    ]);
  });

  test('errors: index past the end, a path that is not a list, a non-repeating element', () => {
    expectError(
      () => patch(patient(), op('insert', 'Patient.name', index(3), value({ valueHumanName: { text: 'x' } }))),
      422,
      /index 3 is out of range: Patient\.name has 2 item\(s\), so the index may be at most 2/,
    );
    expectError(
      () => patch(patient(), op('insert', "Patient.name.where(use = 'official')", index(0), value({ valueHumanName: {} }))),
      400,
      /must end with the name of a list element/,
    );
    expectError(
      () => patch(patient(), op('insert', 'Patient.name[0]', index(0), value({ valueHumanName: {} }))),
      400,
      /must end with the name of a list element/,
    );
    expectError(
      () => patch(patient(), op('insert', 'Patient.gender', index(0), value({ valueCode: 'male' }))),
      400,
      /Patient\.gender does not repeat/,
    );
    expectError(
      () => patch(patient(), op('insert', 'Patient.contact[1].telecom', index(0), value({ valueContactPoint: {} }))),
      422,
      /no element matches Patient\.contact\[1\]/,
    );
  });
});

describe('delete', () => {
  test('deletes a primitive with its _ companion', () => {
    const out = patch(patient(), op('delete', 'Patient.birthDate'));
    expect(out).not.toHaveProperty('birthDate');
    expect(out).not.toHaveProperty('_birthDate');
  });

  test('deleting nothing is not an error', () => {
    expect(patch(patient(), op('delete', 'Patient.multipleBirth'), op('delete', "Patient.telecom.where(system = 'fax')"))).toEqual(patient());
  });

  test('deletes a list item selected by where(), and a primitive list item with its companion', () => {
    const out = patch(patient(), op('delete', "Patient.telecom.where(system = 'email')"), op('delete', 'Patient.name[0].given[1]'));
    expect(out.telecom).toEqual([{ system: 'phone', value: '+91 98000 00001', use: 'mobile' }]);
    expect((out.name as JsonObject[])[0]).toEqual({ use: 'official', family: 'Sharma', given: ['Asha'] });
  });

  test('removes containers the delete leaves empty', () => {
    const out = patch(patient(), op('delete', 'Patient.contact[0].name.text'), op('delete', 'Patient.address.city'));
    expect(out.contact).toEqual([{ gender: 'male' }]);
    expect(out).not.toHaveProperty('address');
    const ext = patch(patient(), op('delete', 'Patient.birthDate.extension'));
    expect(ext).toHaveProperty('birthDate', '1990-04-01');
    expect(ext).not.toHaveProperty('_birthDate');
    const id = patch(patient(), op('delete', 'Patient.name[0].given[1].id'));
    expect((id.name as JsonObject[])[0]).toEqual({ use: 'official', family: 'Sharma', given: ['Asha', 'Devi'] });
  });

  test('errors: several matches, the resource itself', () => {
    expectError(() => patch(patient(), op('delete', 'Patient.telecom')), 422, /matches 2 elements/);
    expectError(() => patch(patient(), op('delete', 'Patient')), 422, /cannot delete the resource itself/);
  });
});

describe('replace', () => {
  test('replaces a primitive', () => {
    const out = patch(patient(), op('replace', 'Patient.name[0].family', value({ valueString: 'Verma' })));
    expect((out.name as JsonObject[])[0].family).toBe('Verma');
  });

  test('a choice element changes its JSON name with its type, keeping its place', () => {
    const out = patch(patient(), op('replace', 'Patient.deceased', value({ valueDateTime: '2024-02-29T10:00:00+05:30' })));
    expect(out).not.toHaveProperty('deceasedBoolean');
    expect(out.deceasedDateTime).toBe('2024-02-29T10:00:00+05:30');
    expect(Object.keys(out)).toEqual(Object.keys(patient()).map((k) => (k === 'deceasedBoolean' ? 'deceasedDateTime' : k)));
    expectError(
      () => patch(patient(), op('replace', 'Patient.deceased', value({ valueString: 'yes' }))),
      400,
      /type string is not allowed for Patient\.deceased\[x\] \(allowed: boolean, dateTime\)/,
    );
  });

  test('replaces an element reached through extension(url) and ofType()', () => {
    const out = patch(
      patient(),
      op(
        'replace',
        "Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').value.ofType(dateTime)",
        value({ valueDateTime: '1990-04-01T07:00:00+05:30' }),
      ),
    );
    expect(out._birthDate).toEqual({
      extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1990-04-01T07:00:00+05:30' }],
    });
  });

  test('replaces a complex element and a list item; a replaced primitive takes the new value’s companion', () => {
    const out = patch(
      patient(),
      op('replace', "Patient.telecom.where(system = 'email')", value({ valueContactPoint: { system: 'email', value: 'asha@new.in' } })),
      op('replace', 'Patient.birthDate', value({ valueDate: '1990-04-02' })),
      op('replace', 'Patient.name[0].given[1]', value({ valueString: 'D.' })),
    );
    expect((out.telecom as JsonObject[])[1]).toEqual({ system: 'email', value: 'asha@new.in' });
    expect(out.birthDate).toBe('1990-04-02');
    expect(out).not.toHaveProperty('_birthDate'); // the element is replaced whole, extensions included
    expect((out.name as JsonObject[])[0]).toEqual({ use: 'official', family: 'Sharma', given: ['Asha', 'D.'] });
  });

  test('replaces text.div with a string, as the spec test cases do', () => {
    const out = patch(
      { resourceType: 'Patient', text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">a</div>' } },
      op('replace', 'Patient.text.div', value({ valueString: '<div xmlns="http://www.w3.org/1999/xhtml">b</div>' })),
    );
    expect(out.text).toEqual({ status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">b</div>' });
  });

  test('errors: no match, several matches, the resource itself', () => {
    expectError(
      () => patch(patient(), op('replace', 'Patient.maritalStatus', value({ valueCodeableConcept: { text: 'x' } }))),
      422,
      /no element matches Patient\.maritalStatus/,
    );
    expectError(() => patch(patient(), op('replace', 'Patient.name.given', value({ valueString: 'x' }))), 422, /matches 3 elements/);
    expectError(() => patch(patient(), op('replace', 'Patient', value({ valueString: 'x' }))), 422, /cannot replace the resource itself/);
  });
});

describe('move', () => {
  const moveOp = (path: string, source: JsonValue, destination: JsonValue): JsonObject =>
    op('move', path, { name: 'source', valueInteger: source }, { name: 'destination', valueInteger: destination });
  const values = (r: JsonObject): JsonValue[] => (r.identifier as JsonObject[]).map((i) => i.value);

  test('moves identifiers; the destination counts after the removal', () => {
    expect(values(patch(patient(), moveOp('Patient.identifier', 3, 1)))).toEqual(['91-1111-2222-3333', 'OLD-9', 'MRN-1', 'MRN-2']);
    expect(values(patch(patient(), moveOp('Patient.identifier', 0, 3)))).toEqual(['MRN-1', 'MRN-2', 'OLD-9', '91-1111-2222-3333']);
  });

  test('moves a primitive with its companion', () => {
    const out = patch(patient(), moveOp('Patient.name[0].given', 1, 0));
    expect((out.name as JsonObject[])[0]).toMatchObject({ given: ['Devi', 'Asha'], _given: [{ id: 'g2' }, null] });
  });

  test('errors: source or destination out of range', () => {
    expectError(() => patch(patient(), moveOp('Patient.identifier', 4, 0)), 422, /source 4 is out of range: Patient\.identifier has 4 item\(s\)/);
    expectError(() => patch(patient(), moveOp('Patient.identifier', 0, 4)), 422, /destination 4 is out of range/);
    expectError(
      () => patch({ resourceType: 'Patient' }, moveOp('Patient.identifier', 0, 0)),
      422,
      /source 0 is out of range: Patient\.identifier has 0 item/,
    );
  });
});

describe('the patch document', () => {
  test('errors: not Parameters, other parameters, missing type or path, unknown type, bad positions, stray parts', () => {
    expectError(() => applyFhirPathPatch(patient(), [{ op: 'add' }]), 400, /must be a Parameters resource/);
    expectError(
      () => applyFhirPathPatch(patient(), { resourceType: 'Parameters', parameter: [{ name: 'op' }] }),
      400,
      /operation 0: unexpected parameter "op"/,
    );
    expectError(
      () => applyFhirPathPatch(patient(), params({ name: 'operation', part: [{ name: 'path', valueString: 'Patient' }] })),
      400,
      /missing part "type"/,
    );
    expectError(
      () => applyFhirPathPatch(patient(), params({ name: 'operation', part: [{ name: 'type', valueCode: 'delete' }] })),
      400,
      /a delete operation requires part "path"/,
    );
    expectError(() => patch(patient(), op('remove', 'Patient.active')), 400, /unknown operation type "remove"/);
    expectError(() => patch(patient(), op('insert', 'Patient.name', value({ valueHumanName: {} }))), 400, /requires part "index"/);
    expectError(
      () => patch(patient(), op('insert', 'Patient.name', index(-1), value({ valueHumanName: {} }))),
      400,
      /"index" must have a valueInteger of 0 or more/,
    );
    expectError(
      () => patch(patient(), op('insert', 'Patient.name', index('1'), value({ valueHumanName: {} }))),
      400,
      /"index" must have a valueInteger/,
    );
    expectError(
      () => patch(patient(), op('replace', 'Patient.active', index(0), value({ valueBoolean: false }))),
      400,
      /part "index" does not apply to a replace operation/,
    );
    expectError(() => patch(patient(), op('delete', 'Patient.active', { name: 'when', valueString: 'now' })), 400, /unknown part "when"/);
    expectError(
      () => patch(patient(), op('delete', 'Patient.active', { name: 'path', valueString: 'x' })),
      400,
      /part "path" appears more than once/,
    );
  });

  test('errors: FHIRPath that does not parse, cannot run, or selects computed values', () => {
    expectError(() => patch(patient(), op('delete', 'Patient.name.(')), 400, /operation 0 \(delete at Patient\.name\.\(\): invalid FHIRPath/);
    expectError(() => patch(patient(), op('delete', 'Patient.name.frobnicate()')), 400, /cannot evaluate FHIRPath/);
    expectError(
      () => patch(patient(), op('replace', "Patient.name[0].family + 'x'", value({ valueString: 'y' }))),
      400,
      /not an element of this resource/,
    );
  });

  test('the error names the failing operation and its place in the Parameters', () => {
    const error = expectError(
      () => patch(patient(), op('delete', 'Patient.active'), op('replace', 'Patient.photo', value({ valueAttachment: {} }))),
      422,
      /^FHIRPath Patch operation 1 \(replace at Patient\.photo\): no element matches Patient\.photo$/,
    );
    expect(error.issues[0].expression).toEqual(['Parameters.parameter[1]']);
  });

  test('operations apply in order to a copy; the input is never changed', () => {
    const input = patient();
    const out = patch(
      input,
      op('add', 'Patient', name('maritalStatus'), value({ valueCodeableConcept: { text: 'single' } })),
      op('replace', 'Patient.maritalStatus.text', value({ valueString: 'married' })),
    );
    expect(out.maritalStatus).toEqual({ text: 'married' });
    expect(input).not.toHaveProperty('maritalStatus');
    expect(applyFhirPathPatch(input, { resourceType: 'Parameters' })).toEqual(input);
  });
});

describe('lossless decimals', () => {
  const obs = (): JsonObject =>
    frozen(
      parseFhirJson(
        '{"resourceType":"Observation","status":"final","code":{"text":"glucose"},"valueQuantity":{"value":235.40,"unit":"mg/dL"},"component":[{"code":{"text":"a"},"valueQuantity":{"value":1.000}},{"code":{"text":"b"},"valueQuantity":{"value":2.50}}]}',
      ) as JsonObject,
    );

  test('untouched decimals keep their text; decimals from the patch keep theirs; where() compares decimals by value', () => {
    const parameters = parseFhirJson(
      JSON.stringify(
        params(op('replace', 'Observation.component.where(valueQuantity.value = 2.5).value', value({ valueQuantity: { value: 0 } }))),
      ).replace('"value":0', '"value":98.60'),
    );
    const out = applyFhirPathPatch(obs(), parameters);
    expect(toJson(out)).toBe(
      '{"resourceType":"Observation","status":"final","code":{"text":"glucose"},"valueQuantity":{"value":235.40,"unit":"mg/dL"},"component":[{"code":{"text":"a"},"valueQuantity":{"value":1.000}},{"code":{"text":"b"},"valueQuantity":{"value":98.60}}]}',
    );
  });

  test('replacing a choice value with another type', () => {
    const out = patch(
      obs(),
      op('replace', 'Observation.value', value({ valueString: 'high' })),
      op('replace', 'Observation.status', value({ valueCode: 'amended' })),
    );
    expect(toJson(out)).toBe(
      '{"resourceType":"Observation","status":"amended","code":{"text":"glucose"},"valueString":"high","component":[{"code":{"text":"a"},"valueQuantity":{"value":1.000}},{"code":{"text":"b"},"valueQuantity":{"value":2.50}}]}',
    );
  });
});
