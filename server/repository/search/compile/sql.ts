/** The shared pieces of compiled SQL (search, history, `$everything`, export): bind parameters, aliases, index-row conditions. */
import crypto from 'node:crypto';
import type { QueryConfig } from 'pg';

export interface SqlFragment {
  sql: string;
  params: unknown[];
}

/**
 * A statement whose plan does not depend on its values (equality-only searches — identifier, reference, chains of
 * those, includes — and reads by id) as a named prepared statement: PostgreSQL parses and plans its text once per
 * connection instead of on every request (a range or prefix search, whose best plan depends on the values, is
 * planned every time and does not come here). The number of distinct prepared texts is capped, since each stays on
 * every connection of the pool; past the cap a text runs unnamed.
 */
const MAX_PREPARED = 500;
/** Prepared statement names by text (a digest of the text, computed once per text). */
const prepared = new Map<string, string>();

export function preparedStatement(sql: string, params: unknown[]): QueryConfig {
  let name = prepared.get(sql);
  if (name === undefined) {
    if (prepared.size >= MAX_PREPARED) return { text: sql, values: params };
    name = `arogya_${crypto.createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
    prepared.set(sql, name);
  }
  return { name, text: sql, values: params };
}

/** Collects bind parameters and hands out unique table aliases. */
export class SqlBuilder {
  readonly params: unknown[];
  private n = 0;
  constructor(params: unknown[] = []) {
    this.params = params;
  }
  p(v: unknown, cast?: string): string {
    this.params.push(v);
    return cast ? `$${this.params.length}::${cast}` : `$${this.params.length}`;
  }
  alias(prefix: string): string {
    return `${prefix}${++this.n}`;
  }
}

/** Upper bound of a prefix range in byte order (COLLATE "C" columns). */
export const MAX_CHAR = '\u{10FFFF}';

/** An index row `t` belongs to the resource `alias` (the same id and type). */
export function ownedBy(t: string, alias: string): string {
  return `${t}.id = ${alias}.id AND ${t}.resource_type = ${alias}.resource_type`;
}

/**
 * `col` equal to one of `values`. A single value is a plain equality: a GiST index (search_code_date) can use `=`,
 * never `= ANY(…)`, and a b-tree returns the entries of one value in its next key column's order (the id: a page
 * is then read in order, migration 20261127000970), which PostgreSQL 15 does not do for `= ANY(…)`.
 */
export function equalsAny(b: SqlBuilder, col: string, values: Iterable<string>): string {
  const list = [...new Set(values)];
  return list.length === 1 ? `${col} = ${b.p(list[0], 'text')}` : `${col} = ANY(${b.p(list, 'text[]')})`;
}

/** A criterion that is a condition on the rows of one index table (negated: the resource has no such row). */
export interface IndexCondition {
  table: string;
  param: string;
  cond: (t: string) => string;
  negate?: boolean;
}
