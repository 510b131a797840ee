/**
 * Normalisation of search values, shared by write-time extraction and query parsing so that both sides of a
 * comparison are folded the same way (DESIGN.md §3):
 * - strings: accent- and case-insensitive (Unicode NFD without combining marks, lower case, single spaces);
 * - national identifiers (HMS-DOMAIN.md §3): the legacy `ndhm.gov.in` systems are aliases of the `abdm.gov.in`
 *   ones, and a hyphenated ABHA / HPR number `NN-NNNN-NNNN-NNNN` is indexed as its 14 bare digits. Only the index
 *   is normalised; the stored resource keeps what the client sent;
 * - full text: folded words.
 */

/** The canonical national identifier systems and their aliases (legacy NDHM → ABDM). */
export const NHID_SYSTEM = 'https://healthid.abdm.gov.in';
export const IDENTIFIER_TYPE_SYSTEM = 'https://nrces.in/ndhm/fhir/r4/CodeSystem/ndhm-identifier-type-code';
const SYSTEM_ALIASES: Record<string, string> = {
  'https://healthid.ndhm.gov.in': NHID_SYSTEM,
  'http://healthid.ndhm.gov.in': NHID_SYSTEM,
  'http://healthid.abdm.gov.in': NHID_SYSTEM,
  'https://facility.ndhm.gov.in': 'https://facility.abdm.gov.in',
  'https://doctor.ndhm.gov.in': 'https://hpr.abdm.gov.in',
};
/** Systems whose values are 14-digit numbers, written with or without hyphens. */
const DIGIT_SYSTEMS = new Set([NHID_SYSTEM, 'https://hpr.abdm.gov.in']);
const HYPHENATED_14 = /^\d{2}-\d{4}-\d{4}-\d{4}$/;

export function canonicalSystem(system: string): string {
  return SYSTEM_ALIASES[system] ?? system;
}

/** `91-1234-5678-9012` → `91123456789012` (other values unchanged). */
export function bareDigits(value: string): string {
  return HYPHENATED_14.test(value) ? value.replace(/-/g, '') : value;
}

/**
 * The indexed form of an identifier value: digits-only for the national systems (or an identifier typed HIN/HPIN),
 * the value itself otherwise.
 */
export function normaliseIdentifierValue(system: string | null, value: string, nationalType = false): string {
  if (nationalType || (system !== null && DIGIT_SYSTEMS.has(system))) return bareDigits(value);
  return value;
}

/** Identifier type codes (ndhm-identifier-type-code) that mark a 14-digit national number. */
export const NATIONAL_TYPE_CODES = new Set(['HIN', 'HPIN']);

const ASCII = /^[\x20-\x7e]*$/;

/** Accent- and case-insensitive folding of a string value or search string. */
export function fold(s: string): string {
  if (ASCII.test(s)) return s.toLowerCase().replace(/\s+/g, ' ').trim();
  return s
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}

/** The c2_system of composite rows holding a UCUM-canonical quantity (their raw twin keeps the unit as sent). */
export const CANONICAL_MARK = 'urn:arogya:ucum-canonical';

/** Longest indexed string (a btree entry must stay well under PostgreSQL's ~2.7 kB limit). */
export const MAX_STRING = 512;

/** Folded words of a text, for the full-text index and `_text`/`_content` queries. */
export function words(text: string, out: string[] = []): string[] {
  const ascii = ASCII.test(text);
  const parts = ascii ? text.toLowerCase().split(/[^a-z0-9]+/) : fold(text).split(/[^\p{L}\p{N}]+/u);
  for (const w of parts) if (w.length > 0 && w.length <= 100) out.push(w);
  return out;
}

/**
 * A tsvector literal of distinct words: `narrative` words as `'w':1A`, the others as `'w':1` (weight D, the
 * default); a word in both carries both weights (`'w':1A,2`). Quoted, so no text is ever parsed as tsvector syntax.
 * At most `max` distinct words.
 */
export function weightedTsvectorLiteral(narrative: Iterable<string>, other: Iterable<string>, max = 2000): string {
  const weights = new Map<string, number>(); // 1: narrative, 2: other, 3: both
  for (const w of narrative) {
    if (weights.size >= max) break;
    weights.set(w, 1);
  }
  for (const w of other) {
    const had = weights.get(w);
    if (had === undefined) {
      if (weights.size >= max) continue;
      weights.set(w, 2);
    } else weights.set(w, had | 2);
  }
  // words() yields letters and digits only: nothing to escape inside the quotes
  let out = '';
  for (const [w, k] of weights) {
    const entry = `'${w}':${k === 1 ? '1A' : k === 2 ? '1' : '1A,2'}`;
    out += out ? ` ${entry}` : entry;
  }
  return out;
}

/** American Soundex digits of the consonants; vowels (and Y) separate runs, H and W do not. */
const SOUNDEX_DIGIT: Record<string, string> = {
  b: '1',
  f: '1',
  p: '1',
  v: '1',
  c: '2',
  g: '2',
  j: '2',
  k: '2',
  q: '2',
  s: '2',
  x: '2',
  z: '2',
  d: '3',
  t: '3',
  l: '4',
  m: '5',
  n: '5',
  r: '6',
};

/**
 * The phonetic key of one name (the `phonetic` search parameter: "a portion of either family or given name using
 * some kind of phonetic matching algorithm"): American Soundex of its folded letters (`Müller`, `Mueller` and
 * `Miller` → M460). A name without Latin letters (e.g. Devanagari) keys as its folded self, prefixed `=`.
 */
export function phoneticKey(name: string): string | undefined {
  const folded = fold(name);
  const letters = folded.replace(/[^a-z]/g, '');
  if (letters === '') {
    const self = folded.replace(/[^\p{L}\p{N}]+/gu, '');
    return self === '' ? undefined : `=${self}`;
  }
  let out = letters[0].toUpperCase();
  let last = SOUNDEX_DIGIT[letters[0]] ?? '';
  for (let i = 1; i < letters.length && out.length < 4; i++) {
    const ch = letters[i];
    if (ch === 'h' || ch === 'w') continue;
    const digit = SOUNDEX_DIGIT[ch];
    if (digit === undefined) {
      last = ''; // a vowel: the same digit may follow again
      continue;
    }
    if (digit !== last) out += digit;
    last = digit;
  }
  return out.padEnd(4, '0');
}
