/**
 * Reading a FHIRPath Patch document: a Parameters resource whose `operation` parameters each carry the parts
 * `type`, `path`, `name`, `value`, `index`, `source`, `destination` (https://hl7.org/fhir/R4/fhirpatch.html).
 * Everything here is checked before any operation runs, so a malformed document is a 400 on any resource.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../json';
import { invalidPatch, type OperationRef } from './errors';
import { getOwn } from './jsonValues';

export const PATCH_TYPES = ['add', 'insert', 'delete', 'replace', 'move'] as const;
export type PatchType = (typeof PATCH_TYPES)[number];

export interface PatchOperation {
  type: PatchType;
  path: string;
  /** add: the name of the element to add. */
  name?: string;
  /** add, insert, replace: the `value` part, holding a value[x], a resource, or nested parts. */
  value?: JsonObject;
  /** insert: the position to insert at. */
  index?: number;
  /** move: the positions to move from and to. */
  source?: number;
  destination?: number;
  ref: OperationRef;
}

type PartName = 'type' | 'path' | 'name' | 'value' | 'index' | 'source' | 'destination';

/** The parts each operation type takes (fhirpatch.html, the operations table); all are required. */
const PARTS: Record<PatchType, PartName[]> = {
  add: ['type', 'path', 'name', 'value'],
  insert: ['type', 'path', 'value', 'index'],
  delete: ['type', 'path'],
  replace: ['type', 'path', 'value'],
  move: ['type', 'path', 'source', 'destination'],
};
const ALL_PARTS = new Set<string>(['type', 'path', 'name', 'value', 'index', 'source', 'destination']);

export function parsePatchParameters(parameters: unknown): PatchOperation[] {
  if (!isJsonObject(parameters) || parameters.resourceType !== 'Parameters') {
    throw invalidPatch(undefined, 'A FHIRPath Patch must be a Parameters resource');
  }
  const list = getOwn(parameters, 'parameter');
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw invalidPatch(undefined, 'Parameters.parameter must be an array');
  return list.map((p, index) => parseOperation(p, { format: 'FHIRPath Patch', index }));
}

function parseOperation(parameter: JsonValue, ref: OperationRef): PatchOperation {
  if (!isJsonObject(parameter)) throw invalidPatch(ref, 'a parameter must be a JSON object');
  if (parameter.name !== 'operation') {
    throw invalidPatch(ref, `unexpected parameter ${JSON.stringify(parameter.name)} (a FHIRPath Patch has only "operation" parameters)`);
  }
  const partList = getOwn(parameter, 'part');
  if (!Array.isArray(partList)) throw invalidPatch(ref, 'an operation parameter must have parts (type, path, …)');

  const parts = new Map<string, JsonObject>();
  for (const part of partList) {
    if (!isJsonObject(part) || typeof part.name !== 'string') throw invalidPatch(ref, 'every part must be an object with a name');
    if (!ALL_PARTS.has(part.name)) throw invalidPatch(ref, `unknown part "${part.name}"`);
    if (parts.has(part.name)) throw invalidPatch(ref, `part "${part.name}" appears more than once`);
    parts.set(part.name, part);
  }

  const typePart = parts.get('type');
  if (!typePart) throw invalidPatch(ref, 'missing part "type"', 'required');
  const type = text(typePart, ref);
  if (!(PATCH_TYPES as readonly string[]).includes(type)) {
    throw invalidPatch(ref, `unknown operation type "${type}" (expected one of ${PATCH_TYPES.join(', ')})`, 'not-supported');
  }
  const allowed = PARTS[type as PatchType];
  for (const name of allowed) if (!parts.has(name)) throw invalidPatch(ref, `a ${type} operation requires part "${name}"`, 'required');
  for (const name of parts.keys()) {
    if (!allowed.includes(name as PartName)) throw invalidPatch(ref, `part "${name}" does not apply to a ${type} operation`);
  }

  const path = text(parts.get('path') as JsonObject, ref);
  if (!path.trim()) throw invalidPatch(ref, 'part "path" is empty');
  ref.summary = `${type} at ${path}`;
  const operation: PatchOperation = { type: type as PatchType, path, ref };
  const name = parts.get('name');
  if (name) operation.name = text(name, ref);
  const value = parts.get('value');
  if (value) operation.value = value;
  for (const key of ['index', 'source', 'destination'] as const) {
    const part = parts.get(key);
    if (part) operation[key] = position(part, ref);
  }
  return operation;
}

/** A code or string part (`type` is a code, `path` and `name` are strings; either spelling is accepted). */
function text(part: JsonObject, ref: OperationRef): string {
  const v = getOwn(part, 'valueCode') ?? getOwn(part, 'valueString');
  if (typeof v !== 'string') throw invalidPatch(ref, `part "${String(part.name)}" must have a valueCode or valueString`);
  return v;
}

/** A list position: a non-negative valueInteger. */
function position(part: JsonObject, ref: OperationRef): number {
  const v = getOwn(part, 'valueInteger') ?? getOwn(part, 'valueUnsignedInt');
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw invalidPatch(ref, `part "${String(part.name)}" must have a valueInteger of 0 or more`);
  }
  return v;
}
