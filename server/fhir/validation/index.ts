/**
 * Write-time validation of resources against base FHIR R4 (4.0.1): JSON structure and types, cardinality,
 * primitive formats, required bindings, narrative XHTML, and the specification's invariants.
 * https://hl7.org/fhir/R4/validation.html
 *
 * One structural pass (structure.ts, driven by the compiled definitions of schema.ts) finds structural problems
 * and records where FHIRPath invariants apply; the invariants then run only at those places (invariants.ts).
 * `meta.profile` claims of profiles loaded at start-up (a ProfileSet, profile/set.ts) are then checked by the
 * profile engine (profile/check.ts); claims of other profiles are warned about (profiles.ts).
 * invariants.ts also tells which invariants fhirpath.js could not evaluate (`skippedInvariants()`).
 */
import type { Issue } from '../outcome';
import { ValidationContext } from './context';
import { evaluateInvariants } from './invariants';
import { checkProfileClaims, isProfileIssue } from './profiles';
import type { ProfileSet } from './profile/set';
import { StructureWalker } from './structure';

export { isProfileIssue };
export type { ProfileSet };

export interface ValidateOptions {
  /** when validating for a given endpoint type */
  expectedType?: string;
  /** The loaded profiles: the resource's claims of them are checked, and the profiles it is required to claim. */
  profiles?: ProfileSet;
  /** Canonicals of loaded profiles to check besides the claimed ones (`$validate?profile=`). */
  alsoProfiles?: string[];
}

/** Validates a parsed resource against base R4. Returns all issues found (errors, warnings); never throws for bad input. */
export function validateResource(resource: unknown, options?: ValidateOptions): Issue[] {
  const ctx = new ValidationContext();
  const type = (resource as { resourceType?: unknown } | null)?.resourceType;
  ctx.rootType = typeof type === 'string' && /^[A-Z][A-Za-z]*$/.test(type) ? type : 'Resource';
  ctx.profiles = options?.profiles;
  try {
    new StructureWalker(ctx).resource(resource, false, options?.expectedType);
    evaluateInvariants(ctx, resource);
    if (options?.profiles && !ctx.full) ctx.issues.push(...checkProfileClaims(resource, options.profiles, options.alsoProfiles ?? []));
  } catch {
    // A defect in the validator must not turn into a 500 on a write, nor silently accept the resource.
    // The engine's message ("Maximum call stack size exceeded") means nothing to the client: a plain diagnostic.
    ctx.error('exception', 'Validation failed unexpectedly on this resource (an internal error); it was not accepted', ctx.rootType);
  }
  return ctx.finish();
}
