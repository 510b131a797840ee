import { LosslessNumber, parseFhirJson, toJson, type JsonObject, type JsonValue } from '../json';
import { OperationOutcomeError } from '../outcome';
import { applyJsonPatch } from './jsonPatch';

function expectError(fn: () => unknown, status: number, diagnostics: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(OperationOutcomeError);
  const error = caught as OperationOutcomeError;
  expect({ status: error.status, diagnostics: error.issues[0].diagnostics }).toEqual({ status, diagnostics: expect.stringMatching(diagnostics) });
}

/** Freezes deeply, so any mutation of the input by the code under test throws. */
function frozen<T extends JsonValue>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) frozen(v as JsonValue);
    Object.freeze(value);
  }
  return value;
}

const patient = (): JsonObject =>
  frozen({
    resourceType: 'Patient',
    id: 'p1',
    active: true,
    name: [{ family: 'Sharma', given: ['Asha', 'Devi'] }],
    telecom: [
      { system: 'phone', value: '+91 98000 00001' },
      { system: 'email', value: 'asha@example.in' },
    ],
  });

describe('add', () => {
  test('adds an object member', () => {
    expect(applyJsonPatch(patient(), [{ op: 'add', path: '/gender', value: 'female' }]).gender).toBe('female');
  });

  test('replaces an existing member', () => {
    expect(applyJsonPatch(patient(), [{ op: 'add', path: '/active', value: false }]).active).toBe(false);
  });

  test('inserts into an array at an index, shifting later items', () => {
    const out = applyJsonPatch(patient(), [{ op: 'add', path: '/name/0/given/1', value: 'K.' }]);
    expect((out.name as JsonObject[])[0].given).toEqual(['Asha', 'K.', 'Devi']);
  });

  test('"-" and the array length both append', () => {
    const out = applyJsonPatch(patient(), [
      { op: 'add', path: '/name/0/given/-', value: 'Last' },
      { op: 'add', path: '/name/0/given/3', value: 'Very last' },
    ]);
    expect((out.name as JsonObject[])[0].given).toEqual(['Asha', 'Devi', 'Last', 'Very last']);
  });

  test('a null value is a value', () => {
    expect(applyJsonPatch(patient(), [{ op: 'add', path: '/x', value: null }])).toHaveProperty('x', null);
  });

  test('adding an array value adds the array as one item', () => {
    const out = applyJsonPatch(patient(), [{ op: 'add', path: '/name/0/given/0', value: ['a', 'b'] }]);
    expect((out.name as JsonObject[])[0].given).toEqual([['a', 'b'], 'Asha', 'Devi']);
  });

  test('adding at the root replaces the whole resource', () => {
    expect(applyJsonPatch(patient(), [{ op: 'add', path: '', value: { resourceType: 'Patient', id: 'q' } }])).toEqual({
      resourceType: 'Patient',
      id: 'q',
    });
  });

  test('the added value is a copy of the patch value', () => {
    const value = { system: 'phone', value: '1' };
    const out = applyJsonPatch(patient(), [{ op: 'add', path: '/telecom/-', value }]);
    value.value = 'changed';
    expect((out.telecom as JsonObject[])[2].value).toBe('1');
  });

  test('errors: missing parent, index past the end, leading zeros, non-numeric index, missing value', () => {
    expectError(
      () => applyJsonPatch(patient(), [{ op: 'add', path: '/contact/0/name', value: {} }]),
      422,
      /operation 0 \(add \/contact\/0\/name\): "\/contact" does not exist/,
    );
    expectError(
      () => applyJsonPatch(patient(), [{ op: 'add', path: '/telecom/3', value: {} }]),
      422,
      /array index 3 is out of range \(array length 2\)/,
    );
    expectError(() => applyJsonPatch(patient(), [{ op: 'add', path: '/telecom/01', value: {} }]), 422, /leading zeros/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'add', path: '/telecom/first', value: {} }]), 422, /"first" is not an array index/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'add', path: '/telecom/-1', value: {} }]), 422, /"-1" is not an array index/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'add', path: '/active/x', value: 1 }]), 422, /"\/active" is not an object or array/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'add', path: '/gender' }]), 400, /"add" requires a "value"/);
  });
});

describe('remove', () => {
  test('removes a member and an array item', () => {
    const out = applyJsonPatch(patient(), [
      { op: 'remove', path: '/active' },
      { op: 'remove', path: '/telecom/0' },
    ]);
    expect(out).not.toHaveProperty('active');
    expect(out.telecom).toEqual([{ system: 'email', value: 'asha@example.in' }]);
  });

  test('errors: missing target, "-", the root', () => {
    expectError(() => applyJsonPatch(patient(), [{ op: 'remove', path: '/gender' }]), 422, /"\/gender" does not exist/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'remove', path: '/telecom/2' }]), 422, /out of range/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'remove', path: '/telecom/-' }]), 422, /only allowed as the target of add/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'remove', path: '' }]), 422, /cannot remove the whole resource/);
  });
});

describe('replace', () => {
  test('replaces a member and an array item', () => {
    const out = applyJsonPatch(patient(), [
      { op: 'replace', path: '/name/0/family', value: 'Verma' },
      { op: 'replace', path: '/telecom/1', value: { system: 'sms', value: '1' } },
    ]);
    expect((out.name as JsonObject[])[0].family).toBe('Verma');
    expect((out.telecom as JsonObject[])[1]).toEqual({ system: 'sms', value: '1' });
  });

  test('errors: the target must exist; the result must stay an object', () => {
    expectError(() => applyJsonPatch(patient(), [{ op: 'replace', path: '/gender', value: 'male' }]), 422, /"\/gender" does not exist/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'replace', path: '/telecom/2', value: {} }]), 422, /out of range/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'replace', path: '', value: [1] }]), 422, /no longer be a JSON object/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'replace', path: '/active' }]), 400, /"replace" requires a "value"/);
  });
});

describe('move', () => {
  test('moves a member', () => {
    const out = applyJsonPatch(patient(), [{ op: 'move', from: '/name/0/family', path: '/name/0/text' }]);
    expect((out.name as JsonObject[])[0]).toEqual({ given: ['Asha', 'Devi'], text: 'Sharma' });
  });

  test('moves an array item; the destination counts after the removal', () => {
    const out = applyJsonPatch(patient(), [{ op: 'move', from: '/telecom/0', path: '/telecom/1' }]);
    expect((out.telecom as JsonObject[]).map((t) => t.system)).toEqual(['email', 'phone']);
  });

  test('moving to the same place changes nothing', () => {
    expect(applyJsonPatch(patient(), [{ op: 'move', from: '/active', path: '/active' }])).toEqual(patient());
  });

  test('errors: missing from, from missing, into its own child', () => {
    expectError(() => applyJsonPatch(patient(), [{ op: 'move', path: '/x' }]), 400, /"move" requires "from"/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'move', from: '/gender', path: '/x' }]), 422, /"\/gender" does not exist/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'move', from: '/name', path: '/name/0/x' }]), 400, /proper prefix/);
  });
});

describe('copy', () => {
  test('copies deeply', () => {
    const out = applyJsonPatch(patient(), [{ op: 'copy', from: '/name/0', path: '/name/-' }]);
    const names = out.name as JsonObject[];
    expect(names[1]).toEqual(names[0]);
    expect(names[1]).not.toBe(names[0]);
    expect(names[1].given).not.toBe(names[0].given);
  });

  test('errors: from missing', () => {
    expectError(() => applyJsonPatch(patient(), [{ op: 'copy', from: '/address', path: '/x' }]), 422, /"\/address" does not exist/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'copy', from: 5, path: '/x' }]), 400, /"from" must be a string/);
  });
});

describe('test', () => {
  test('passes on deep equality, whatever the member order', () => {
    const out = applyJsonPatch(patient(), [
      { op: 'test', path: '/telecom/0', value: { value: '+91 98000 00001', system: 'phone' } },
      { op: 'test', path: '/name/0/given', value: ['Asha', 'Devi'] },
      { op: 'test', path: '', value: patient() },
    ]);
    expect(out).toEqual(patient());
  });

  test('numbers compare by value, lossless or not (235.40 equals 235.4; 10 is not "10")', () => {
    const obs = parseFhirJson('{"resourceType":"Observation","valueQuantity":{"value":235.40}}') as JsonObject;
    expect(() => applyJsonPatch(obs, [{ op: 'test', path: '/valueQuantity/value', value: 235.4 }])).not.toThrow();
    expect(() => applyJsonPatch(obs, [{ op: 'test', path: '/valueQuantity/value', value: new LosslessNumber('2.354e2') }])).not.toThrow();
    expectError(() => applyJsonPatch(obs, [{ op: 'test', path: '/valueQuantity/value', value: 235.41 }]), 422, /test failed/);
    const big = parseFhirJson('{"resourceType":"Basic","n":12345678901234567891}') as JsonObject;
    expectError(() => applyJsonPatch(big, [{ op: 'test', path: '/n', value: new LosslessNumber('12345678901234567890') }]), 422, /test failed/);
    expectError(() => applyJsonPatch({ resourceType: 'Basic', n: 10 }, [{ op: 'test', path: '/n', value: '10' }]), 422, /test failed/);
  });

  test('errors: a failed test names the operation and fails the whole patch', () => {
    const input = patient();
    expectError(
      () =>
        applyJsonPatch(input, [
          { op: 'replace', path: '/active', value: false },
          { op: 'test', path: '/name/0/family', value: 'Verma' },
        ]),
      422,
      /^JSON Patch operation 1 \(test \/name\/0\/family\): test failed/,
    );
    expect(input.active).toBe(true);
    expectError(() => applyJsonPatch(patient(), [{ op: 'test', path: '/gender', value: 'f' }]), 422, /"\/gender" does not exist/);
    expectError(
      () =>
        applyJsonPatch(patient(), [
          { op: 'test', path: '/active', value: true },
          { op: 'test', path: '/active' },
        ]),
      400,
      /operation 1.*"test" requires a "value"/,
    );
  });
});

describe('JSON Pointer', () => {
  const odd = (): JsonObject => frozen({ resourceType: 'Basic', 'a/b': 1, 'm~n': 2, '~1': 3, '': 4 });

  test('~1 is "/", ~0 is "~", decoded in that order; "" is a valid key', () => {
    expect(() =>
      applyJsonPatch(odd(), [
        { op: 'test', path: '/a~1b', value: 1 },
        { op: 'test', path: '/m~0n', value: 2 },
        { op: 'test', path: '/~01', value: 3 },
        { op: 'test', path: '/', value: 4 },
      ]),
    ).not.toThrow();
  });

  test('errors: not starting with "/", a bad escape', () => {
    expectError(() => applyJsonPatch(odd(), [{ op: 'remove', path: 'a' }]), 400, /must be empty or start with "\/"/);
    expectError(() => applyJsonPatch(odd(), [{ op: 'remove', path: '/a~2' }]), 400, /"~" not followed by 0 or 1/);
    expectError(() => applyJsonPatch(odd(), [{ op: 'copy', from: 'x', path: '/y' }]), 400, /must be empty or start with "\/"/);
  });

  test('cannot reach Object.prototype', () => {
    expectError(() => applyJsonPatch(odd(), [{ op: 'test', path: '/constructor', value: {} }]), 422, /does not exist/);
    const out = applyJsonPatch(odd(), [{ op: 'add', path: '/__proto__', value: { polluted: true } }]);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(toJson(out)).toContain('"__proto__":{"polluted":true}');
  });
});

describe('the patch document', () => {
  test('errors: not an array, an operation not an object, missing or unknown op, missing path', () => {
    expectError(() => applyJsonPatch(patient(), { op: 'add' }), 400, /must be a JSON array/);
    expectError(() => applyJsonPatch(patient(), ['add']), 400, /operation 0: an operation must be a JSON object/);
    expectError(() => applyJsonPatch(patient(), [{ path: '/a' }]), 400, /operation 0: missing "op"/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'delete', path: '/a' }]), 400, /unknown op "delete"/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'remove' }]), 400, /missing "path"/);
    expectError(() => applyJsonPatch(patient(), [{ op: 'remove', path: 3 }]), 400, /"path" must be a string/);
  });

  test('a malformed operation is a 400 even after one that would fail on this resource', () => {
    expectError(
      () =>
        applyJsonPatch(patient(), [
          { op: 'remove', path: '/nothing' },
          { op: 'jump', path: '/' },
        ]),
      400,
      /operation 1/,
    );
  });

  test('members an operation does not define are ignored; an empty patch changes nothing', () => {
    expect(applyJsonPatch(patient(), [{ op: 'remove', path: '/active', value: 1, from: '/x', note: 'why' }])).not.toHaveProperty('active');
    const input = patient();
    const out = applyJsonPatch(input, []);
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
  });
});

describe('lossless decimals', () => {
  const text =
    '{"resourceType":"Observation","status":"final","valueQuantity":{"value":235.40,"unit":"mg/dL"},"component":[{"valueQuantity":{"value":1.000}}]}';

  test('values the patch does not touch keep their text', () => {
    const obs = frozen(parseFhirJson(text) as JsonObject);
    const out = applyJsonPatch(obs, [
      { op: 'replace', path: '/status', value: 'amended' },
      { op: 'copy', from: '/component/0', path: '/component/-' },
      { op: 'move', from: '/valueQuantity', path: '/component/0/referenceRange' },
    ]);
    expect(toJson(out)).toBe(
      '{"resourceType":"Observation","status":"amended","component":[{"valueQuantity":{"value":1.000},"referenceRange":{"value":235.40,"unit":"mg/dL"}},{"valueQuantity":{"value":1.000}}]}',
    );
  });

  test('values from the patch keep their text', () => {
    const obs = parseFhirJson(text) as JsonObject;
    const patch = parseFhirJson('[{"op":"replace","path":"/valueQuantity/value","value":98.60}]');
    expect(toJson(applyJsonPatch(obs, patch))).toContain('"valueQuantity":{"value":98.60,"unit":"mg/dL"}');
  });
});

// Worked examples in the manner of RFC 6902 Appendix A, with our own data.
describe('RFC 6902 examples', () => {
  const doc = (): JsonObject => frozen({ resourceType: 'Basic', a: 'x', list: ['p', 'q'] });

  test('add a member, then a nested object member', () => {
    expect(
      applyJsonPatch(doc(), [
        { op: 'add', path: '/b', value: 'y' },
        { op: 'add', path: '/c', value: { d: 1 } },
      ]),
    ).toEqual({ ...doc(), b: 'y', c: { d: 1 } });
  });

  test('add an array element', () => {
    expect(applyJsonPatch(doc(), [{ op: 'add', path: '/list/1', value: 'z' }]).list).toEqual(['p', 'z', 'q']);
  });

  test('remove a member and an array element', () => {
    expect(
      applyJsonPatch(doc(), [
        { op: 'remove', path: '/a' },
        { op: 'remove', path: '/list/0' },
      ]),
    ).toEqual({ resourceType: 'Basic', list: ['q'] });
  });

  test('replace a value', () => {
    expect(applyJsonPatch(doc(), [{ op: 'replace', path: '/a', value: 'w' }]).a).toBe('w');
  });

  test('move a value and an array element', () => {
    const out = applyJsonPatch({ resourceType: 'Basic', from: { v: 1 }, to: {}, l: [1, 2, 3, 4] }, [
      { op: 'move', from: '/from/v', path: '/to/v' },
      { op: 'move', from: '/l/1', path: '/l/3' },
    ]);
    expect(out).toEqual({ resourceType: 'Basic', from: {}, to: { v: 1 }, l: [1, 3, 4, 2] });
  });

  test('test passes, then test fails', () => {
    expect(() =>
      applyJsonPatch(doc(), [
        { op: 'test', path: '/list/1', value: 'q' },
        { op: 'test', path: '/a', value: 'x' },
      ]),
    ).not.toThrow();
    expectError(() => applyJsonPatch(doc(), [{ op: 'test', path: '/a', value: 'X' }]), 422, /test failed/);
  });

  test('adding to a nonexistent target fails', () => {
    expectError(() => applyJsonPatch(doc(), [{ op: 'add', path: '/missing/child', value: 1 }]), 422, /"\/missing" does not exist/);
  });
});
