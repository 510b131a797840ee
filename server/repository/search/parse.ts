/**
 * The FHIR search grammar (https://hl7.org/fhir/R4/search.html): query parameters → typed criteria and result
 * controls, normalised exactly as extraction normalises stored values (fhir/search/normalise.ts).
 *
 * Strict by default: an unknown or unsupported parameter or modifier is a 400 — or, for a search sent with
 * `Prefer: handling=lenient`, ignored and reported. Conditional create/update/delete always parse strictly (and
 * refuse result parameters), so they never act on criteria the server did not understand. A malformed value (a
 * bad date, an unknown prefix, a non-number) is a 400 naming the parameter in every mode. Values are data only:
 * the compiler binds every one of them as a query parameter.
 */
import { isResourceType, r4Model } from '../../fhir/definitions';
import { parseDateRange, type InstantRange } from '../../fhir/datetime';
import { OperationOutcomeError, issue, type Issue } from '../../fhir/outcome';
import {
  bareDigits,
  canonicalSystem,
  fold,
  IDENTIFIER_TYPE_SYSTEM,
  MAX_STRING,
  NATIONAL_TYPE_CODES,
  normaliseIdentifierValue,
  phoneticKey,
  words,
} from '../../fhir/search/normalise';
import { isNear, isPhonetic, modifiersOf, searchParam, SORTABLE_TYPES, UNSUPPORTED_PARAMS, type ActiveSearchParam, type SearchParamType } from '../../fhir/search/registry';
import { toCanonical, UCUM } from '../../fhir/search/ucum';
import { checkSearchLimits } from '../../fhir/search/limits';

export type DatePrefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
export type Prefix = DatePrefix;

/** A token value: `system|code`, `|code` (system null), `code` (system undefined: any), `system|` (code null). */
export interface TokenValue {
  system: string | null | undefined;
  code: string | null;
}

export interface NumberValue {
  prefix: Prefix;
  /** exact value as text, and the [low, high) range its precision implies */
  value: string;
  low: string;
  high: string;
}

export interface QuantityValue extends NumberValue {
  system?: string;
  code?: string;
  /** UCUM-canonical value and bounds, when the unit converts */
  canonical?: { unit: string; value: string; low: string; high: string };
}

export interface ReferenceValue {
  type?: string;
  id?: string;
  url?: string;
}

/** A value of a composite's second or third component (the first is a token). */
export type CompositeSecond =
  | { type: 'token'; value: TokenValue }
  | { type: 'quantity' | 'number'; value: QuantityValue }
  | { type: 'date'; value: { prefix: Prefix; range: InstantRange } }
  | { type: 'string'; value: string }
  | { type: 'reference'; value: string };

export type Criterion =
  | { kind: 'id'; ids: string[] }
  | { kind: 'lastUpdated'; values: { prefix: DatePrefix; range: InstantRange }[] }
  | { kind: 'missing'; code: string; table: string; missing: boolean }
  | { kind: 'token'; code: string; values: TokenValue[]; not?: boolean }
  | { kind: 'terminology'; code: string; modifier: 'in' | 'not-in' | 'above' | 'below'; values: TokenValue[]; resolved?: ResolvedCodes }
  | { kind: 'string'; code: string; mode: 'start' | 'exact' | 'contains'; values: { folded: string; exact: string }[] }
  | { kind: 'text'; code: '_text' | '_content'; values: string[][] }
  // `also`: further AND-ed criteria of the same single-valued parameter, tested on the same index row (compile.ts)
  | { kind: 'date'; code: string; values: { prefix: DatePrefix; range: InstantRange }[]; also?: { prefix: DatePrefix; range: InstantRange }[][] }
  | { kind: 'number'; code: string; values: NumberValue[]; also?: NumberValue[][] }
  | { kind: 'quantity'; code: string; values: QuantityValue[]; also?: QuantityValue[][] }
  | { kind: 'uri'; code: string; mode: 'exact' | 'above' | 'below'; values: string[] }
  | { kind: 'reference'; code: string; values: ReferenceValue[]; targets?: string[] }
  // `third`: the third component of a three-component composite (MolecularSequence coordinates), same element
  | { kind: 'composite'; code: string; values: { first: TokenValue; second: CompositeSecond; third?: CompositeSecond }[] }
  // Location's near: within `meters` of a WGS84 point
  | { kind: 'near'; code: string; values: NearValue[] }
  | { kind: 'chain'; code: string; targets: { type: string; criterion: Criterion }[] }
  | { kind: 'has'; type: string; code: string; criterion: Criterion }
  | { kind: 'list'; ids: string[] }
  | { kind: 'compartment'; type: string; id: string };

/** Codes a terminology modifier stands for, read from ValueSet/CodeSystem resources on the server. */
export interface ResolvedCodes {
  /** system undefined: any system */
  pairs: { system: string | null | undefined; code: string }[];
  systems: string[];
}

export interface SortKey {
  code: string;
  descending: boolean;
  type: SearchParamType | 'id' | 'lastUpdated';
}

export interface IncludeSpec {
  sourceType: string;
  /** reference parameter codes (every reference parameter of the source type for `*`) */
  params: string[];
  targetType?: string;
  iterate: boolean;
  reverse: boolean;
}

export interface SearchControls {
  count?: number;
  cursor?: string;
  sort: SortKey[];
  include: IncludeSpec[];
  total?: 'none' | 'estimate' | 'accurate';
  summary?: 'true' | 'text' | 'data' | 'count' | 'false';
  elements?: string[];
  /** search.html#contained: `true` searches contained resources only, `both` top-level and contained ones */
  contained: 'false' | 'true' | 'both';
  /** what a contained match returns: its container (default) or the contained resource itself */
  containedType: 'container' | 'contained';
  types?: string[];
}

export interface ParsedSearch {
  criteria: Criterion[];
  controls: SearchControls;
  /** Parameters ignored under lenient handling, as warnings for the Bundle's OperationOutcome. */
  ignored: Issue[];
}

/** An unknown or unsupported parameter or modifier: a 400, or ignored under lenient handling. */
class Unsupported extends OperationOutcomeError {
  constructor(diagnostics: string, name: string) {
    super(400, [issue('error', 'not-supported', diagnostics, name)]);
  }
}

/**
 * A custom search parameter whose reindex has not finished (or failed): refused in every handling mode, since its
 * index does not yet cover the resources written before it was defined.
 */
export class SearchParameterNotReady extends OperationOutcomeError {
  constructor(p: ActiveSearchParam, name: string) {
    const c = p.custom!;
    const why =
      c.status === 'failed'
        ? `its reindex failed (${c.error ?? 'unknown error'}); POST SearchParameter/${c.id}/$reindex to retry`
        : `reindex in progress (${c.percent} %); GET SearchParameter/${c.id}/$reindex-status shows its progress`;
    super(400, [issue('error', 'processing', `Search parameter '${p.code}' (SearchParameter/${c.id}) cannot be used yet: ${why}`, name)]);
  }
}

/** Refuses a custom parameter that is not active yet. */
function ready(p: ActiveSearchParam, name: string): ActiveSearchParam {
  if (p.custom && p.custom.status !== 'active') throw new SearchParameterNotReady(p, name);
  return p;
}

function invalid(name: string, message: string): OperationOutcomeError {
  return new OperationOutcomeError(400, [issue('error', 'invalid', `Invalid value for search parameter '${name}': ${message}`, name)]);
}

/** Response-format parameters: never criteria. */
const FORMAT_PARAMS = new Set(['_format', '_pretty']);
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

// ---------------------------------------------------------------------------------------------------------------
// Lexical helpers

/** Splits a search value on unescaped commas (`\,` is a literal comma). */
export function splitOr(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && i + 1 < value.length && (value[i + 1] === ',' || value[i + 1] === '$' || value[i + 1] === '|' || value[i + 1] === '\\')) {
      cur += c + value[++i]; // keep the escape for the next level (| and $), removed by unescape()
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function unescape(s: string): string {
  return s.replace(/\\([,$|\\])/g, '$1');
}

/** Splits on an unescaped separator character. */
function splitUnescaped(value: string, sep: string): string[] {
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
  if (parts.length === 1) return { system: undefined, code: unescape(parts[0]) };
  const system = unescape(parts[0]);
  const code = unescape(parts.slice(1).join('|'));
  const sys = system === '' ? null : canonicalSystem(system);
  return { system: sys, code: code === '' ? null : normaliseIdentifierValue(sys, code) };
}

function parsePrefix(name: string, raw: string): { prefix: Prefix; rest: string } {
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

function parseNumberValue(name: string, raw: string): NumberValue {
  const { prefix, rest } = parsePrefix(name, raw);
  const d = parseDecimal(name, rest);
  return { prefix, value: d.value, low: d.low, high: d.high };
}

export interface NearValue {
  lat: number;
  lng: number;
  meters: number;
}

/** `near` without a distance: the server's discretion (search parameter Location-near), documented in the README. */
export const NEAR_DEFAULT_METERS = 10_000;

/**
 * `[latitude]|[longitude]|[distance]|[units]` (R4 Location-near): WGS84 degrees; the distance in any UCUM length
 * unit (km when none is given), or the default when the distance is omitted.
 */
function parseNearValue(name: string, raw: string): NearValue {
  const parts = splitUnescaped(raw, '|').map(unescape);
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
  const unit = parts[3] || 'km';
  const canonical = toCanonical(distance, unit);
  if (!canonical || canonical.unit !== 'm') throw invalid(name, `'${unit}' is not a UCUM unit of length (e.g. km, m, [mi_i])`);
  return { lat, lng, meters: canonical.value };
}

function parseQuantityValue(name: string, raw: string): QuantityValue {
  const parts = splitUnescaped(raw, '|');
  if (parts.length !== 1 && parts.length !== 3) throw invalid(name, `expected [prefix]number|system|code, got '${raw}'`);
  const { prefix, rest } = parsePrefix(name, parts[0]);
  const d = parseDecimal(name, rest);
  const q: QuantityValue = { prefix, value: d.value, low: d.low, high: d.high };
  if (parts.length === 3) {
    const system = unescape(parts[1]);
    const code = unescape(parts[2]);
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

function parseDateValue(name: string, raw: string, timeZone: string): { prefix: DatePrefix; range: InstantRange } {
  const { prefix, rest } = parsePrefix(name, raw);
  try {
    return { prefix, range: parseDateRange(rest, timeZone, name) };
  } catch {
    throw invalid(name, `'${rest}' is not a FHIR date, dateTime or instant (e.g. 2024-03-01 or 2024-03-01T10:00:00Z)`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parameter resolution over one or more resource types

export interface ParseOptions {
  timeZone: string;
  baseUrl: string;
  /** Ignore (and report) unknown parameters and modifiers instead of refusing them. */
  lenient?: boolean;
  /** Conditional operations: criteria only, no result parameters. */
  criteriaOnly?: boolean;
  purpose?: string;
}

/** The parameter `code` on every type of `types`, which must agree on its type. */
function resolveParam(types: string[], code: string, name: string): ActiveSearchParam {
  let found: ActiveSearchParam | undefined;
  for (const t of types) {
    const p = searchParam(t, code);
    if (!p) {
      if (UNSUPPORTED_PARAMS.has(code)) throw new Unsupported(`Search parameter '${code}' is not supported by this server`, name);
      throw new Unsupported(
        types.length === 1 ? `Unknown search parameter '${code}' for ${t}` : `Search parameter '${code}' is not defined for ${t} (all types searched must share it)`,
        name,
      );
    }
    ready(p, name);
    if (found && found.type !== p.type) throw new Unsupported(`Search parameter '${code}' has different types across ${types.join(', ')}`, name);
    if (!found) found = p;
    else if (p.target) found = { ...found, target: [...new Set([...(found.target ?? []), ...p.target])] };
  }
  return found!;
}

function tableOf(type: SearchParamType): string {
  switch (type) {
    case 'token':
      return 'search_token';
    case 'string':
      return 'search_string';
    case 'date':
      return 'search_date';
    case 'number':
      return 'search_number';
    case 'quantity':
      return 'search_quantity';
    case 'uri':
      return 'search_uri';
    case 'reference':
      return 'search_reference';
    case 'composite':
      return 'search_composite';
    case 'special':
      return 'search_geo';
    default:
      return 'search_text';
  }
}

/** The canonical reference value forms (search.html#reference). */
function parseReferenceValue(raw: string, baseUrl: string, typeModifier: string | undefined, name: string): ReferenceValue {
  const v = unescape(raw);
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

interface Ctx {
  opts: ParseOptions;
  depth: number;
}

/**
 * One parameter (`name` may carry a modifier, a chain or a `_has`) for resources of `types` → a criterion.
 */
function parseParam(types: string[], name: string, value: string, ctx: Ctx): Criterion {
  if (ctx.depth > 4) throw new Unsupported(`Search parameter '${name}' nests chains or _has deeper than 4 levels`, name);
  if (name.startsWith('_has:')) return parseHas(types, name, value, ctx);
  // chain: `subject:Patient.name:exact` → reference param `subject` (type Patient), rest `name:exact`
  const dot = name.indexOf('.');
  if (dot > 0) return parseChain(types, name, dot, value, ctx);

  const colon = name.indexOf(':');
  const code = colon >= 0 ? name.slice(0, colon) : name;
  const modifier = colon >= 0 ? name.slice(colon + 1) : undefined;
  if (value === '') throw invalid(name, 'the value is empty');
  const values = splitOr(value);

  if (code === '_id') {
    if (modifier !== undefined) throw new Unsupported(`Modifier ':${modifier}' is not supported on _id`, name);
    const ids = values.map(unescape);
    for (const id of ids) if (!ID.test(id)) throw invalid(name, `'${id}' is not a FHIR id`);
    return { kind: 'id', ids };
  }
  if (code === '_lastUpdated') {
    if (modifier !== undefined) throw new Unsupported(`Modifier ':${modifier}' is not supported on _lastUpdated`, name);
    return { kind: 'lastUpdated', values: values.map((v) => parseDateValue(name, v, ctx.opts.timeZone)) };
  }
  if (code === '_list') {
    if (modifier !== undefined) throw new Unsupported(`Modifier ':${modifier}' is not supported on _list`, name);
    const ids = values.map(unescape);
    for (const id of ids) if (!ID.test(id)) throw invalid(name, `'${id}' is not a List id`);
    return { kind: 'list', ids };
  }
  const p = resolveParam(types, code, name);
  if (modifier === 'missing') {
    if (value !== 'true' && value !== 'false') throw invalid(name, `:missing takes true or false, got '${value}'`);
    if (p.code === '_text' || p.code === '_content') throw new Unsupported(`:missing is not supported on ${p.code}`, name);
    return { kind: 'missing', code: p.code, table: isPhonetic(p) ? 'search_token' : tableOf(p.type), missing: value === 'true' };
  }
  if (isPhonetic(p)) {
    // one name (family or given) per value, matched by its phonetic key (normalise.ts phoneticKey)
    if (modifier !== undefined) throw new Unsupported(`Modifier ':${modifier}' is not supported on '${p.code}' (matched by phonetic key)`, name);
    const keys = values.map((v) => phoneticKey(unescape(v).replace(/\s+/g, '')));
    if (keys.some((k) => k === undefined)) throw invalid(name, 'the value holds no name');
    return { kind: 'token', code: p.code, values: keys.map((k) => ({ system: null, code: k! })) };
  }
  if (p.code === '_text' || p.code === '_content') {
    if (modifier !== undefined) throw new Unsupported(`Modifier ':${modifier}' is not supported on ${p.code}`, name);
    const ws = values.map((v) => words(unescape(v)));
    if (ws.some((w) => w.length === 0)) throw invalid(name, 'the text has no words');
    return { kind: 'text', code: p.code, values: ws };
  }
  const allowed = modifiersOf(p);
  const typeModifier = p.type === 'reference' && modifier !== undefined && isResourceType(modifier) ? modifier : undefined;
  if (modifier !== undefined && !typeModifier && !allowed.includes(modifier)) {
    throw new Unsupported(`Modifier ':${modifier}' is not supported on ${p.type} parameter '${p.code}'${allowed.length ? ` (supported: ${allowed.map((m) => `:${m}`).join(', ')})` : ''}`, name);
  }
  if (typeModifier && p.target && !p.target.includes(typeModifier)) {
    throw invalid(name, `'${p.code}' cannot refer to a ${typeModifier} (targets: ${p.target.join(', ')})`);
  }

  switch (p.type) {
    case 'token': {
      if (modifier === 'text') {
        return { kind: 'string', code: `${p.code}:text`, mode: 'start', values: values.map((v) => stringValue(unescape(v))) };
      }
      if (modifier === 'of-type') {
        return {
          kind: 'token',
          code: `${p.code}:of-type`,
          values: values.map((v) => {
            const parts = splitUnescaped(v, '|');
            if (parts.length !== 3 || !parts[1] || !parts[2]) throw invalid(name, `:of-type takes system|code|value, got '${v}'`);
            const [ts, tc, val] = parts.map(unescape);
            const system = `${ts ? canonicalSystem(ts) : ''}|${tc}`;
            const national = ts === IDENTIFIER_TYPE_SYSTEM && NATIONAL_TYPE_CODES.has(tc);
            return { system, code: national ? bareDigits(val) : val };
          }),
        };
      }
      const tokens = values.map(parseToken);
      if (modifier === 'in' || modifier === 'not-in' || modifier === 'above' || modifier === 'below') {
        return { kind: 'terminology', code: p.code, modifier, values: tokens };
      }
      return { kind: 'token', code: p.code, values: tokens, not: modifier === 'not' };
    }
    case 'string':
      return {
        kind: 'string',
        code: p.code,
        mode: modifier === 'exact' ? 'exact' : modifier === 'contains' ? 'contains' : 'start',
        values: values.map((v) => stringValue(unescape(v))),
      };
    case 'date':
      return { kind: 'date', code: p.code, values: values.map((v) => parseDateValue(name, v, ctx.opts.timeZone)) };
    case 'number':
      return { kind: 'number', code: p.code, values: values.map((v) => parseNumberValue(name, v)) };
    case 'quantity':
      return { kind: 'quantity', code: p.code, values: values.map((v) => parseQuantityValue(name, v)) };
    case 'uri':
      return { kind: 'uri', code: p.code, mode: modifier === 'above' ? 'above' : modifier === 'below' ? 'below' : 'exact', values: values.map(unescape) };
    case 'reference': {
      if (modifier === 'identifier') return { kind: 'token', code: `${p.code}:identifier`, values: values.map(parseToken) };
      return { kind: 'reference', code: p.code, values: values.map((v) => parseReferenceValue(v, ctx.opts.baseUrl, typeModifier, name)), targets: p.target };
    }
    case 'composite':
      return { kind: 'composite', code: p.code, values: values.map((v) => parseCompositeValue(p, name, v, ctx)) };
    case 'special':
      if (isNear(p)) return { kind: 'near', code: p.code, values: values.map((v) => parseNearValue(name, v)) };
      throw new Unsupported(`Search parameter '${p.code}' (${p.type}) is not supported`, name);
    default:
      throw new Unsupported(`Search parameter '${p.code}' (${p.type}) is not supported`, name);
  }
}

function stringValue(v: string): { folded: string; exact: string } {
  return { folded: fold(v).slice(0, MAX_STRING), exact: v.slice(0, MAX_STRING) };
}

function parseCompositeValue(p: ActiveSearchParam, name: string, raw: string, ctx: Ctx): { first: TokenValue; second: CompositeSecond; third?: CompositeSecond } {
  const comps = p.components!;
  const parts = splitUnescaped(raw, '$');
  if (parts.length !== comps.length) {
    const n = comps.length === 2 ? 'two' : 'three';
    throw invalid(name, `a value of '${p.code}' has ${n} parts joined by $ (${comps.map((c) => c.code).join('$')}), got '${raw}'`);
  }
  // A reference first component is stored without a system (extract.ts compositeRows).
  const first: TokenValue = comps[0].type === 'reference' ? { system: null, code: referenceComponentValue(comps[0], name, parts[0], ctx) } : parseToken(parts[0]);
  const second = parseComponentValue(comps[1], name, parts[1], ctx);
  return comps.length === 3 ? { first, second, third: parseComponentValue(comps[2], name, parts[2], ctx) } : { first, second };
}

/**
 * A reference component's value in the form it is indexed in (extract.ts referenceComponentCodes): `Type/id` (also
 * given as an absolute URL on this server, or as a bare id when the component can point at one type only), else
 * the absolute URL as written.
 */
function referenceComponentValue(comp: NonNullable<ActiveSearchParam['components']>[number], name: string, raw: string, ctx: Ctx): string {
  const targets = comp.target ?? [];
  const v = unescape(raw);
  if (!v.includes('/') && ID.test(v)) {
    if (targets.length !== 1) throw invalid(name, `'${v}' is a bare id, but '${comp.code}' may refer to ${targets.length ? targets.join(', ') : 'any type'}: give Type/id`);
    return `${targets[0]}/${v}`;
  }
  const ref = parseReferenceValue(raw, ctx.opts.baseUrl, undefined, name);
  return ref.url ?? `${ref.type}/${ref.id}`;
}

/** A value of a composite's second or third component, by the component's type (prefixes on number, quantity, date). */
function parseComponentValue(comp: NonNullable<ActiveSearchParam['components']>[number], name: string, v: string, ctx: Ctx): CompositeSecond {
  const t = comp.type;
  switch (t) {
    case 'token':
      return { type: 'token', value: parseToken(v) };
    case 'quantity':
    case 'number':
      return { type: t, value: parseQuantityValue(name, v) };
    case 'date':
      return { type: 'date', value: parseDateValue(name, v, ctx.opts.timeZone) };
    case 'string':
      return { type: 'string', value: fold(unescape(v)) };
    default:
      return { type: 'reference', value: referenceComponentValue(comp, name, v, ctx) };
  }
}

function parseChain(types: string[], name: string, dot: number, value: string, ctx: Ctx): Criterion {
  const head = name.slice(0, dot);
  const rest = name.slice(dot + 1);
  const [code, typeModifier] = head.split(':', 2);
  const p = resolveParam(types, code, name);
  if (p.type !== 'reference') throw new Unsupported(`'${code}' is a ${p.type} parameter and cannot be chained`, name);
  if (typeModifier !== undefined && !isResourceType(typeModifier)) throw new Unsupported(`':${typeModifier}' is not a resource type to chain through`, name);
  let targetTypes = typeModifier ? [typeModifier] : (p.target ?? []);
  if (typeModifier && p.target && !p.target.includes(typeModifier)) throw invalid(name, `'${code}' cannot refer to a ${typeModifier}`);
  // Without a type, chain through every target type that knows the chained parameter.
  const restCode = rest.split(/[.:]/)[0];
  if (!typeModifier && !restCode.startsWith('_has')) {
    targetTypes = targetTypes.filter((t) => restCode.startsWith('_') || searchParam(t, restCode));
    if (targetTypes.length === 0) throw new Unsupported(`No target type of '${code}' has a search parameter '${restCode}'`, name);
  }
  const sub: Ctx = { ...ctx, depth: ctx.depth + 1 };
  return { kind: 'chain', code, targets: targetTypes.map((t) => ({ type: t, criterion: parseParam([t], rest, value, sub) })) };
}

function parseHas(types: string[], name: string, value: string, ctx: Ctx): Criterion {
  // _has:Type:refParam:rest
  const parts = name.split(':');
  if (parts.length < 4) throw invalid(name, '_has takes _has:Type:reference:parameter');
  const [, type, code] = parts;
  const rest = parts.slice(3).join(':');
  if (!isResourceType(type)) throw new Unsupported(`_has: unknown resource type '${type}'`, name);
  const p = resolveParam([type], code, name);
  if (p.type !== 'reference') throw new Unsupported(`_has: '${code}' is not a reference parameter of ${type}`, name);
  if (p.target && !types.every((t) => p.target!.includes(t))) {
    throw invalid(name, `${type}.${code} does not refer to ${types.join('/')}`);
  }
  return { kind: 'has', type, code, criterion: parseParam([type], rest, value, { ...ctx, depth: ctx.depth + 1 }) };
}

// ---------------------------------------------------------------------------------------------------------------
// Result parameters

const RESULT_PARAMS = new Set(['_sort', '_count', '_include', '_revinclude', '_summary', '_elements', '_total', '_contained', '_containedType', '_cursor', '_type']);

function parseSort(types: string[], value: string): SortKey[] {
  return value.split(',').map((raw) => {
    const descending = raw.startsWith('-');
    const code = descending ? raw.slice(1) : raw;
    if (code === '_id') return { code, descending, type: 'id' as const };
    if (code === '_lastUpdated') return { code, descending, type: 'lastUpdated' as const };
    const p = resolveParam(types, code, '_sort');
    if (!SORTABLE_TYPES.has(p.type) || code === '_text' || code === '_content' || isPhonetic(p)) {
      throw new Unsupported(`Sorting by ${p.type} parameter '${code}' is not supported (sortable: string, date, number, quantity, token, uri, reference, _id, _lastUpdated)`, '_sort');
    }
    return { code, descending, type: p.type };
  });
}

function referenceParamsOf(type: string): string[] {
  const out: string[] = [];
  const model = r4Model();
  for (const sp of model.searchParameters) {
    if (sp.type === 'reference' && sp.base?.includes(type) && searchParam(type, sp.code)) out.push(sp.code);
  }
  return [...new Set(out)];
}

function parseInclude(name: string, value: string, reverse: boolean, scope: string[]): IncludeSpec {
  const [base, mod] = name.split(':', 2);
  if (mod !== undefined && mod !== 'iterate' && mod !== 'recurse') throw new Unsupported(`Modifier ':${mod}' is not supported on ${base}`, name);
  const iterate = mod !== undefined;
  if (value === '*') {
    if (reverse) throw new Unsupported('_revinclude=* is not supported', name);
    return { sourceType: '*', params: ['*'], iterate, reverse };
  }
  const [sourceType, code, targetType] = value.split(':');
  if (!sourceType || !code || !isResourceType(sourceType)) throw invalid(name, `expected Type:parameter[:targetType], got '${value}'`);
  if (!reverse && !iterate && !scope.includes(sourceType)) throw invalid(name, `${sourceType} is not a type being searched`);
  if (targetType !== undefined && !isResourceType(targetType)) throw invalid(name, `'${targetType}' is not a resource type`);
  if (code === '*') return { sourceType, params: referenceParamsOf(sourceType), targetType, iterate, reverse };
  const p = searchParam(sourceType, code);
  if (!p || p.type !== 'reference') throw new Unsupported(`'${code}' is not a reference parameter of ${sourceType}`, name);
  ready(p, name);
  return { sourceType, params: [code], targetType, iterate, reverse };
}

function parseControl(types: string[], name: string, value: string, controls: SearchControls): void {
  const base = name.split(':')[0];
  switch (base) {
    case '_count':
      if (!/^\d{1,9}$/.test(value)) throw invalid(name, `_count takes a non-negative integer, got '${value}'`);
      controls.count = Number(value);
      return;
    case '_cursor':
      controls.cursor = value;
      return;
    case '_sort':
      if (name !== '_sort') throw new Unsupported(`'${name}': _sort takes no modifier (use -param for descending)`, name);
      controls.sort = parseSort(types, value);
      return;
    case '_include':
    case '_revinclude':
      for (const v of value.split(',')) controls.include.push(parseInclude(name, v, base === '_revinclude', types));
      return;
    case '_total':
      if (!['none', 'estimate', 'accurate'].includes(value)) throw invalid(name, `_total takes none, estimate or accurate, got '${value}'`);
      controls.total = value as SearchControls['total'];
      return;
    case '_summary':
      if (!['true', 'text', 'data', 'count', 'false'].includes(value)) throw invalid(name, `_summary takes true, text, data, count or false, got '${value}'`);
      controls.summary = value as SearchControls['summary'];
      return;
    case '_elements': {
      const names = value.split(',').map((s) => s.trim()).filter(Boolean);
      for (const n of names) if (!/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)?$/.test(n)) throw invalid(name, `'${n}' is not an element name`);
      controls.elements = names;
      return;
    }
    case '_contained':
      if (name !== base) throw new Unsupported(`'${name}': _contained takes no modifier`, name);
      if (value !== 'false' && value !== 'true' && value !== 'both') throw invalid(name, `_contained takes true, false or both, got '${value}'`);
      controls.contained = value;
      return;
    case '_containedType':
      if (name !== base) throw new Unsupported(`'${name}': _containedType takes no modifier`, name);
      if (value !== 'container' && value !== 'contained') throw invalid(name, `_containedType takes container or contained, got '${value}'`);
      controls.containedType = value;
      return;
    case '_type':
      return; // handled by the caller (system search)
  }
}

/** The `_type` of a system search (`undefined` = every type). */
export function parseTypes(params: [string, string][]): string[] | undefined {
  const raw = params.filter(([k]) => k === '_type').map(([, v]) => v);
  if (raw.length === 0) return undefined;
  const types = [...new Set(raw.flatMap((v) => v.split(',')).map((t) => t.trim()).filter(Boolean))];
  for (const t of types) if (!isResourceType(t)) throw invalid('_type', `'${t}' is not a resource type`);
  return types;
}

/**
 * Parses a search over `types` (one type for type-level search; several or all for system search).
 */
export function parseSearch(types: string[], params: [string, string][], opts: ParseOptions): ParsedSearch {
  checkSearchLimits(params);
  const criteria: Criterion[] = [];
  const controls: SearchControls = { sort: [], include: [], contained: 'false', containedType: 'container' };
  const ignored: Issue[] = [];
  const ctx: Ctx = { opts, depth: 0 };
  /** the parameter name of each criterion (for errors about combinations) */
  const names: string[] = [];
  for (const [name, value] of params) {
    if (name.includes('\0') || value.includes('\0')) throw invalid(name.replace(/\0/g, ''), 'it contains a NUL character');
    if (FORMAT_PARAMS.has(name)) continue;
    try {
      if (RESULT_PARAMS.has(name.split(':')[0])) {
        if (opts.criteriaOnly) throw new Unsupported(`'${name}' is a result parameter, not a criterion (${opts.purpose ?? 'conditional operation'})`, name);
        parseControl(types, name, value, controls);
        continue;
      }
      criteria.push(parseParam(types, name, value, ctx));
      names.push(name);
    } catch (e) {
      if (e instanceof Unsupported && opts.lenient) {
        ignored.push(issue('warning', 'not-supported', `Ignored: ${e.issues[0].diagnostics}`, name));
        continue;
      }
      if (e instanceof OperationOutcomeError && opts.purpose) {
        const i = e.issues[0];
        throw new OperationOutcomeError(e.status, [{ ...i, diagnostics: `${i.diagnostics} (${opts.purpose})` }]);
      }
      throw e;
    }
  }
  if (controls.contained !== 'false') checkContainedSearch(types, criteria, names, controls);
  return { criteria, controls, ignored };
}

/**
 * What a search of contained resources (`_contained=true|both`, repository/search/contained.ts) cannot do, refused
 * with a 400 in every handling mode rather than answered wrongly: another order than the container's id, includes,
 * `_has`/`_list` (a contained resource is referred to only from inside its container, with a `#` reference that is
 * not indexed), custom parameters (not extracted for contained resources, fhir/search/extract.ts), several types.
 */
function checkContainedSearch(types: string[], criteria: Criterion[], names: string[], controls: SearchControls): void {
  const mode = `_contained=${controls.contained}`;
  const refuse = (diagnostics: string, name: string): never => {
    throw new OperationOutcomeError(400, [issue('error', 'not-supported', diagnostics, name)]);
  };
  if (types.length !== 1) refuse(`${mode} needs a single resource type (a type-level search, or _type with one type)`, '_contained');
  if (controls.sort.length) refuse(`_sort is not supported with ${mode}: the matches are ordered by their container's id`, '_sort');
  if (controls.include.length) {
    const rev = controls.include.some((i) => i.reverse) ? '_revinclude' : '_include';
    refuse(`_include and _revinclude are not supported with ${mode}`, rev);
  }
  criteria.forEach((c, i) => {
    if (c.kind === 'has' || c.kind === 'list') {
      refuse(`${c.kind === 'has' ? '_has' : '_list'} is not supported with ${mode}: only its container refers to a contained resource (with a '#' reference)`, names[i]);
    }
    if ('code' in c && typeof c.code === 'string') {
      const p = searchParam(types[0], c.code.split(':')[0]);
      if (p?.custom) refuse(`Custom search parameter '${p.code}' is not indexed for contained resources (${mode})`, names[i]);
    }
  });
}

/**
 * Criteria of a conditional operation (If-None-Exist, conditional update/delete/patch): strict, criteria only.
 */
export function parseCriteria(resourceType: string, query: URLSearchParams, purpose: string, timeZone = 'UTC', baseUrl = ''): Criterion[] {
  return parseSearch([resourceType], [...query], { timeZone, baseUrl, criteriaOnly: true, purpose }).criteria;
}

function sortedJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** A canonical text of criteria (normalised values, order-independent) used as the key of conditional-operation locks. */
export function criteriaKey(resourceType: string, criteria: Criterion[]): string {
  return `${resourceType}?${criteria.map(sortedJson).sort().join('&')}`;
}
