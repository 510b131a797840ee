/**
 * The profiles, tags and security labels in use (https://hl7.org/fhir/R4/resource-operation-meta.html at system
 * and type level), read from the search index rows of `_profile`, `_tag` and `_security` that every current
 * version has: index-only probes per resource type, never a scan of resource bodies. Codings come back as
 * system + code (the index keeps no display).
 */
import type { Pool, PoolClient } from '../database/pool';
import type { JsonObject } from '../fhir/json';
import { visible, type AccessRestriction } from './search/compile/access';
import { SqlBuilder } from './search/compile/sql';

/** A Meta with only profile, tag and security — what is in use, without versionId or lastUpdated. */
export async function metaInUse(client: Pool | PoolClient, resourceTypes: string[], access?: AccessRestriction): Promise<JsonObject> {
  // Only what the caller may search counts as in use (a label of a resource it cannot see says something of it).
  const b = new SqlBuilder([resourceTypes]);
  const seen = (alias: string): string => (access ? ` AND ${visible(b, alias, access)}` : '');
  // `resource_type = t` excludes contained resources' rows ('<type>#…'): they are not the resources in use.
  const { rows } = await client.query<{ kind: string; system: string | null; code: string }>(
    `SELECT DISTINCT 'profile' AS kind, NULL AS system, u.value AS code
       FROM unnest($1::text[]) AS t(rt) CROSS JOIN LATERAL
            (SELECT DISTINCT su.value FROM search_uri su WHERE su.resource_type = t.rt AND su.param = '_profile'${seen('su')}) u
     UNION
     SELECT DISTINCT k.param, k.system, k.code
       FROM unnest($1::text[]) AS t(rt) CROSS JOIN LATERAL
            (SELECT DISTINCT st.param, st.system, st.code FROM search_token st
              WHERE st.resource_type = t.rt AND st.param IN ('_tag', '_security') AND st.code IS NOT NULL${seen('st')}) k
     ORDER BY 1, 2, 3`,
    b.params,
  );
  const coding = (r: { system: string | null; code: string }): JsonObject => (r.system ? { system: r.system, code: r.code } : { code: r.code });
  const meta: JsonObject = {};
  const profile = rows.filter((r) => r.kind === 'profile').map((r) => r.code);
  const tag = rows.filter((r) => r.kind === '_tag').map(coding);
  const security = rows.filter((r) => r.kind === '_security').map(coding);
  if (profile.length) meta.profile = profile;
  if (security.length) meta.security = security;
  if (tag.length) meta.tag = tag;
  return meta;
}
