/** Reference criteria (search.html#reference): conditions on search_reference rows. */
import type { Criterion, ReferenceValue } from '../../../fhir/search/criteria';
import { equalsAny, type IndexCondition, type SqlBuilder } from './sql';

function referenceCondition(b: SqlBuilder, t: string, values: ReferenceValue[]): string {
  const byType = new Map<string, string[]>();
  const anyType: string[] = [];
  const urls: string[] = [];
  for (const v of values) {
    if (v.url !== undefined) urls.push(v.url);
    else if (v.type) {
      if (!byType.has(v.type)) byType.set(v.type, []);
      byType.get(v.type)!.push(v.id!);
    } else anyType.push(v.id!);
  }
  const ors: string[] = [];
  for (const [type, ids] of byType) ors.push(`(${equalsAny(b, `${t}.target_id`, ids)} AND ${t}.target_type = ${b.p(type)})`);
  if (anyType.length) ors.push(equalsAny(b, `${t}.target_id`, anyType));
  if (urls.length) ors.push(`(${t}.url = ANY(${b.p(urls, 'text[]')}) AND ${t}.url IS NOT NULL)`);
  return `(${ors.join(' OR ')})`;
}

export function referenceIndex(b: SqlBuilder, c: Criterion & { kind: 'reference' }): IndexCondition {
  return { table: 'search_reference', param: c.code, cond: (t) => referenceCondition(b, t, c.values) };
}
