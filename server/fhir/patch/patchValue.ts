/**
 * The `value` part of a FHIRPath Patch operation, turned into resource JSON for a given target element
 * (https://hl7.org/fhir/R4/fhirpatch.html). A value comes in one of three forms:
 * - a single `value[x]`, whose key names its type (`valueHumanName`, `valueDate` with an optional `_valueDate`
 *   carrying the primitive's id/extensions);
 * - a `resource` (e.g. for `contained`);
 * - nested `part`s, for content Parameters cannot carry directly (anonymous elements such as Patient.contact,
 *   or any complex type built field by field): each part names a child element and holds its value the same way.
 * The value's type must suit the element ("Servers SHALL return an error if the type is wrong"); for a choice
 * element it also picks the JSON key (`deceased` + dateTime → `deceasedDateTime`).
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../json';
import {
  childElement,
  contextOf,
  isPrimitiveType,
  isResourceTypeName,
  isTypeOrSubtype,
  jsonKey,
  typeCodes,
  typeDef,
  type ChildElement,
  type TypeContext,
} from './elementModel';
import { invalidPatch, type OperationRef } from './errors';
import { insertItem, setMember, type ElementValue } from './jsonLocation';
import { cloneJson, getOwn } from './jsonValues';

/** A value ready to store: the JSON key it goes under (a choice element's key names the type) and the content. */
export interface KeyedValue {
  key: string;
  content: ElementValue;
  /** The FHIR type, when the value says it (value[x] or resource); undefined for values built from parts. */
  type?: string;
}

/** Reads a `value` part (or a nested part) as the content of `element`. */
export function elementValue(part: JsonObject, element: ChildElement, ref: OperationRef): KeyedValue {
  const typed = typedValue(part, ref);
  const resource = getOwn(part, 'resource');
  const parts = getOwn(part, 'part');
  const forms = [typed, resource, parts].filter((f) => f !== undefined).length;
  const label = `value for ${element.def.path}`;
  if (forms === 0) throw invalidPatch(ref, `the ${label} has no value[x], resource or parts`, 'required');
  if (forms > 1) throw invalidPatch(ref, `the ${label} must have only one of a value[x], a resource or parts`);

  if (typed) return { key: keyFor(element, typed.type, ref), content: typed.content, type: typed.type };

  if (resource !== undefined) {
    const type = isJsonObject(resource) ? resource.resourceType : undefined;
    if (typeof type !== 'string' || !isResourceTypeName(type)) throw invalidPatch(ref, `the ${label} is not a known resource`);
    const codes = typeCodes(element);
    if (!codes.some((c) => c === type || c === 'Resource' || c === 'DomainResource')) {
      throw invalidPatch(ref, `a ${type} resource is not allowed for ${element.def.path} (allowed: ${codes.join(', ')})`);
    }
    return { key: element.name, content: { value: cloneJson(resource) }, type };
  }

  if (!Array.isArray(parts)) throw invalidPatch(ref, `the ${label}: "part" must be an array`);
  if (element.choice) {
    throw invalidPatch(ref, `${element.def.path} is a choice element: give its value as a typed value[x], not parts`);
  }
  const context = contextOf(element);
  if (!context || context.type.kind === 'primitive-type' || context.type.abstract) {
    throw invalidPatch(ref, `${element.def.path} is a primitive or a resource, or has no defined structure: give a value[x] or resource, not parts`);
  }
  const value = objectFromParts(parts, context, ref);
  if (Object.keys(value).length === 0) throw invalidPatch(ref, `the ${label} has no content`);
  return { key: element.name, content: { value } };
}

/** Builds an object from parts, each naming one child element of `context`. */
function objectFromParts(parts: JsonValue[], context: TypeContext, ref: OperationRef): JsonObject {
  const out: JsonObject = {};
  for (const part of parts) {
    if (!isJsonObject(part) || typeof part.name !== 'string') throw invalidPatch(ref, 'every nested part must be an object with a name');
    const child = childElement(context, part.name);
    if (!child) throw invalidPatch(ref, `${context.path} has no element "${part.name}"`);
    const { key, content } = elementValue(part, child, ref);
    if (child.def.array) {
      const existing = getOwn(out, key);
      insertItem(out, key, Array.isArray(existing) ? existing.length : 0, content);
    } else {
      if (Object.hasOwn(out, key) || Object.hasOwn(out, `_${key}`)) {
        throw invalidPatch(ref, `${child.def.path} does not repeat but is given more than once`);
      }
      setMember(out, key, content);
    }
  }
  return out;
}

/** A `value[x]` (with its optional `_value[x]` companion): its FHIR type and content. */
function typedValue(part: JsonObject, ref: OperationRef): { type: string; content: ElementValue } | undefined {
  const keys = [
    ...new Set(
      Object.keys(part)
        .filter((k) => /^_?value[A-Z]/.test(k))
        .map((k) => k.replace(/^_/, '')),
    ),
  ];
  if (keys.length === 0) return undefined;
  if (keys.length > 1) throw invalidPatch(ref, `a part has more than one value[x] (${keys.join(', ')})`);
  const key = keys[0];
  const type = typeFromSuffix(key.slice('value'.length));
  if (!type) throw invalidPatch(ref, `"${key}" does not name a FHIR data type`);
  const value = getOwn(part, key);
  const companion = getOwn(part, `_${key}`);
  if (companion !== undefined && !isJsonObject(companion)) throw invalidPatch(ref, `"_${key}" must be an object`);
  if (value === undefined && companion === undefined) throw invalidPatch(ref, `"${key}" has no value`);
  // The JSON shape must match the type, or the key would lie about its content.
  const primitive = isPrimitiveType(type);
  if (value !== undefined && (primitive ? isJsonObject(value) || Array.isArray(value) : !isJsonObject(value))) {
    throw invalidPatch(ref, `"${key}" must be ${primitive ? 'a JSON string, number or boolean' : 'a JSON object'}`);
  }
  if (companion !== undefined && !primitive) throw invalidPatch(ref, `"_${key}" is only allowed for primitive types`);
  const content: ElementValue = { value: value === undefined ? null : cloneJson(value) };
  if (companion) content.companion = cloneJson(companion);
  return { type, content };
}

/** `Date` → `date`, `HumanName` → `HumanName` (primitive type names start lower-case). */
function typeFromSuffix(suffix: string): string | undefined {
  const primitive = suffix.charAt(0).toLowerCase() + suffix.slice(1);
  if (isPrimitiveType(primitive)) return primitive;
  return typeDef(suffix)?.kind === 'complex-type' ? suffix : undefined;
}

/** How a primitive is written in JSON; values of the same kind are interchangeable here (the caller validates). */
function jsonKind(type: string): 'boolean' | 'number' | 'string' {
  if (type === 'boolean') return 'boolean';
  return ['integer', 'decimal', 'positiveInt', 'unsignedInt'].includes(type) ? 'number' : 'string';
}

/** The JSON key for a typed value in `element`, refusing types the element does not allow. */
function keyFor(element: ChildElement, type: string, ref: OperationRef): string {
  const codes = typeCodes(element);
  const refuse = (): never => {
    throw invalidPatch(ref, `a value of type ${type} is not allowed for ${element.def.path} (allowed: ${codes.join(', ')})`);
  };
  if (element.choice) {
    // An Age may stand in for a Quantity: the key then names the element's type (valueQuantity).
    const match = codes.find((c) => c === type) ?? codes.find((c) => isTypeOrSubtype(type, c));
    if (!match || (element.keyType && element.keyType !== match)) return refuse();
    return jsonKey(element, match);
  }
  if (codes.some((c) => c === type || isTypeOrSubtype(type, c))) return element.name;
  // A string may fill a code, markdown or xhtml element (the patch test cases replace Narrative.div with a
  // valueString); the caller's validation checks the lexical form.
  if (isPrimitiveType(type) && codes.length > 0 && codes.every((c) => isPrimitiveType(c) && jsonKind(c) === jsonKind(type))) {
    return element.name;
  }
  return refuse();
}
