/**
 * searchParameterRegistry: the active SearchParameters per resource type, from the R4 definitions
 * (https://hl7.org/fhir/R4/searchparameter.html and #registry of search.html).
 *
 * Every R4 SearchParameter with an expression is active for each of its base types, with its FHIRPath expression
 * restricted to that type (union members of other types dropped). The `Resource`/`DomainResource` parameters
 * (`_tag`, `_profile`, `_security`, `_source`, `_text`, `_content`) apply to every type; `_id` and `_lastUpdated`
 * are columns of the resource table and `_list`, `_has`, `_type` are handled by the search compiler itself.
 *
 * The registry also says what each parameter supports (modifiers, prefixes, sorting), which the search parser
 * enforces and the CapabilityStatement lists, so the server never claims what it does not do.
 *
 * The server's own HMS parameters (hms.ts: Basic `stock-location`) are built in beside the R4 ones.
 *
 * Custom parameters (SearchParameter resources stored on the server, fhir/search/custom.ts) are merged in at
 * runtime by setCustomParameters(): the repository keeps every process's copy in step with the database
 * (repository/search/parameters.ts). A custom parameter is `pending` until its reindex job has filled the index
 * for existing resources: new writes already extract it, but searches with it are refused (resolve.ts), so
 * results are never silently incomplete. `registryGeneration()` changes with every change of the set, so caches built from the
 * registry (extraction plans, the CapabilityStatement) know when to rebuild.
 */
import { r4Model, type SearchParamDef } from '../definitions';
import { HMS_SEARCH_PARAMS } from './hms';

export type SearchParamType = SearchParamDef['type'];

export interface ActiveSearchParam {
  code: string;
  type: SearchParamType;
  /** The FHIRPath expression restricted to one resource type (empty for the columns and the text index). */
  expression: string;
  url: string;
  /** Reference parameters: the resource types they may point at. */
  target?: string[];
  /** Composite parameters: the components (their definitions resolved to the component's type). */
  components?: { type: SearchParamType; expression: string; code: string; target?: string[] }[];
  /** Custom parameters only: the SearchParameter resource and whether its index is complete yet. */
  custom?: CustomParamState;
}

export interface CustomParamState {
  /** SearchParameter resource id and version this definition comes from. */
  id: string;
  versionId: number;
  /** pending: reindex running (or queued); failed: the reindex failed (searches refused until a new $reindex). */
  status: 'active' | 'pending' | 'failed';
  /** Reindex progress, 0–100 (100 when active). */
  percent: number;
  error?: string;
}

/** Modifiers by parameter type (search.html#modifiers), as this server implements them. */
export const MODIFIERS: Record<string, string[]> = {
  string: ['missing', 'exact', 'contains'],
  token: ['missing', 'text', 'not', 'above', 'below', 'in', 'not-in', 'of-type'],
  reference: ['missing', 'identifier', '[type]'],
  date: ['missing'],
  number: ['missing'],
  quantity: ['missing'],
  uri: ['missing', 'above', 'below'],
  composite: ['missing'],
  special: ['missing'], // Location's near, the one R4 special parameter with an expression
};

/** Parameter types with comparison prefixes (eq ne gt lt ge le sa eb ap). */
export const PREFIXED_TYPES = new Set(['date', 'number', 'quantity']);

/** Parameter types a search can be sorted by (the index tables keep a per-resource sort value for these). */
export const SORTABLE_TYPES = new Set(['string', 'date', 'number', 'quantity', 'token', 'uri', 'reference']);

/** Parameters whose values live in columns of the resource table or in the full-text table. */
const RESOURCE_LEVEL = new Set(['_id', '_lastUpdated', '_text', '_content']);

/**
 * The R4 `phonetic` parameters (Patient, Practitioner, Person, RelatedPerson, Organization, InsurancePlan): indexed and matched by phonetic key
 * (fhir/search/normalise.ts phoneticKey) in search_token, not as strings.
 */
/** Location's `near` (special): a position within a distance, searched in search_geo (repository/search). */
export function isNear(p: { code: string; type: string }): boolean {
  return p.code === 'near' && p.type === 'special';
}

export function isPhonetic(p: ActiveSearchParam): boolean {
  return p.code === 'phonetic' && p.type === 'string' && !p.custom;
}

/** Defined in R4 but not supported (no expression or no meaningful index): refused with a clear 400. */
export const UNSUPPORTED_PARAMS = new Set(['_query', '_filter']);

let byType: Map<string, Map<string, ActiveSearchParam>> | undefined;
/** Custom parameters by type and code (never a code of the R4 set for that type: refused on write). */
let customByType = new Map<string, Map<string, ActiveSearchParam>>();
let generation = 0;

/** Splits `A.x | B.y | A.z` and keeps the members that apply to `type`. */
export function expressionForType(expression: string, type: string): string | undefined {
  const parts = splitUnion(expression).filter((p) => p.startsWith(`${type}.`) || p.startsWith(`(${type}.`) || p === type || p.startsWith(`${type}.`));
  return parts.length ? parts.join(' | ') : undefined;
}

/** Splits a FHIRPath union at top-level `|` (not inside parentheses or strings). */
export function splitUnion(expression: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'" && expression[i - 1] !== '\\') quote = !quote;
    else if (!quote && c === '(') depth++;
    else if (!quote && c === ')') depth--;
    else if (!quote && depth === 0 && c === '|') {
      out.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(expression.slice(start).trim());
  return out.filter(Boolean);
}

function isDomainResource(type: string): boolean {
  const def = r4Model().types[type];
  return def?.baseType === 'DomainResource';
}

function build(): Map<string, Map<string, ActiveSearchParam>> {
  const model = r4Model();
  const byUrl = new Map(model.searchParameters.map((sp) => [sp.url, sp]));
  const map = new Map<string, Map<string, ActiveSearchParam>>();
  for (const type of model.resourceTypes) map.set(type, new Map());
  const put = (type: string, p: ActiveSearchParam): void => {
    const m = map.get(type);
    if (m && !m.has(p.code)) m.set(p.code, p);
  };
  for (const sp of model.searchParameters) {
    if (!sp.base || UNSUPPORTED_PARAMS.has(sp.code) || (sp.type === 'special' && !isNear(sp))) continue;
    if (sp.base.includes('Resource') || sp.base.includes('DomainResource')) {
      for (const type of model.resourceTypes) {
        if (sp.base.includes('DomainResource') && !isDomainResource(type)) continue;
        if (RESOURCE_LEVEL.has(sp.code)) {
          put(type, { code: sp.code, type: sp.type, expression: '', url: sp.url });
          continue;
        }
        if (!sp.expression) continue;
        // `Resource.meta.tag` → `Patient.meta.tag`
        put(type, { code: sp.code, type: sp.type, expression: sp.expression.replace(/^Resource\./, `${type}.`), url: sp.url });
      }
      continue;
    }
    if (!sp.expression) continue;
    for (const base of sp.base) {
      const expression = expressionForType(sp.expression, base);
      if (!expression) continue;
      const p: ActiveSearchParam = { code: sp.code, type: sp.type, expression, url: sp.url };
      if (sp.target) p.target = sp.target;
      if (sp.type === 'composite') {
        const comps = (sp.component ?? []).map((c) => {
          const def = byUrl.get(c.definition);
          return def ? { type: def.type, expression: c.expression, code: def.code, ...(def.target ? { target: def.target } : {}) } : undefined;
        });
        swapMismatchedComponents(
          comps,
          (sp.component ?? []).map((c) => byUrl.get(c.definition)?.expression),
          base,
        );
        // Two or three components, the first a token or (DocumentReference's relationship) a reference. The
        // three-component ones are MolecularSequence's coordinates.
        if (comps.length < 2 || comps.length > 3 || comps.some((c) => !c) || !['token', 'reference'].includes(comps[0]!.type)) continue;
        if (comps.slice(1).some((c) => !['token', 'quantity', 'date', 'string', 'reference', 'number'].includes(c!.type))) continue;
        p.components = comps as ActiveSearchParam['components'];
      }
      put(base, p);
    }
  }
  for (const sp of HMS_SEARCH_PARAMS) put(sp.base, { code: sp.code, type: sp.type, expression: sp.expression, url: sp.url, target: sp.target });
  return map;
}

/**
 * R4 4.0.1 pairs DocumentReference's `relationship` components with each other's expressions (relatesto, a
 * reference, with `code`; relation, a token, with `target`); R4B and R5 correct it. When both components' own
 * definitions point at the other's element, and not at their own, the expressions are swapped back, so that a
 * value is written and searched in the component order of the definition (relatesto $ relation).
 */
function swapMismatchedComponents(comps: ({ expression: string } | undefined)[], definitions: (string | undefined)[], base: string): void {
  if (comps.length !== 2 || !comps[0] || !comps[1]) return;
  const own = definitions.map((d) => (d ? expressionForType(d, base) : undefined));
  const points = (i: number, j: number): boolean => own[i]?.endsWith(`.${comps[j]!.expression}`) ?? false;
  if (!points(0, 0) && !points(1, 1) && points(0, 1) && points(1, 0)) {
    [comps[0].expression, comps[1].expression] = [comps[1].expression, comps[0].expression];
  }
}

function registry(): Map<string, Map<string, ActiveSearchParam>> {
  byType ??= build();
  return byType;
}

/** Replaces the custom parameters (each already restricted to one base type); bumps the generation on change. */
export function setCustomParameters(params: { type: string; param: ActiveSearchParam }[]): void {
  const next = new Map<string, Map<string, ActiveSearchParam>>();
  for (const { type, param } of params) {
    if (registry().get(type)?.has(param.code)) continue; // the R4 parameter wins (custom.ts refuses such codes)
    if (!next.has(type)) next.set(type, new Map());
    next.get(type)!.set(param.code, param);
  }
  // Progress (percent, error text) is not part of the signature: it is updated in place without a new generation.
  const signature = (m: Map<string, Map<string, ActiveSearchParam>>): string =>
    JSON.stringify(
      [...m]
        .map(([t, ps]) => [t, [...ps.values()].map((p) => ({ ...p, custom: { ...p.custom, percent: 0, error: undefined } }))] as const)
        .sort((a, b) => a[0].localeCompare(b[0])),
    );
  if (signature(next) === signature(customByType)) {
    for (const [t, ps] of next) {
      for (const [code, p] of ps) {
        const cur = customByType.get(t)?.get(code)?.custom;
        if (cur && p.custom) Object.assign(cur, { percent: p.custom.percent, error: p.custom.error });
      }
    }
    return;
  }
  customByType = next;
  generation++;
}

/** Changes whenever the set of parameters or a custom parameter's definition or status changes. */
export function registryGeneration(): number {
  return generation;
}

/** The custom parameters of a type (any state). */
export function customParams(resourceType: string): ActiveSearchParam[] {
  return [...(customByType.get(resourceType)?.values() ?? [])];
}

/** Every parameter of a resource type usable in searches (custom ones only once active), by code order. */
export function searchParams(resourceType: string): ActiveSearchParam[] {
  const custom = customParams(resourceType).filter((p) => p.custom?.status === 'active');
  return [...(registry().get(resourceType)?.values() ?? []), ...custom].sort((a, b) => a.code.localeCompare(b.code));
}

/** A parameter by code — custom ones in any state (the parser refuses those not yet active). */
export function searchParam(resourceType: string, code: string): ActiveSearchParam | undefined {
  return registry().get(resourceType)?.get(code) ?? customByType.get(resourceType)?.get(code);
}

/** The R4 parameter of a type with this code (custom ones may not take such codes). */
export function builtInParam(resourceType: string, code: string): ActiveSearchParam | undefined {
  return registry().get(resourceType)?.get(code);
}

/**
 * Parameters whose values are extracted into index tables (everything but the resource columns), including
 * custom parameters still being reindexed: new writes must carry their values from the moment they are defined.
 */
export function indexedParams(resourceType: string): ActiveSearchParam[] {
  return [...(registry().get(resourceType)?.values() ?? []), ...customParams(resourceType)]
    .filter((p) => p.expression !== '')
    .sort((a, b) => a.code.localeCompare(b.code));
}

/** Kept for callers of the first registry: an indexed parameter by code. */
export function indexedParam(resourceType: string, code: string): ActiveSearchParam | undefined {
  const p = searchParam(resourceType, code);
  return p && p.expression !== '' ? p : undefined;
}

/** The modifiers a parameter accepts (for the CapabilityStatement and the parser). */
export function modifiersOf(p: ActiveSearchParam): string[] {
  if (p.code === '_id') return [];
  if (p.code === '_lastUpdated') return [];
  if (p.code === '_text' || p.code === '_content') return [];
  if (isPhonetic(p)) return ['missing'];
  return MODIFIERS[p.type] ?? [];
}
