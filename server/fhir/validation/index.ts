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

/** Validates a parsed resource against base R4. Returns all issues found (errors, warnings); never throws for bad input. */
export function validateResource(resource: unknown, options?: ValidateOptions): Issue[] {
  const ctx = new ValidationContext();
  const type = (resource as { resourceType?: unknown } | null)?.resourceType;
  ctx.rootType = typeof type === 'string' && /^[A-Z][A-Za-z]*$/.test(type) ? type : 'Resource';
  try {
    new StructureWalker(ctx).resource(resource, false, options?.expectedType);
    evaluateInvariants(ctx, resource);
  } catch {
    // A defect in the validator must not turn into a 500 on a write, nor silently accept the resource.
    // The engine's message ("Maximum call stack size exceeded") means nothing to the client: a plain diagnostic.
    ctx.error('exception', 'Validation failed unexpectedly on this resource (an internal error); it was not accepted', ctx.rootType);
  }
  return ctx.finish();
}
