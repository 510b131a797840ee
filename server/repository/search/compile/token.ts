/** Token criteria (search.html#token), terminology modifiers included: conditions on search_token rows. */
import type { Criterion, TokenValue } from '../../../fhir/search/criteria';
import { bareDigits } from '../../../fhir/search/normalise';
import { equalsAny, type IndexCondition, type SqlBuilder } from './sql';

/** A token match over columns `${t}.system`/`${t}.code`, values OR-ed, grouped so each group is an index probe. */
export function tokenCondition(b: SqlBuilder, t: string, values: TokenValue[], sys = 'system', code = 'code'): string {
  const anySystem = new Set<string>();
  const noSystem = new Set<string>();
  const bySystem = new Map<string, Set<string>>();
  const systemsOnly = new Set<string>();
  for (const v of values) {
    if (v.code === null) {
      if (v.system) systemsOnly.add(v.system);
      continue;
    }
    if (v.system === undefined) {
      anySystem.add(v.code);
      anySystem.add(bareDigits(v.code)); // a national number matches with or without hyphens
    } else if (v.system === null) noSystem.add(v.code);
    else {
      if (!bySystem.has(v.system)) bySystem.set(v.system, new Set());
      bySystem.get(v.system)!.add(v.code);
    }
  }
  const ors: string[] = [];
  if (anySystem.size) ors.push(equalsAny(b, `${t}.${code}`, anySystem));
  if (noSystem.size) ors.push(`(${equalsAny(b, `${t}.${code}`, noSystem)} AND ${t}.${sys} IS NULL)`);
  for (const [s, codes] of bySystem) ors.push(`(${equalsAny(b, `${t}.${code}`, codes)} AND ${t}.${sys} = ${b.p(s)})`);
  if (systemsOnly.size) ors.push(equalsAny(b, `${t}.${sys}`, systemsOnly));
  return ors.length ? `(${ors.join(' OR ')})` : 'false';
}

/** A token criterion (`:not`: the resource has no matching row). */
export function tokenIndex(b: SqlBuilder, c: Criterion & { kind: 'token' }): IndexCondition {
  return { table: 'search_token', param: c.code, cond: (t) => tokenCondition(b, t, c.values), negate: c.not };
}

/** `:in`, `:not-in`, `:above`, `:below`: the codes the terminology resolved to (repository/search/terminology.ts). */
export function terminologyIndex(b: SqlBuilder, c: Criterion & { kind: 'terminology' }): IndexCondition {
  const r = c.resolved ?? { pairs: [], systems: [] };
  const values: TokenValue[] = [...r.pairs.map((p) => ({ system: p.system, code: p.code })), ...r.systems.map((s) => ({ system: s, code: null }))];
  // no code at all: `:in` matches nothing, `:not-in` everything
  return {
    table: 'search_token',
    param: c.code,
    cond: (t) => (values.length ? tokenCondition(b, t, values) : 'false'),
    negate: c.modifier === 'not-in',
  };
}
