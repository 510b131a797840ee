/**
 * The R4 primitive types: their JSON representation and lexical rules.
 * https://hl7.org/fhir/R4/datatypes.html#primitive and https://hl7.org/fhir/R4/json.html#primitive
 *
 * The patterns are the `regex` extensions of the official StructureDefinitions, rewritten for JavaScript: they are
 * XML Schema regexes, where `\s` means only space, tab, CR and LF (a JavaScript `\S` would wrongly reject a
 * no-break space in a string). base64Binary is checked by hand because its spec pattern backtracks exponentially
 * on long line-wrapped input.
 */
import { isLosslessNumber, type LosslessNumber } from '../json';
import { isValidCalendarDate } from './calendar';

/** How a primitive is written in JSON (json.html#primitive). */
export type JsonKind = 'string' | 'number' | 'boolean';

export interface PrimitiveProblem {
  severity: 'error' | 'warning';
  code: 'structure' | 'value' | 'too-long';
  message: string;
}

export interface PrimitiveType {
  name: string;
  json: JsonKind;
  /** Checks one JSON value (never null/undefined); undefined when it is valid. */
  check(value: unknown): PrimitiveProblem | undefined;
}

/** datatypes.html#string: "strings SHALL NOT exceed 1MB (1024*1024 characters) in size". */
export const MAX_STRING_LENGTH = 1024 * 1024;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

const YEAR = '([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)';
const MONTH = '(0[1-9]|1[0-2])';
const DAY = '(0[1-9]|[1-2][0-9]|3[0-1])';
const TIME = '([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]+)?';
const ZONE = '(Z|(\\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))';

const PATTERNS = {
  date: new RegExp(`^${YEAR}(-${MONTH}(-${DAY})?)?$`),
  dateTime: new RegExp(`^${YEAR}(-${MONTH}(-${DAY}(T${TIME}${ZONE})?)?)?$`),
  instant: new RegExp(`^${YEAR}-${MONTH}-${DAY}T${TIME}${ZONE}$`),
  time: new RegExp(`^${TIME}$`),
  code: /^[^ \t\n\r]+([ \t\n\r][^ \t\n\r]+)*$/,
  id: /^[A-Za-z0-9\-.]{1,64}$/,
  uri: /^[^ \t\n\r]*$/,
  oid: /^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/,
  uuid: /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  decimal: /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/,
  integer: /^-?([0]|([1-9][0-9]*))$/,
  positiveInt: /^[1-9][0-9]*$/,
  unsignedInt: /^([0]|([1-9][0-9]*))$/,
} as const;

/** Characters below U+0020 other than tab, LF and CR (datatypes.html#string: SHOULD NOT occur). */
const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;
const WHITESPACE_ONLY = /^[ \t\n\r]*$/;
/**
 * A UTF-16 surrogate without its pair (`"\ud800"` in JSON): not a Unicode character, so no UTF-8 text — and no
 * PostgreSQL text — can hold it; refused as invalid input wherever a string occurs.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const err = (code: PrimitiveProblem['code'], message: string): PrimitiveProblem => ({ severity: 'error', code, message });
const warn = (message: string): PrimitiveProblem => ({ severity: 'warning', code: 'value', message });

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (isLosslessNumber(value)) return `the number ${(value as LosslessNumber).value}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(clip(value))}`;
  return `the ${typeof value} ${String(value)}`;
}

function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 60)}…` : s;
}

/** The exact lexical form of a JSON number: lossless text, or the JS number's shortest round-trip form. */
export function numberText(value: unknown): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  if (isLosslessNumber(value)) return (value as LosslessNumber).value;
  return undefined;
}

/** Common checks of every string-based primitive: a JSON string, not empty, no control characters. */
function stringBased(name: string, rest: (s: string) => PrimitiveProblem | undefined): PrimitiveType {
  return {
    name,
    json: 'string',
    check(value) {
      if (typeof value !== 'string') return err('structure', `A ${name} must be a JSON string, not ${describe(value)}`);
      // json.html: "properties never have null values"/empty values: an empty string is no value at all.
      if (value.length === 0) return err('value', `A ${name} must not be an empty string`);
      if (LONE_SURROGATE.test(value))
        return err('value', `The ${name} contains an unpaired UTF-16 surrogate (a lone \\uD800–\\uDFFF escape), which is not a character`);
      const problem = rest(value);
      if (problem) return problem;
      if (CONTROL_CHARS.test(value)) return warn(`The ${name} contains control characters (below U+0020), which it should not`);
      return undefined;
    },
  };
}

function patterned(name: string, pattern: RegExp, extra?: (s: string) => PrimitiveProblem | undefined): PrimitiveType {
  return stringBased(name, (s) => (pattern.test(s) ? extra?.(s) : err('value', `${describe(s)} is not a valid ${name}`)));
}

function stringLike(name: string, maxLength?: number): PrimitiveType {
  return stringBased(name, (s) => {
    if (maxLength !== undefined && s.length > maxLength && [...s].length > maxLength) {
      return err('too-long', `A ${name} must not exceed ${maxLength} characters (this one has ${[...s].length})`);
    }
    if (WHITESPACE_ONLY.test(s)) return warn(`The ${name} consists only of whitespace; it should have non-whitespace content`);
    return undefined;
  });
}

function calendar(name: string) {
  return (s: string): PrimitiveProblem | undefined =>
    isValidCalendarDate(s) ? undefined : err('value', `${describe(s)} is not a valid ${name}: no such day in the calendar`);
}

/** base64Binary's spec pattern `(\s*([0-9a-zA-Z\+/=]){4}\s*)+`, checked in one linear pass. */
function checkBase64(s: string): PrimitiveProblem | undefined {
  let run = 0; // base64 characters since the last group boundary
  let total = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      // whitespace may only sit between whole groups of four
      if (run % 4 !== 0) return err('value', `Invalid base64Binary: whitespace inside a group of four characters at offset ${i}`);
      continue;
    }
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47 || c === 61;
    if (!ok) return err('value', `Invalid base64Binary: character ${JSON.stringify(s[i])} at offset ${i}`);
    run++;
    total++;
  }
  if (total === 0 || run % 4 !== 0) return err('value', 'Invalid base64Binary: the length is not a multiple of 4');
  return undefined;
}

function numeric(name: string, pattern: RegExp, range?: [number, number]): PrimitiveType {
  return {
    name,
    json: 'number',
    check(value) {
      const text = numberText(value);
      if (text === undefined) {
        return err('structure', `A ${name} must be a JSON number, not ${describe(value)}`);
      }
      if (!pattern.test(text)) return err('value', `${text} is not a valid ${name}`);
      if (range) {
        const n = Number(text);
        if (n < range[0] || n > range[1]) return err('value', `${text} is out of range for ${name} (${range[0]}..${range[1]})`);
      }
      return undefined;
    },
  };
}

const boolean: PrimitiveType = {
  name: 'boolean',
  json: 'boolean',
  check(value) {
    return typeof value === 'boolean' ? undefined : err('structure', `A boolean must be JSON true or false, not ${describe(value)}`);
  },
};

const TYPES: PrimitiveType[] = [
  boolean,
  numeric('integer', PATTERNS.integer, [INT32_MIN, INT32_MAX]),
  numeric('positiveInt', PATTERNS.positiveInt, [1, INT32_MAX]),
  numeric('unsignedInt', PATTERNS.unsignedInt, [0, INT32_MAX]),
  numeric('decimal', PATTERNS.decimal),
  stringLike('string', MAX_STRING_LENGTH),
  stringLike('markdown'),
  // Narrative XHTML has its own checker (xhtml.ts); here it is only a JSON string.
  stringBased('xhtml', () => undefined),
  patterned('code', PATTERNS.code),
  patterned('id', PATTERNS.id),
  patterned('uri', PATTERNS.uri),
  patterned('url', PATTERNS.uri),
  patterned('canonical', PATTERNS.uri),
  patterned('oid', PATTERNS.oid),
  patterned('uuid', PATTERNS.uuid),
  patterned('date', PATTERNS.date, calendar('date')),
  patterned('dateTime', PATTERNS.dateTime, calendar('dateTime')),
  patterned('instant', PATTERNS.instant, calendar('instant')),
  patterned('time', PATTERNS.time),
  stringBased('base64Binary', checkBase64),
];

const byName = new Map(TYPES.map((t) => [t.name, t]));

/** The primitive type of that name, or undefined for complex types. */
export function primitiveType(name: string): PrimitiveType | undefined {
  return byName.get(name);
}

export function primitiveTypeNames(): string[] {
  return [...byName.keys()];
}
