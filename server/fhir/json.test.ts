/**
 * The fast path of lossless JSON parsing (JSON.parse on marked text) must give exactly what the lossless parser
 * gives, on every R4 example and on the edge cases of numbers, escapes and duplicate keys.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'lossless-json';
import { LosslessNumber, isJsonObject, isLosslessNumber, parseFhirJson, parseStoredJson, resourceTypeFirst, toJson, toJsonReference } from './json';

function reference(text: string): unknown {
  return parse(text, null, (t: string) => (String(Number(t)) === t ? Number(t) : new LosslessNumber(t)));
}

/** Deep equality that tells a LosslessNumber from a number and compares lossless numbers by their text. */
function same(a: unknown, b: unknown): boolean {
  if (isLosslessNumber(a) || isLosslessNumber(b)) {
    return isLosslessNumber(a) && isLosslessNumber(b) && (a as LosslessNumber).value === (b as LosslessNumber).value;
  }
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a && typeof a === 'object') {
    if (!b || typeof b !== 'object' || Array.isArray(b)) return false;
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return Object.is(a, b);
}

test('every R4 example (up to 64 KB: the big definition bundles only slow the reference parser) parses and serialises identically', () => {
  const dir = path.dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'package.json' && fs.statSync(path.join(dir, f)).size <= 65536);
  expect(files.length).toBeGreaterThan(1000);
  let checked = 0;
  for (const f of files) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    const expected = reference(text);
    const parsed = parseFhirJson(text);
    if (!same(parsed, expected)) throw new Error(`fast parse differs on ${f}`);
    if (toJson(parsed) !== toJsonReference(expected)) throw new Error(`serialisation differs on ${f}`);
    if (toJson(parsed, true) !== toJsonReference(expected, true)) throw new Error(`pretty serialisation differs on ${f}`);
    checked++;
  }
  expect(checked).toBe(files.length);
});

test.each([
  '{"a":235.40,"b":1.0,"c":66.899999999999991,"d":1E-22,"e":-0,"f":12345678901234567890,"g":1e400,"h":5,"i":-3.25}',
  '[1.50,[2.0,{"x":"1.0"}],"\\"1.0\\"",{"k\\"":0.10}]',
  '{"s":"a \\\\\\" 1.0 \\\\","n":[0.0,-0.0,1e5,1.5e+3]}',
  '{"text":"é ✓ \\ud83d\\ude00","value":7}',
  ' { "spaced" : 1.10 , "k" : [ ] } ',
  '{"oid":"urn:oid:2.16.840.1.113883.6.238","b64":"3e1-0.0","big":12345678901234567,"n":[1.0,"1.0",-0,"-0"]}',
  '{"k\\\\":"v\\\\","x":"a\\"b:c\\"","y":2.50,"z":{"a\\"":1.0}}',
  '{"a" :1.0,"a\\u0041":2}',
])('edge case %s', (text) => {
  expect(same(parseFhirJson(text), reference(text))).toBe(true);
  expect(toJson(parseFhirJson(text))).toBe(toJson(reference(text)));
});

test('duplicate keys are refused as before; a NUL escape and malformed JSON take the lossless path', () => {
  expect(() => parseFhirJson('{"a":1,"b":{"c":1,"c":2}}')).toThrow(/Duplicate key/);
  expect(() => parseFhirJson('{"a" : 1.5, "b":{"c" :1, "c"\n:2}}')).toThrow(/Duplicate key/);
  expect(() => parseFhirJson('{"a\\\\":1,"a\\\\":2}')).toThrow(/Duplicate key/);
  expect(() => parseFhirJson('{"a":1,}')).toThrow(/Malformed JSON/);
  const nul = parseFhirJson('{"a":"\\u0000x","b":1.0}') as Record<string, unknown>;
  expect(nul.a).toBe('\u0000x');
  expect(isLosslessNumber(nul.b)).toBe(true);
  expect(toJson(parseStoredJson('{"v":235.40}'))).toBe('{"v":235.40}');
});

test('serialisation: lossless numbers exact, a string that looks like the number marker stays a string', () => {
  const v = parseFhirJson('{"a":[1.50,2,"\\u0001x"],"b":{"c":-0.0,"d":1E+2},"e":"\\u0000not-a-mark 1.5"}') as Record<string, unknown>;
  expect(toJson(v)).toBe('{"a":[1.50,2,"\\u0001x"],"b":{"c":-0.0,"d":1E+2},"e":"\\u0000not-a-mark 1.5"}');
  expect(toJson({ n: new LosslessNumber('3.10') }, true)).toBe('{\n  "n": 3.10\n}');
});

test('a multi-megabyte string does not overflow the tokenizer', () => {
  const text = `{"data":"${'QUJD'.repeat(5_000_000)}","n":1.0}`;
  const v = parseFhirJson(text) as Record<string, unknown>;
  expect((v.data as string).length).toBe(20_000_000);
  expect(toJson(v.n)).toBe('1.0');
});

/** Text the way PostgreSQL's jsonb prints it: keys shortest first (then bytewise), `", "` and `": "` separators. */
function jsonbText(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(jsonbText).join(', ')}]`;
  if (isJsonObject(v)) {
    const keys = Object.keys(v).sort((a, b) => Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return `{${keys.map((k) => `${JSON.stringify(k)}: ${jsonbText(v[k])}`).join(', ')}}`;
  }
  return toJson(v);
}

test('resourceTypeFirst moves resourceType to the front of jsonb-ordered text of every R4 example, changing nothing else', () => {
  const dir = path.dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'package.json' && fs.statSync(path.join(dir, f)).size <= 65536);
  let moved = 0;
  for (const f of files) {
    const stored = jsonbText(parseStoredJson(fs.readFileSync(path.join(dir, f), 'utf8')));
    const out = resourceTypeFirst(stored);
    const { resourceType, ...rest } = parseStoredJson(stored);
    if (!out.startsWith('{"resourceType": ')) throw new Error(`resourceType not first for ${f}`);
    if (!same(parseStoredJson(out), { resourceType, ...rest })) throw new Error(`content changed for ${f}`);
    if (out.length !== stored.length) throw new Error(`length changed for ${f}`);
    if (resourceTypeFirst(out) !== out) throw new Error(`not idempotent for ${f}`);
    moved++;
  }
  expect(moved).toBe(files.length);
});

test.each([
  ['{"id":"a","resourceType":"Patient"}', '{"resourceType":"Patient","id":"a"}'],
  [
    '{"id": "a", "resourceType": "Patient", "valueQuantity": {"value": 1.50}}',
    '{"resourceType": "Patient", "id": "a", "valueQuantity": {"value": 1.50}}',
  ],
  ['{\n  "id": "a",\n  "resourceType": "Basic"\n}', '{\n  "resourceType": "Basic",\n  "id": "a"\n}'],
  [
    '{"id": "x\\"}resourceType", "contained": [{"id": "m", "resourceType": "Medication"}], "n": [1.0, -0, 1E+2, true, null], "resourceType": "MedicationRequest"}',
    '{"resourceType": "MedicationRequest", "id": "x\\"}resourceType", "contained": [{"id": "m", "resourceType": "Medication"}], "n": [1.0, -0, 1E+2, true, null]}',
  ],
  ['{"s": "a\\\\", "resourceType": "Basic", "t": "\\\\\\""}', '{"resourceType": "Basic", "s": "a\\\\", "t": "\\\\\\""}'],
])('resourceTypeFirst(%s)', (text, expected) => {
  expect(resourceTypeFirst(text)).toBe(expected);
});

test('resourceTypeFirst leaves text alone when there is nothing to move', () => {
  for (const text of [
    '{"resourceType":"Patient","id":"a"}',
    '{"resourceType":"Patient"}',
    '{}',
    '[]',
    '{"id":"a","x":{"resourceType":"Patient"}}',
    '{"id": "a"',
  ]) {
    expect(resourceTypeFirst(text)).toBe(text);
  }
});
