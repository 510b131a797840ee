/**
 * Lossless FHIR JSON. FHIR decimals carry their precision in their lexical form (`235.40` ≠ `235.4` to a
 * clinician), and JavaScript numbers lose it, so resource bodies are never passed through a plain
 * `JSON.parse`/`JSON.stringify` round trip. Numbers whose text survives a JS number round trip become ordinary
 * numbers (so most code sees plain JSON); the others stay `LosslessNumber`s that serialise exactly as written.
 * PostgreSQL's jsonb keeps numeric text exactly (it stores `numeric`), so stored bodies read back as written.
 */
import crypto from 'node:crypto';
import { LosslessNumber, isLosslessNumber, parse, stringify } from 'lossless-json';
import { badRequest } from './outcome';

export { LosslessNumber, isLosslessNumber };

export type JsonValue = null | boolean | number | string | LosslessNumber | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

function parseNumber(text: string): number | LosslessNumber {
  const n = Number(text);
  return String(n) === text ? n : new LosslessNumber(text);
}

/**
 * Number tokens that may not survive a JS number round trip: a fraction, an exponent, 16 or more digits, or -0
 * (an integer of up to 15 digits always does). Matched over the whole text; those inside strings are told apart
 * by the quote scan of parseFast.
 */
const NUMBER_CANDIDATE = /-?\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+)|-?\d{16,}|-0(?![\d.eE])/g;
/** A number whose text does not survive a JS number round trip is carried through JSON.parse as this marker. */
const MARK = 0;

/**
 * The fast path of lossless parsing: `JSON.parse` (native, ~20× faster than a JS parser) on a copy of the text in
 * which every number that would lose its lexical form is turned into a marked string, restored afterwards as a
 * LosslessNumber. The result is identical to the lossless parser's (same number rule as parseNumber). Returns
 * undefined whenever the fast path cannot vouch for that — malformed JSON (so the lossless parser reports the
 * position), a NUL escape in the text (it could forge a marker), or duplicate object keys (JSON.parse keeps the last
 * silently; the lossless parser refuses them) — and the caller falls back to the lossless parser.
 *
 * One pass over the quotes of the text (native indexOf) tells which number candidates sit inside strings and
 * counts the object keys (a string followed by `:`), compared afterwards with the keys JSON.parse kept.
 */
function parseFast(text: string): JsonValue | undefined {
  if (/\\u0000/i.test(text)) return undefined;
  let keys = 0;
  let quote = text.indexOf('"');
  let inString = false;
  const scanTo = (pos: number): void => {
    while (quote >= 0 && quote < pos) {
      if (!inString) inString = true;
      else {
        let b = quote - 1;
        while (text.charCodeAt(b) === 92 /* \ */) b--;
        if ((quote - 1 - b) % 2 === 0) {
          inString = false;
          let k = quote + 1;
          let c = text.charCodeAt(k);
          while (c === 32 || c === 10 || c === 13 || c === 9) c = text.charCodeAt(++k);
          if (c === 58 /* : */) keys++;
        }
      }
      quote = text.indexOf('"', quote + 1);
    }
  };
  const pieces: string[] = [];
  let copied = 0;
  NUMBER_CANDIDATE.lastIndex = 0;
  for (let m = NUMBER_CANDIDATE.exec(text); m !== null; m = NUMBER_CANDIDATE.exec(text)) {
    const token = m[0];
    if (String(Number(token)) === token) continue;
    scanTo(m.index);
    if (inString) continue;
    pieces.push(text.slice(copied, m.index), `"\\u0000${token}"`);
    copied = m.index + token.length;
  }
  scanTo(text.length);
  const marked = pieces.length > 0;
  const prepared = marked ? `${pieces.join('')}${text.slice(copied)}` : text;
  try {
    const counter = { keys: 0 };
    const restored = restore(JSON.parse(prepared) as JsonValue, marked, counter);
    return counter.keys === keys ? restored : undefined;
  } catch {
    return undefined; // malformed, or nested too deep for the walk: the lossless parser reports it
  }
}

/** Counts object keys (to detect duplicates collapsed by JSON.parse) and restores marked numbers. */
function restore(value: JsonValue, marked: boolean, counter: { keys: number }): JsonValue {
  if (typeof value === 'string') {
    return marked && value.charCodeAt(0) === MARK ? new LosslessNumber(value.slice(1)) : value;
  }
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if ((typeof v === 'object' && v !== null) || (marked && typeof v === 'string')) value[i] = restore(v, marked, counter);
    }
    return value;
  }
  const obj = value as JsonObject;
  for (const k in obj) {
    counter.keys++;
    const v = obj[k];
    if ((typeof v === 'object' && v !== null) || (marked && typeof v === 'string')) obj[k] = restore(v, marked, counter);
  }
  return obj;
}

/** Parse a request body; malformed JSON becomes a 400 OperationOutcome naming the position. */
export function parseFhirJson(text: string): JsonValue {
  const fast = parseFast(text);
  if (fast !== undefined) return fast;
  try {
    return parse(text, null, parseNumber) as JsonValue;
  } catch (e) {
    // A stack overflow's message is the engine's, not a diagnostic (the HTTP body parsers bound the depth first).
    if (e instanceof RangeError) throw badRequest('Malformed JSON: nested too deeply to read');
    throw badRequest(`Malformed JSON: ${(e as Error).message}`);
  }
}

/** Parse text that is known to be valid JSON (from the database). */
export function parseStoredJson(text: string): JsonObject {
  return (parseFast(text) ?? parse(text, null, parseNumber)) as JsonObject;
}

/**
 * A LosslessNumber leaves JSON.stringify as this marker string, unquoted afterwards. The random part makes it
 * unguessable: no string in a resource can pass for it.
 */
const NUMBER_MARK = `\u0000${crypto.randomBytes(8).toString('hex')}`;
const NUMBER_MARK_TEXT = new RegExp(`"\\\\u0000${NUMBER_MARK.slice(1)}([^"]*)"`, 'g');

/**
 * Serialises lossless JSON: native JSON.stringify, with LosslessNumbers written exactly as they were read. Most
 * values hold none, so a plain JSON.stringify (no replacer: a JS call per value costs more than the native
 * serialisation) is tried first; natively a LosslessNumber comes out as an object with an `isLosslessNumber`
 * member, and only then is the value serialised again with the replacer.
 */
export function toJson(value: unknown, pretty = false): string {
  if (!pretty) {
    const plain = JSON.stringify(value);
    if (plain === undefined || !plain.includes('"isLosslessNumber":true')) return plain;
  }
  let marked = false;
  const text = JSON.stringify(
    value,
    (_key: string, v: unknown) => {
      if (typeof v === 'object' && v !== null && isLosslessNumber(v)) {
        marked = true;
        return NUMBER_MARK + (v as LosslessNumber).value;
      }
      return v;
    },
    pretty ? 2 : undefined,
  );
  return marked ? text.replace(NUMBER_MARK_TEXT, '$1') : text;
}

/** The lossless-json library's serialiser (the reference the fast one is tested against). */
export function toJsonReference(value: unknown, pretty = false): string {
  return stringify(value, undefined, pretty ? 2 : undefined) as string;
}

/** The numeric value of a number that may be lossless (for comparisons and arithmetic, never for output). */
export function numberValue(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (isLosslessNumber(v)) return Number((v as LosslessNumber).value);
  return undefined;
}

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isLosslessNumber(v);
}

/** Index just past the string literal whose opening quote is at `i`. */
function stringEnd(text: string, i: number): number {
  let q = text.indexOf('"', i + 1);
  for (;;) {
    if (q < 0) return -1;
    let b = q - 1;
    while (text.charCodeAt(b) === 92 /* \ */) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    q = text.indexOf('"', q + 1);
  }
}

function skipSpace(text: string, i: number): number {
  let c = text.charCodeAt(i);
  while (c === 32 || c === 10 || c === 13 || c === 9) c = text.charCodeAt(++i);
  return i;
}

/** Index just past the JSON value starting at `i` (strings skipped natively with indexOf, nesting counted). */
function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 34 /* " */) return stringEnd(text, i);
  if (c !== 123 /* { */ && c !== 91 /* [ */) {
    while (i < text.length && !',}] \n\r\t'.includes(text[i])) i++;
    return i;
  }
  let depth = 0;
  for (; i < text.length; i++) {
    const d = text.charCodeAt(i);
    if (d === 34) i = stringEnd(text, i) - 1;
    else if (d === 123 || d === 91) depth++;
    else if ((d === 125 || d === 93) && --depth === 0) return i + 1;
    if (i < 0) return -1;
  }
  return -1;
}

/**
 * The resource's JSON text with its top-level `resourceType` member moved to the front, as FHIR JSON puts it
 * (json.html#resources) and clients that sniff the first key expect. PostgreSQL's jsonb prints keys shortest first,
 * so stored text almost never has it first. The text is not parsed: the top-level members are skipped over and the
 * member is spliced out and in front, keeping every other character (decimals included) as it was. Text that
 * already starts with it (or is not an object with one) comes back unchanged.
 */
export function resourceTypeFirst(text: string): string {
  const open = skipSpace(text, 0);
  if (text.charCodeAt(open) !== 123) return text;
  const first = skipSpace(text, open + 1);
  if (text.startsWith('"resourceType"', first)) return text;
  let prevEnd = -1; // end of the previous member's value
  for (let key = first; text.charCodeAt(key) === 34; ) {
    const keyEnd = stringEnd(text, key);
    const colon = skipSpace(text, keyEnd);
    if (keyEnd < 0 || text.charCodeAt(colon) !== 58) return text;
    const end = valueEnd(text, skipSpace(text, colon + 1));
    if (end < 0) return text;
    const next = skipSpace(text, end);
    const last = text.charCodeAt(next) !== 44; /* , */
    if (text.slice(key, keyEnd) === '"resourceType"') {
      const member = text.slice(key, end);
      const head = text.slice(0, first);
      if (!last) {
        const following = skipSpace(text, next + 1);
        return head + member + text.slice(end, following) + text.slice(first, key) + text.slice(following);
      }
      if (prevEnd < 0) return text; // the only member
      return head + member + text.slice(prevEnd, key) + text.slice(first, prevEnd) + text.slice(end);
    }
    if (last) return text;
    prevEnd = end;
    key = skipSpace(text, next + 1);
  }
  return text;
}
