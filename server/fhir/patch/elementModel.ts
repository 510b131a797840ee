/**
 * The R4 element model as FHIRPath Patch needs it (https://hl7.org/fhir/R4/fhirpatch.html): which elements a
 * type has, which of them repeat, and how a choice element is spelled in JSON for a given type (`deceased[x]`
 * holding a dateTime is `deceasedDateTime`, https://hl7.org/fhir/R4/formats.html#choice).
 * Built on the distilled definitions of server/fhir/definitions.ts.
 */
import { r4Model, type ElementDef, type TypeDef } from '../definitions';
import { isJsonObject, type JsonValue } from '../json';
import type { Location } from './jsonLocation';

/** Where the children of an element are defined: a StructureDefinition and an element path inside it. */
export interface TypeContext {
  type: TypeDef;
  /** `Patient`, `Patient.contact` (an anonymous BackboneElement), `HumanName`, `date` (a primitive's id/extension). */
  path: string;
}

export interface ChildElement {
  def: ElementDef;
  /** The element's name without `[x]`: `deceased`, `name`. */
  name: string;
  /** A choice element (`value[x]`): its JSON key carries the type of its value. */
  choice: boolean;
  /** The type named by a choice element's JSON key (`deceasedBoolean` → `boolean`). */
  keyType?: string;
  /** Where this element is defined (its parent's context). */
  parent: TypeContext;
}

interface TypeIndex {
  byPath: Map<string, ElementDef>;
  /** Paths of elements with children of their own in the same definition (anonymous types). */
  withChildren: Set<string>;
}

const indexes = new WeakMap<TypeDef, TypeIndex>();

function indexOf(type: TypeDef): TypeIndex {
  let index = indexes.get(type);
  if (!index) {
    index = { byPath: new Map(), withChildren: new Set() };
    for (const e of type.elements) {
      index.byPath.set(e.path, e);
      const dot = e.path.lastIndexOf('.');
      if (dot > 0) index.withChildren.add(e.path.slice(0, dot));
    }
    indexes.set(type, index);
  }
  return index;
}

export function typeDef(name: string): TypeDef | undefined {
  return Object.hasOwn(r4Model().types, name) ? r4Model().types[name] : undefined;
}

export function isPrimitiveType(name: string | undefined): boolean {
  return name !== undefined && typeDef(name)?.kind === 'primitive-type';
}

export function isResourceTypeName(name: string | undefined): boolean {
  const t = name === undefined ? undefined : typeDef(name);
  return t?.kind === 'resource' && !t.abstract;
}

/** `type` or one of its ancestors is `ancestor` (an Age is a Quantity). */
export function isTypeOrSubtype(type: string, ancestor: string): boolean {
  for (let t: string | undefined = type; t; t = typeDef(t)?.baseType) if (t === ancestor) return true;
  return false;
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

export function resourceContext(resourceType: string): TypeContext | undefined {
  const type = isResourceTypeName(resourceType) ? typeDef(resourceType) : undefined;
  return type && { type, path: type.name };
}

/** A child element by name (`deceased`, `birthDate`) or by a choice element's JSON key (`deceasedBoolean`). */
export function childElement(ctx: TypeContext, nameOrKey: string): ChildElement | undefined {
  const { byPath } = indexOf(ctx.type);
  const direct = byPath.get(`${ctx.path}.${nameOrKey}`);
  if (direct) return { def: direct, name: nameOrKey, choice: false, parent: ctx };
  const choice = byPath.get(`${ctx.path}.${nameOrKey}[x]`);
  if (choice) return { def: choice, name: nameOrKey, choice: true, parent: ctx };
  for (let i = 1; i < nameOrKey.length; i++) {
    const c = nameOrKey.charAt(i);
    if (c < 'A' || c > 'Z') continue;
    const def = byPath.get(`${ctx.path}.${nameOrKey.slice(0, i)}[x]`);
    const type = def?.types.find((t) => capitalize(t.code) === nameOrKey.slice(i));
    if (def && type) return { def, name: nameOrKey.slice(0, i), choice: true, keyType: type.code, parent: ctx };
  }
  return undefined;
}

/** The JSON key of an element holding a value of `type`: its name, plus the type for a choice element. */
export function jsonKey(child: ChildElement, type: string): string {
  return child.choice ? child.name + capitalize(type) : child.name;
}

/** All JSON keys an element may occupy (every type of a choice), to see whether it is already present. */
export function jsonKeys(child: ChildElement): string[] {
  return child.choice ? child.def.types.map((t) => jsonKey(child, t.code)) : [child.name];
}

/** The allowed type codes of an element. */
export function typeCodes(child: ChildElement): string[] {
  return child.def.types.map((t) => t.code);
}

/**
 * Where the children of an element's value are defined. `type` is the value's type where the element allows
 * several; `value` supplies the resourceType for elements that hold a resource (`contained`).
 */
export function contextOf(child: ChildElement, type?: string, value?: JsonValue): TypeContext | undefined {
  const { def, parent } = child;
  if (def.contentReference) return { type: parent.type, path: def.contentReference }; // e.g. Questionnaire.item.item
  // Anonymous types (a BackboneElement, or Element as in Timing.repeat) list their children under their own path.
  if (!child.choice && indexOf(parent.type).withChildren.has(def.path)) return { type: parent.type, path: def.path };
  let code = type ?? child.keyType ?? (def.types.length === 1 ? def.types[0].code : undefined);
  if ((code === 'Resource' || code === 'DomainResource') && isJsonObject(value) && typeof value.resourceType === 'string') {
    code = value.resourceType;
  }
  const t = code === undefined ? undefined : typeDef(code);
  return t && { type: t, path: t.name };
}

/** What the model says about the element a location points at, and the context of its children. */
export interface LocatedElement {
  /** The element at the location; undefined for the resource itself. */
  element?: ChildElement;
  /** Where the children of the located value are defined (undefined when the model does not know). */
  context?: TypeContext;
}

/**
 * Walks the model along a location. Keys starting with `_` are a primitive's id/extension companion
 * (https://hl7.org/fhir/R4/json.html#primitive), whose children are those of the primitive type itself.
 */
export function elementAt(resource: JsonValue, location: Location): LocatedElement {
  if (!isJsonObject(resource) || typeof resource.resourceType !== 'string') return {};
  let context = resourceContext(resource.resourceType);
  let element: ChildElement | undefined;
  let value: JsonValue | undefined = resource;
  for (const step of location) {
    if (!context) return {};
    const companion = step.key.startsWith('_');
    element = childElement(context, companion ? step.key.slice(1) : step.key);
    if (!element) return {};
    value = isJsonObject(value) ? value[step.key] : undefined;
    if (Array.isArray(value) && step.index !== undefined) value = value[step.index];
    context = contextOf(element, undefined, value);
  }
  return { element, context };
}
