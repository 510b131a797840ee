/**
 * A search driven by a string criterion (`Patient?name=gur`) pages in (value, id) order (server/repository/search/
 * execute.ts drivenByValueSql), each resource at its first matching value, so its first page is the first index
 * entries of the prefix however many resources match — instead of every match read and sorted by id. For that:
 * - the value index ends with the id, in byte order (the page order), not INCLUDE (id): one value's entries come
 *   in page order, and a page stops inside a common value ('sharma') without reading the rest of it;
 * - the owner index INCLUDEs the value: "does this resource match at a lower value" is one index-only probe.
 * Built CONCURRENTLY and idempotent, as 20261127000970.
 */
const INDEXES = [
  ['search_string_value', 'search_string', '(resource_type, param, value, id COLLATE "C")'],
  ['search_string_owner', 'search_string', '(id, resource_type, param) INCLUDE (value)'],
];

exports.config = { transaction: false };

exports.up = async (knex) => {
  for (const [name, table, def] of INDEXES) {
    await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS ${name}_next`);
    await knex.raw(`CREATE INDEX CONCURRENTLY ${name}_next ON ${table} USING btree ${def}`);
    await knex.raw(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
    await knex.raw(`ALTER INDEX ${name}_next RENAME TO ${name}`);
  }
};

exports.down = async () => {
  throw new Error('migrations are forward-only');
};
