/**
 * JSON Patch (RFC 6902) for the FHIR patch interaction (https://hl7.org/fhir/R4/http.html#patch, content type
 * `application/json-patch+json`). Operations apply in order to a private copy; any failure fails the whole patch
 * and the input is never touched. Values are lossless JSON (server/fhir/json.ts), copied in as they are, so a
 * decimal written as `235.40` stays `235.40`, both where the patch puts it and everywhere it does not reach.
 * https://www.rfc-editor.org/rfc/rfc6902
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../json';
import { invalidPatch, unprocessablePatch, type OperationRef } from './errors';
import { PointerSyntaxError, arrayIndex, formatPointer, parsePointer } from './jsonPointer';
import { cloneJson, getOwn, jsonEqual, setOwn } from './jsonValues';

const OPS = ['add', 'remove', 'replace', 'move', 'copy', 'test'] as const;
type OpName = (typeof OPS)[number];

interface Operation {
  op: OpName;
  path: string[];
  from?: string[];
  value?: JsonValue;
  ref: OperationRef;
}

type Container = JsonObject | JsonValue[];

function isContainer(v: JsonValue | undefined): v is Container {
  return Array.isArray(v) || isJsonObject(v);
}

/** RFC 6902 JSON Patch: add, remove, replace, move, copy, test. Returns a new object; never mutates the input. */
export function applyJsonPatch(resource: JsonObject, patch: unknown): JsonObject {
  if (!Array.isArray(patch)) throw invalidPatch(undefined, 'A JSON Patch document must be a JSON array of operations');
  // Check every operation's shape first, so a malformed document is a 400 whatever the resource holds.
  const operations = patch.map((raw, index) => parseOperation(raw as JsonValue, index));
  let doc: JsonValue = cloneJson(resource);
  for (const operation of operations) {
    doc = applyOperation(doc, operation);
    if (!isJsonObject(doc)) throw unprocessablePatch(operation.ref, 'the resource would no longer be a JSON object');
  }
  return doc as JsonObject;
}

function parseOperation(raw: JsonValue, index: number): Operation {
  const ref: OperationRef = { format: 'JSON Patch', index };
  if (!isJsonObject(raw)) throw invalidPatch(ref, 'an operation must be a JSON object');
  const op = getOwn(raw, 'op');
  if (op === undefined) throw invalidPatch(ref, 'missing "op"');
  if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) {
    throw invalidPatch(ref, `unknown op ${JSON.stringify(op)} (expected one of ${OPS.join(', ')})`, 'not-supported');
  }
  const path = getOwn(raw, 'path');
  if (typeof path !== 'string') throw invalidPatch(ref, path === undefined ? 'missing "path"' : '"path" must be a string');
  ref.summary = `${op} ${path}`;
  const operation: Operation = { op: op as OpName, path: pointer(path, ref), ref };

  if (op === 'add' || op === 'replace' || op === 'test') {
    // RFC 6902 §4: the member must be present; `null` is a legitimate value.
    if (!Object.hasOwn(raw, 'value')) throw invalidPatch(ref, `"${op}" requires a "value"`);
    operation.value = raw.value;
  }
  if (op === 'move' || op === 'copy') {
    const from = getOwn(raw, 'from');
    if (typeof from !== 'string') throw invalidPatch(ref, from === undefined ? `"${op}" requires "from"` : '"from" must be a string');
    ref.summary = `${op} ${from} to ${path}`;
    operation.from = pointer(from, ref);
    // §4.4: a location cannot be moved into one of its own children.
    const f = operation.from;
    if (op === 'move' && f.length < operation.path.length && f.every((t, i) => t === operation.path[i])) {
      throw invalidPatch(ref, '"from" is a proper prefix of "path" (a value cannot be moved into itself)');
    }
  }
  return operation;
}

function pointer(text: string, ref: OperationRef): string[] {
  try {
    return parsePointer(text);
  } catch (e) {
    if (e instanceof PointerSyntaxError) throw invalidPatch(ref, e.message);
    throw e;
  }
}

function applyOperation(doc: JsonValue, o: Operation): JsonValue {
  switch (o.op) {
    case 'add':
      return add(doc, o.path, cloneJson(o.value as JsonValue), o.ref);
    case 'remove':
      remove(doc, o.path, o.ref);
      return doc;
    case 'replace':
      return replace(doc, o.path, cloneJson(o.value as JsonValue), o.ref);
    case 'move': {
      // §4.4: identical to a remove from "from" followed by an add at "path" (evaluated after the remove).
      const from = o.from as string[];
      if (from.length === 0) throw unprocessablePatch(o.ref, 'cannot move the whole resource');
      const value = valueAt(doc, from, o.ref);
      remove(doc, from, o.ref);
      return add(doc, o.path, value, o.ref);
    }
    case 'copy':
      return add(doc, o.path, cloneJson(valueAt(doc, o.from as string[], o.ref)), o.ref);
    case 'test': {
      const actual = valueAt(doc, o.path, o.ref);
      if (!jsonEqual(actual, o.value as JsonValue)) {
        throw unprocessablePatch(o.ref, `test failed: the value at "${formatPointer(o.path)}" is not the expected value`);
      }
      return doc;
    }
  }
}

/** The child of a container for one reference token, or a 422 naming the part of the path that is missing. */
function childOf(node: JsonValue, token: string, at: string[], ref: OperationRef): JsonValue {
  if (Array.isArray(node)) {
    const index = arrayIndex(token, node.length, false);
    if (typeof index !== 'number') throw unprocessablePatch(ref, `"${formatPointer(at)}": ${index.error}`, 'not-found');
    return node[index];
  }
  if (isJsonObject(node)) {
    const value = getOwn(node, token);
    if (value === undefined) throw unprocessablePatch(ref, `"${formatPointer(at)}" does not exist`, 'not-found');
    return value;
  }
  throw unprocessablePatch(ref, `"${formatPointer(at.slice(0, -1))}" is not an object or array`, 'not-found');
}

function valueAt(doc: JsonValue, path: string[], ref: OperationRef): JsonValue {
  let node = doc;
  path.forEach((token, i) => {
    node = childOf(node, token, path.slice(0, i + 1), ref);
  });
  return node;
}

/** The container the last token of `path` refers into; every location above it must exist (§4.1). */
function parentOf(doc: JsonValue, path: string[], ref: OperationRef): Container {
  const parent = valueAt(doc, path.slice(0, -1), ref);
  if (!isContainer(parent)) {
    throw unprocessablePatch(ref, `"${formatPointer(path.slice(0, -1))}" is not an object or array`, 'not-found');
  }
  return parent;
}

function add(doc: JsonValue, path: string[], value: JsonValue, ref: OperationRef): JsonValue {
  if (path.length === 0) return value; // §4.1: adding at the root replaces the whole document
  const parent = parentOf(doc, path, ref);
  const token = path[path.length - 1];
  if (Array.isArray(parent)) {
    const index = arrayIndex(token, parent.length, true);
    if (typeof index !== 'number') throw unprocessablePatch(ref, `"${formatPointer(path)}": ${index.error}`);
    parent.splice(index, 0, value);
  } else {
    setOwn(parent, token, value); // §4.1: an existing member is replaced
  }
  return doc;
}

function remove(doc: JsonValue, path: string[], ref: OperationRef): void {
  if (path.length === 0) throw unprocessablePatch(ref, 'cannot remove the whole resource');
  const parent = parentOf(doc, path, ref);
  const token = path[path.length - 1];
  childOf(parent, token, path, ref); // the target must exist (§4.2)
  if (Array.isArray(parent)) parent.splice(Number(token), 1);
  else delete parent[token];
}

function replace(doc: JsonValue, path: string[], value: JsonValue, ref: OperationRef): JsonValue {
  if (path.length === 0) return value;
  const parent = parentOf(doc, path, ref);
  const token = path[path.length - 1];
  childOf(parent, token, path, ref); // the target must exist (§4.3)
  if (Array.isArray(parent)) parent[Number(token)] = value;
  else setOwn(parent, token, value);
  return doc;
}
