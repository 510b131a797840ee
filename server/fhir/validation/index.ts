/**
 * Write-time validation of resources against base FHIR R4 (4.0.1): JSON structure and types, cardinality,
 * primitive formats, required bindings, narrative XHTML, and the specification's invariants.
 * https://hl7.org/fhir/R4/validation.html
 *
 * One structural pass (structure.ts, driven by the compiled definitions of schema.ts) finds structural problems
 * and records where FHIRPath invariants apply; the invariants then run only at those places (invariants.ts).
 * Profiles other than the base definitions are not checked (profiles.ts warns about unknown ones).
 * invariants.ts also tells which invariants fhirpath.js could not evaluate (`skippedInvariants()`).
 */
import type { Issue } from '../outcome';
import { ValidationContext } from './context';
import { evaluateInvariants } from './invariants';
import { StructureWalker } from './structure';

export interface ValidateOptions {
  /** when validating for a given endpoint type */
  expectedType?: string;
}

/**
 * Most JSON values one resource may hold. Validating and indexing a resource cannot be interrupted, so its size
 * bounds how long it holds the process; no real resource comes near (the largest R4 example, the core
 * ImplementationGuide, has 108,000; a Synthea resource under 1,000), while 400,000 names would stall it for seconds.
 */
export const MAX_RESOURCE_ELEMENTS = 200_000;

/** Whether `value` holds more than `limit` JSON values (stops counting there). */
function holdsMoreThan(value: unknown, limit: number): boolean {
  const stack: unknown[] = [value];
  for (let n = 1; stack.length; n++) {
    if (n > limit) return true;
    const v = stack.pop();
    if (Array.isArray(v)) for (const item of v) stack.push(item);
    else if (typeof v === 'object' && v !== null) for (const k in v) stack.push((v as Record<string, unknown>)[k]);
  }
  return false;
}

/** Validates a parsed resource against base R4. Returns all issues found (errors, warnings); never throws for bad input. */
export function validateResource(resource: unknown, options?: ValidateOptions): Issue[] {
  const ctx = new ValidationContext();
  const type = (resource as { resourceType?: unknown } | null)?.resourceType;
  ctx.rootType = typeof type === 'string' && /^[A-Z][A-Za-z]*$/.test(type) ? type : 'Resource';
  if (holdsMoreThan(resource, MAX_RESOURCE_ELEMENTS)) {
    ctx.error('too-costly', `The resource holds more than the server's limit of ${MAX_RESOURCE_ELEMENTS} JSON elements per resource`, ctx.rootType);
    return ctx.finish();
  }
  try {
    new StructureWalker(ctx).resource(resource, false, options?.expectedType);
    evaluateInvariants(ctx, resource);
  } catch (e) {
    // A defect in the validator must not turn into a 500 on a write, nor silently accept the resource.
    // The engine's message ("Maximum call stack size exceeded") means nothing to the client: a plain diagnostic.
    ctx.error('exception', 'Validation failed unexpectedly on this resource (an internal error); it was not accepted', ctx.rootType);
  }
  return ctx.finish();
}
