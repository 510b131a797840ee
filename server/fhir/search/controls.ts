/**
 * Search result parameters (https://hl7.org/fhir/R4/search.html#return): `_sort`, `_count`, `_include`,
 * `_revinclude`, `_summary`, `_elements`, `_total`, `_contained`, `_containedType`, the server's `_cursor`, and a
 * system search's `_type` — the controls of what a search returns, never criteria.
 */
import { isResourceType, r4Model } from '../definitions';
import type { IncludeSpec, SearchControls, SortKey } from './criteria';
import { invalidValue as invalid, UnsupportedParameter as Unsupported } from './errors';
import { isPhonetic, searchParam, SORTABLE_TYPES } from './registry';
import { ready, resolveParam } from './resolve';

/** Parameter names (before any `:modifier`) that are result parameters. */
export const RESULT_PARAMS = new Set([
  '_sort',
  '_count',
  '_include',
  '_revinclude',
  '_summary',
  '_elements',
  '_total',
  '_contained',
  '_containedType',
  '_cursor',
  '_type',
]);

function parseSort(types: string[], value: string): SortKey[] {
  return value.split(',').map((raw) => {
    const descending = raw.startsWith('-');
    const code = descending ? raw.slice(1) : raw;
    if (code === '_id') return { code, descending, type: 'id' as const };
    if (code === '_lastUpdated') return { code, descending, type: 'lastUpdated' as const };
    const p = resolveParam(types, code, '_sort');
    if (!SORTABLE_TYPES.has(p.type) || code === '_text' || code === '_content' || isPhonetic(p)) {
      throw new Unsupported(
        `Sorting by ${p.type} parameter '${code}' is not supported (sortable: string, date, number, quantity, token, uri, reference, _id, _lastUpdated)`,
        '_sort',
      );
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
  if (p?.type !== 'reference') throw new Unsupported(`'${code}' is not a reference parameter of ${sourceType}`, name);
  ready(p, name);
  return { sourceType, params: [code], targetType, iterate, reverse };
}

/** Sets the control `name` (a result parameter) to `value`. */
export function parseControl(types: string[], name: string, value: string, controls: SearchControls): void {
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
      if (!['true', 'text', 'data', 'count', 'false'].includes(value))
        throw invalid(name, `_summary takes true, text, data, count or false, got '${value}'`);
      controls.summary = value as SearchControls['summary'];
      return;
    case '_elements': {
      const names = value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
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
  const types = [
    ...new Set(
      raw
        .flatMap((v) => v.split(','))
        .map((t) => t.trim())
        .filter(Boolean),
    ),
  ];
  for (const t of types) if (!isResourceType(t)) throw invalid('_type', `'${t}' is not a resource type`);
  return types;
}

/** The controls of a search with no result parameters. */
export function defaultControls(): SearchControls {
  return { sort: [], include: [], contained: 'false', containedType: 'container' };
}
