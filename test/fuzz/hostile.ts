/**
 * Hostile values: strings that break naive encoders, parsers, SQL builders and indexes, and number texts that
 * break naive number handling. JSON bodies are written by `toJson`, which keeps a `RawNumber`'s text exactly as
 * generated (1e400, -0, 0.1000000000000000000000000001), as a lossless client would send it.
 */
import type { Rng } from './random';

/** A JSON number written verbatim (JavaScript numbers cannot hold the hostile ones). */
export class RawNumber {
  constructor(readonly text: string) {}
}

/** A JSON text written verbatim at this place (a deliberately malformed or exotic fragment). */
export class RawJson {
  constructor(readonly text: string) {}
}

export function toJson(value: unknown): string {
  if (value instanceof RawNumber || value instanceof RawJson) return value.text;
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`)
    .join(',')}}`;
}

const SHORT_HOSTILE = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800', // lone high surrogate
  'a\udfffb', // lone low surrogate
  '\udc00\ud800', // reversed pair
  '😀', // a valid pair
  '\u202e\u0645\u0631\u062d\u0628\u0627abc', // RTL override + Arabic
  'e\u0301\u0301\u0301\u0301\u0301\u0301\u0301', // stacked combining marks
  'Z\u0351\u0354\u0359\u035a\u0360\u0361\u0489', // zalgo-ish
  '\ufeffBOM',
  '\u2028\u2029',
  '\t\r\n',
  "'; DROP TABLE resource; --",
  "' OR '1'='1",
  '%',
  '_',
  '%_\\',
  '\\',
  '"',
  '\\"',
  '{"a":1}',
  '[]',
  '$1',
  '$$',
  '::jsonb',
  '$',
  '|',
  ',',
  '\\,\\|\\$',
  'a,b|c$d',
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '%00',
  '%ZZ',
  '%C0%AF',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '__proto__',
  'constructor',
  'İıſK', // case folding traps
  'ß',
  'ﬃ',
  'Ⅻ',
  '\u00ad', // soft hyphen
  '\u200b\u200c\u200d', // zero-width
  'Ａ', // full-width
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '\u0085',
  '\u007f',
  '\u001b[31m',
  'http://',
  'urn:uuid:',
  'Patient/',
  '/',
  '#',
  '?',
  '&',
  '=',
  '+',
];

/** Size bounds of hostile values: the short run (npm test) keeps them small enough for a busy machine. */
export const sizes = { longString: 200_000, hugeString: 2_000_000 };

/** A hostile string: a classic trap, a huge or repetitive string, or a random mix of odd code units. */
export function hostileString(rng: Rng): string {
  switch (rng.int(8)) {
    case 0:
    case 1:
    case 2:
      return rng.pick(SHORT_HOSTILE);
    case 3:
      return `${rng.pick(['a', 'Müller', 'x'])}${rng.pick(SHORT_HOSTILE)}${rng.pick(['', 'z', '9'])}`;
    case 4:
      return rng.pick(SHORT_HOSTILE).repeat(rng.range(2, 50));
    case 5: {
      // a long string: up to 200 KB, rarely 2 MB
      const len = rng.chance(0.05) ? rng.range(sizes.hugeString / 4, sizes.hugeString) : rng.range(1000, sizes.longString);
      return rng.pick(['a', 'é', '😀', ' ', '\u0301', 'ab ']).repeat(Math.ceil(len / 3));
    }
    default: {
      let s = '';
      const n = rng.range(1, 24);
      for (let i = 0; i < n; i++) s += String.fromCharCode(rng.pick([rng.int(0x80), rng.int(0x800), rng.int(0x10000), 0xd800 + rng.int(0x800)]));
      return s;
    }
  }
}

/** A hostile number text: exponents, long fractions, huge integers, negative zero, leading zeros, NaN-like text. */
export function hostileNumberText(rng: Rng): string {
  return rng.pick([
    '-0',
    '0.0',
    '-0.0',
    '1e400',
    '-1e400',
    '1E-400',
    '1e-7',
    '4.9e-324',
    '1.7976931348623157e308',
    '9007199254740993',
    '-9223372036854775809',
    '18446744073709551616',
    '2147483648',
    '-2147483649',
    `0.${'1'.repeat(rng.range(20, 2000))}`,
    `${'9'.repeat(rng.range(20, 1000))}`,
    `1${'0'.repeat(rng.range(20, 400))}.5`,
    '100.000000000000000000000000001',
    '66.899999999999991',
    '1.0e+2',
    '1E2',
    '0e0',
    '-0e-0',
  ]);
}

/** Text that looks like a number to a lax parser but is not a JSON or FHIR number. */
export function numberLikeText(rng: Rng): string {
  return rng.pick(['NaN', 'Infinity', '-Infinity', '+1', '01', '1.', '.5', '0x10', '1e', '1_000', '١٢٣', '1,5', ' 1', '1 ', '', '--1', '1e+', 'e5']);
}
