/**
 * The validator's compiled view of the R4 StructureDefinitions: for every object that can appear in a resource
 * (a resource root, a complex datatype, a BackboneElement) a `NodeDef` mapping each allowed JSON property to what
 * it must hold. Built lazily, once per type or backbone path, from the snapshot elements in definitions.ts, and then
 * shared by every validation. https://hl7.org/fhir/R4/elementdefinition.html, https://hl7.org/fhir/R4/json.html
 *
 * JSON naming (json.html): a choice element `value[x]` becomes one property per allowed type (`valueQuantity`);
 * a primitive element `x` may have a companion `_x` carrying its id/extensions. `Element.id` and `Extension.url`
 * are XML attributes, so they are plain JSON strings without a companion; so is Narrative.div.
 */
import { r4Model, type Constraint, type ElementDef, type TypeDef } from '../definitions';
import { primitiveType, type PrimitiveType } from './primitives';

/** Constraints the validator checks in TypeScript (structure.ts, resource-rules.ts, xhtml.ts), not with FHIRPath. */
export const NATIVE_INVARIANTS: ReadonlySet<string> = new Set([
  'ele-1', // every element has a value or children: checked on every object and primitive
  'ext-1', // an extension has a value or sub-extensions, not both
  'txt-1', // narrative XHTML: allowed elements/attributes (xhtml.ts)
  'txt-2', // narrative XHTML: non-whitespace content (xhtml.ts)
  'dom-2', // contained resources do not nest
  'dom-3', // contained resources are referenced
  'dom-4', // contained resources have no meta.versionId/lastUpdated
  'dom-5', // contained resources have no security labels
  'dom-6', // a resource should have narrative (warning)
  'ref-1', // a local reference points to a contained resource
]);

export type ChildKind = 'primitive' | 'complex' | 'resource';

/** One allowed JSON property of an object. */
export interface ChildDef {
  /** The JSON property name (for choice elements, the typed name, e.g. `valueQuantity`). */
  key: string;
  element: ElementDef;
  /** The FHIR type of this property's values. */
  type: string;
  kind: ChildKind;
  array: boolean;
  primitive?: PrimitiveType;
  /** An XML attribute (Element.id, Extension.url): a plain JSON value, no `_key` companion. */
  attribute: boolean;
  /** For complex kinds: the definition path of the object(s) this property holds; see childNode(). */
  nodePath?: string;
  node?: NodeDef;
  requiredCodes?: ReadonlySet<string>;
  /** A value that may be a local (`#id`) reference to a contained resource (dom-3 bookkeeping). */
  localRef: boolean;
  /** Invariants to evaluate with FHIRPath on each value of this property. */
  invariants: Constraint[];
  /** Where FHIRPath should consider these values to be (a type name or a backbone element path). */
  fhirpathBase: string;
  /** For choice elements: the group of alternative properties this one belongs to. */
  choice?: ChoiceGroup;
}

export interface ChoiceGroup {
  /** `value[x]` */
  name: string;
  keys: string[];
}

export interface RequiredElement {
  name: string;
  min: number;
  /** Present if any of these JSON properties is (typed choice names and `_` companions included). */
  keys: string[];
}

/** Invariants on a primitive property, evaluated at the object holding it (see addElement). */
export interface PropertyInvariants {
  name: string;
  keys: string[];
  invariants: Constraint[];
}

export interface NodeDef {
  /** Definition path: a type name (`HumanName`, `Patient`) or a backbone path (`Patient.contact`). */
  path: string;
  children: Map<string, ChildDef>;
  required: RequiredElement[];
  choices: ChoiceGroup[];
  isExtension: boolean;
  isResource: boolean;
  /** For resource roots: the constraints evaluated with FHIRPath on the resource itself. */
  invariants: Constraint[];
  propertyInvariants: PropertyInvariants[];
  /** For resource roots: the native dom-* constraints apply (DomainResource). */
  isDomainResource: boolean;
}

const nodes = new Map<string, NodeDef>();
/** Per type: parent path → its direct child elements (snapshot order). */
const childIndex = new Map<string, Map<string, ElementDef[]>>();

function indexOf(type: TypeDef): Map<string, ElementDef[]> {
  let idx = childIndex.get(type.name);
  if (idx) return idx;
  idx = new Map();
  for (const e of type.elements.slice(1)) {
    const parent = e.path.slice(0, e.path.lastIndexOf('.'));
    let list = idx.get(parent);
    if (!list) idx.set(parent, (list = []));
    list.push(e);
  }
  childIndex.set(type.name, idx);
  return idx;
}

function typeOf(name: string): TypeDef {
  const t = r4Model().types[name];
  if (!t) throw new Error(`Unknown FHIR type ${name}`);
  return t;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** FHIRPath-evaluated invariants for values of an element: its own constraints plus its type's, minus natives. */
function invariantsFor(element: ElementDef, typeRoot: ElementDef | undefined, referenced?: ElementDef): Constraint[] {
  const out = new Map<string, Constraint>();
  for (const list of [element.constraints, referenced?.constraints, typeRoot?.constraints]) {
    for (const c of list ?? []) if (!NATIVE_INVARIANTS.has(c.key) && !out.has(c.key)) out.set(c.key, c);
  }
  return [...out.values()];
}

/** The definition of the object at `path` (a type name or a backbone element path); cached. */
export function nodeDef(path: string): NodeDef {
  const cached = nodes.get(path);
  if (cached) return cached;
  const typeName = path.split('.')[0];
  const type = typeOf(typeName);
  const isRoot = path === typeName;
  const node: NodeDef = {
    path,
    children: new Map(),
    required: [],
    choices: [],
    isExtension: path === 'Extension',
    isResource: isRoot && type.kind === 'resource',
    invariants: [],
    propertyInvariants: [],
    isDomainResource: false,
  };
  // Registered before the children are built, so recursive structures (Extension.extension) terminate.
  nodes.set(path, node);
  if (node.isResource) {
    node.invariants = invariantsFor(type.elements[0], undefined);
    node.isDomainResource = type.elements[0].constraints.some((c) => c.key === 'dom-6');
  }
  for (const element of indexOf(type).get(path) ?? []) addElement(node, type, element);
  return node;
}

function addElement(node: NodeDef, type: TypeDef, element: ElementDef): void {
  const name = element.path.slice(element.path.lastIndexOf('.') + 1);
  const isChoice = name.endsWith('[x]');
  const base = isChoice ? name.slice(0, -3) : name;
  const keys: string[] = [];
  let choice: ChoiceGroup | undefined;
  if (isChoice) {
    choice = { name, keys };
    node.choices.push(choice);
  }

  // contentReference (`#Questionnaire.item`): the same definition as the referenced element, recursively.
  const referenced = element.contentReference ? type.elements.find((e) => e.path === element.contentReference) : undefined;
  const typeCodes = referenced ? [] : element.types.map((t) => t.code);

  const make = (key: string, fhirType: string): ChildDef => {
    // Narrative.div is XHTML in a plain JSON string; xhtml allows no extensions (xhtml.extension is 0..0).
    const attribute = (name === 'id' && !node.isResource) || (node.isExtension && name === 'url') || fhirType === 'xhtml';
    // Resource.id is declared as a FHIRPath System.String in the R4 snapshots; resource.html gives its type: id.
    const effectiveType = name === 'id' && node.isResource ? 'id' : fhirType;
    const primitive = primitiveType(effectiveType);
    const kind: ChildKind = primitive ? 'primitive' : effectiveType === 'Resource' ? 'resource' : 'complex';
    // Objects of a complex type are described by that type, backbone objects by their own element path.
    let nodePath: string | undefined;
    if (referenced) nodePath = referenced.path;
    else if (effectiveType === 'BackboneElement' || effectiveType === 'Element') nodePath = element.path;
    else if (kind === 'complex') nodePath = effectiveType;
    const typeRoot = kind === 'complex' && nodePath === effectiveType ? r4Model().types[effectiveType].elements[0] : undefined;
    const child: ChildDef = {
      key,
      element,
      type: effectiveType,
      kind,
      array: element.array,
      primitive,
      attribute,
      nodePath,
      localRef: effectiveType === 'uri' || effectiveType === 'url' || effectiveType === 'canonical' || element.path === 'Reference.reference',
      invariants: invariantsFor(element, typeRoot, referenced),
      fhirpathBase: nodePath ?? effectiveType,
      choice,
    };
    if (element.requiredCodes && effectiveType === 'code') child.requiredCodes = new Set(element.requiredCodes);
    if (primitive && child.invariants.length) {
      // A primitive is evaluated from its parent, as `name.all(…)`: fhirpath.js cannot start an evaluation at a
      // bare decimal (and the `_name` companion belongs to the same FHIRPath element anyway).
      const select = isChoice ? `${base}.ofType(${effectiveType})` : base;
      node.propertyInvariants.push({
        name: base,
        keys: [key, `_${key}`],
        invariants: child.invariants.map((c) => ({ ...c, expression: `${select}.all(${c.expression})` })),
      });
      child.invariants = [];
    }
    return child;
  };

  if (referenced) {
    keys.push(base);
    node.children.set(base, make(base, 'BackboneElement'));
  } else if (isChoice) {
    for (const code of typeCodes) {
      const key = base + capitalize(code);
      keys.push(key);
      node.children.set(key, make(key, code));
    }
  } else {
    keys.push(base);
    node.children.set(base, make(base, typeCodes[0]));
  }

  if (element.min > 0) {
    const all = [...keys];
    for (const k of keys) if (node.children.get(k)?.kind === 'primitive') all.push(`_${k}`);
    node.required.push({ name, min: element.min, keys: all });
  }
}

/** The definition of the objects a complex property holds, resolved on first use (building every reachable type
 * eagerly would build the whole model). */
export function childNode(child: ChildDef): NodeDef {
  return (child.node ??= nodeDef(child.nodePath as string));
}
