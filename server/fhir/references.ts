/**
 * References between resources (https://hl7.org/fhir/R4/references.html): finding every `Reference.reference`
 * in a resource (including inside extensions and contained resources) and classifying it.
 */
import { isResourceType } from './definitions';
import { isJsonObject, type JsonValue } from './json';

export interface LocalReference {
  /** FHIRPath-ish location of the reference, for error messages. */
  path: string;
  targetType: string;
  targetId: string;
  /** `Type/id/_history/vid` references carry the version. */
  versionId?: string;
}

const ID = '[A-Za-z0-9\\-\\.]{1,64}';
const RELATIVE = new RegExp(`^([A-Z][A-Za-z]+)/(${ID})(?:/_history/(${ID}))?$`);

/**
 * Parses a relative reference `Type/id[/_history/vid]`; undefined for anything else (absolute URLs, `#contained`,
 * `urn:uuid:` placeholders, conditional references). Absolute URLs pointing at `baseUrl` count as relative.
 */
export function parseRelativeReference(reference: string, baseUrl?: string): Omit<LocalReference, 'path'> | undefined {
  let ref = reference;
  if (baseUrl && ref.startsWith(`${baseUrl}/`)) ref = ref.slice(baseUrl.length + 1);
  const m = RELATIVE.exec(ref);
  if (!m || !isResourceType(m[1])) return undefined;
  return m[3] ? { targetType: m[1], targetId: m[2], versionId: m[3] } : { targetType: m[1], targetId: m[2] };
}

/** Every string `reference` property of an object, anywhere in the tree (Reference.reference). */
export function collectReferences(resource: JsonValue, baseUrl?: string): { local: LocalReference[]; all: { path: string; reference: string }[] } {
  const local: LocalReference[] = [];
  const all: { path: string; reference: string }[] = [];
  const walk = (node: JsonValue, path: string): void => {
    if (Array.isArray(node)) {
      node.forEach((item, i) => walk(item, `${path}[${i}]`));
      return;
    }
    if (!isJsonObject(node)) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'reference' && typeof value === 'string') {
        all.push({ path: `${path}.reference`, reference: value });
        const parsed = parseRelativeReference(value, baseUrl);
        if (parsed) local.push({ path: `${path}.reference`, ...parsed });
      } else if (typeof value === 'object' && value !== null) {
        walk(value, `${path}.${key}`);
      }
    }
  };
  const root = isJsonObject(resource) && typeof resource.resourceType === 'string' ? resource.resourceType : 'Resource';
  walk(resource, root);
  return { local, all };
}
