/**
 * UCUM canonical units for quantity search (https://hl7.org/fhir/R4/search.html#quantity): `5.4 mg` and
 * `0.0054 g` are the same quantity. Each unit code is converted once (cached) into its base-unit expression and
 * an affine map value → base value (special units such as Cel are affine, not proportional), using the
 * `@lhncbc/ucum-lhc` library.
 */
import { UcumLhcUtils } from '@lhncbc/ucum-lhc';

export const UCUM = 'http://unitsofmeasure.org';

interface Canonical {
  unit: string;
  factor: number;
  offset: number;
}

const cache = new Map<string, Canonical | null>();
const MAX_CACHE = 10_000;

function compute(code: string): Canonical | null {
  try {
    const utils = UcumLhcUtils.getInstance();
    const one = utils.convertToBaseUnits(code, 1);
    if (one.status !== 'succeeded' || one.magnitude === undefined || !one.unitToExp) return null;
    const dims = Object.entries(one.unitToExp).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    // Dimensionless units ({score}, %, 1) are kept apart by their own code: comparing a score with a percentage
    // is never what a searcher means.
    if (dims.length === 0) return null;
    const unit = dims.map(([u, e]) => (e === 1 ? u : `${u}${e}`)).join('.');
    if (!one.fromUnitIsSpecial) return { unit, factor: one.magnitude, offset: 0 };
    const zero = utils.convertToBaseUnits(code, 0);
    if (zero.status !== 'succeeded' || zero.magnitude === undefined) return null;
    return { unit, factor: one.magnitude - zero.magnitude, offset: zero.magnitude };
  } catch {
    return null;
  }
}

/** The canonical form of a UCUM unit code, or null when it is not a convertible UCUM code. */
export function canonicalUnit(code: string): Canonical | null {
  let c = cache.get(code);
  if (c === undefined) {
    c = compute(code);
    if (cache.size < MAX_CACHE) cache.set(code, c);
  }
  return c;
}

/** A value in `code` expressed in the canonical unit (as a decimal string), or null. */
export function toCanonical(value: number, code: string): { unit: string; value: number } | null {
  const c = canonicalUnit(code);
  if (!c) return null;
  return { unit: c.unit, value: value * c.factor + c.offset };
}
