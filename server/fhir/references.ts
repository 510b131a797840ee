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

/** Every string `reference` property of an object, anywhere in the tree (Reference.reference). Runs on every
 * write, so the location of a reference is only spelled out for the references found, not for every node. */
export function collectReferences(resource: JsonValue, baseUrl?: string): { local: LocalReference[]; all: { path: string; reference: string }[] } {
  const local: LocalReference[] = [];
  const all: { path: string; reference: string }[] = [];
  const root = isJsonObject(resource) && typeof resource.resourceType === 'string' ? resource.resourceType : 'Resource';
  const steps: (string | number)[] = [];
  const pathHere = (): string => {
    let out = root;
    for (const s of steps) out += typeof s === 'number' ? `[${s}]` : `.${s}`;
    return `${out}.reference`;
  };
  const walk = (node: JsonValue): void => {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const item = node[i];
        if (typeof item !== 'object' || item === null) continue;
        steps.push(i);
        walk(item);
        steps.pop();
      }
      return;
    }
    if (!isJsonObject(node)) return;
    for (const key in node) {
      const value = node[key];
      if (key === 'reference' && typeof value === 'string') {
        const path = pathHere();
        all.push({ path, reference: value });
        const parsed = parseRelativeReference(value, baseUrl);
        if (parsed) local.push({ path, ...parsed });
      } else if (typeof value === 'object' && value !== null) {
        steps.push(key);
        walk(value);
        steps.pop();
      }
    }
  };
  walk(resource);
  return { local, all };
}
