/**
 * Write-time extraction of search values (DESIGN.md §3): every active SearchParameter of the resource's type is
 * evaluated (expressions compiled once per type by paths.ts) and its values are normalised per parameter type
 * into rows of the index tables declared in repository/writes.ts (INDEX_TABLES), in their column order:
 *
 *   search_token      param, system, code                      (identifiers, codes, booleans, ContactPoints)
 *   search_string     param, value (folded), exact, smin, smax  (also `<token>:text` rows: display / text)
 *   search_date       param, low, high, smin, smax             ([low, high) of the value's precision)
 *   search_number     param, low, high, smin, smax
 *   search_quantity   param, system, code, low, high, canon_unit, canon_low, canon_high, smin, smax
 *   search_uri        param, value
 *   search_reference  param, target_type, target_id, url, smin, smax  (local Type/id, or an absolute/canonical url)
 *   search_composite  param, c1_system, c1_code, c2_system, c2_code, c2_low, c2_high, c2_dlow, c2_dhigh, c2_text,
 *                     c3_system, c3_code, c3_low, c3_high, c3_dlow, c3_dhigh, c3_text  (c3_*: null for two components)
 *   search_text       param, tsv                                (`_content`: every word; narrative words weight A = `_text`)
 *   search_code_date  param, system, code, low, high           (`code` × `date` pairs: codeDateRows)
 *
 * Derived rows: an Identifier's type is indexed under `<param>:of-type` (system `typeSystem|typeCode`), a
 * Reference's identifier under `<param>:identifier` in search_token. `smin`/`smax` mark, per resource and
 * parameter, the row holding the lowest and highest value: sorting walks the value index through them.
 */
import { parseDateRange } from '../datetime';
import { OperationOutcomeError, badRequest, issue } from '../outcome';
import { isResourceType } from '../definitions';
import { isJsonObject, isLosslessNumber, numberValue, type JsonObject, type JsonValue, type LosslessNumber } from '../json';
import { parseRelativeReference } from '../references';
import { compileExpression, compileMember, type Evaluator, type PathContext } from './paths';
import { indexedParams, isPhonetic, registryGeneration, splitUnion, type ActiveSearchParam } from './registry';
import {
  CANONICAL_MARK,
  IDENTIFIER_TYPE_SYSTEM,
  MAX_STRING,
  NATIONAL_TYPE_CODES,
  canonicalSystem,
  fold,
  normaliseIdentifierValue,
  phoneticKey,
  weightedTsvectorLiteral,
  words,
} from './normalise';
import { UCUM, toCanonical } from './ucum';

/** Index rows of one resource version: table name → rows (each row in the table's column order, repository/writes.ts). */
export type IndexRows = Record<string, unknown[][]>;

export interface ExtractOptions {
  /** Zone for dates without an offset. */
  timeZone: string;
  /** Absolute references to this base are local. */
  baseUrl?: string;
  /** The container's contained resources, local id → resource type (set by the extraction itself). */
  containedTypes?: Map<string, string>;
  /**
   * Most index rows one resource may have (its contained resources together have as many again): beyond, the
   * write is refused (400 too-costly) before the work and the statement grow with it. Unset: no limit (reindex).
   */
  maxIndexValues?: number;
}

/** What is left of a resource's index rows (ExtractOptions.maxIndexValues). */
interface Budget {
  left: number;
  limit: number;
  /** Whose rows, with its verb: "The Patient has" */
  whose: string;
}

const UNLIMITED = (): Budget => ({ left: Number.POSITIVE_INFINITY, limit: Number.POSITIVE_INFINITY, whose: '' });

function budgetOf(whose: string, options: ExtractOptions): Budget {
  const limit = options.maxIndexValues;
  return limit === undefined ? UNLIMITED() : { left: limit, limit, whose };
}

/** One more row, or the 400 naming the limit (every row costs time to extract, memory and statement size). */
function spend(budget: Budget, rows = 1): void {
  budget.left -= rows;
  if (budget.left >= 0) return;
  throw new OperationOutcomeError(400, [
    issue(
      'error',
      'too-costly',
      `${budget.whose} more than ${budget.limit} search index values (names, codes, references, …), the server's limit for one resource (AROGYA_MAX_INDEX_VALUES); split its content over several resources`,
    ),
  ]);
}

const DEFAULTS: ExtractOptions = { timeZone: 'UTC' };

type Row = unknown[];

interface Sink {
  token: Row[];
  string: Row[];
  date: Row[];
  number: Row[];
  quantity: Row[];
  uri: Row[];
  reference: Row[];
  composite: Row[];
  codeDate: Row[];
  text: Row[];
  geo: Row[];
  seen: Set<string>;
  budget: Budget;
}

/**
 * Longest text (UTF-8 bytes) an index row may carry in a b-tree key column: PostgreSQL refuses index entries over
 * ~2.7 kB, and a token's system and code share one entry. String values are cut to MAX_STRING characters instead
 * (a starts-with search only needs the start); an identifier, code, uri or url this long is refused on write, or
 * left unindexed by a custom parameter's reindex (setting the mode below).
 */
export const MAX_INDEXED_BYTES = 1024;
let tooLong: 'refuse' | 'skip' = 'refuse';

function oversized(row: Row): string | undefined {
  for (const v of row) {
    if (typeof v === 'string' && v.length > MAX_INDEXED_BYTES / 4 && Buffer.byteLength(v) > MAX_INDEXED_BYTES) return v;
  }
  return undefined;
}

/** Adds a row once (values of one resource often repeat: the same code in several places). */
function add(sink: Sink, table: keyof Omit<Sink, 'seen' | 'budget'>, row: Row): void {
  if (table !== 'string' && table !== 'text') {
    const big = oversized(row);
    if (big !== undefined) {
      if (tooLong === 'skip') return;
      throw badRequest(
        `A value of search parameter '${String(row[0])}' is ${Buffer.byteLength(big)} bytes long: values of identifiers, codes, URIs and ` +
          `references can be indexed up to ${MAX_INDEXED_BYTES} bytes`,
      );
    }
  }
  const key = `${table}\u0000${row.join('\u0000')}`;
  if (sink.seen.has(key)) return;
  spend(sink.budget);
  sink.seen.add(key);
  sink[table].push(row);
}

function str(v: JsonValue | undefined): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function decimalText(v: JsonValue | undefined): string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : null;
  if (isLosslessNumber(v)) return (v as LosslessNumber).value;
  return null;
}

function canonText(n: number): string {
  return String(Number(n.toPrecision(15)));
}

// ---------------------------------------------------------------------------------------------------------------
// Per-type normalisers (shape-based: a value's JSON shape tells its FHIR type for every type a parameter can use)

function tokenValues(param: string, value: JsonValue, sink: Sink): void {
  if (typeof value === 'string') {
    add(sink, 'token', [param, null, value]);
    return;
  }
  if (typeof value === 'boolean') {
    add(sink, 'token', [param, null, String(value)]);
    return;
  }
  if (!isJsonObject(value)) return;
  if (Array.isArray(value.coding) || (typeof value.text === 'string' && value.system === undefined && value.value === undefined)) {
    // CodeableConcept (possibly text only)
    if (Array.isArray(value.coding)) for (const c of value.coding) tokenValues(param, c, sink);
    const text = str(value.text);
    if (text) textRow(param, text, sink);
    return;
  }
  const rawSystem = str(value.system);
  const system = rawSystem === null ? null : canonicalSystem(rawSystem);
  if (value.value !== undefined || isJsonObject(value.type)) {
    // Identifier (or ContactPoint: system + value)
    const v = str(value.value);
    const types = isJsonObject(value.type) && Array.isArray(value.type.coding) ? value.type.coding.filter(isJsonObject) : [];
    const national = types.some((t) => t.system === IDENTIFIER_TYPE_SYSTEM && typeof t.code === 'string' && NATIONAL_TYPE_CODES.has(t.code));
    if (v !== null) {
      const code = normaliseIdentifierValue(system, v, national);
      add(sink, 'token', [param, system, code]);
      for (const t of types) {
        const ts = str(t.system);
        const tc = str(t.code);
        if (tc !== null) add(sink, 'token', [`${param}:of-type`, `${ts === null ? '' : canonicalSystem(ts)}|${tc}`, code]);
      }
    }
    if (isJsonObject(value.type) && str(value.type.text)) textRow(param, value.type.text as string, sink);
    return;
  }
  const code = str(value.code);
  if (code !== null || system !== null) add(sink, 'token', [param, system, code]);
  const display = str(value.display);
  if (display) textRow(param, display, sink);
}

function textRow(param: string, text: string, sink: Sink): void {
  add(sink, 'string', [`${param}:text`, fold(text).slice(0, MAX_STRING), text.slice(0, MAX_STRING), false, false]);
}

/**
 * Phonetic keys of a name: of each string part (as for a string search: family, given, prefix, suffix, text) the key
 * of the whole part and of each of its words — `De Souza` keys as `desouza`, `de` and `souza`. The migration that
 * backfilled older resources (20261127000930) derives the same keys from their folded string rows.
 */
function phoneticKeys(code: string, value: JsonValue): string[] {
  const parts: string[] = [];
  stringValues(code, value, parts);
  const keys = new Set<string>();
  for (const part of parts) {
    const folded = fold(part);
    for (const name of [folded, ...(folded.includes(' ') ? folded.split(' ') : [])]) {
      const k = phoneticKey(name);
      if (k !== undefined) keys.add(k);
    }
  }
  return [...keys];
}

const NAME_PARTS = ['family', 'given', 'prefix', 'suffix', 'text'];
const ADDRESS_PARTS = ['line', 'city', 'district', 'state', 'postalCode', 'country', 'text'];

function stringValues(param: string, value: JsonValue, out: string[]): void {
  if (typeof value === 'string') {
    out.push(value);
    return;
  }
  if (!isJsonObject(value)) return;
  // The string parts of a HumanName or Address (search.html#string); never `use`, `type` or `period` (a name
  // written as `{ use: 'usual', text: 'Priya R' }` must not match name=usual).
  const parts = 'family' in value || 'given' in value || 'prefix' in value || 'suffix' in value ? NAME_PARTS : ADDRESS_PARTS;
  for (const k of parts) {
    const v = value[k];
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') out.push(s);
  }
}

function dateRange(value: string, opts: ExtractOptions): { low: string; high: string } | undefined {
  try {
    return parseDateRange(value, opts.timeZone);
  } catch {
    return undefined; // not a date (e.g. a time): nothing to index
  }
}

function dateValues(value: JsonValue, opts: ExtractOptions, out: { low: string; high: string }[]): void {
  if (typeof value === 'string') {
    const r = dateRange(value, opts);
    if (r) out.push(r);
    return;
  }
  if (!isJsonObject(value)) return;
  if ('start' in value || 'end' in value) {
    const s = typeof value.start === 'string' ? dateRange(value.start, opts) : undefined;
    const e = typeof value.end === 'string' ? dateRange(value.end, opts) : undefined;
    if (s || e) out.push({ low: s?.low ?? '-infinity', high: e?.high ?? 'infinity' });
    return;
  }
  // Timing: its events, and the bounds of its repeat
  if (Array.isArray(value.event)) for (const ev of value.event) dateValues(ev, opts, out);
  if (isJsonObject(value.repeat) && isJsonObject(value.repeat.boundsPeriod)) dateValues(value.repeat.boundsPeriod, opts, out);
}

interface QuantityValue {
  system: string | null;
  code: string | null;
  low: string | null;
  high: string | null;
  canonUnit: string | null;
  canonLow: string | null;
  canonHigh: string | null;
  /** the canon_* columns hold a UCUM conversion (not the raw value) */
  converted?: boolean;
}

function quantityOf(q: JsonObject, lowQ?: JsonObject, highQ?: JsonObject): QuantityValue | undefined {
  const unitSource = q;
  const system = str(unitSource.system) ?? (str(unitSource.currency) ? 'urn:iso:std:iso:4217' : null);
  const code = str(unitSource.code) ?? str(unitSource.unit) ?? str(unitSource.currency);
  const low = decimalText((lowQ ?? q).value);
  const high = decimalText((highQ ?? q).value);
  if (low === null && high === null) return undefined;
  let canonUnit: string | null = null;
  let canonLow: string | null = null;
  let canonHigh: string | null = null;
  if (code !== null && (system === UCUM || system === null)) {
    const lo = low !== null ? toCanonical(Number(low), code) : null;
    const hi = high !== null ? toCanonical(Number(high), code) : null;
    const unit = lo?.unit ?? hi?.unit ?? null;
    if (unit) {
      canonUnit = unit;
      canonLow = lo ? canonText(lo.value) : null;
      canonHigh = hi ? canonText(hi.value) : null;
    }
  }
  const converted = canonUnit !== null;
  if (canonUnit === null) {
    canonUnit = code;
    canonLow = low;
    canonHigh = high;
  }
  return { system: system === null ? null : canonicalSystem(system), code, low, high, canonUnit, canonLow, canonHigh, converted };
}

function quantityValues(value: JsonValue, out: QuantityValue[]): void {
  if (!isJsonObject(value)) {
    const d = decimalText(value);
    if (d !== null) out.push({ system: null, code: null, low: d, high: d, canonUnit: null, canonLow: d, canonHigh: d });
    return;
  }
  if (isJsonObject(value.low) || isJsonObject(value.high)) {
    // Range: one row spanning low..high (an open end is unbounded)
    const unitOf = (isJsonObject(value.low) ? value.low : value.high) as JsonObject;
    const q = quantityOf(unitOf, isJsonObject(value.low) ? value.low : undefined, isJsonObject(value.high) ? value.high : undefined);
    if (q) {
      if (!isJsonObject(value.low)) q.low = q.canonLow = null;
      if (!isJsonObject(value.high)) q.high = q.canonHigh = null;
      out.push(q);
    }
    return;
  }
  const q = quantityOf(value);
  if (q) out.push(q);
}

function numberValues(value: JsonValue, out: { low: string; high: string }[]): void {
  const d = decimalText(value);
  if (d !== null) {
    out.push({ low: d, high: d });
    return;
  }
  if (isJsonObject(value) && (isJsonObject(value.low) || isJsonObject(value.high))) {
    const lo = isJsonObject(value.low) ? decimalText(value.low.value) : null;
    const hi = isJsonObject(value.high) ? decimalText(value.high.value) : null;
    if (lo !== null || hi !== null) out.push({ low: lo ?? '-Infinity', high: hi ?? 'Infinity' });
  }
}

interface ReferenceValue {
  targetType: string | null;
  targetId: string | null;
  url: string | null;
}

function referenceValues(param: string, value: JsonValue, opts: ExtractOptions, sink: Sink, out: ReferenceValue[]): void {
  if (typeof value === 'string') {
    // canonical / uri: with and without its |version
    const bar = value.indexOf('|');
    out.push({ targetType: null, targetId: null, url: bar >= 0 ? value.slice(0, bar) : value });
    if (bar >= 0) out.push({ targetType: null, targetId: null, url: value });
    return;
  }
  if (!isJsonObject(value)) return;
  const ref = str(value.reference);
  if (ref !== null && ref.length > 1 && ref.startsWith('#')) {
    // A contained resource: a row with its type and the local reference as url, the link a chain follows into
    // the contained resource's own rows (repository/search/compile/planner.ts, criterion 'chain').
    const type = opts.containedTypes?.get(ref.slice(1));
    if (type) out.push({ targetType: type, targetId: null, url: ref });
  } else if (ref !== null && !ref.startsWith('#')) {
    const local = parseRelativeReference(ref, opts.baseUrl);
    if (local) out.push({ targetType: local.targetType, targetId: local.targetId, url: null });
    else if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) out.push({ targetType: null, targetId: null, url: ref });
  }
  if (isJsonObject(value.identifier)) tokenValues(`${param}:identifier`, value.identifier, sink);
}

/**
 * The sort value of a search_reference row — its url, else 'Type/id' — in byte order, as the database compares it
 * (repository/search/execute.ts REFERENCE_SORT: COLLATE "C").
 */
function referenceSortValue(row: Row): string {
  return (row[3] as string | null) ?? `${row[1] as string}/${row[2] as string}`;
}

function compareReference(a: Row, b: Row): number {
  return Buffer.compare(Buffer.from(referenceSortValue(a)), Buffer.from(referenceSortValue(b)));
}

function markExtremes(rows: Row[], from: number, minCol: number, maxCol: number, smin: number, smax: number): void {
  // rows[from..] belong to one parameter of one resource
  if (rows.length - from === 0) return;
  let lo = from;
  let hi = from;
  for (let i = from + 1; i < rows.length; i++) {
    if ((rows[i][minCol] as string) < (rows[lo][minCol] as string)) lo = i;
    if ((rows[i][maxCol] as string) > (rows[hi][maxCol] as string)) hi = i;
  }
  rows[lo][smin] = true;
  rows[hi][smax] = true;
}

/** ISO instants of one format compare as strings; the unbounded ends sort outside them. */
function compareTime(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '-infinity' || b === 'infinity') return -1;
  if (a === 'infinity' || b === '-infinity') return 1;
  return a < b ? -1 : 1;
}

function compareDecimal(a: string | null, b: string | null): number {
  const na = a === null ? NaN : Number(a);
  const nb = b === null ? NaN : Number(b);
  if (Number.isNaN(na)) return Number.isNaN(nb) ? 0 : 1;
  if (Number.isNaN(nb)) return -1;
  return na - nb;
}

function markBy(rows: Row[], from: number, cmpMin: (a: Row, b: Row) => number, cmpMax: (a: Row, b: Row) => number, smin: number, smax: number): void {
  if (rows.length === from) return;
  let lo = from;
  let hi = from;
  for (let i = from + 1; i < rows.length; i++) {
    if (cmpMin(rows[i], rows[lo]) < 0) lo = i;
    if (cmpMax(rows[i], rows[hi]) > 0) hi = i;
  }
  rows[lo][smin] = true;
  rows[hi][smax] = true;
}

// ---------------------------------------------------------------------------------------------------------------
// Compiled extraction plans, one per resource type

interface Extractor {
  param: ActiveSearchParam;
  evaluate: Evaluator;
  /**
   * Composite: per union member, the item evaluator and one evaluator per component, each evaluated on the item —
   * or, for a component expression starting `%resource.` (MolecularSequence's coordinates), on the resource.
   */
  composite?: { items: Evaluator; components: { evaluate: Evaluator; onResource: boolean }[] }[];
}

const plans = new Map<string, Extractor[]>();
/** The registry generation the cached plans were compiled for (custom parameters change the plans). */
let plansGeneration = -1;

function compileComposite(p: ActiveSearchParam, type: string): Extractor['composite'] {
  const out: NonNullable<Extractor['composite']> = [];
  for (const member of splitUnion(p.expression)) {
    const root: PathContext = { type, path: type };
    const compiled = compileMember(member, root);
    const items = compileExpression(member, root);
    const end = compiled?.end;
    const comp = (expr: string): { evaluate: Evaluator; onResource: boolean } => {
      if (expr.startsWith('%resource.'))
        return { evaluate: compileExpression(`${type}.${expr.slice('%resource.'.length)}`, root).evaluate, onResource: true };
      return { evaluate: compileExpression(expr, end ?? root, false).evaluate, onResource: false };
    };
    out.push({ items: items.evaluate, components: p.components!.map((c) => comp(c.expression)) });
  }
  return out;
}

function compileExtractor(type: string, param: ActiveSearchParam): Extractor {
  const root: PathContext = { type, path: type };
  if (param.type === 'composite') return { param, evaluate: () => [], composite: compileComposite(param, type) };
  return { param, evaluate: compileExpression(param.expression, root).evaluate };
}

export function extractionPlan(type: string): Extractor[] {
  if (plansGeneration !== registryGeneration()) {
    plans.clear();
    plansGeneration = registryGeneration();
  }
  let plan = plans.get(type);
  if (!plan) {
    plan = indexedParams(type).map((param) => compileExtractor(type, param));
    plans.set(type, plan);
  }
  return plan;
}

/** The composite parameters whose number components are sequence coordinates (search region 1-based). */
const SEQUENCE_COORDINATES = new Set([
  'chromosome-variant-coordinate',
  'chromosome-window-coordinate',
  'referenceseqid-variant-coordinate',
  'referenceseqid-window-coordinate',
]);

/**
 * The column values (system, code, low, high, dlow, dhigh, text) of one value of a composite's second or third
 * component, by the component's type; a UCUM quantity adds a canonical row (system CANONICAL_MARK).
 */
function componentColumns(type: string, v: JsonValue, opts: ExtractOptions): Row[] {
  const out: Row[] = [];
  if (type === 'token') {
    const t = emptySink();
    tokenValues('c', v, t);
    for (const r of t.token) out.push([r[1], r[2], null, null, null, null, null]);
  } else if (type === 'quantity' || type === 'number') {
    const qs: QuantityValue[] = [];
    quantityValues(v, qs);
    for (const q of qs) {
      out.push([q.system, q.code, q.low, q.high, null, null, null]);
      if (q.converted) out.push([CANONICAL_MARK, q.canonUnit, q.canonLow, q.canonHigh, null, null, null]);
    }
  } else if (type === 'date') {
    const ds: { low: string; high: string }[] = [];
    dateValues(v, opts, ds);
    for (const d of ds) out.push([null, null, null, null, d.low, d.high, null]);
  } else if (type === 'string') {
    const ss: string[] = [];
    stringValues('c', v, ss);
    for (const s of ss) out.push([null, null, null, null, null, null, fold(s).slice(0, MAX_STRING)]);
  } else if (type === 'reference') {
    for (const code of referenceComponentCodes(v, opts)) out.push([null, code, null, null, null, null, null]);
  }
  return out;
}

/** A reference as a composite component stores it: `Type/id` for a local reference, else its absolute url. */
function referenceComponentCodes(v: JsonValue, opts: ExtractOptions): string[] {
  const rs: ReferenceValue[] = [];
  referenceValues('c', v, opts, emptySink(), rs);
  return rs.map((r) => r.url ?? `${r.targetType}/${r.targetId}`);
}

/**
 * A sequence coordinate in the 1-based numbering the coordinate composites search in (their R4 definitions): a
 * 0-based sequence's start (inclusive) moves up by one, its end (exclusive) is already the 1-based inclusive end.
 */
function oneBased(resource: JsonObject, v: JsonValue, component: number): JsonValue {
  if (component !== 1 || decimalText(resource.coordinateSystem) !== '0') return v;
  const d = decimalText(v); // an integer (32-bit in FHIR): exact as a JavaScript number
  return d === null || !/^-?\d+$/.test(d) ? v : Number(d) + 1;
}

function compositeRows(ex: Extractor, resource: JsonObject, opts: ExtractOptions, sink: Sink): void {
  const p = ex.param;
  const comps = p.components!;
  const coordinates = resource.resourceType === 'MolecularSequence' && SEQUENCE_COORDINATES.has(p.code);
  const empty = [null, null, null, null, null, null, null];
  for (const m of ex.composite!) {
    for (const item of m.items(resource)) {
      const at = (i: number): JsonValue[] => m.components[i].evaluate(m.components[i].onResource ? resource : item);
      // the first component, a token (system, code) or a reference (no system, its Type/id or url as the code)
      const t1: Sink = emptySink();
      if (comps[0].type === 'reference') {
        for (const v of at(0)) for (const code of referenceComponentCodes(v, opts)) t1.token.push(['c', null, code]);
      } else for (const v of at(0)) tokenValues('c', v, t1);
      if (t1.token.length === 0) continue;
      // every combination of the item's component values (a component without a value: no row)
      let rest: Row[] = [[]];
      for (let i = 1; i < comps.length && rest.length; i++) {
        const values = at(i).flatMap((v) => componentColumns(comps[i].type, coordinates ? oneBased(resource, v, i) : v, opts));
        rest = rest.flatMap((prefix) => values.map((cols) => [...prefix, ...cols]));
      }
      for (const a of t1.token) for (const b of rest) add(sink, 'composite', [p.code, a[1], a[2], ...b, ...(comps.length === 2 ? empty : [])]);
    }
  }
}

function narrativeText(resource: JsonObject): string | null {
  const text = resource.text;
  if (!isJsonObject(text) || typeof text.div !== 'string') return null;
  return text.div
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

/** Keys whose strings are machinery (ids, URLs, base64), not content worth a word index. */
const SKIPPED_CONTENT_KEYS = new Set(['div', 'data', 'resourceType', 'id', 'meta', 'system', 'reference', 'url', 'fullUrl']);

function allStrings(node: JsonValue, out: string[], depth = 0): void {
  if (depth > 32) return;
  if (typeof node === 'string') out.push(node);
  else if (Array.isArray(node)) for (const n of node) allStrings(n, out, depth + 1);
  else if (isJsonObject(node)) {
    for (const k in node) {
      if (SKIPPED_CONTENT_KEYS.has(k)) continue;
      allStrings(node[k], out, depth + 1);
    }
  }
}

function emptySink(budget: Budget = UNLIMITED()): Sink {
  return {
    token: [],
    string: [],
    date: [],
    number: [],
    quantity: [],
    uri: [],
    reference: [],
    composite: [],
    text: [],
    codeDate: [],
    geo: [],
    seen: new Set(),
    budget,
  };
}

/** Extracts every index row of a resource version, by index table (repository/writes.ts INDEX_TABLES). */
export function extractIndexRows(resource: JsonObject, options: Partial<ExtractOptions> = {}): IndexRows {
  return extractWith(resource, extractionPlan(resource.resourceType as string), { ...DEFAULTS, ...options }, true);
}

/** The index rows of one contained resource, stored under its owner key (search.html#contained). */
export interface ContainedIndexRows {
  /** `<ContainedType>#<ContainerType>#<localId>`: the resource_type column of every row (containedKey) */
  key: string;
  index: IndexRows;
}

/**
 * The resource_type of a contained resource's index rows. The id column stays the container's id (the
 * distribution column, DESIGN.md §3), so the rows live and die with the container's; no resource type has a '#',
 * so a search of a type (`resource_type = 'Patient'`) never sees them. repository/search/contained.ts explains the
 * rest of the encoding (how writes replace them, how searches find them).
 */
export function containedKey(containedType: string, containerType: string, localId: string): string {
  return `${containedType}#${containerType}#${localId}`;
}

const CONTAINED_ID = /^[A-Za-z0-9\-.]{1,64}$/;
/** Contained resources whose index rows are plain R4 parameters (custom ones are not extracted: see below). */
const builtInPlans = new WeakMap<Extractor[], Extractor[]>();

/**
 * Index rows for each resource in `resource.contained` (search.html#contained, `_contained=true|both`), with the
 * R4 parameters of the contained resource's own type and its full-text row, plus a `_id` token row (code: the
 * local id) that lists every contained resource and answers `_id`. Custom SearchParameters are not extracted for
 * contained resources: their reindex job walks top-level resources only, so their contained rows could never be
 * complete (contained-mode searches refuse them). Skipped: a contained resource without a valid id (it cannot be
 * addressed as `[container]#[id]`), of an unknown type, or repeating an earlier one's type and id.
 */
export function extractContainedIndexRows(resource: JsonObject, options: Partial<ExtractOptions> = {}): ContainedIndexRows[] {
  const contained = resource.contained;
  if (!Array.isArray(contained) || contained.length === 0) return [];
  // a contained resource may refer to another one of the same container (#localId)
  const opts = { ...DEFAULTS, ...options, containedTypes: containedTypesOf(resource) };
  // the contained resources share one budget: as many rows together as their container may have
  const budget = budgetOf(`The ${String(resource.resourceType)}'s contained resources have`, opts);
  const out: ContainedIndexRows[] = [];
  const seen = new Set<string>();
  for (const c of contained) {
    if (!isJsonObject(c) || typeof c.resourceType !== 'string' || typeof c.id !== 'string' || !CONTAINED_ID.test(c.id)) continue;
    if (!isResourceType(c.resourceType)) continue;
    const key = containedKey(c.resourceType, resource.resourceType as string, c.id);
    if (seen.has(key)) continue;
    seen.add(key);
    const plan = extractionPlan(c.resourceType);
    let builtIn = builtInPlans.get(plan);
    if (!builtIn) {
      builtIn = plan.filter((ex) => !ex.param.custom);
      builtInPlans.set(plan, builtIn);
    }
    const index = extractWith(c, builtIn, opts, true, budget);
    index.search_token.push(['_id', null, c.id]);
    out.push({ key, index });
  }
  return out;
}

/** Local id → resource type of a resource's contained resources (those a `#localId` reference may name). */
function containedTypesOf(resource: JsonObject): Map<string, string> | undefined {
  const contained = resource.contained;
  if (!Array.isArray(contained) || contained.length === 0) return undefined;
  const out = new Map<string, string>();
  for (const c of contained) {
    if (
      isJsonObject(c) &&
      typeof c.id === 'string' &&
      typeof c.resourceType === 'string' &&
      CONTAINED_ID.test(c.id) &&
      isResourceType(c.resourceType)
    ) {
      if (!out.has(c.id)) out.set(c.id, c.resourceType);
    }
  }
  return out;
}

export type ParamExtractor = Extractor;

/** A compiled extractor of one parameter for resources of `type` (a custom parameter's reindex job). */
export function compileParamExtractor(type: string, param: ActiveSearchParam): ParamExtractor {
  return compileExtractor(type, param);
}

/**
 * The index rows of some parameters only (a custom parameter's reindex): every table's rows whose `param` is the
 * parameter's code or derived from it (derivedParamCodes); no full-text rows.
 */
export function extractParamRows(resource: JsonObject, extractors: ParamExtractor[], options: Partial<ExtractOptions> = {}): IndexRows {
  return extractWith(resource, extractors, { ...DEFAULTS, ...options }, false);
}

/** The `param` values of every index row a parameter's extraction can produce. */
export function derivedParamCodes(code: string): string[] {
  return [code, `${code}:text`, `${code}:of-type`, `${code}:identifier`];
}

function extractWith(
  resource: JsonObject,
  plan: Extractor[],
  options: ExtractOptions,
  withText: boolean,
  budget = budgetOf(`The ${String(resource.resourceType)} has`, options),
): IndexRows {
  // a write refuses a value too long to index; a custom parameter's reindex (no full text) leaves it out
  tooLong = withText ? 'refuse' : 'skip';
  const own = options.containedTypes ? undefined : containedTypesOf(resource);
  const opts = own ? { ...options, containedTypes: own } : options;
  const sink = emptySink(budget);
  for (const ex of plan) {
    const p = ex.param;
    const code = p.code;
    if (p.type === 'composite') {
      compositeRows(ex, resource, opts, sink);
      continue;
    }
    const values = ex.evaluate(resource);
    if (values.length === 0) continue;
    switch (p.type) {
      case 'token':
        for (const v of values) tokenValues(code, v, sink);
        break;
      case 'string': {
        if (isPhonetic(p)) {
          // keys, not strings: token rows of the phonetic key of each name (fhir/search/normalise.ts phoneticKey)
          for (const v of values) for (const key of phoneticKeys(code, v)) add(sink, 'token', [code, null, key]);
          break;
        }
        const ss: string[] = [];
        for (const v of values) stringValues(code, v, ss);
        const from = sink.string.length;
        for (const s of ss) add(sink, 'string', [code, fold(s).slice(0, MAX_STRING), s.slice(0, MAX_STRING), false, false]);
        markExtremes(sink.string, from, 1, 1, 3, 4);
        break;
      }
      case 'date': {
        const ds: { low: string; high: string }[] = [];
        for (const v of values) dateValues(v, opts, ds);
        const from = sink.date.length;
        for (const d of ds) add(sink, 'date', [code, d.low, d.high, false, false]);
        markBy(
          sink.date,
          from,
          (a, b) => compareTime(a[1] as string, b[1] as string),
          (a, b) => compareTime(a[2] as string, b[2] as string),
          3,
          4,
        );
        break;
      }
      case 'number': {
        const ns: { low: string; high: string }[] = [];
        for (const v of values) numberValues(v, ns);
        const from = sink.number.length;
        for (const n of ns) add(sink, 'number', [code, n.low, n.high, false, false]);
        markBy(
          sink.number,
          from,
          (a, b) => compareDecimal(a[1] as string, b[1] as string),
          (a, b) => compareDecimal(a[2] as string, b[2] as string),
          3,
          4,
        );
        break;
      }
      case 'quantity': {
        const qs: QuantityValue[] = [];
        for (const v of values) quantityValues(v, qs);
        const from = sink.quantity.length;
        for (const q of qs) add(sink, 'quantity', [code, q.system, q.code, q.low, q.high, q.canonUnit, q.canonLow, q.canonHigh, false, false]);
        markBy(
          sink.quantity,
          from,
          (a, b) => compareDecimal(a[6] as string, b[6] as string),
          (a, b) => compareDecimal(a[7] as string, b[7] as string),
          8,
          9,
        );
        break;
      }
      case 'uri':
        for (const v of values) if (typeof v === 'string') add(sink, 'uri', [code, v]);
        break;
      case 'special':
        // near: Location.position, in WGS84 degrees
        for (const v of values) {
          if (!isJsonObject(v)) continue;
          const lat = numberValue(v.latitude);
          const lng = numberValue(v.longitude);
          if (lat !== undefined && lng !== undefined && Math.abs(lat) <= 90 && Math.abs(lng) <= 180) add(sink, 'geo', [code, lat, lng]);
        }
        break;
      case 'reference': {
        const rs: ReferenceValue[] = [];
        for (const v of values) referenceValues(code, v, opts, sink, rs);
        const from = sink.reference.length;
        for (const r of rs) add(sink, 'reference', [code, r.targetType, r.targetId, r.url, false, false]);
        markBy(sink.reference, from, compareReference, compareReference, 4, 5);
        break;
      }
    }
  }
  if (withText) {
    textRows(resource, sink);
    codeDateRows(sink);
  }
  return {
    search_token: sink.token,
    search_string: sink.string,
    search_date: sink.date,
    search_number: sink.number,
    search_quantity: sink.quantity,
    search_uri: sink.uri,
    search_reference: sink.reference,
    search_composite: sink.composite,
    search_geo: sink.geo,
    search_text: sink.text,
    search_code_date: sink.codeDate,
  };
}

/** The `param` of search_code_date rows: the token parameter `code` paired with the date parameter `date`. */
export const CODE_DATE_PARAM = 'code+date';

/**
 * search_code_date rows (migration 20261127000920): one per (coding of `code`, value of `date`) of a resource whose
 * type has both parameters — a resource has `code` token rows and `date` rows only then.
 */
function codeDateRows(sink: Sink): void {
  const dates = sink.date.filter((d) => d[0] === 'date');
  if (dates.length === 0) return;
  for (const t of sink.token) {
    if (t[0] !== 'code' || t[2] === null) continue;
    spend(sink.budget, dates.length);
    for (const d of dates) sink.codeDate.push([CODE_DATE_PARAM, t[1], t[2], d[1], d[2]]);
  }
}

/**
 * The full-text row of `_text` and `_content` (migration 20261127000900): one tsvector, the narrative's words at
 * weight A, every other string's words at weight D; `_content` matches any weight, `_text` weight A only.
 */
function textRows(resource: JsonObject, sink: Sink): void {
  const narrative = narrativeText(resource);
  const strings: string[] = [];
  allStrings(resource, strings);
  const contentWords: string[] = [];
  for (const s of strings) words(s, contentWords);
  const literal = weightedTsvectorLiteral(narrative ? words(narrative) : [], contentWords);
  if (literal) sink.text.push(['_content', literal]);
}

export interface TokenValue {
  param: string;
  system: string | null;
  code: string | null;
}

/** The token rows of a resource (kept for the in-process benchmark). */
export function extractTokens(resource: JsonObject): TokenValue[] {
  return extractIndexRows(resource).search_token.map((r) => ({ param: r[0] as string, system: r[1] as string | null, code: r[2] as string | null }));
}
