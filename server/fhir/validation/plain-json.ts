/**
 * fhirpath.js works on plain JSON, so a resource holding LosslessNumbers (decimals whose text a JS number cannot
 * carry, see ../json.ts) is copied with plain numbers for invariant evaluation only. The copy is made lazily, once
 * per validation, and only when the resource actually contains such a number.
 */
import { isLosslessNumber, type LosslessNumber } from '../json';
import type { Key } from './location';

export function toPlainJson(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (isLosslessNumber(value)) return Number((value as LosslessNumber).value);
  if (Array.isArray(value)) return value.map(toPlainJson);
  const out: Record<string, unknown> = {};
  for (const key in value as Record<string, unknown>) out[key] = toPlainJson((value as Record<string, unknown>)[key]);
  return out;
}

/** The value at `keys` below `root`. */
export function valueAt(root: unknown, keys: readonly Key[]): unknown {
  let v = root;
  for (const k of keys) v = (v as Record<string | number, unknown>)[k];
  return v;
}
