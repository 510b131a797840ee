/**
 * Rules that apply to every resource, implemented natively because they would otherwise run as FHIRPath on every
 * write: the DomainResource invariants dom-2..dom-6 on contained resources and narrative, and ref-1 (a local
 * `#id` reference points to a contained resource), plus the meta.profile check.
 * https://hl7.org/fhir/R4/domainresource.html#invs, https://hl7.org/fhir/R4/references.html#contained
 */
import type { ValidationContext, ResourceFrame } from './context';
import type { NodeDef } from './schema';
import { checkProfiles } from './profiles';

type JsonObj = Record<string, unknown>;

function isObject(v: unknown): v is JsonObj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Enters a resource at the current key path. */
export function startResource(ctx: ValidationContext, type: string, contained: boolean): ResourceFrame {
  const parent = ctx.frame;
  // `root` refers to the frame itself unless the resource is contained: set right below.
  const frame = {
    type,
    keyPath: ctx.keys.slice(),
    location: ctx.location(),
    contained,
    localRefs: new Set<string>(),
    pendingLocalRefs: [],
    containedResources: [],
    refersToContainer: false,
    parent,
  } as Omit<ResourceFrame, 'root'> as ResourceFrame;
  frame.root = contained && parent ? parent.root : frame;
  ctx.frame = frame;
  return frame;
}

/** Leaves a resource after its content was walked: resource-level rules and its FHIRPath invariants. */
export function finishResource(ctx: ValidationContext, frame: ResourceFrame, node: NodeDef, resource: JsonObj): void {
  const meta = isObject(resource.meta) ? resource.meta : undefined;
  if (frame.contained) {
    if (resource.contained !== undefined) {
      ctx.error('invariant', 'dom-2: A contained resource SHALL NOT contain nested resources', `${frame.location}.contained`);
    }
    if (meta && (meta.versionId !== undefined || meta.lastUpdated !== undefined)) {
      ctx.error('invariant', 'dom-4: A contained resource SHALL NOT have a meta.versionId or a meta.lastUpdated', `${frame.location}.meta`);
    }
    if (meta?.security !== undefined) {
      ctx.error('invariant', 'dom-5: A contained resource SHALL NOT have a security label', `${frame.location}.meta.security`);
    }
    frame.root.containedResources.push({ id: typeof resource.id === 'string' ? resource.id : undefined, frame });
  } else if (node.isDomainResource && !(isObject(resource.text) && resource.text.div !== undefined)) {
    // Contained resources are exempt: their container's narrative covers them.
    ctx.report('warning', 'invariant', 'dom-6: A resource should have narrative for robust management (text.div)', frame.location);
  }
  if (meta) checkProfiles(ctx, meta, `${frame.location}.meta`);
  if (node.invariants.length) {
    ctx.sites.push({ invariants: node.invariants, base: frame.type, keyPath: frame.keyPath, frame });
  }
  if (!frame.contained) checkLocalReferences(ctx, frame);
  ctx.frame = frame.parent;
}

/** dom-3 and ref-1, once the whole resource (including its contained resources) has been walked. */
function checkLocalReferences(ctx: ValidationContext, frame: ResourceFrame): void {
  const ids = new Set<string>();
  for (const c of frame.containedResources) {
    if (c.id === undefined) continue;
    ids.add(c.id);
    if (!frame.localRefs.has(c.id) && !c.frame.refersToContainer) {
      ctx.error(
        'invariant',
        `dom-3: The contained resource '${c.id}' SHALL be referred to from elsewhere in the resource or SHALL refer to the containing resource`,
        c.frame.location,
      );
    }
  }
  for (const ref of frame.pendingLocalRefs) {
    if (!ids.has(ref.id)) {
      ctx.error(
        'invariant',
        `ref-1: SHALL have a contained resource if a local reference is provided (no contained resource has id '${ref.id}')`,
        ref.location,
      );
    }
  }
}
