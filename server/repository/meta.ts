/**
 * The profiles, tags and security labels in use (https://hl7.org/fhir/R4/resource-operation-meta.html at system
 * and type level), read from the search index rows of `_profile`, `_tag` and `_security` that every current
 * version has: index-only probes per resource type, never a scan of resource bodies. Codings come back as
 * system + code (the index keeps no display).
 */
import type { Pool, PoolClient } from '../database/pool';
import type { JsonObject } from '../fhir/json';

/** A Meta with only profile, tag and security — what is in use, without versionId or lastUpdated. */
export async function metaInUse(client: Pool | PoolClient, resourceTypes: string[]): Promise<JsonObject> {
  // `resource_type = t` excludes contained resources' rows ('<type>#…'): they are not the resources in use.
  const { rows } = await client.query<{ kind: string; system: string | null; code: string }>(
    `SELECT DISTINCT 'profile' AS kind, NULL AS system, u.value AS code
       FROM unnest($1::text[]) AS t(rt) CROSS JOIN LATERAL
            (SELECT DISTINCT value FROM search_uri WHERE resource_type = t.rt AND param = '_profile') u
     UNION
     SELECT DISTINCT k.param, k.system, k.code
       FROM unnest($1::text[]) AS t(rt) CROSS JOIN LATERAL
            (SELECT DISTINCT param, system, code FROM search_token
              WHERE resource_type = t.rt AND param IN ('_tag', '_security') AND code IS NOT NULL) k
     ORDER BY 1, 2, 3`,
    [resourceTypes],
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
