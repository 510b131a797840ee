/**
 * Custom SearchParameter resources (https://hl7.org/fhir/R4/searchparameter.html, search.html#custom): whether a
 * stored SearchParameter can be served, and the registry entries it becomes. No I/O.
 *
 * A SearchParameter with status `active` is served when its `code`, `type`, `base` and `expression` are ones this
 * server can index: a plain code (not `_…`, no `:` or `.`) that is not already an R4 parameter of a base; type
 * string, token, date, number, quantity, uri or reference (composite and special are refused); concrete resource
 * types as bases; and a FHIRPath expression with, for every base, at least one union member rooted at that type
 * which FHIRPath compiles and whose leading path names elements the type defines. Anything else is refused on
 * write with a 422 naming the problem. Other statuses (draft, retired, unknown) are stored but not served.
 *
 * A copy of an R4 definition itself (same url as the built-in parameter of every base) is accepted and ignored:
 * the built-in parameter already serves it.
 */
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4';
import { isResourceType } from '../definitions';
import { isJsonObject, type JsonObject } from '../json';
import { issue, type Issue } from '../outcome';
import { unknownElement } from './paths';
import { builtInParam, expressionForType, splitUnion, type ActiveSearchParam, type CustomParamState, type SearchParamType } from './registry';

/** The parameter types a custom SearchParameter may have. */
export const CUSTOM_TYPES: SearchParamType[] = ['string', 'token', 'date', 'number', 'quantity', 'uri', 'reference'];
const CODE = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** What the server indexes for a custom parameter: the part of a SearchParameter that matters to search. */
export interface CustomParamDefinition {
  url: string;
  code: string;
  type: SearchParamType;
  /** sorted */
  base: string[];
  expression: string;
  target?: string[];
}

export type CustomParamCheck =
  | { kind: 'served'; definition: CustomParamDefinition }
  /** stored, not served: not active, or a copy of an R4 definition */
  | { kind: 'ignored'; reason: string }
  | { kind: 'refused'; issues: Issue[] };

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/** Checks a SearchParameter resource (already valid R4) for serving. */
export function checkSearchParameter(sp: JsonObject): CustomParamCheck {
  if (sp.status !== 'active') return { kind: 'ignored', reason: `status is '${String(sp.status)}', not active` };
  const issues: Issue[] = [];
  const bad = (msg: string, where: string): void => {
    issues.push(issue('error', 'not-supported', msg, `SearchParameter.${where}`));
  };
  const code = str(sp.code);
  const type = str(sp.type) as SearchParamType | undefined;
  const expression = str(sp.expression);
  const url = str(sp.url) ?? '';
  const base = Array.isArray(sp.base) ? [...new Set(sp.base.filter((b): b is string => typeof b === 'string'))].sort() : [];

  if (!code || !CODE.test(code))
    bad(`code '${code ?? ''}' is not usable as a search parameter name (letters, digits, '-' and '_', starting with a letter)`, 'code');
  if (!type || !CUSTOM_TYPES.includes(type))
    bad(`type '${type ?? ''}' is not supported for custom search parameters (supported: ${CUSTOM_TYPES.join(', ')})`, 'type');
  if (base.length === 0) bad('base names no resource type', 'base');
  for (const b of base)
    if (!isResourceType(b)) bad(`base '${b}' is not a concrete resource type (Resource and DomainResource are not supported)`, 'base');
  if (!expression) bad('an expression (FHIRPath) is required: the server extracts values with it', 'expression');
  if (issues.length) return { kind: 'refused', issues };

  // A copy of the R4 definition: served by the built-in parameter already.
  const builtIns = base.map((b) => builtInParam(b, code!));
  if (builtIns.every((p) => p && p.url === url)) return { kind: 'ignored', reason: 'the R4 parameter with this url is built in' };
  for (const [i, b] of base.entries()) {
    if (builtIns[i]) bad(`code '${code}' is already the R4 search parameter ${builtIns[i]!.url} of ${b}`, 'code');
  }

  for (const b of base) {
    const own = expressionForType(expression!, b);
    if (!own) {
      bad(`expression has no part for base ${b}: each base needs a member starting with '${b}.'`, 'expression');
      continue;
    }
    for (const member of splitUnion(own)) {
      try {
        // Unknown functions surface on evaluation, not compilation: try the member on an empty resource.
        fhirpath.compile(member, r4)({ resourceType: b });
      } catch (e) {
        bad(`expression '${member}' is not valid FHIRPath: ${(e as Error).message.split('\n')[0].slice(0, 200)}`, 'expression');
        continue;
      }
      const unknown = unknownElement(member, b);
      if (unknown) bad(`expression '${member}': ${unknown} is not an element of ${b}`, 'expression');
    }
  }
  if (issues.length) return { kind: 'refused', issues };

  const definition: CustomParamDefinition = { url, code: code!, type: type!, base, expression: expression! };
  if (type === 'reference' && Array.isArray(sp.target)) {
    const target = sp.target.filter((t): t is string => typeof t === 'string' && isResourceType(t));
    if (target.length) definition.target = [...new Set(target)].sort();
  }
  return { kind: 'served', definition };
}

/** Two definitions index the same values (a new version that changes only, say, the description needs no reindex). */
export function sameIndex(a: CustomParamDefinition, b: CustomParamDefinition): boolean {
  return (
    a.code === b.code &&
    a.type === b.type &&
    a.expression === b.expression &&
    a.base.join() === b.base.join() &&
    (a.target ?? []).join() === (b.target ?? []).join()
  );
}

/** The registry entries of a definition: one per base, its expression restricted to that base. */
export function registryEntries(def: CustomParamDefinition, state: CustomParamState): { type: string; param: ActiveSearchParam }[] {
  return def.base.flatMap((type) => {
    const expression = expressionForType(def.expression, type);
    if (!expression) return [];
    const param: ActiveSearchParam = { code: def.code, type: def.type, expression, url: def.url, custom: { ...state } };
    if (def.target) param.target = def.target;
    return [{ type, param }];
  });
}

/** Reads a stored definition back (search_parameter_state.definition is our own plain JSON). */
export function definitionFrom(v: unknown): CustomParamDefinition | undefined {
  if (!isJsonObject(v) || typeof v.code !== 'string' || typeof v.type !== 'string' || typeof v.expression !== 'string' || !Array.isArray(v.base))
    return undefined;
  return v as unknown as CustomParamDefinition;
}
