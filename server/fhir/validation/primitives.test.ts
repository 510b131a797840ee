/** The primitive type checks, and their agreement with the regexes of the official StructureDefinitions. */
import { r4Model } from '../definitions';
import { LosslessNumber } from '../json';
import { primitiveType, primitiveTypeNames } from './primitives';

function errorOf(type: string, value: unknown): string | undefined {
  const problem = primitiveType(type)!.check(value);
  return problem?.severity === 'error' ? problem.message : undefined;
}

const VALID: Record<string, unknown[]> = {
  boolean: [true, false],
  integer: [0, -5, 2147483647, -2147483648, new LosslessNumber('-0')],
  positiveInt: [1, 2147483647],
  unsignedInt: [0, 2147483647],
  decimal: [0, -1.5, 1e21, new LosslessNumber('235.40'), new LosslessNumber('66.899999999999991'), new LosslessNumber('1.0e-7')],
  string: ['x', ' padded ', 'नमस्ते\u00a0जी'],
  markdown: ['**bold**'],
  code: ['final', 'a b', 'en-US'],
  id: ['a', 'A-1.b', 'x'.repeat(64)],
  uri: ['http://example.org/a?b=c', 'urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0', '#p1'],
  url: ['https://example.org'],
  canonical: ['http://hl7.org/fhir/StructureDefinition/Patient|4.0.1'],
  oid: ['urn:oid:1.2.3.4'],
  uuid: ['urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0'],
  date: ['2024', '2024-02', '2024-02-29', '0001-01-01'],
  dateTime: ['2024', '2024-02', '2024-02-29', '2024-02-29T10:11:12Z', '2024-02-29T10:11:12.123+05:30', '2016-12-31T23:59:60Z'],
  instant: ['2024-02-29T10:11:12Z', '2024-02-29T10:11:12.5+14:00'],
  time: ['10:11:12', '23:59:59.999'],
  base64Binary: ['QUJD', 'QUJD\r\nREVG', 'QQ=='],
};

const INVALID: Record<string, unknown[]> = {
  boolean: ['true', 1, 0],
  integer: [1.5, 2147483648, -2147483649, '1', new LosslessNumber('1.0'), new LosslessNumber('1e3'), Number.NaN],
  positiveInt: [0, -1, 2147483648],
  unsignedInt: [-1, 1.5],
  decimal: ['1.0', Number.POSITIVE_INFINITY, true],
  string: ['', 3],
  code: ['', ' lead', 'trail ', 'a  b', 'a\tb\tc '],
  id: ['', 'a b', 'x'.repeat(65), 'a_b', 'é'],
  uri: ['', 'a b', 'a\tb'],
  oid: ['1.2.3', 'urn:oid:3.1', 'urn:oid:1.02'],
  uuid: ['urn:uuid:0C3151BD-1CBF-4D64-B04D-CD9187A4C6E0', '0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0'],
  date: ['2024-13', '2024-02-30', '2023-02-29', '24-01-01', '2024-1-1', '2024-01-01T10:00:00Z', '0000'],
  dateTime: ['2024-01-01T10:00', '2024-01-01T10:00:00', '2024-01-01T24:00:00Z', '2024-04-31', '2024-01-01T10:00:00+15:00'],
  instant: ['2024-01-01', '2024-01-01T10:00:00', '2024-02-30T10:00:00Z'],
  time: ['24:00:00', '10:00', '10:00:00Z'],
  base64Binary: ['QUJ', 'QU JD', 'QUJD!', '', 'Q\nUJD'],
};

/** An XML Schema regex in JavaScript: there, \\s is only space, tab, CR and LF (inside classes too). */
function xsdToJs(pattern: string): string {
  const space = ' \\t\\n\\r';
  const nonSpace = '\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x21-\\u{10FFFF}';
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && (pattern[i + 1] === 's' || pattern[i + 1] === 'S')) {
      const set = pattern[i + 1] === 's' ? space : nonSpace;
      out += inClass ? set : `[${set}]`;
      i++;
    } else if (c === '\\') {
      out += c + pattern[++i];
    } else {
      if (c === '[') inClass = true;
      if (c === ']') inClass = false;
      out += c;
    }
  }
  return out;
}

describe('primitive types', () => {
  it('cover every R4 primitive type', () => {
    const model = Object.values(r4Model().types)
      .filter((t) => t.kind === 'primitive-type')
      .map((t) => t.name);
    expect(primitiveTypeNames().sort()).toEqual(model.sort());
  });

  it.each(Object.entries(VALID))('accept valid %s values', (type, values) => {
    for (const v of values) expect([v, errorOf(type, v)]).toEqual([v, undefined]);
  });

  it.each(Object.entries(INVALID))('reject invalid %s values', (type, values) => {
    for (const v of values) expect([v, errorOf(type, v)]).toEqual([v, expect.any(String)]);
  });

  it('accept nothing the spec regexes (read with XML Schema semantics) reject', () => {
    for (const [type, values] of [...Object.entries(VALID), ...Object.entries(INVALID)]) {
      const spec = r4Model().types[type].regex;
      if (!spec) continue;
      const re = new RegExp(`^(?:${xsdToJs(spec)})$`, 'u');
      for (const v of values) {
        if (errorOf(type, v) !== undefined) continue;
        const text = v instanceof LosslessNumber ? v.value : String(v);
        expect([type, text, re.test(text)]).toEqual([type, text, true]);
      }
    }
  });
});
