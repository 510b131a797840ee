/** The grammar of what names a resource version in the storage API: resource types, ids and version tags. */
import { isResourceType } from '../fhir/definitions';
import { badRequest, notFound } from '../fhir/outcome';

const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

export function assertResourceType(type: string): void {
  if (!isResourceType(type)) throw notFound(`Unknown resource type '${type}'`);
}

export function assertId(id: string): void {
  if (!ID_PATTERN.test(id)) throw badRequest(`Invalid resource id '${id}': ids are 1-64 of [A-Za-z0-9-.]`);
}

/** A version precondition: `If-Match: W/"3"` → 3. */
export function parseVersionTag(tag: string): number {
  const m = /^(?:W\/)?"?(\d+)"?$/.exec(tag.trim());
  if (!m) throw badRequest(`Malformed ETag '${tag}': expected W/"<versionId>"`);
  return Number(m[1]);
}
