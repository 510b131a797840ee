/** Uri criteria (search.html#uri): exact, `:above` and `:below` on search_uri rows. */
import type { Criterion } from '../../../fhir/search/criteria';
import { equalsAny, MAX_CHAR, type IndexCondition, type SqlBuilder } from './sql';

/** `http://a/b/c` → the URLs it is below: `http://a/b/c`, `http://a/b`, `http://a` (uri :above). */
function urlPrefixes(url: string): string[] {
  const out: string[] = [];
  let u = url.replace(/\/+$/, '');
  while (u.length > 0) {
    out.push(u);
    const slash = u.lastIndexOf('/');
    if (slash <= 0 || u[slash - 1] === '/') break;
    u = u.slice(0, slash);
  }
  return out;
}

export function uriIndex(b: SqlBuilder, c: Criterion & { kind: 'uri' }): IndexCondition {
  return {
    table: 'search_uri',
    param: c.code,
    cond: (t) => {
      if (c.mode === 'exact') return equalsAny(b, `${t}.value`, c.values);
      if (c.mode === 'above') return `${t}.value = ANY(${b.p(c.values.flatMap(urlPrefixes), 'text[]')})`;
      return `(${c.values.map((v) => `(${t}.value >= ${b.p(v)} AND ${t}.value < ${b.p(v + MAX_CHAR)})`).join(' OR ')})`;
    },
  };
}
