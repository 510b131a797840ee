/**
 * The SQL of a resource write. One statement writes a version everywhere it lives — the current row, the history
 * row, the extracted search values and the reference links — so a create without references is a single
 * round trip, and every write is atomic by construction.
 *
 * lastUpdated comes from the database clock inside the writing statement (truncated to milliseconds, as FHIR
 * instants are usually read), never from the application: history's commit horizon (history.ts) relies on every
 * version's lastUpdated being no earlier than the start of the transaction that wrote it.
 */
import type { TokenValue } from '../fhir/search/extract';
import type { LocalReference } from '../fhir/references';

export const INSTANT_SQL = (col: string): string => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export type WriteMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface VersionWrite {
  resourceType: string;
  id: string;
  versionId: number;
  method: WriteMethod;
  /** Resource JSON text without server meta (set here); undefined for a deletion. */
  content?: string;
  tokens: TokenValue[];
  links: LocalReference[];
  /** true: no row exists yet for (id, type); false: the row exists (update, re-create after delete, delete). */
  insert: boolean;
}

/** A written version as the database stored it. */
export interface WrittenVersion {
  lastUpdated: string;
  content: string | null;
}

const WITH_CONTENT = `
  ts AS (SELECT date_trunc('milliseconds', clock_timestamp()) AS t),
  c AS (
    SELECT t,
      CASE WHEN $3::text IS NULL THEN NULL ELSE jsonb_set($3::text::jsonb, '{meta}',
        coalesce($3::text::jsonb -> 'meta', '{}'::jsonb)
        || jsonb_build_object('versionId', $4::int::text, 'lastUpdated', ${INSTANT_SQL('t')})) END AS content
    FROM ts
  )`;

const SIDE_TABLES = `
  h AS (
    INSERT INTO resource_history (id, resource_type, version_id, last_updated, deleted, method, content)
    SELECT $2, $1, $4::int, t, $3::text IS NULL, $5, content FROM c
  ),
  tk AS (
    INSERT INTO search_token (id, resource_type, param, system, code)
    SELECT $2, $1, p, s, v FROM unnest($6::text[], $7::text[], $8::text[]) AS x(p, s, v)
  ),
  ln AS (
    INSERT INTO resource_link (id, resource_type, target_type, target_id)
    SELECT DISTINCT $2, $1, tt, ti FROM unnest($9::text[], $10::text[]) AS y(tt, ti)
  )
  SELECT ${INSTANT_SQL('t')} AS last_updated, content::text AS content FROM c`;

const INSERT_SQL = `WITH ${WITH_CONTENT},
  r AS (
    INSERT INTO resource (id, resource_type, version_id, last_updated, deleted, content)
    SELECT $2, $1, $4::int, t, false, content FROM c
  ),
  ${SIDE_TABLES}`;

const UPDATE_SQL = `WITH ${WITH_CONTENT},
  r AS (
    UPDATE resource SET version_id = $4::int, last_updated = c.t, deleted = $3::text IS NULL, content = c.content
    FROM c WHERE resource.id = $2 AND resource.resource_type = $1
  ),
  dt AS (DELETE FROM search_token WHERE id = $2 AND resource_type = $1),
  dl AS (DELETE FROM resource_link WHERE id = $2 AND resource_type = $1),
  ${SIDE_TABLES}`;

export function versionWriteStatement(w: VersionWrite): { text: string; values: unknown[] } {
  const refs = w.links.filter((l) => !(l.targetType === w.resourceType && l.targetId === w.id));
  return {
    text: w.insert ? INSERT_SQL : UPDATE_SQL,
    values: [
      w.resourceType,
      w.id,
      w.content ?? null,
      w.versionId,
      w.method,
      w.tokens.map((t) => t.param),
      w.tokens.map((t) => t.system),
      w.tokens.map((t) => t.code),
      refs.map((l) => l.targetType),
      refs.map((l) => l.targetId),
    ],
  };
}
