/**
 * The links inside a resource that a transaction rewrites (https://hl7.org/fhir/R4/http.html#trules: "Servers SHALL
 * replace all matching links in the bundle, whether they are found in the resource ids, resource references,
 * elements of type uri, url, oid, uuid, and <a href="" & <img src="" in the narrative").
 *
 * The walk is typed, driven by the validator's compiled R4 model (validation/schema.ts), because the type decides:
 * a `DocumentReference.identifier.value` equal to an entry's `urn:uuid:` fullUrl is a string (a business
 * identifier) and must stay as written, while `Attachment.url` (type url) with the same text is a link. It reaches
 * references inside extensions, primitive extensions (`_birthDate.extension`) and contained resources.
 *
 * Rewriting is copy-on-write: only objects along a changed path are copied, so the input is never modified (a
 * transaction that is retried or re-planned starts again from the bundle as received).
 */
import { isJsonObject, type JsonObject, type JsonValue } from './json';
import { childNode, nodeDef, type ChildDef, type NodeDef } from './validation/schema';

/** What kind of link a value is: a Reference.reference, a uri-like primitive, or a narrative href/src. */
export type LinkKind = 'reference' | 'uri' | 'narrative';

/**
 * Called for every link: returns the replacement, or undefined to keep the value. `path` builds the FHIRPath-ish
 * location (e.g. `Claim.item[0].encounter[0].reference`) on demand.
 */
export type LinkVisitor = (value: string, kind: LinkKind, path: () => string) => string | undefined;

const URI_TYPES = new Set(['uri', 'url', 'canonical', 'oid', 'uuid']);
/** `href="…"`/`src="…"` (either quote) in narrative XHTML. */
const NARRATIVE_LINK = /(\s(?:href|src)\s*=\s*)(?:"([^"]*)"|'([^']*)')/g;

type Path = (string | number)[];

function formatPath(root: string, path: Path): string {
  let out = root;
  for (const step of path) out += typeof step === 'number' ? `[${step}]` : `.${step}`;
  return out;
}

function resourceNode(value: JsonValue): NodeDef | undefined {
  if (!isJsonObject(value) || typeof value.resourceType !== 'string') return undefined;
  try {
    return nodeDef(value.resourceType);
  } catch {
    return undefined; // not a resource type: validation reports it
  }
}

/** What a property can hold, as far as links go (cached per property definition). */
enum Holds {
  Nothing,
  Reference,
  Uri,
  Narrative,
  Complex,
  Resource,
  /** a primitive's `_x` companion: an Element (id, extensions) */
  Element,
}

const holdsCache = new WeakMap<ChildDef, Holds>();

function holds(child: ChildDef): Holds {
  let h = holdsCache.get(child);
  if (h === undefined) {
    if (child.element.path === 'Reference.reference') h = Holds.Reference;
    else if (child.kind === 'resource') h = Holds.Resource;
    else if (child.kind === 'complex') h = Holds.Complex;
    else if (URI_TYPES.has(child.type)) h = Holds.Uri;
    else if (child.type === 'xhtml') h = Holds.Narrative;
    else h = Holds.Nothing;
    holdsCache.set(child, h);
  }
  return h;
}

let elementNode: NodeDef | undefined;

class Walker {
  constructor(
    private readonly root: string,
    private readonly visit: LinkVisitor,
  ) {}

  private readonly path: Path = [];

  private pathFn = (): string => formatPath(this.root, this.path);

  /** Rewrites an object described by `node`; returns it unchanged (same reference) when nothing changed. */
  object(obj: JsonObject, node: NodeDef): JsonObject {
    let out: JsonObject | undefined;
    for (const key in obj) {
      const value = obj[key];
      if (value === null || (typeof value !== 'object' && typeof value !== 'string')) continue;
      let what: Holds;
      let child: ChildDef | undefined;
      if (key.charCodeAt(0) === 95 /* _ */) {
        if (typeof value !== 'object') continue;
        what = Holds.Element;
      } else {
        child = node.children.get(key);
        if (!child) continue;
        what = holds(child);
        if (what === Holds.Nothing) continue;
      }
      this.path.push(key);
      const next = Array.isArray(value) ? this.items(value, what, child) : this.value(value, what, child);
      this.path.pop();
      if (next !== value) {
        // The spread copy already has `key` as an own data property, so assignment (which keeps the object's shape,
        // unlike defineProperty) cannot reach a prototype setter, `__proto__` included.
        out ??= { ...obj };
        out[key] = next;
      }
    }
    return out ?? obj;
  }

  /** Each item of an array (copying the array only when an item changed). */
  private items(list: JsonValue[], what: Holds, child: ChildDef | undefined): JsonValue[] {
    let out: JsonValue[] | undefined;
    for (let i = 0; i < list.length; i++) {
      this.path.push(i);
      const next = this.value(list[i], what, child);
      this.path.pop();
      if (next !== list[i]) {
        out ??= [...list];
        out[i] = next;
      }
    }
    return out ?? list;
  }

  private value(v: JsonValue, what: Holds, child: ChildDef | undefined): JsonValue {
    switch (what) {
      case Holds.Reference:
        return typeof v === 'string' ? (this.visit(v, 'reference', this.pathFn) ?? v) : v;
      case Holds.Uri:
        return typeof v === 'string' ? (this.visit(v, 'uri', this.pathFn) ?? v) : v;
      case Holds.Narrative:
        return typeof v === 'string' ? this.narrative(v) : v;
      case Holds.Complex:
        return isJsonObject(v) ? this.object(v, childNode(child!)) : v;
      case Holds.Resource: {
        const node = resourceNode(v);
        return node ? this.object(v as JsonObject, node) : v;
      }
      case Holds.Element:
        return isJsonObject(v) ? this.object(v, (elementNode ??= nodeDef('Element'))) : v;
      default:
        return v;
    }
  }

  private narrative(div: string): string {
    if (!div.includes('href') && !div.includes('src')) return div;
    return div.replace(NARRATIVE_LINK, (all: string, lead: string, dq: string | undefined, sq: string | undefined) => {
      const link = dq ?? sq ?? '';
      const replaced = this.visit(link, 'narrative', this.pathFn);
      if (replaced === undefined) return all;
      const q = dq !== undefined ? '"' : "'";
      return `${lead}${q}${replaced.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')}${q}`;
    });
  }
}

/**
 * Visits every link of a resource (references in extensions and contained resources included) and returns the
 * resource with the replacements the visitor made — the same object when it made none.
 */
export function rewriteLinks(resource: JsonObject, visit: LinkVisitor): JsonObject {
  const node = resourceNode(resource);
  if (!node) return resource;
  return new Walker(String(resource.resourceType), visit).object(resource, node);
}

/** A conditional reference `Type?criteria` (http.html#trules): its type and its query. */
export function parseConditionalReference(reference: string): { type: string; query: string } | undefined {
  const m = /^([A-Z][A-Za-z]+)\?(.+)$/.exec(reference);
  return m ? { type: m[1], query: m[2] } : undefined;
}
