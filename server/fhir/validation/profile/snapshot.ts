/**
 * Snapshot generation (https://hl7.org/fhir/R4/profiling.html#snapshot): a profile's full element list, made from
 * the base R4 definitions the server already holds (definitions.ts) — or the snapshot of the loaded profile it
 * derives from — with the differential merged in. Elements the differential constrains below a complex data type
 * (`Patient.identifier.system`) unfold that type's elements; slices follow the element they slice, each with its
 * own subtree. The distilled R4 model keeps cardinality, types, target profiles, constraints, required bindings
 * and the summary/modifier flags of each element: those are what a generated snapshot carries besides the
 * differential's own properties (no short/definition texts of the base).
 */
import { r4Model, type ElementDef } from '../../definitions';
import type { Definition } from '../../terminology/expand';
import type { CompiledProfile, ProfileElement } from './compile';

interface BaseNode {
  def: ElementDef;
  /** The element's last path segment (`value[x]`). */
  name: string;
  children: BaseNode[];
}

const trees = new Map<string, BaseNode>();

/** The base definition of a type as a tree (cached). */
function baseTree(type: string): BaseNode | undefined {
  const hit = trees.get(type);
  if (hit) return hit;
  const t = r4Model().types[type];
  if (!t) return undefined;
  const byPath = new Map<string, BaseNode>();
  let root: BaseNode | undefined;
  for (const def of t.elements) {
    const node: BaseNode = { def, name: def.path.slice(def.path.lastIndexOf('.') + 1), children: [] };
    byPath.set(def.path, node);
    const dot = def.path.lastIndexOf('.');
    if (dot < 0) root = node;
    else byPath.get(def.path.slice(0, dot))?.children.push(node);
  }
  if (root) trees.set(type, root);
  return root;
}

const COMPLEX_SKIP = new Set(['BackboneElement', 'Element', 'Resource', 'Extension']);

function matchesName(baseName: string, profileName: string): boolean {
  if (baseName === profileName) return true;
  return baseName.endsWith('[x]') && profileName.startsWith(baseName.slice(0, -3)) && /[A-Z]/.test(profileName[baseName.length - 3] ?? '');
}

function maxText(max: number): string {
  return max === Infinity ? '*' : String(max);
}

class SnapshotWriter {
  readonly elements: Definition[] = [];

  emit(base: BaseNode, node: ProfileElement | undefined, id: string, path: string, depth: number): void {
    this.elements.push(this.merge(base.def, node, id, path));
    let kids = base.children;
    // The differential constrains inside a data type the base does not unfold here: unfold that type.
    if (!kids.length && node?.children.length && depth < 12) {
      const types = node.types ?? base.def.types;
      const only = types.length === 1 ? types[0].code : undefined;
      const tree = only && !COMPLEX_SKIP.has(only) ? baseTree(only) : undefined;
      if (tree) kids = tree.children;
      else if (only === 'Extension') kids = baseTree('Extension')?.children ?? [];
    }
    for (const kid of kids) {
      const childNodes = node?.children.filter((c) => matchesName(kid.name, c.name)) ?? [];
      const name = childNodes.length === 1 && childNodes[0].name !== kid.name ? childNodes[0].name : kid.name;
      this.emit(kid, childNodes[0], `${id}.${name}`, `${path}.${kid.name}`, depth + 1);
    }
    for (const slice of node?.slices ?? []) this.emit(base, slice, `${id}:${slice.sliceName}`, path, depth + 1);
  }

  private merge(def: ElementDef, node: ProfileElement | undefined, id: string, path: string): Definition {
    const out: Definition = { ...(node?.source ?? {}), id, path };
    if (node?.sliceName) out.sliceName = node.sliceName;
    out.min = node?.min ?? def.min;
    out.max = node?.max !== undefined ? maxText(node.max) : maxText(def.max);
    out.base = { path: def.path, min: def.min, max: maxText(def.max) };
    if (!node?.types) {
      const types = def.types
        .filter((t) => !t.code.startsWith('System.'))
        .map((t) => ({ code: t.code, ...(t.targetProfiles ? { targetProfile: t.targetProfiles } : {}) }));
      if (types.length) out.type = types;
    }
    if (def.contentReference) out.contentReference = `#${def.contentReference}`;
    const constraints = [...def.constraints.map((c) => ({ ...c, source: 'http://hl7.org/fhir/StructureDefinition/' })), ...(node?.constraints ?? [])];
    if (constraints.length) {
      out.constraint = constraints.map((c) => ({ key: c.key, severity: c.severity, human: c.human, expression: c.expression }));
    }
    if (!out.binding && def.requiredValueSet) out.binding = { strength: 'required', valueSet: def.requiredValueSet };
    if (def.summary) out.isSummary = true;
    if (def.modifier) out.isModifier = true;
    return out;
  }
}

/**
 * The profile's StructureDefinition with a generated snapshot. `base` is the snapshot of the loaded profile it
 * derives from (profile on profile), when there is one: its elements then stand in for the R4 ones.
 */
export function withSnapshot(profile: CompiledProfile, base?: Definition): Definition {
  const writer = new SnapshotWriter();
  const tree = baseTree(profile.type);
  if (tree) writer.emit(tree, profile.root, profile.type, profile.type, 0);
  let elements = writer.elements;
  if (base?.snapshot?.element) {
    // Profile on profile: the base profile's snapshot with this differential laid over it by element id; elements
    // the base does not have (new slices, deeper paths) come from the generated list.
    const diff = new Map<string, Definition>(
      ((profile.definition.differential?.element ?? []) as Definition[]).map((d) => [String(d.id ?? d.path), d]),
    );
    const baseElements = base.snapshot.element as Definition[];
    const known = new Set(baseElements.map((e) => String(e.id)));
    const merged = baseElements.map((e) => {
      const d = diff.get(String(e.id));
      if (!d) return e;
      const constraint = [...(e.constraint ?? []), ...(d.constraint ?? [])];
      return { ...e, ...d, ...(constraint.length ? { constraint } : {}) };
    });
    elements = [...merged, ...elements.filter((e) => !known.has(String(e.id)))];
  }
  return { ...profile.definition, snapshot: { element: elements } };
}
