/**
 * Parsing search criteria (https://hl7.org/fhir/R4/search.html) into a typed form, strictly: an unknown or
 * unsupported parameter or modifier is a 400, never silently ignored — conditional create/update/delete must not
 * act on criteria the server did not understand.
 */
import { badRequest } from '../../fhir/outcome';
import { parseDateRange, type InstantRange } from '../../fhir/datetime';
import { indexedParam } from '../../fhir/search/registry';

export interface TokenCriterion {
  kind: 'token';
  code: string;
  /** OR-ed values */
  values: { system: string | null | undefined; code: string | null }[];
}

export interface IdCriterion {
  kind: 'id';
  ids: string[];
}

export type DatePrefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';

export interface LastUpdatedCriterion {
  kind: 'lastUpdated';
  /** OR-ed values */
  values: { prefix: DatePrefix; range: InstantRange }[];
}

export type Criterion = TokenCriterion | IdCriterion | LastUpdatedCriterion;

/** Parameters about the response format, which never restrict matches. Result-control parameters (_count,
 * _sort, …) are the caller's to handle and strip; here they would be unsupported criteria. */
const RESULT_PARAMS = new Set(['_format', '_pretty']);

/** Splits a search value on unescaped commas (`\,` is a literal comma). */
export function splitOr(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && i + 1 < value.length) {
      cur += value[++i];
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** `system|code`, `|code`, `code`, `system|` (escaped `\|` is literal). */
export function parseToken(value: string): { system: string | null | undefined; code: string | null } {
  let idx = -1;
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '\\') i++;
    else if (value[i] === '|') {
      idx = i;
      break;
    }
  }
  const unescape = (s: string) => s.replace(/\\(.)/g, '$1');
  if (idx < 0) return { system: undefined, code: unescape(value) };
  const system = unescape(value.slice(0, idx));
  const code = unescape(value.slice(idx + 1));
  return { system: system === '' ? null : system, code: code === '' ? null : code };
}

/**
 * Parses criteria for `resourceType`. `purpose` tells the caller's context for error messages.
 * Returns the criteria; throws 400 OperationOutcome for anything unsupported.
 */
export function parseCriteria(resourceType: string, query: URLSearchParams, purpose: string, timeZone = 'UTC'): Criterion[] {
  const criteria: Criterion[] = [];
  for (const [rawName, rawValue] of query) {
    const [name, modifier] = rawName.split(':', 2);
    if (RESULT_PARAMS.has(name)) continue;
    if (rawValue === '') throw badRequest(`Search parameter '${rawName}' has an empty value (${purpose})`);
    if (rawValue.includes('\0') || rawName.includes('\0')) throw badRequest(`Search parameter '${rawName}' contains a NUL character (${purpose})`);
    if (name === '_id') {
      if (modifier !== undefined) throw badRequest(`Modifier ':${modifier}' is not supported on _id (${purpose})`);
      const ids = splitOr(rawValue);
      if (ids.some((id) => !/^[A-Za-z0-9\-.]{1,64}$/.test(id))) throw badRequest(`Invalid id in _id=${rawValue} (${purpose})`);
      criteria.push({ kind: 'id', ids });
      continue;
    }
    if (name === '_lastUpdated') {
      if (modifier !== undefined) throw badRequest(`Modifier ':${modifier}' is not supported on _lastUpdated (${purpose})`);
      criteria.push({
        kind: 'lastUpdated',
        values: splitOr(rawValue).map((v) => {
          const m = /^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(.*)$/.exec(v)!;
          return { prefix: (m[1] ?? 'eq') as DatePrefix, range: parseDateRange(m[2], timeZone, '_lastUpdated') };
        }),
      });
      continue;
    }
    const param = indexedParam(resourceType, name);
    if (!param) {
      throw badRequest(`Search parameter '${name}' is not supported for ${resourceType} (${purpose}); supported here: _id, _lastUpdated, identifier`);
    }
    if (modifier !== undefined) throw badRequest(`Modifier ':${modifier}' is not supported on '${name}' (${purpose})`);
    criteria.push({ kind: 'token', code: name, values: splitOr(rawValue).map(parseToken) });
  }
  return criteria;
}

/** A canonical text of criteria (sorted, unescaped) used as the key of conditional-operation locks. */
export function criteriaKey(resourceType: string, criteria: Criterion[]): string {
  const parts = criteria.map((c) => {
    if (c.kind === 'id') return `_id=${[...c.ids].sort().join(',')}`;
    if (c.kind === 'lastUpdated') return `_lastUpdated=${c.values.map((v) => `${v.prefix}${v.range.low}/${v.range.high}`).sort().join(',')}`;
    return `${c.code}=${c.values.map((v) => `${v.system ?? (v.system === null ? '' : '*')}|${v.code ?? ''}`).sort().join(',')}`;
  });
  return `${resourceType}?${parts.sort().join('&')}`;
}
