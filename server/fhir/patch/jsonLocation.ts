/**
 * Addressing and editing one element of a resource's JSON by a list of key/index steps, keeping FHIR's JSON
 * conventions intact (https://hl7.org/fhir/R4/json.html):
 * - a primitive's id/extension live in a `_name` companion; in arrays the companion is a parallel array padded
 *   with nulls, so every insert, move and delete of a primitive moves its companion with it;
 * - FHIR JSON has no empty objects or arrays, so a delete that empties its container removes the container too.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../json';
import { getOwn, setOwn } from './jsonValues';

/** One step from an object to a member: its JSON key, and the position when the member is an array. */
export interface Step {
  key: string;
  index?: number;
}

/** A path from the resource root to one element; `[]` is the resource itself. */
export type Location = Step[];

/** An element's new content: the JSON value plus its primitive companion, when it has an id or extensions. */
export interface ElementValue {
  /** `null` only for a primitive that carries extensions but no value. */
  value: JsonValue;
  companion?: JsonObject;
}

/** `Patient.name[0].given[1]`, for messages. */
export function formatLocation(resourceType: string, location: Location): string {
  return [resourceType, ...location.map((s) => s.key + (s.index === undefined ? '' : `[${s.index}]`))].join('.');
}

const companionKey = (key: string): string => `_${key}`;

function member(holder: JsonObject, step: Step): JsonValue | undefined {
  const v = getOwn(holder, step.key);
  if (step.index === undefined) return v;
  return Array.isArray(v) ? v[step.index] : undefined;
}

/** The value at a location, or undefined. */
export function valueAt(root: JsonObject, location: Location): JsonValue | undefined {
  let node: JsonValue | undefined = root;
  for (const step of location) node = isJsonObject(node) ? member(node, step) : undefined;
  return node;
}

/** The object holding the location's last member. */
export function holderOf(root: JsonObject, location: Location): JsonObject | undefined {
  const holder = valueAt(root, location.slice(0, -1));
  return isJsonObject(holder) ? holder : undefined;
}

/**
 * The object whose members are the children of the element at `location`: the element itself when complex, or a
 * primitive's companion (created when `create` is set, e.g. to add an extension to `birthDate`).
 */
export function childrenHolder(root: JsonObject, location: Location, create: boolean): JsonObject | undefined {
  if (location.length === 0) return root;
  const holder = holderOf(root, location);
  const last = location[location.length - 1];
  if (!holder) return undefined;
  const value = member(holder, last);
  if (isJsonObject(value)) return value;
  if (Array.isArray(value) || last.key.startsWith('_')) return undefined;
  const key = companionKey(last.key);
  if (last.index === undefined) {
    const existing = getOwn(holder, key);
    if (isJsonObject(existing)) return existing;
    if (!create) return undefined;
    const made: JsonObject = {};
    setOwn(holder, key, made);
    return made;
  }
  const values = getOwn(holder, last.key);
  let companions = getOwn(holder, key);
  if (Array.isArray(companions) && isJsonObject(companions[last.index])) return companions[last.index] as JsonObject;
  if (!create || !Array.isArray(values)) return undefined;
  if (!Array.isArray(companions)) {
    companions = values.map(() => null);
    setOwn(holder, key, companions);
  }
  const made: JsonObject = {};
  companions[last.index] = made;
  return made;
}

/** Drops a companion array that no longer carries anything (all nulls). */
function tidyCompanions(holder: JsonObject, key: string): void {
  const companions = getOwn(holder, companionKey(key));
  if (Array.isArray(companions) && companions.every((c) => c === null)) delete holder[companionKey(key)];
}

/**
 * Sets a non-repeating member. `replacing` lists keys the element may currently occupy (a choice element's other
 * types); the new key takes the first one's position so the JSON keeps its member order.
 */
export function setMember(holder: JsonObject, key: string, content: ElementValue, replacing: string[] = []): void {
  const drop = new Set([key, companionKey(key), ...replacing.flatMap((k) => [k, companionKey(k)])]);
  const entries: [string, JsonValue][] = [];
  if (content.value !== null) entries.push([key, content.value]);
  if (content.companion) entries.push([companionKey(key), content.companion]);
  const keys = Object.keys(holder);
  const values = keys.map((k) => holder[k]);
  for (const k of keys) delete holder[k];
  let placed = false;
  const place = (): void => {
    if (!placed) for (const [k, v] of entries) setOwn(holder, k, v);
    placed = true;
  };
  keys.forEach((k, i) => {
    if (drop.has(k)) place();
    else setOwn(holder, k, values[i]);
  });
  place();
}

/** Replaces item `index` of an array member (and its companion). */
export function setItem(holder: JsonObject, key: string, index: number, content: ElementValue): void {
  const values = holder[key] as JsonValue[];
  values[index] = content.value;
  const companions = getOwn(holder, companionKey(key));
  if (Array.isArray(companions)) {
    companions[index] = content.companion ?? null;
  } else if (content.companion) {
    const made: JsonValue[] = values.map(() => null);
    made[index] = content.companion;
    setOwn(holder, companionKey(key), made);
  }
  tidyCompanions(holder, key);
}

/** Inserts into an array member at `index` (0 ≤ index ≤ length), creating the array when absent. */
export function insertItem(holder: JsonObject, key: string, index: number, content: ElementValue): void {
  let values = getOwn(holder, key);
  if (!Array.isArray(values)) {
    values = [];
    setOwn(holder, key, values);
  }
  values.splice(index, 0, content.value);
  const companions = getOwn(holder, companionKey(key));
  if (Array.isArray(companions)) {
    companions.splice(index, 0, content.companion ?? null);
  } else if (content.companion) {
    const made: JsonValue[] = values.map(() => null);
    made[index] = content.companion;
    setOwn(holder, companionKey(key), made);
  }
  tidyCompanions(holder, key);
}

/** Moves an item of an array member from one position to another (the destination counts after the removal). */
export function moveItem(holder: JsonObject, key: string, from: number, to: number): void {
  const values = holder[key] as JsonValue[];
  values.splice(to, 0, ...values.splice(from, 1));
  const companions = getOwn(holder, companionKey(key));
  if (Array.isArray(companions)) companions.splice(to, 0, ...companions.splice(from, 1));
}

/**
 * Removes the element at a location, with its companion, then removes any container the removal left empty
 * (an empty `name: {}` or `telecom: []` is not valid FHIR JSON), stopping below the resource itself.
 */
export function removeAt(root: JsonObject, location: Location): void {
  const holder = holderOf(root, location);
  if (!holder || location.length === 0) return;
  const { key, index } = location[location.length - 1];
  if (index === undefined) {
    delete holder[key];
    if (!key.startsWith('_')) delete holder[companionKey(key)];
  } else if (key.startsWith('_')) {
    // An emptied companion of one primitive in an array: keep the slot unless the primitive has no value either.
    const base = key.slice(1);
    const values = getOwn(holder, base);
    if (Array.isArray(values) && values[index] !== null && values[index] !== undefined) {
      (holder[key] as JsonValue[])[index] = null;
    } else {
      (holder[key] as JsonValue[]).splice(index, 1);
      if (Array.isArray(values)) values.splice(index, 1);
      if (Array.isArray(values) && values.length === 0) delete holder[base];
    }
    tidyCompanions(holder, base);
  } else {
    const values = holder[key] as JsonValue[];
    values.splice(index, 1);
    const companions = getOwn(holder, companionKey(key));
    if (Array.isArray(companions)) companions.splice(index, 1);
    if (values.length === 0) {
      delete holder[key];
      delete holder[companionKey(key)];
    }
    tidyCompanions(holder, key);
  }
  if (location.length > 1 && Object.keys(holder).length === 0) removeAt(root, location.slice(0, -1));
}
