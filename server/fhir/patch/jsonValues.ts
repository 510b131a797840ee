/**
 * Small helpers over lossless JSON values (server/fhir/json.ts) shared by both patch formats: copying without
 * losing `LosslessNumber`s, RFC 6902 §4.6 equality, and own-property access that cannot reach `Object.prototype`.
 */
import { LosslessNumber, isJsonObject, isLosslessNumber, type JsonObject, type JsonValue } from '../json';

/** A deep copy that keeps decimals exact (a JSON.parse/stringify round trip would turn `235.40` into `235.4`). */
export function cloneJson<T extends JsonValue>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => cloneJson(v)) as T;
  if (isLosslessNumber(value)) return new LosslessNumber((value as LosslessNumber).value) as T;
  if (isJsonObject(value)) {
    const out: JsonObject = {};
    for (const key of Object.keys(value)) setOwn(out, key, cloneJson(value[key]));
    return out as T;
  }
  return value;
}

/**
 * Sets an own property. A plain assignment to `__proto__` would change the object's prototype instead of adding a
 * member (a prototype-pollution hole when keys come from a request), so that one key is defined explicitly.
 */
export function setOwn(target: JsonObject, key: string, value: JsonValue): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** The value of an own member, or undefined (never one inherited from `Object.prototype`, e.g. `constructor`). */
export function getOwn(target: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(target, key) ? target[key] : undefined;
}

/** Rewrites a JSON number's text to a canonical `digits e exponent` form, so equal values compare equal exactly. */
function canonicalNumber(text: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return text;
  const [, sign, int, frac = '', exp = '0'] = m;
  let digits = (int + frac).replace(/^0+/, '');
  let exponent = Number(exp) - frac.length;
  if (!digits) return '0';
  const trimmed = digits.replace(/0+$/, '');
  exponent += digits.length - trimmed.length;
  digits = trimmed;
  return `${sign}${digits}e${exponent}`;
}

function isNumeric(v: JsonValue): v is number | LosslessNumber {
  return typeof v === 'number' || isLosslessNumber(v);
}

/**
 * RFC 6902 §4.6 equality, used by `test`. Numbers are equal when their values are: `235.40` equals `235.4` and a
 * LosslessNumber equals a plain number of the same value. The comparison is on the exact decimal text, not on a
 * JS double, so large or very precise numbers are not conflated. Object member order does not matter.
 */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (isNumeric(a) || isNumeric(b)) {
    return isNumeric(a) && isNumeric(b) && canonicalNumber(String(a)) === canonicalNumber(String(b));
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (isJsonObject(a) || isJsonObject(b)) {
    if (!isJsonObject(a) || !isJsonObject(b)) return false;
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return a === b;
}
