/**
 * Search values by type (https://hl7.org/fhir/R4/search.html#ptypes): the text of one value (after the OR split on
 * unescaped commas) → its typed, normalised form, normalised exactly as extraction normalises stored values
 * (normalise.ts). Escapes: `\,` `\|` `\$` `\\` stand for the character itself. A malformed value is a 400 naming the
 * parameter.
 */
import { isResourceType } from '../definitions';
import { parseDateRange } from '../datetime';
import type {
  CompositeSecond,
  CompositeValue,
  DateValue,
  NearValue,
  NumberValue,
  Prefix,
  QuantityValue,
  ReferenceValue,
  TokenValue,
} from './criteria';
import { invalidValue as invalid } from './errors';
import { canonicalSystem, fold, MAX_STRING, normaliseIdentifierValue } from './normalise';
import type { ActiveSearchParam } from './registry';
import { toCanonical, UCUM } from './ucum';

/** What values need to know beyond their text. */
export interface ValueContext {
  /** the zone of dates given without one */
  timeZone: string;
  /** this server's base URL: an absolute reference under it is a local `Type/id` */
  baseUrl: string;
}

/** A FHIR id. */
export const ID = /^[A-Za-z0-9\-.]{1,64}$/;

// ---------------------------------------------------------------------------------------------------------------
// Lexical helpers

/** Splits a search value on unescaped commas (`\,` is a literal comma); the escapes stay for the next level. */
export function splitOr(value: string): string[] {
  return splitUnescaped(value, ',');
}

/** Removes the escapes: `\,` `\$` `\|` `\\` stand for the character. */
export function unescapeValue(s: string): string {
  return s.replace(/\\([,$|\\])/g, '$1');
}

/** Splits on an unescaped separator character. */
export function splitUnescaped(value: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && i + 1 < value.length) {
      cur += c + value[++i];
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** `system|code`, `|code`, `code`, `system|` (escaped `\|` is literal); national ids normalised. */
export function parseToken(value: string): TokenValue {
  const parts = splitUnescaped(value, '|');
  if (parts.length === 1) return { system: undefined, code: unescapeValue(parts[0]) };
  const system = unescapeValue(parts[0]);
  const code = unescapeValue(parts.slice(1).join('|'));
  const sys = system === '' ? null : canonicalSystem(system);
  return { system: sys, code: code === '' ? null : normaliseIdentifierValue(sys, code) };
}

/** A two-letter prefix (search.html#prefix), `eq` when there is none. */
export function parsePrefix(name: string, raw: string): { prefix: Prefix; rest: string } {
  const m = /^([a-z]{2})(.*)$/.exec(raw);
  if (m && !/^\d/.test(raw)) {
    if (!['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'].includes(m[1])) throw invalid(name, `unknown prefix '${m[1]}' in '${raw}'`);
    return { prefix: m[1] as Prefix, rest: m[2] };
  }
  return { prefix: 'eq', rest: raw };
}

const DECIMAL = /^[-+]?(\d+)(?:\.(\d+))?(?:[eE]([-+]?\d+))?$/;

/** A decimal search value and the range its precision implies (search.html#number: 100 → [99.5, 100.5)). */
function parseDecimal(name: string, text: string): { value: string; low: string; high: string; num: number } {
  const m = DECIMAL.exec(text);
  if (!m) throw invalid(name, `'${text}' is not a number`);
  const decimals = m[2]?.length ?? 0;
  const exp = m[3] ? Number(m[3]) : 0;
  const num = Number(text);
  const half = 0.5 * 10 ** (exp - decimals);
  const fix = (n: number) => String(Number(n.toPrecision(15)));
  return { value: text, low: fix(num - half), high: fix(num + half), num };
}

export function parseNumberValue(name: string, raw: string): NumberValue {
  const { prefix, rest } = parsePrefix(name, raw);
  const d = parseDecimal(name, rest);
  return { prefix, value: d.value, low: d.low, high: d.high };
}

/** `near` without a distance: the server's discretion (search parameter Location-near), documented in the README. */
export const NEAR_DEFAULT_METERS = 10_000;

/**
 * `[latitude]|[longitude]|[distance]|[units]` (R4 Location-near): WGS84 degrees; the distance in any UCUM length
 * unit (km when none is given), or the default when the distance is omitted.
 */
export function parseNearValue(name: string, raw: string): NearValue {
  const parts = splitUnescaped(raw, '|').map(unescapeValue);
  if (parts.length < 2 || parts.length > 4) throw invalid(name, `expected latitude|longitude[|distance[|units]], got '${raw}'`);
  const num = (s: string, what: string): number => {
    if (!/^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(s.trim())) throw invalid(name, `the ${what} '${s}' is not a number`);
    return Number(s);
  };
  const lat = num(parts[0], 'latitude');
  const lng = num(parts[1], 'longitude');
  if (Math.abs(lat) > 90) throw invalid(name, `the latitude ${parts[0]} is outside -90..90`);
  if (Math.abs(lng) > 180) throw invalid(name, `the longitude ${parts[1]} is outside -180..180`);
  if (parts.length < 3 || parts[2] === '') {
    if (parts[3]) throw invalid(name, `units '${parts[3]}' without a distance`);
    return { lat, lng, meters: NEAR_DEFAULT_METERS };
  }
  const distance = num(parts[2], 'distance');
  if (distance < 0) throw invalid(name, `the distance ${parts[2]} is negative`);
  if (!Number.isFinite(distance)) throw invalid(name, `the distance ${parts[2]} is too large`);
  const unit = parts[3] || 'km';
  const canonical = toCanonical(distance, unit);
  if (canonical?.unit !== 'm') throw invalid(name, `'${unit}' is not a UCUM unit of length (e.g. km, m, [mi_i])`);
  if (!Number.isFinite(canonical.value)) throw invalid(name, `the distance ${parts[2]} ${unit} is too large`);
  return { lat, lng, meters: canonical.value };
}

/** `[prefix]number[|system|code]`, with its UCUM-canonical form when the unit converts. */
export function parseQuantityValue(name: string, raw: string): QuantityValue {
  const parts = splitUnescaped(raw, '|');
  if (parts.length !== 1 && parts.length !== 3) throw invalid(name, `expected [prefix]number|system|code, got '${raw}'`);
  const { prefix, rest } = parsePrefix(name, parts[0]);
  const d = parseDecimal(name, rest);
  const q: QuantityValue = { prefix, value: d.value, low: d.low, high: d.high };
  if (parts.length === 3) {
    const system = unescapeValue(parts[1]);
    const code = unescapeValue(parts[2]);
    if (system) q.system = canonicalSystem(system);
    if (code) q.code = code;
    if (code && (!system || system === UCUM)) {
      const v = toCanonical(d.num, code);
      const lo = toCanonical(Number(d.low), code);
      const hi = toCanonical(Number(d.high), code);
      const fix = (n: number) => String(Number(n.toPrecision(15)));
      if (v && lo && hi) {
        // Conversion is floating point (stored canonical values keep 15 significant digits): never ask for more
        // precision than that, or a value sent with 17 digits would miss itself.
        const eps = Math.abs(v.value) * 1e-12;
        const low = Math.min(lo.value, hi.value, v.value - eps);
        const high = Math.max(lo.value, hi.value, v.value + eps);
        q.canonical = { unit: v.unit, value: fix(v.value), low: fix(low), high: fix(high) };
      }
    }
  }
  return q;
}

/** `[prefix]date`: the [low, high) range of the date at its precision, in `timeZone` when it has no zone. */
export function parseDateValue(name: string, raw: string, timeZone: string): DateValue {
  const { prefix, rest } = parsePrefix(name, raw);
  try {
    return { prefix, range: parseDateRange(rest, timeZone, name) };
  } catch {
    throw invalid(name, `'${rest}' is not a FHIR date, dateTime or instant (e.g. 2024-03-01 or 2024-03-01T10:00:00Z)`);
  }
}

/** The canonical reference value forms (search.html#reference): `Type/id`, `id`, an absolute URL (local ones → Type/id). */
export function parseReferenceValue(raw: string, baseUrl: string, typeModifier: string | undefined, name: string): ReferenceValue {
  const v = unescapeValue(raw);
  let ref = v;
  if (ref.startsWith(`${baseUrl}/`)) ref = ref.slice(baseUrl.length + 1);
  const rel = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/.exec(ref);
  if (rel && isResourceType(rel[1])) {
    if (typeModifier && typeModifier !== rel[1]) throw invalid(name, `'${v}' is not a ${typeModifier} reference`);
    return { type: rel[1], id: rel[2] };
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(v)) return { url: v };
  if (!ID.test(v)) throw invalid(name, `'${v}' is not an id, Type/id or absolute URL`);
  return typeModifier ? { type: typeModifier, id: v } : { id: v };
}

/** A string value: folded (accents and case) for matching, exact for `:exact`, both capped like stored strings. */
export function stringValue(v: string): { folded: string; exact: string } {
  return { folded: fold(v).slice(0, MAX_STRING), exact: v.slice(0, MAX_STRING) };
}

// ---------------------------------------------------------------------------------------------------------------
// Composite values

type Component = NonNullable<ActiveSearchParam['components']>[number];

/** `a$b[$c]`: one value per component, matched on the same element (search.html#composite). */
export function parseCompositeValue(p: ActiveSearchParam, name: string, raw: string, ctx: ValueContext): CompositeValue {
  const comps = p.components!;
  const parts = splitUnescaped(raw, '$');
  if (parts.length !== comps.length) {
    const n = comps.length === 2 ? 'two' : 'three';
    throw invalid(name, `a value of '${p.code}' has ${n} parts joined by $ (${comps.map((c) => c.code).join('$')}), got '${raw}'`);
  }
  // A reference first component is stored without a system (extract.ts compositeRows).
  const first: TokenValue =
    comps[0].type === 'reference' ? { system: null, code: referenceComponentValue(comps[0], name, parts[0], ctx) } : parseToken(parts[0]);
  const second = parseComponentValue(comps[1], name, parts[1], ctx);
  return comps.length === 3 ? { first, second, third: parseComponentValue(comps[2], name, parts[2], ctx) } : { first, second };
}

/**
 * A reference component's value in the form it is indexed in (extract.ts referenceComponentCodes): `Type/id` (also
 * given as an absolute URL on this server, or as a bare id when the component can point at one type only), else
 * the absolute URL as written.
 */
function referenceComponentValue(comp: Component, name: string, raw: string, ctx: ValueContext): string {
  const targets = comp.target ?? [];
  const v = unescapeValue(raw);
  if (!v.includes('/') && ID.test(v)) {
    if (targets.length !== 1)
      throw invalid(name, `'${v}' is a bare id, but '${comp.code}' may refer to ${targets.length ? targets.join(', ') : 'any type'}: give Type/id`);
    return `${targets[0]}/${v}`;
  }
  const ref = parseReferenceValue(raw, ctx.baseUrl, undefined, name);
  return ref.url ?? `${ref.type}/${ref.id}`;
}

/** A value of a composite's second or third component, by the component's type (prefixes on number, quantity, date). */
function parseComponentValue(comp: Component, name: string, v: string, ctx: ValueContext): CompositeSecond {
  const t = comp.type;
  switch (t) {
    case 'token':
      return { type: 'token', value: parseToken(v) };
    case 'quantity':
    case 'number':
      return { type: t, value: parseQuantityValue(name, v) };
    case 'date':
      return { type: 'date', value: parseDateValue(name, v, ctx.timeZone) };
    case 'string':
      return { type: 'string', value: fold(unescapeValue(v)) };
    default:
      return { type: 'reference', value: referenceComponentValue(comp, name, v, ctx) };
  }
}
