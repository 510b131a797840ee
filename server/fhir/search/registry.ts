/**
 * searchParameterRegistry: the active SearchParameters per resource type, from the R4 definitions.
 * https://hl7.org/fhir/R4/searchparameter.html
 *
 * Only the parameters whose values the storage layer extracts at write time are "indexed"; the search grammar
 * (issue 3) grows this set. For now: `identifier` tokens (conditional operations) and the `_id`/`_lastUpdated`
 * columns every resource row has.
 */
import { r4Model, type SearchParamDef } from '../definitions';

export interface ActiveSearchParam {
  code: string;
  type: SearchParamDef['type'];
  /** The FHIRPath expression restricted to one resource type (union members of other types dropped). */
  expression: string;
  url: string;
}

/** Parameters with values extracted at write time, by token type. */
const INDEXED_TOKEN_PARAMS = new Set(['identifier']);

let byType: Map<string, Map<string, ActiveSearchParam>> | undefined;

/** Splits `A.x | B.y | A.z` and keeps the members that apply to `type`. */
export function expressionForType(expression: string, type: string): string | undefined {
  const parts = splitUnion(expression).filter((p) => p.startsWith(`${type}.`) || p.startsWith(`(${type}.`) || p === type);
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

function build(): Map<string, Map<string, ActiveSearchParam>> {
  const map = new Map<string, Map<string, ActiveSearchParam>>();
  for (const sp of r4Model().searchParameters) {
    if (sp.type !== 'token' || !INDEXED_TOKEN_PARAMS.has(sp.code) || !sp.expression) continue;
    for (const base of sp.base) {
      const expression = expressionForType(sp.expression, base);
      if (!expression) continue;
      if (!map.has(base)) map.set(base, new Map());
      map.get(base)!.set(sp.code, { code: sp.code, type: sp.type, expression, url: sp.url });
    }
  }
  return map;
}

export function indexedParams(resourceType: string): ActiveSearchParam[] {
  byType ??= build();
  return [...(byType.get(resourceType)?.values() ?? [])];
}

export function indexedParam(resourceType: string, code: string): ActiveSearchParam | undefined {
  byType ??= build();
  return byType.get(resourceType)?.get(code);
}
