/** The native constraint shapes give the answers fhirpath.js gives for the same expressions. */
import { compileExpression } from '../fhirpath-engine';
import { matchesPattern, nativeConstraint, sameValue } from './check';

const cases: [string, string, unknown[]][] = [
  [
    'Patient.identifier.value',
    "matches('^([0-9]{14}|[0-9]{2}-[0-9]{4}-[0-9]{4}-[0-9]{4})$')",
    ['12345678901234', '12-3456-7890-1234', '1234', '123456789012345', ''],
  ],
  [
    'Patient',
    "identifier.where(system = 'https://healthid.abdm.gov.in' or system = 'https://healthid.ndhm.gov.in').exists()",
    [
      { resourceType: 'Patient' },
      { resourceType: 'Patient', identifier: [{ system: 'urn:x', value: '1' }] },
      { resourceType: 'Patient', identifier: [{ system: 'urn:x' }, { system: 'https://healthid.ndhm.gov.in', value: '1' }] },
    ],
  ],
];

test.each(cases)('%s: %s', (base, expression, inputs) => {
  const native = nativeConstraint(expression);
  expect(native).toBeDefined();
  const fhirpath = compileExpression(base, expression);
  for (const input of inputs) expect(native!(input, {})).toEqual(fhirpath(input, {}));
});

test('other shapes go to fhirpath.js', () => {
  expect(nativeConstraint("identifier.where(system = 'a').all(value.exists())")).toBeUndefined();
  expect(nativeConstraint('%resource.id.exists()')).toBeUndefined();
});

test('fixed and pattern comparisons', () => {
  expect(sameValue({ a: [1, 'x'] }, { a: [1, 'x'] })).toBe(true);
  expect(sameValue({ a: 1, b: 2 }, { a: 1 })).toBe(false);
  const pattern = { coding: [{ system: 's', code: 'c' }] };
  expect(
    matchesPattern(
      {
        coding: [
          { system: 'o', code: 'x' },
          { system: 's', code: 'c', display: 'C' },
        ],
        text: 't',
      },
      pattern,
    ),
  ).toBe(true);
  expect(matchesPattern({ coding: [{ system: 's', code: 'd' }] }, pattern)).toBe(false);
});
