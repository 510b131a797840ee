/**
 * FHIRPath Patch (https://hl7.org/fhir/R4/fhirpatch.html) for the FHIR patch interaction
 * (https://hl7.org/fhir/R4/http.html#patch): a Parameters resource of `operation`s applied in order to a private
 * copy of the resource. Any failure fails the whole patch; the input is never touched, and values the patch does
 * not reach keep their exact JSON (lossless decimals included).
 *
 * The operations (fhirpatch.html, "Operations"):
 * - add: `path` selects one element; `name` is added to it with `value` (appended when it repeats; a
 *   non-repeating element must not exist yet);
 * - insert: `path` names a list; `value` goes in at `index` (0 ≤ index ≤ length);
 * - delete: `path` selects the element to delete, if found (none is not an error; more than one is);
 * - replace: `path` selects one element, which becomes `value` (a choice element changes its JSON key with
 *   its type: deceasedBoolean → deceasedDateTime);
 * - move: `path` names a list; the item at `source` moves to `destination` (counted after its removal).
 * Paths are FHIRPath, evaluated by fhirpath.js (fhirPathLocations.ts), and must select elements of the resource.
 */
import type { JsonObject } from '../json';
import { childElement, elementAt, jsonKeys, type ChildElement } from './elementModel';
import { invalidPatch, unprocessablePatch, type OperationRef } from './errors';
import { locate, splitListPath } from './fhirPathLocations';
import { childrenHolder, formatLocation, holderOf, insertItem, moveItem, removeAt, setItem, setMember, type Location } from './jsonLocation';
import { cloneJson, getOwn } from './jsonValues';
import { parsePatchParameters, type PatchOperation } from './patchParameters';
import { elementValue } from './patchValue';

/** FHIRPath Patch (a Parameters resource with `operation` parameters: add, insert, delete, replace, move). */
export function applyFhirPathPatch(resource: JsonObject, parameters: unknown): JsonObject {
  const operations = parsePatchParameters(parameters);
  const doc = cloneJson(resource);
  for (const operation of operations) {
    switch (operation.type) {
      case 'add':
        add(doc, operation);
        break;
      case 'insert':
        insert(doc, operation);
        break;
      case 'delete':
        remove(doc, operation);
        break;
      case 'replace':
        replace(doc, operation);
        break;
      case 'move':
        move(doc, operation);
        break;
    }
  }
  return doc;
}

const where = (doc: JsonObject, location: Location): string => formatLocation(String(doc.resourceType), location);

/** The one element an expression selects; none or several cannot be applied to this resource. */
function single(doc: JsonObject, expression: string, operation: PatchOperation): Location {
  const found = locate(doc, expression, operation.ref);
  if (found.length === 0) throw unprocessablePatch(operation.ref, `no element matches ${expression}`, 'not-found');
  if (found.length > 1) {
    throw unprocessablePatch(
      operation.ref,
      `${expression} matches ${found.length} elements (${found.map((l) => where(doc, l)).join(', ')}); ${operation.type} needs exactly one`,
      'multiple-matches',
    );
  }
  return found[0];
}

/** The model's definition of element `name` under the element at `location`. */
function childOf(doc: JsonObject, location: Location, name: string, ref: OperationRef): ChildElement {
  const { context } = elementAt(doc, location);
  if (!context) throw unprocessablePatch(ref, `the R4 definitions do not describe ${where(doc, location)}`);
  const child = childElement(context, name);
  if (!child) throw invalidPatch(ref, `${context.path} has no element "${name}"`);
  return child;
}

function add(doc: JsonObject, operation: PatchOperation): void {
  const { ref } = operation;
  const target = single(doc, operation.path, operation);
  const child = childOf(doc, target, operation.name as string, ref);
  const { key, content } = elementValue(operation.value as JsonObject, child, ref);
  const holder = childrenHolder(doc, target, true);
  if (!holder) throw unprocessablePatch(ref, `${where(doc, target)} cannot hold child elements`);
  if (child.def.array) {
    const list = getOwn(holder, key);
    insertItem(holder, key, Array.isArray(list) ? list.length : 0, content);
    return;
  }
  // fhirpatch.html: add works for a non-repeating element only "as long as [it does] not already exist".
  if (jsonKeys(child).some((k) => Object.hasOwn(holder, k) || Object.hasOwn(holder, `_${k}`))) {
    throw unprocessablePatch(ref, `${where(doc, target)} already has ${child.name} (use replace to change it)`, 'conflict');
  }
  setMember(holder, key, content);
}

/** The list an insert or move works on: the holder of the list, the list element and its current length. */
function list(doc: JsonObject, operation: PatchOperation): { parent: Location; child: ChildElement; length: number } {
  const { ref } = operation;
  const split = splitListPath(operation.path);
  if (!split) {
    throw invalidPatch(
      ref,
      `the path of ${operation.type} must end with the name of a list element (e.g. Patient.identifier), not a filter or index`,
    );
  }
  const parent = split.parent === undefined ? [] : single(doc, split.parent, operation);
  const child = childOf(doc, parent, split.name, ref);
  if (!child.def.array) throw invalidPatch(ref, `${child.def.path} does not repeat, so it has no positions to ${operation.type} at`);
  const items = getOwn(childrenHolder(doc, parent, false) ?? {}, child.name);
  return { parent, child, length: Array.isArray(items) ? items.length : 0 };
}

function insert(doc: JsonObject, operation: PatchOperation): void {
  const { ref } = operation;
  const { parent, child, length } = list(doc, operation);
  const index = operation.index as number;
  if (index > length) {
    throw unprocessablePatch(ref, `index ${index} is out of range: ${operation.path} has ${length} item(s), so the index may be at most ${length}`);
  }
  const { key, content } = elementValue(operation.value as JsonObject, child, ref);
  const holder = childrenHolder(doc, parent, true);
  if (!holder) throw unprocessablePatch(ref, `${where(doc, parent)} cannot hold child elements`);
  insertItem(holder, key, index, content);
}

function move(doc: JsonObject, operation: PatchOperation): void {
  const { ref } = operation;
  const { parent, child, length } = list(doc, operation);
  for (const part of ['source', 'destination'] as const) {
    const position = operation[part] as number;
    if (position >= length) {
      throw unprocessablePatch(ref, `${part} ${position} is out of range: ${operation.path} has ${length} item(s)`);
    }
  }
  moveItem(childrenHolder(doc, parent, false) as JsonObject, child.name, operation.source as number, operation.destination as number);
}

function remove(doc: JsonObject, operation: PatchOperation): void {
  const found = locate(doc, operation.path, operation.ref);
  if (found.length === 0) return; // fhirpatch.html: "Path of the element to delete (if found)"
  if (found.length > 1) single(doc, operation.path, operation); // throws the multiple-matches error
  if (found[0].length === 0) throw unprocessablePatch(operation.ref, 'cannot delete the resource itself');
  removeAt(doc, found[0]);
}

function replace(doc: JsonObject, operation: PatchOperation): void {
  const { ref } = operation;
  const target = single(doc, operation.path, operation);
  if (target.length === 0) throw unprocessablePatch(ref, 'cannot replace the resource itself');
  const { element } = elementAt(doc, target);
  if (!element) throw unprocessablePatch(ref, `the R4 definitions do not describe ${where(doc, target)}`);
  // The element was found by its current JSON key (deceasedBoolean); the new value may be another of its types.
  const { key, content } = elementValue(operation.value as JsonObject, { ...element, keyType: undefined }, ref);
  const holder = holderOf(doc, target) as JsonObject;
  const last = target[target.length - 1];
  if (last.index !== undefined) setItem(holder, last.key, last.index, content);
  else setMember(holder, key, content, jsonKeys(element));
}
