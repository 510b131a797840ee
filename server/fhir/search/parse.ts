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
import { isResourceType } from '../definitions';
import { OperationOutcomeError, issue, type Issue } from '../outcome';
import { defaultControls, parseControl, RESULT_PARAMS } from './controls';
import { MAX_CHAIN_TARGETS, chainTargetsExceeded, checkSearchLimits } from './limits';
import type { Criterion, ParsedSearch, SearchControls } from './criteria';
import { invalidValue as invalid, UnsupportedParameter as Unsupported } from './errors';
import { bareDigits, canonicalSystem, IDENTIFIER_TYPE_SYSTEM, NATIONAL_TYPE_CODES, phoneticKey, words } from './normalise';
import { isNear, isPhonetic, modifiersOf, searchParam } from './registry';
import { resolveParam } from './resolve';
import {
  ID,
  parseCompositeValue,
  parseDateValue,
  parseNearValue,
  parseNumberValue,
  parseQuantityValue,
  parseReferenceValue,
  parseToken,
  splitOr,
  splitUnescaped,
  stringValue,
  unescapeValue,
  type ValueContext,
} from './values';

/** Response-format parameters: never criteria. */
const FORMAT_PARAMS = new Set(['_format', '_pretty']);

export interface ParseOptions extends ValueContext {
  /** Ignore (and report) unknown parameters and modifiers instead of refusing them. */
  lenient?: boolean;
  /** Conditional operations: criteria only, no result parameters. */
  criteriaOnly?: boolean;
  /** what the criteria are for (a conditional operation), appended to every error's diagnostics */
  purpose?: string;
}

/** The options, and how deep in chains and `_has` the parameter being parsed is. */
interface Ctx {
  opts: ParseOptions;
  depth: number;
  /** Chain target types expanded so far in this search (limits.ts MAX_CHAIN_TARGETS), shared by every parameter. */
  chainTargets: { count: number };
  /** The whole parameter name as sent (errors about the chain name it). */
  param: string;
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
    const ids = values.map(unescapeValue);
    for (const id of ids) if (!ID.test(id)) throw invalid(name, `'${id}' is not a FHIR id`);
    return { kind: 'id', ids };
  }
  if (code === '_lastUpdated') {
    if (modifier !== undefined) throw new Unsupported(`Modifier ':${modifier}' is not supported on _lastUpdated`, name);
    return { kind: 'lastUpdated', values: values.map((v) => parseDateValue(name, v, ctx.opts.timeZone)) };
  }
  if (code === '_list') {
    if (modifier !== undefined) throw new Unsupported(`Modifier ':${modifier}' is not supported on _list`, name);
    const ids = values.map(unescapeValue);
    for (const id of ids) if (!ID.test(id)) throw invalid(name, `'${id}' is not a List id`);
    return { kind: 'list', ids };
  }
  const p = resolveParam(types, code, name);
  if (modifier === 'missing') {
    if (value !== 'true' && value !== 'false') throw invalid(name, `:missing takes true or false, got '${value}'`);
    if (p.code === '_text' || p.code === '_content') throw new Unsupported(`:missing is not supported on ${p.code}`, name);
    return { kind: 'missing', code: p.code, valueType: isPhonetic(p) ? 'token' : p.type, missing: value === 'true' };
  }
  if (isPhonetic(p)) {
    // one name (family or given) per value, matched by its phonetic key (normalise.ts phoneticKey)
    if (modifier !== undefined) throw new Unsupported(`Modifier ':${modifier}' is not supported on '${p.code}' (matched by phonetic key)`, name);
    const keys = values.map((v) => phoneticKey(unescapeValue(v).replace(/\s+/g, '')));
    if (keys.some((k) => k === undefined)) throw invalid(name, 'the value holds no name');
    return { kind: 'token', code: p.code, values: keys.map((k) => ({ system: null, code: k! })) };
  }
  if (p.code === '_text' || p.code === '_content') {
    if (modifier !== undefined) throw new Unsupported(`Modifier ':${modifier}' is not supported on ${p.code}`, name);
    const ws = values.map((v) => words(unescapeValue(v)));
    if (ws.some((w) => w.length === 0)) throw invalid(name, 'the text has no words');
    return { kind: 'text', code: p.code, values: ws };
  }
  const allowed = modifiersOf(p);
  const typeModifier = p.type === 'reference' && modifier !== undefined && isResourceType(modifier) ? modifier : undefined;
  if (modifier !== undefined && !typeModifier && !allowed.includes(modifier)) {
    throw new Unsupported(
      `Modifier ':${modifier}' is not supported on ${p.type} parameter '${p.code}'${allowed.length ? ` (supported: ${allowed.map((m) => `:${m}`).join(', ')})` : ''}`,
      name,
    );
  }
  if (typeModifier && p.target && !p.target.includes(typeModifier)) {
    throw invalid(name, `'${p.code}' cannot refer to a ${typeModifier} (targets: ${p.target.join(', ')})`);
  }

  switch (p.type) {
    case 'token': {
      if (modifier === 'text') {
        return { kind: 'string', code: `${p.code}:text`, mode: 'start', values: values.map((v) => stringValue(unescapeValue(v))) };
      }
      if (modifier === 'of-type') {
        return {
          kind: 'token',
          code: `${p.code}:of-type`,
          values: values.map((v) => {
            const parts = splitUnescaped(v, '|');
            if (parts.length !== 3 || !parts[1] || !parts[2]) throw invalid(name, `:of-type takes system|code|value, got '${v}'`);
            const [ts, tc, val] = parts.map(unescapeValue);
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
        values: values.map((v) => stringValue(unescapeValue(v))),
      };
    case 'date':
      return { kind: 'date', code: p.code, values: values.map((v) => parseDateValue(name, v, ctx.opts.timeZone)) };
    case 'number':
      return { kind: 'number', code: p.code, values: values.map((v) => parseNumberValue(name, v)) };
    case 'quantity':
      return { kind: 'quantity', code: p.code, values: values.map((v) => parseQuantityValue(name, v)) };
    case 'uri':
      return {
        kind: 'uri',
        code: p.code,
        mode: modifier === 'above' ? 'above' : modifier === 'below' ? 'below' : 'exact',
        values: values.map(unescapeValue),
      };
    case 'reference': {
      if (modifier === 'identifier') return { kind: 'token', code: `${p.code}:identifier`, values: values.map(parseToken) };
      return {
        kind: 'reference',
        code: p.code,
        values: values.map((v) => parseReferenceValue(v, ctx.opts.baseUrl, typeModifier, name)),
        targets: p.target,
      };
    }
    case 'composite':
      return { kind: 'composite', code: p.code, values: values.map((v) => parseCompositeValue(p, name, v, ctx.opts)) };
    case 'special':
      if (isNear(p)) return { kind: 'near', code: p.code, values: values.map((v) => parseNearValue(name, v)) };
      throw new Unsupported(`Search parameter '${p.code}' (${p.type}) is not supported`, name);
    default:
      throw new Unsupported(`Search parameter '${p.code}' (${p.type}) is not supported`, name);
  }
}

function parseChain(types: string[], name: string, dot: number, value: string, ctx: Ctx): Criterion {
  const head = name.slice(0, dot);
  const rest = name.slice(dot + 1);
  const [code, typeModifier] = head.split(':', 2);
  const p = resolveParam(types, code, name);
  if (p.type !== 'reference') throw new Unsupported(`'${code}' is a ${p.type} parameter and cannot be chained`, name);
  if (typeModifier !== undefined && !isResourceType(typeModifier))
    throw new Unsupported(`':${typeModifier}' is not a resource type to chain through`, name);
  let targetTypes = typeModifier ? [typeModifier] : (p.target ?? []);
  if (typeModifier && p.target && !p.target.includes(typeModifier)) throw invalid(name, `'${code}' cannot refer to a ${typeModifier}`);
  // Without a type, chain through every target type that knows the chained parameter.
  const restCode = rest.split(/[.:]/)[0];
  if (!typeModifier && !restCode.startsWith('_has')) {
    targetTypes = targetTypes.filter((t) => restCode.startsWith('_') || searchParam(t, restCode));
    if (targetTypes.length === 0) throw new Unsupported(`No target type of '${code}' has a search parameter '${restCode}'`, name);
  }
  // counted before the targets are parsed: each untyped link multiplies the parsing work too
  ctx.chainTargets.count += targetTypes.length;
  if (ctx.chainTargets.count > MAX_CHAIN_TARGETS) throw chainTargetsExceeded(ctx.param);
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

/**
 * Parses a search over `types` (one type for type-level search; several or all for system search).
 */
export function parseSearch(types: string[], params: [string, string][], opts: ParseOptions): ParsedSearch {
  checkSearchLimits(params);
  const criteria: Criterion[] = [];
  const controls = defaultControls();
  const ignored: Issue[] = [];
  const ctx: Ctx = { opts, depth: 0, chainTargets: { count: 0 }, param: '' };
  /** the parameter name of each criterion (for errors about combinations) */
  const names: string[] = [];
  for (const [name, value] of params) {
    if (name.includes('\0') || value.includes('\0')) throw invalid(name.replace(/\0/g, ''), 'it contains a NUL character');
    if (FORMAT_PARAMS.has(name)) continue;
    try {
      if (RESULT_PARAMS.has(name.split(':')[0])) {
        if (opts.criteriaOnly)
          throw new Unsupported(`'${name}' is a result parameter, not a criterion (${opts.purpose ?? 'conditional operation'})`, name);
        parseControl(types, name, value, controls);
        continue;
      }
      criteria.push(parseParam(types, name, value, { ...ctx, param: name }));
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
      refuse(
        `${c.kind === 'has' ? '_has' : '_list'} is not supported with ${mode}: only its container refers to a contained resource (with a '#' reference)`,
        names[i],
      );
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
