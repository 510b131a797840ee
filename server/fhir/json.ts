/**
 * Lossless FHIR JSON. FHIR decimals carry their precision in their lexical form (`235.40` ≠ `235.4` to a
 * clinician), and JavaScript numbers lose it, so resource bodies are never passed through a plain
 * `JSON.parse`/`JSON.stringify` round trip. Numbers whose text survives a JS number round trip become ordinary
 * numbers (so most code sees plain JSON); the others stay `LosslessNumber`s that serialise exactly as written.
 * PostgreSQL's jsonb keeps numeric text exactly (it stores `numeric`), so stored bodies read back as written.
 */
import { LosslessNumber, isLosslessNumber, parse, stringify } from 'lossless-json';
import { badRequest } from './outcome';

export { LosslessNumber, isLosslessNumber };

export type JsonValue = null | boolean | number | string | LosslessNumber | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

function parseNumber(text: string): number | LosslessNumber {
  const n = Number(text);
  return String(n) === text ? n : new LosslessNumber(text);
}

/** Parse a request body; malformed JSON becomes a 400 OperationOutcome naming the position. */
export function parseFhirJson(text: string): JsonValue {
  try {
    return parse(text, null, parseNumber) as JsonValue;
  } catch (e) {
    throw badRequest(`Malformed JSON: ${(e as Error).message}`);
  }
}

/** Parse text that is known to be valid JSON (from the database). */
export function parseStoredJson(text: string): JsonObject {
  return parse(text, null, parseNumber) as JsonObject;
}

export function toJson(value: unknown, pretty = false): string {
  return stringify(value, undefined, pretty ? 2 : undefined) as string;
}

/** The numeric value of a number that may be lossless (for comparisons and arithmetic, never for output). */
export function numberValue(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (isLosslessNumber(v)) return Number((v as LosslessNumber).value);
  return undefined;
}

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isLosslessNumber(v);
}
